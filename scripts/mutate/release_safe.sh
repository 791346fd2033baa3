#!/usr/bin/env bash
# Runs TypeScript test files against a ReleaseSafe build of the core (its
# `assert`s and safety checks kept), loaded through PERFMMAP_LIB. The shipped
# library is ReleaseFast, where a broken invariant can go unseen when the
# count still comes out right; this run makes such a bug panic instead.
# On demand only, not part of npm test. Writes nothing in the repository.
#
#   scripts/mutate/release_safe.sh                       every top-level test/*.test.ts
#   scripts/mutate/release_safe.sh test/userspace.test.ts test/contract.test.ts
#   RUNTIMES=deno scripts/mutate/release_safe.sh ...     one runtime (default: deno bun)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="$(mktemp -d /tmp/perfmmap-releasesafe-XXXXXX)"
trap 'rm -rf "$out"' EXIT

# The same module as build.zig's library (src/exports.zig, no libc, PIC),
# with -O ReleaseSafe instead of ReleaseFast.
zig=(python3 -m ziglang)
[[ -n "${ZIG:-}" ]] && zig=("$ZIG")
(cd zig && "${zig[@]}" build-lib -dynamic -O ReleaseSafe -fPIC -fno-emit-h \
  --name perfmmap src/exports.zig -femit-bin="$out/libperfmmap.so")
echo "release_safe: built $out/libperfmmap.so"
# The suites must load this file, not native/: check what the loader picks.
loaded="$(PERFMMAP_LIB="$out/libperfmmap.so" node_modules/.bin/deno eval \
  'import { native } from "./src/loader/native.ts"; console.log(native().path)')"
if [[ "$loaded" != "$out/libperfmmap.so" ]]; then
  echo "release_safe: the loader picked $loaded, not the ReleaseSafe build" >&2
  exit 1
fi

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  mapfile -t files < <(ls test/*.test.ts | sort)
fi
status=0
for runtime in ${RUNTIMES:-deno bun}; do
  echo "release_safe: $runtime, ${#files[@]} files"
  if [[ "$runtime" == deno ]]; then
    PERFMMAP_LIB="$out/libperfmmap.so" node_modules/.bin/deno test -A "${files[@]}" || status=1
  else
    PERFMMAP_LIB="$out/libperfmmap.so" node_modules/.bin/bun test "${files[@]/#/./}" || status=1
  fi
done
exit "$status"
