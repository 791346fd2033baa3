// mitata's own run() on two functions, in the arm64 guest: once where
// node_modules/@mitata/counters is the real package (/app/mitata-theirs.mjs),
// once where it is perfmmap's provider (/app/mitata-ours/bench.mjs). The
// output goes to the README as the emulated example.
import { bench, do_not_optimize, run } from "mitata";

let sink = 0;
bench("sum 2000", () => {
  let x = sink;
  for (let i = 0; i < 2000; i++) x = (x + i) | 0;
  sink = x;
});
bench("fill 4 KiB", () => do_not_optimize(new Uint8Array(4096).fill(7)));
await run({ colors: false });
