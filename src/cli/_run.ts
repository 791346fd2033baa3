// One counted run of a command: spawn the launcher with a control socket
// above the caller's fds, open the counters on its pid (disabled,
// enable_on_exec, inherit), send the go byte, read how the command ended
// from the socket, read the counters.
//
// Why a launcher and node:child_process: neither runtime can fork and stop
// the child before exec, and Deno.Command/Bun.spawn cannot hand the child an
// extra fd. node:child_process.spawn with numbers and "pipe" in `stdio`
// does, in both Deno and Bun (checked), and returns only after the launcher
// has exec'd, so the next exec, that of the launcher's fork, is the one
// enable_on_exec waits for. The launcher reports the command's status itself:
// Deno throws "Invalid signal: 35" for a child ended by a real-time signal,
// and Bun reports it as exit code 0.

import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import process from "node:process";
import { isatty } from "node:tty";
import type { Duplex } from "node:stream";
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
  | { kind: "notCounted"; enabled: number; running: number }
  | { kind: "refused"; error: PerfError };

/** One run's result. */
export interface RunResult {
  counts: RunCount[];
  elapsedNs: number;
  exitCode: number | null;
  /** The name of the signal that ended the command ("SIGRTMIN+1" for 35), or null. */
  signal: string | null;
  /** Its number, or null. */
  signalNumber: number | null;
  /** A signal reached us while the command ran. */
  interrupted: boolean;
  /** The command never ran (the launcher said why on stderr); `exitCode` is 126 or 127. */
  execFailed: boolean;
}

/** A failure to start the launcher itself, as a shell reports a failed exec. */
export class SpawnFailure extends Error {
  /** The errno name, such as "E2BIG". */
  readonly code: string;
  /** 127 for "not found", 126 for anything else, as bash and env(1) exit. */
  readonly exitCode: 126 | 127;
  constructor(code: string, message: string, cause: unknown) {
    super(message, { cause });
    this.name = "SpawnFailure";
    this.code = code;
    this.exitCode = code === "ENOENT" ? 127 : 126;
  }
}

/** strerror(3) of the errnos a spawn or an open can fail with (glibc's text). */
export const ERRNO_TEXT: Readonly<Record<string, string>> = {
  E2BIG: "Argument list too long",
  EACCES: "Permission denied",
  EAGAIN: "Resource temporarily unavailable",
  EBADF: "Bad file descriptor",
  EEXIST: "File exists",
  EFAULT: "Bad address",
  EINVAL: "Invalid argument",
  EIO: "Input/output error",
  EISDIR: "Is a directory",
  ELOOP: "Too many levels of symbolic links",
  EMFILE: "Too many open files",
  ENAMETOOLONG: "File name too long",
  ENFILE: "Too many open files in system",
  ENOENT: "No such file or directory",
  ENOEXEC: "Exec format error",
  ENOMEM: "Cannot allocate memory",
  ENOSPC: "No space left on device",
  ENOTDIR: "Not a directory",
  ENXIO: "No such device or address",
  EPERM: "Operation not permitted",
  EROFS: "Read-only file system",
  ETXTBSY: "Text file busy",
  EDQUOT: "Disk quota exceeded",
};

/**
 * "<strerror> (<ENAME>)" for an error from node:fs or node:child_process,
 * else its first line (Deno's permission errors name the flag to add).
 */
export function describeError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && ERRNO_TEXT[code] !== undefined) {
    return `${ERRNO_TEXT[code]} (${code})`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
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

/** glibc's SIGRTMIN (the kernel's 32 and 33 are the C library's own). */
const SIGRTMIN = 34;
/** The largest Linux signal number. */
const SIGRTMAX = 64;

/** A signal's name: "SIGSEGV", "SIGRTMIN+1" (35), "SIGRTMAX" (64), or "signal 32". */
export function signalName(signal: number): string {
  for (const [name, number] of Object.entries(SIGNAL_NUMBERS)) {
    if (number === signal) return name;
  }
  if (signal === SIGRTMAX) return "SIGRTMAX";
  if (signal === SIGRTMIN) return "SIGRTMIN";
  if (signal > SIGRTMIN && signal < SIGRTMAX) return `SIGRTMIN+${signal - SIGRTMIN}`;
  return `signal ${signal}`;
}

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

/** O_CLOEXEC in /proc/self/fdinfo's octal `flags`. */
const O_CLOEXEC = 0o2000000;
/** Bun marks every fd from 4 up close-on-exec when it starts (see {@link inheritedFds}). */
const BUN_CLOEXEC_FROM = 4;

function fdFlags(fd: number): number | undefined {
  try {
    const match = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
    return match === null ? undefined : parseInt(match[1], 8);
  } catch {
    return undefined; // closed meanwhile (the directory listing's own fd)
  }
}

/**
 * Under Bun: the fds from 3 up that this process got from its caller, to
 * pass to the command as `perf stat` passes them (a `make -j` jobserver
 * needs them). Call it before opening anything of our own. Under Deno, see
 * {@link probeFds}.
 *
 * Bun calls `close_range(4, ~0U, CLOSE_RANGE_CLOEXEC)` at startup
 * (bun_initialize_process, "to prevent leaking inherited file descriptors"),
 * so from fd 4 up the close-on-exec flag no longer tells the caller's fds
 * from Bun's own, and its spawn closes every fd it is not told to pass. Bun's
 * own fds at this point are anonymous inodes (its epoll and eventfd), so an
 * fd from 4 up counts as the caller's unless it is one: a caller's eventfd,
 * timerfd or signalfd is not passed on under Bun; files, pipes, FIFOs,
 * sockets and terminals are.
 */
export function inheritedFds(): number[] {
  let names: string[];
  try {
    names = readdirSync("/proc/self/fd");
  } catch {
    return []; // Deno without --allow-all: the probe answers there
  }
  const fds: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isSafeInteger(fd) || fd < 3) continue;
    const flags = fdFlags(fd);
    if (flags === undefined) continue;
    if ((flags & O_CLOEXEC) === 0) {
      fds.push(fd);
      continue;
    }
    if (fd < BUN_CLOEXEC_FROM) continue;
    try {
      if (!readlinkSync(`/proc/self/fd/${fd}`).startsWith("anon_inode:")) fds.push(fd);
    } catch {
      // closed meanwhile
    }
  }
  return fds.sort((a, b) => a - b);
}

/** Parses `perfmmap-launch --list-fds` output ("3 5 10"). */
export function parseFdList(text: string): number[] {
  const fds = text.trim().split(/\s+/).filter((word) => /^\d{1,10}$/.test(word)).map(Number);
  return [...new Set(fds.filter((fd) => fd >= 3))].sort((a, b) => a - b);
}

/**
 * Spawns `perfmmap-launch --list-fds` and returns the fds from 3 up that
 * reached it. Under Deno these are exactly the caller's: Deno opens its own
 * fds close-on-exec and leaves the caller's as they came, and its spawn
 * passes every fd that is not close-on-exec (a script would need
 * --allow-all to read /proc/self/fd itself). Under Bun nothing arrives (its
 * spawn closes what it is not told to pass): see {@link inheritedFds}.
 *
 * It also serves as the warm-up: the runtime's child-process machinery is
 * set up before the first counted run, whose exit would otherwise reach us
 * milliseconds late.
 */
export async function probeFds(launcher: string): Promise<number[]> {
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(launcher, ["--list-fds"], { stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return []; // the counted run reports why the launcher cannot start
  }
  let text = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    if (text.length < 1 << 20) text += chunk;
  });
  const closed = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    child.once("error", () => resolve());
  });
  await closed;
  return parseFdList(text);
}

type StdioEntry = "inherit" | "ignore" | "pipe" | number;

/**
 * The `stdio` array for the launcher: 0-2 inherited, each of `passed` at its
 * own number, nothing in the gaps, and the control socket ("pipe") on the
 * lowest number from 3 up that is not passed, so that it never takes an fd
 * the command should get and stays below the fd limit (a caller's fd 1023
 * under a limit of 1024 leaves no room above it).
 */
export function launcherStdio(passed: readonly number[]): {
  stdio: StdioEntry[];
  controlFd: number;
} {
  const wanted = new Set(passed);
  let controlFd = 3;
  while (wanted.has(controlFd)) controlFd++;
  const highest = passed.reduce((a, b) => Math.max(a, b), controlFd);
  const stdio: StdioEntry[] = ["inherit", "inherit", "inherit"];
  for (let fd = 3; fd <= highest; fd++) {
    stdio.push(fd === controlFd ? "pipe" : wanted.has(fd) ? fd : "ignore");
  }
  return { stdio, controlFd };
}

/** How the launcher said the command ended. */
type Ended =
  | { kind: "exited"; code: number; elapsedNs: number }
  | { kind: "signaled"; signal: number; elapsedNs: number }
  | { kind: "failed"; errno: number };

/** Parses the launcher's control line (zig/src/launcher.zig, `Status`). */
export function parseStatusLine(text: string): Ended | undefined {
  const line = text.split("\n")[0];
  let match = /^exited (\d{1,3}) (\d{1,20})$/.exec(line);
  if (match !== null) {
    return { kind: "exited", code: Number(match[1]), elapsedNs: Number(match[2]) };
  }
  match = /^signaled (\d{1,2}) (\d{1,20})$/.exec(line);
  if (match !== null) {
    return { kind: "signaled", signal: Number(match[1]), elapsedNs: Number(match[2]) };
  }
  match = /^failed (\d{1,4})$/.exec(line);
  if (match !== null) return { kind: "failed", errno: Number(match[1]) };
  return undefined;
}

/** Everything the launcher writes on the control socket, until it closes it. */
function readControl(control: Duplex): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    control.setEncoding("utf8");
    control.on("data", (chunk: string) => {
      if (text.length < 256) text += chunk;
    });
    control.once("end", () => resolve(text));
    control.once("close", () => resolve(text));
    control.once("error", () => resolve(text));
  });
}

function waitForExit(
  child: ReturnType<typeof spawn>,
): Promise<{ code: number | null; signal: string | null; error?: Error }> {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
  });
}

function spawnFailure(command: string, error: unknown): SpawnFailure {
  const code = (error as { code?: unknown } | null)?.code;
  const name = typeof code === "string" ? code : "EIO";
  return new SpawnFailure(name, `${command}: ${describeError(error)}`, error);
}

/** AT_PAGESZ in the aux vector. */
const AT_PAGESZ = 6n;
/** MAX_ARG_STRLEN, in pages: the kernel's bound on one argument string. */
const ARG_STRING_PAGES = 32;

/**
 * The kernel's bound on one argument string, NUL included (MAX_ARG_STRLEN:
 * 32 pages), from the page size in this process's aux vector (64-bit,
 * little-endian: every target here); undefined when it cannot be read.
 */
export function argStringMax(): number | undefined {
  let auxv: Uint8Array;
  try {
    auxv = readFileSync("/proc/self/auxv");
  } catch {
    return undefined; // Deno without --allow-read: the spawn's own error says it
  }
  const view = new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength);
  for (let at = 0; at + 16 <= auxv.byteLength; at += 16) {
    const type = view.getBigUint64(at, true);
    if (type === AT_PAGESZ) return Number(view.getBigUint64(at + 8, true)) * ARG_STRING_PAGES;
    if (type === 0n) break;
  }
  return undefined;
}

/**
 * The E2BIG that exec would give `command` for an argument the kernel cannot
 * take, found before any spawn; undefined when every argument fits (or the
 * bound cannot be read). The same answer in every runtime, whatever else a
 * spawn would trip on first (Bun reports a caller's fd closed meanwhile,
 * EBADF, before it).
 */
export function argumentTooLong(command: readonly string[]): SpawnFailure | undefined {
  const max = argStringMax();
  if (max === undefined) return undefined;
  const encoder = new TextEncoder();
  for (const arg of command) {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: most arguments need no encoding.
    if (arg.length * 3 + 1 <= max || encoder.encode(arg).length + 1 <= max) continue;
    return new SpawnFailure("E2BIG", `${command[0]}: ${ERRNO_TEXT.E2BIG} (E2BIG)`, undefined);
  }
  return undefined;
}

/** Starts the launcher; a failure to exec it becomes a {@link SpawnFailure}. */
async function startLauncher(
  launcher: string,
  args: string[],
  stdio: StdioEntry[],
  command: string,
): Promise<{ child: ReturnType<typeof spawn>; exited: ReturnType<typeof waitForExit> }> {
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(launcher, args, { stdio });
  } catch (error) {
    throw spawnFailure(command, error); // Bun throws E2BIG and ENOEXEC at once
  }
  const exited = waitForExit(child);
  if (child.pid === undefined) {
    const { error } = await exited;
    throw spawnFailure(command, error);
  }
  return { child, exited };
}

/**
 * Runs `command` once under the launcher and counts `events` from its exec
 * to its exit, children and threads included. `passed` are the caller's fds
 * to hand to the command ({@link inheritedFds}, {@link probeFds}).
 */
export async function runOnce(
  launcher: string,
  command: readonly string[],
  events: readonly RunEvent[],
  relay: SignalRelay,
  passed: readonly number[] = [],
): Promise<RunResult> {
  const { stdio, controlFd } = launcherStdio(passed);
  const { child, exited } = await startLauncher(
    launcher,
    [String(controlFd), ...command],
    stdio,
    command[0],
  );
  const control = child.stdio[controlFd] as Duplex;
  control.on("error", () => {}); // EPIPE when the launcher is gone; its exit says why
  const reported = readControl(control);
  const pid = child.pid!;
  let opened: ReturnType<typeof openCounters>;
  try {
    opened = openCounters(pid, events);
  } catch (error) {
    control.destroy(); // EOF on the control fd: the launcher exits 125 without running anything
    await exited;
    throw error;
  }
  // The launcher passes on the signals we send it, and only those.
  relay.pid = pid;
  const start = performance.now();
  control.end(Uint8Array.of(1));
  const [ending, line] = await Promise.all([exited, reported]);
  const measuredNs = (performance.now() - start) * 1e6;
  relay.pid = undefined;
  const counts = opened.counters.map((counter, i): RunCount => {
    if (counter === undefined) return opened.counts[i]!;
    try {
      const reading = counter.readDetailed();
      // Never on the PMU (timeRunning 0): its 0 is no count.
      if (reading.scaled === null) {
        return { kind: "notCounted", enabled: reading.timeEnabled, running: reading.timeRunning };
      }
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
  const base = { counts, interrupted: relay.interrupted };
  const status = parseStatusLine(line);
  if (status?.kind === "exited") {
    return {
      ...base,
      elapsedNs: status.elapsedNs,
      exitCode: status.code,
      signal: null,
      signalNumber: null,
      execFailed: false,
    };
  }
  if (status?.kind === "signaled") {
    return {
      ...base,
      elapsedNs: status.elapsedNs,
      exitCode: null,
      signal: signalName(status.signal),
      signalNumber: status.signal,
      execFailed: false,
    };
  }
  // No status line: the command never ran ("failed"), or the launcher
  // itself ended without reporting (killed with SIGKILL, say).
  const execFailed = status?.kind === "failed" || ending.code === LAUNCH_EXIT.FAILED;
  return {
    ...base,
    elapsedNs: measuredNs,
    exitCode: ending.code,
    signal: ending.signal,
    signalNumber: ending.signal === null ? null : SIGNAL_NUMBERS[ending.signal] ?? null,
    execFailed,
  };
}
