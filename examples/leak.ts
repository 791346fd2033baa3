// Is a byte comparison constant-time? An early-exit comparison against one
// that looks at every byte, each tested with leakTest():
//   deno run --allow-ffi examples/leak.ts     or     bun examples/leak.ts
// or one case at a time from the command line:
//   bun cli.ts leak examples/leak.ts earlyExitCase
import { type LeakCase, leakTest, type LeakTestResult } from "../mod.ts";

const secret = new Uint8Array(1024).fill(0x5a);

/** Returns at the first byte that differs: leaks where that is. */
export function earlyExit(x: Uint8Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== secret[i]) return false;
  return true;
}

/**
 * Looks at every byte, whatever the input, and returns the difference (0 when
 * equal). Not `d === 0`: JIT code may make that boolean with a branch, one
 * instruction apart between equal and unequal inputs, and counted exactly
 * (the arm64 tier's icount boot) that is a leak.
 */
export function constantTime(x: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < x.length; i++) d |= x[i] ^ secret[i];
  return d;
}

function randomBytes(): Uint8Array {
  const x = new Uint8Array(secret.length);
  crypto.getRandomValues(x);
  return x;
}

/** Class a: the secret itself; class b: random bytes (they differ at byte 0 almost always). */
export const classes = {
  a: (): Uint8Array => {
    const x = randomBytes();
    x.set(secret);
    return x;
  },
  b: randomBytes,
};

/** `perfmmap leak examples/leak.ts earlyExitCase` */
export const earlyExitCase: LeakCase<Uint8Array> = { fn: earlyExit, classes };
/** `perfmmap leak examples/leak.ts constantTimeCase` */
export const constantTimeCase: LeakCase<Uint8Array> = { fn: constantTime, classes };

function show(name: string, r: LeakTestResult): void {
  console.log(`${name}: ${r.verdict} — ${r.reason}`);
  console.log(
    `  ${r.event} per call: a ${r.means.a.toFixed(1)}, b ${r.means.b.toFixed(1)} ` +
      `(effect ${r.effect.toFixed(1)}); shift ${r.quantiles.shift.toFixed(1)} ` +
      `[${r.quantiles.shiftInterval.map((v) => v.toFixed(1)).join(", ")}], ` +
      `tail ${
        r.quantiles.tail.toFixed(1)
      }; batch ${r.batch}, ${r.samples.a} + ${r.samples.b} samples`,
  );
}

if (import.meta.main) {
  show("early exit", leakTest(earlyExit, { classes, maxMs: 5000 }));
  show("constant time", leakTest(constantTime, { classes, maxMs: 5000 }));
}
