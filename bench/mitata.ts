// The cases of bench/_cases.ts with mitata, the harness Bun users use:
//
//   bun bench/mitata.ts
//
// Prints mitata's own report. `npm run bench` (bench/run.ts) calls mitata's
// measure() through _worker.ts instead, to keep the samples for the report.

import { bench, run, summary } from "mitata";
import { prepareAll } from "./_cases.ts";

const runtime = (globalThis as { Bun?: unknown }).Bun === undefined ? "deno" : "bun";
const { ready, unavailable } = await prepareAll(runtime);
for (const [id, why] of Object.entries(unavailable)) console.error(`${id}: not available: ${why}`);

summary(() => {
  for (const { id, label, prepared } of ready) {
    const b = bench(label, prepared.op);
    if (id === "ffi_noop") b.baseline(true);
  }
});

await run();
for (const { prepared } of ready) prepared.close();
