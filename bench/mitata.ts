// The cases of bench/_cases.ts with mitata, the harness Bun users use:
//
//   bun bench/mitata.ts
//
// Prints mitata's own report. `npm run bench` (bench/run.ts) calls mitata's
// measure() through _worker.ts instead, to keep the samples for the report.

import { bench, run, summary } from "mitata";
import { CASES, MITATA_PAIR_ID, mitataPair, type Prepared, reason } from "./_cases.ts";

const runtime = (globalThis as { Bun?: unknown }).Bun === undefined ? "deno" : "bun";
const opened: Prepared[] = [];

summary(() => {
  for (const c of CASES) {
    if (!c.runtimes.includes(runtime)) continue;
    let prepared: Prepared;
    try {
      prepared = c.setup();
    } catch (error) {
      console.error(`${c.label}: not available: ${reason(error)}`);
      continue;
    }
    opened.push(prepared);
    const b = bench(c.label, prepared.op);
    if (c.id === "ffi_noop") b.baseline(true);
  }
});

try {
  const pair = await mitataPair();
  opened.push(pair);
  bench(MITATA_PAIR_ID, pair.op);
} catch (error) {
  console.error(`${MITATA_PAIR_ID}: not available: ${reason(error)}`);
}

await run();
for (const prepared of opened) prepared.close();
