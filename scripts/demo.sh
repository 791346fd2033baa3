#!/usr/bin/env bash
# The main job: set up, build, and run the demo under Deno and under Bun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node_modules/.bin/deno run --allow-ffi examples/demo.ts
echo
node_modules/.bin/bun examples/demo.ts
