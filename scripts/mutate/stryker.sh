#!/usr/bin/env bash
# StrykerJS on src/ with the command runner calling the Deno suite, in a
# temporary clone of the repository (never in the tree it is started from).
# Run on demand, never in CI.
#
#   scripts/mutate/stryker.sh                 the default files and tests below
#   STRYKER_MUTATE='src/_options.ts,src/testing.ts' scripts/mutate/stryker.sh
#   STRYKER_TESTS='test/errors.test.ts test/contract.test.ts' scripts/mutate/stryker.sh
#   STRYKER_LIMIT_S=1800 scripts/mutate/stryker.sh     (whole run's time limit)
#   STRYKER_WORKTREE=1 ...                     copy uncommitted files too
#
# Stryker is installed on demand into $STRYKER_HOME (default
# ~/.cache/perfmmap-mutate/stryker), not into package.json. It is pinned to
# 9.5.1: 10.x refuses Node < 22, and this machine's node is 20.
#
# There is no coverage analysis with the command runner: every mutant runs
# the whole command. So the default mutates the option resolution (where
# modifiers, exclude and the fallback default meet) and the simulated-counter
# module, and runs the Deno files that exercise them (with --no-check:
# Stryker's instrumented sources carry @ts-nocheck, and the type check is
# not what is under test). src/cli and src/loader/_remote.ts are never mutated
# here (slow, and their tests need the CLI folder).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
stryker_home="${STRYKER_HOME:-$HOME/.cache/perfmmap-mutate/stryker}"
stryker_version="9.5.1"
limit_s="${STRYKER_LIMIT_S:-2400}"
deno_flags="-A --no-check"
# errors.test.ts covers option validation; contract.test.ts covers the
# defaults, exclusions and the simulated counter. Its "retry exhaustion"
# group (and userspace.test.ts) is left out: 49 000 sched_yield calls take
# 20 s on a loaded machine, and every mutant would pay it.
tests="${STRYKER_TESTS:-}"
if [[ -z "$tests" ]]; then
  command="$root/node_modules/.bin/deno test $deno_flags test/errors.test.ts"
  command+=" && $root/node_modules/.bin/deno test $deno_flags"
  command+=" --filter '/errno|simulated page|modifiers win|fallback default|option resolution|simulated counter input|handles/'"
  command+=" test/contract.test.ts"
else
  command="$root/node_modules/.bin/deno test $deno_flags $tests"
fi

if [[ ! -x "$stryker_home/node_modules/.bin/stryker" ]] ||
  ! grep -q "\"version\": \"$stryker_version\"" \
    "$stryker_home/node_modules/@stryker-mutator/core/package.json" 2>/dev/null; then
  echo "installing @stryker-mutator/core@$stryker_version into $stryker_home"
  mkdir -p "$stryker_home"
  [[ -f "$stryker_home/package.json" ]] || echo '{ "private": true }' >"$stryker_home/package.json"
  (cd "$stryker_home" && npm install --no-audit --no-fund "@stryker-mutator/core@$stryker_version" >/dev/null)
fi

base="$(mktemp -d /tmp/perfmmap-stryker-XXXXXX)"
copy="$base/repo"
trap 'rm -rf "$base"' EXIT
git clone -q --no-hardlinks "$root" "$copy"
if [[ "${STRYKER_WORKTREE:-0}" == 1 ]]; then
  (cd "$root" && git ls-files -m -o --exclude-standard -z) |
    while IFS= read -r -d '' file; do
      [[ -f "$root/$file" ]] || continue
      mkdir -p "$(dirname "$copy/$file")"
      cp "$root/$file" "$copy/$file"
    done
fi
ln -s "$root/node_modules" "$copy/node_modules"
(cd "$copy" && node_modules/.bin/deno run -A build.ts)

# "file:first-last" of a top-level function: from its `export function name(`
# line to the next line that is exactly `}` (line numbers move as the code
# changes, so they are looked up on each run).
function_range() {
  awk -v sig="export function $2(" -v file="$1" '
    index($0, sig) == 1 { start = NR }
    start && !end && $0 == "}" { end = NR }
    END { if (start && end) printf "%s:%d-%d", file, start, end }' "$copy/$1"
}
default_mutate="$(function_range src/_options.ts resolveOptions),$(function_range src/_options.ts exclusions)"
default_mutate+=",$(function_range src/_options.ts mayRetryRestricted),src/testing.ts"
mutate="${STRYKER_MUTATE:-$default_mutate}"

mutate_json="$(printf '%s' "$mutate" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().split(",")))')"
command_json="$(printf '%s' "$command" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
cat >"$copy/stryker.config.json" <<EOF
{
  "testRunner": "command",
  "commandRunner": { "command": $command_json },
  "mutate": $mutate_json,
  "coverageAnalysis": "off",
  "concurrency": 1,
  "timeoutMS": 60000,
  "plugins": [],
  "reporters": ["clear-text", "progress-append-only", "json"],
  "jsonReporter": { "fileName": "reports/mutation.json" },
  "clearTextReporter": { "allowColor": false, "logTests": false },
  "ignorePatterns": ["zig/.zig-cache", "zig/zig-out", "dist", "bench", "examples", "test/arm64", "test/package"],
  "tempDirName": ".stryker-tmp",
  "cleanTempDir": "always"
}
EOF
echo "stryker: mutate $mutate"
echo "stryker: command $command"
status=0
(cd "$copy" && timeout -k 10 "$limit_s" "$stryker_home/node_modules/.bin/stryker" run stryker.config.json) || status=$?
if [[ -f "$copy/reports/mutation.json" ]]; then
  out="${STRYKER_REPORT:-/tmp/perfmmap-stryker-report.json}"
  cp "$copy/reports/mutation.json" "$out"
  echo "stryker: JSON report copied to $out"
fi
if [[ $status -eq 124 ]]; then echo "stryker: stopped at the ${limit_s} s limit"; fi
exit "$status"
