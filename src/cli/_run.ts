// One counted run of a command: spawn the launcher with a pipe on fd 3,
// open the counters on its pid (disabled, enable_on_exec, inherit), send the
// go byte, wait for the exit, read the counters.
//
// Why a launcher and node:child_process: neither runtime can fork and stop
// the child before exec, and Deno.Command/Bun.spawn cannot hand the child an
// extra fd. node:child_process.spawn with stdio[3] = "pipe" does, in both
// Deno and Bun (checked), and returns only after the launcher has exec'd, so
// the next exec, the command's, is the one enable_on_exec waits for.

import { spawn } from "node:child_process";
import process from "node:process";
import { isatty } from "node:tty";
import type { Writable } from "node:stream";
import { Counter, PerfError } from "../../mod.ts";

/** Exit codes of perfmmap-launch (zig/src/launcher.zig). */
export const LAUNCH_EXIT = { FAILED: 125, CANNOT_RUN: 126, NOT_FOUND: 127 } as const;

/** An event to count in this run, already checked by parseEvent. */
export interface RunEvent {
  name: string;
  /** Given with -e: a refusal ends the command (else it shows as <not supported>). */
  explicit: boolean;
}

/** What a run found for one event. */
export type RunCount =
  | { kind: "counted"; value: number; enabled: number; running: number }
  | { kind: "refused"; error: PerfError };

/** One run's result. */
export interface RunResult {
  counts: RunCount[];
  elapsedNs: number;
  exitCode: number | null;
  signal: string | null;
  /** A signal reached us while the command ran. */
  interrupted: boolean;
  /** The launcher could not exec the command (exit 126/127 before any count). */
  execFailed: boolean;
}

/** The event the machine refused when it was asked for explicitly. */
export class RefusedEvent extends Error {
  readonly error: PerfError;
  readonly event: string;
  constructor(event: string, error: PerfError) {
    super(error.message);
    this.name = "RefusedEvent";
    this.event = event;
    this.error = error;
  }
}

/** Signals we catch while the command runs; the command decides what they do. */
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;
type Forwarded = (typeof FORWARDED)[number];

/** Linux signal numbers, for `128 + n` and the "killed by" line. */
export const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

function stdinIsTerminal(): boolean {
  try {
    return isatty(0);
  } catch {
    return false;
  }
}

/**
 * Catches SIGINT, SIGTERM, SIGHUP and SIGQUIT for the whole of `stat`, so
 * that perfmmap is never killed before it prints, and forwards them to the
 * command while one runs. Ctrl-C and Ctrl-\ already reach the command from
 * the terminal (same process group), so SIGINT and SIGQUIT are forwarded
 * only when stdin is not a terminal, i.e. when they came from elsewhere.
 */
export class SignalRelay {
  /** Whether any of the signals arrived. */
  interrupted = false;
  #pid: number | undefined;
  readonly #forwardTerminalSignals = !stdinIsTerminal();
  readonly #handlers: [Forwarded, () => void][] = [];

  /** Starts catching the signals. */
  install(): void {
    for (const signal of FORWARDED) {
      const handler = () => this.#receive(signal);
      process.on(signal, handler);
      this.#handlers.push([signal, handler]);
    }
  }

  /** Stops catching them. */
  uninstall(): void {
    for (const [signal, handler] of this.#handlers.splice(0)) process.off(signal, handler);
  }

  /** The command now running (undefined: none). */
  set pid(pid: number | undefined) {
    this.#pid = pid;
  }

  #receive(signal: Forwarded): void {
    this.interrupted = true;
    const pid = this.#pid;
    if (pid === undefined) return;
    if ((signal === "SIGINT" || signal === "SIGQUIT") && !this.#forwardTerminalSignals) return;
    try {
      // process.kill, not child.kill: Deno's child.kill makes the exit
      // report the signal sent instead of the real status.
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function openCounters(pid: number, events: readonly RunEvent[]): {
  counters: (Counter | undefined)[];
  counts: (RunCount | undefined)[];
} {
  const counters: (Counter | undefined)[] = [];
  const counts: (RunCount | undefined)[] = [];
  for (const event of events) {
    try {
      // userspace "off": no mmap page; the command is another process, so
      // its counters are read with read(2) after it exits.
      counters.push(Counter.open(event.name, {
        pid,
        inherit: true,
        enabled: false,
        enableOnExec: true,
        userspace: "off",
      }));
      counts.push(undefined);
    } catch (error) {
      if (!(error instanceof PerfError)) throw error;
      if (event.explicit) {
        for (const counter of counters) counter?.close();
        throw new RefusedEvent(event.name, error);
      }
      counters.push(undefined);
      counts.push({ kind: "refused", error });
    }
  }
  return { counters, counts };
}

function waitForExit(
  child: ReturnType<typeof spawn>,
): Promise<{ code: number | null; signal: string | null; error?: Error }> {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
  });
}

/**
 * Spawns the launcher once with no command (it exits 125 at once), so that
 * the runtime's child-process machinery is set up before the first counted
 * run: the first exit otherwise reaches us milliseconds late, which shows
 * in "seconds time elapsed" and "CPUs utilized".
 */
export async function warmUp(launcher: string): Promise<void> {
  const child = spawn(launcher, [], { stdio: ["ignore", "ignore", "ignore", "pipe"] });
  (child.stdio[3] as Writable).on("error", () => {});
  await waitForExit(child);
}

/**
 * Runs `command` once under the launcher and counts `events` from its exec
 * to its exit, children and threads included.
 */
export async function runOnce(
  launcher: string,
  command: readonly string[],
  events: readonly RunEvent[],
  relay: SignalRelay,
): Promise<RunResult> {
  const child = spawn(launcher, [...command], {
    stdio: ["inherit", "inherit", "inherit", "pipe"],
  });
  const exited = waitForExit(child);
  const go = child.stdio[3] as Writable;
  go.on("error", () => {}); // EPIPE when the launcher is gone; its exit says why
  const pid = child.pid;
  if (pid === undefined) {
    const { error } = await exited;
    throw new Error(`cannot start ${launcher}: ${error?.message ?? "unknown error"}`);
  }
  let opened: ReturnType<typeof openCounters>;
  try {
    opened = openCounters(pid, events);
  } catch (error) {
    go.destroy(); // EOF on fd 3: the launcher exits 125 without exec
    await exited;
    throw error;
  }
  relay.pid = pid;
  const start = performance.now();
  go.end(Uint8Array.of(1));
  const ending = await exited;
  const elapsedNs = (performance.now() - start) * 1e6;
  relay.pid = undefined;
  const counts = opened.counters.map((counter, i): RunCount => {
    if (counter === undefined) return opened.counts[i]!;
    try {
      const reading = counter.readDetailed();
      return {
        kind: "counted",
        value: reading.scaled,
        enabled: reading.timeEnabled,
        running: reading.timeRunning,
      };
    } catch (error) {
      if (!(error instanceof PerfError)) throw error;
      return { kind: "refused", error };
    } finally {
      counter.close();
    }
  });
  const everEnabled = counts.some((c) => c.kind === "counted" && c.enabled > 0);
  const launchFailure = ending.code === LAUNCH_EXIT.CANNOT_RUN ||
    ending.code === LAUNCH_EXIT.NOT_FOUND || ending.code === LAUNCH_EXIT.FAILED;
  return {
    counts,
    elapsedNs,
    exitCode: ending.code,
    signal: ending.signal,
    interrupted: relay.interrupted,
    execFailed: launchFailure && !everEnabled,
  };
}
