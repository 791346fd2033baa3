// How the core maps a sampling counter: once, 1 + 2^N pages, whose first
// page is the metadata page. Mapping the 1-page metadata page, unmapping it
// and mapping the ring made the kernel wait for an RCU grace period in the
// second mmap: 7-15 ms per counter. Counted by the core (pm_stats slot 7),
// not timed, so a loaded machine cannot make this flaky.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Counter } from "../mod.ts";
import { counterHandle } from "./_helpers.ts";
import { native } from "../src/loader/native.ts";
import { STATS, STATS_BYTES } from "../src/ffi/symbols.ts";

function mappingsMade(counter: Counter): number {
  const n = native();
  const out = new Float64Array(STATS_BYTES / 8);
  const rc = n.symbols.pm_stats(counterHandle(counter), new Uint8Array(out.buffer));
  assert.equal(rc, 0, `pm_stats failed: ${rc}`);
  return out[STATS.MAPPINGS];
}

describe("core: mappings", () => {
  for (const userspace of ["auto", "off"] as const) {
    it(`a sampling counter (userspace "${userspace}") maps its ring in one mmap`, () => {
      using sampler = Counter.open("page-faults", { sample: { period: 1000 }, userspace });
      assert.equal(mappingsMade(sampler), 1);
    });
  }

  it('a counting counter (userspace "auto") maps its metadata page in one mmap', () => {
    using clock = Counter.open("task-clock");
    assert.equal(mappingsMade(clock), 1);
  });

  it("a sampling counter's userspace read uses the ring's first page", () => {
    using sampler = Counter.open("page-faults", { sample: { period: 1000 } });
    assert.equal(sampler.capabilities.hasPage, true);
    assert.ok(sampler.read() >= 0);
  });
});
