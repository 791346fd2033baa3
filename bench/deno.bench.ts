// The cases of bench/_cases.ts as Deno.bench benchmarks, for a look with
// Deno's own harness:
//
//   deno bench --allow-ffi --allow-env --allow-read bench/deno.bench.ts
//
// `deno task bench` (bench/run.ts) does not use this file: Deno.bench reports
// no median, p10 or p90, so the runner uses the custom sampler (_sampler.ts).

import { prepareAll } from "./_cases.ts";

interface _DenoBench {
  bench(options: { name: string; group?: string; baseline?: boolean; fn: () => void }): void;
}

const deno = (globalThis as unknown as { Deno: _DenoBench }).Deno;
const { ready, unavailable } = await prepareAll("deno");
for (const [id, why] of Object.entries(unavailable)) console.error(`${id}: not available: ${why}`);
for (const { id, label, prepared } of ready) {
  const op = prepared.op;
  deno.bench({ name: label, baseline: id === "ffi_noop", fn: () => void op() });
}

const events = globalThis as unknown as {
  addEventListener(type: "unload", listener: () => void): void;
};
events.addEventListener("unload", () => {
  for (const { prepared } of ready) prepared.close();
});
