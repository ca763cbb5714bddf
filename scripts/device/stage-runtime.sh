#!/usr/bin/env bash
# Packs what the CLI and the GPU tests need at run time on the GPU machine (no npm registry there)
# into .device/runtime.txz: the compiled dist/, the production dependencies and vitest with its
# dependencies (for `test/gpu`), koffi's native binary for linux-x64 only. About 6.5 MB, so that
# with the tracked files and .device/node.xz it stays under the 64 MiB a device run may carry.
# Run here after `npm run build`; on the device: source .device/boot.sh; bash scripts/device/unpack-runtime.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d dist ] || { echo "stage-runtime: run npm run build first" >&2; exit 1; }
[ -d .device ] || { echo "stage-runtime: stage .device first (bash ../shared/device/stage.sh)" >&2; exit 1; }
# The installed folders of the production dependencies and of vitest, transitively (node's lookup:
# a nested node_modules first, then the top level; optional dependencies that are absent skipped).
mapfile -t deps < <(node --input-type=module -e '
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
const seen = new Set();
const walk = (name, from) => {
  let dir = join(from, "node_modules", name);
  if (!existsSync(join(dir, "package.json"))) dir = join("node_modules", name);
  if (!existsSync(join(dir, "package.json")) || seen.has(dir)) return;
  seen.add(dir);
  const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  for (const d of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) walk(d, dir);
};
const root = JSON.parse(readFileSync("package.json", "utf8"));
for (const d of [...Object.keys(root.dependencies), "vitest"]) walk(d, ".");
console.log([...seen].join("\n"));')
tar cf - --exclude='node_modules/koffi/build/koffi/[!l]*' \
  --exclude='node_modules/koffi/build/koffi/linux_[!x]*' --exclude='node_modules/koffi/src' \
  --exclude='node_modules/koffi/vendor' --exclude='node_modules/koffi/doc' \
  --exclude='node_modules/koffi/lib/native' --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.md' dist "${deps[@]}" | xz -T2 -9 > .device/runtime.txz
echo "stage-runtime: .device/runtime.txz $(du -h .device/runtime.txz | cut -f1) (dist + ${#deps[@]} packages)"
