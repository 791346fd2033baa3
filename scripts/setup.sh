#!/usr/bin/env bash
# Everything a fresh machine needs, and nothing when it is already there:
#   1. the pinned tools (Deno, Bun, TypeScript) exactly as package-lock.json
#      says, by `npm ci`. Deno is pinned to 2.9.5, the newest release whose
#      platform packages exist for both linux-x64 and linux-arm64 on the npm
#      registry (the arm64 QEMU tier runs the same version in its guest);
#   2. the native library for this machine, by build.ts (which installs the
#      pinned Zig from PyPI when it is missing; Zig's cache makes reruns cheap).
set -euo pipefail
cd "$(dirname "$0")/.."

marker=node_modules/.perfmmap-lock-sha256
fingerprint() { cat package.json package-lock.json | sha256sum | cut -d' ' -f1; }
want=$(fingerprint)
if [[ ! -x node_modules/.bin/deno || ! -x node_modules/.bin/bun || ! -x node_modules/.bin/tsc ||
  ! -f $marker || "$(cat "$marker")" != "$want" ]]; then
  echo "setup: installing the pinned tools (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  fingerprint >"$marker"
fi

node_modules/.bin/deno run -A build.ts
