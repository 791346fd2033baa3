// The cases of bench/_cases.ts as Deno.bench benchmarks, for a look with
// Deno's own harness:
//
//   deno bench --allow-ffi --allow-env --allow-read bench/deno.bench.ts
//
// `deno task bench` (bench/run.ts) does not use this file: Deno.bench reports
// no median, p10 or p90, so the runner uses the custom sampler (_sampler.ts).

import { CASES, MITATA_PAIR_ID, mitataPair, type Prepared, reason } from "./_cases.ts";

interface _DenoBench {
  bench(options: { name: string; group?: string; baseline?: boolean; fn: () => void }): void;
}

const deno = (globalThis as unknown as { Deno: _DenoBench }).Deno;
const opened: Prepared[] = [];

for (const c of CASES) {
  if (!c.runtimes.includes("deno")) continue;
  let prepared: Prepared;
  try {
    prepared = c.setup();
  } catch (error) {
    console.error(`${c.label}: not available: ${reason(error)}`);
    continue;
  }
  opened.push(prepared);
  const op = prepared.op;
  deno.bench({ name: c.label, baseline: c.id === "ffi_noop", fn: () => void op() });
}

try {
  const pair = await mitataPair();
  opened.push(pair);
  deno.bench({ name: MITATA_PAIR_ID, fn: () => void pair.op() });
} catch (error) {
  console.error(`${MITATA_PAIR_ID}: not available: ${reason(error)}`);
}

const events = globalThis as unknown as {
  addEventListener(type: "unload", listener: () => void): void;
};
events.addEventListener("unload", () => {
  for (const prepared of opened) prepared.close();
});
