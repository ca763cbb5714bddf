#!/usr/bin/env bash
# Packs what the CLI needs at run time on the GPU machine (no npm registry there) into
# .device/runtime.tgz: the compiled dist/ and the production dependencies, with koffi's native
# binary for linux-x64 only (the whole package is 28 MB, that binary ~2 MB).
# Run here after `npm run build`; on the device: source .device/boot.sh; bash scripts/device/unpack-runtime.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d dist ] || { echo "stage-runtime: run npm run build first" >&2; exit 1; }
[ -d .device ] || { echo "stage-runtime: stage .device first (bash ../shared/device/stage.sh)" >&2; exit 1; }
mapfile -t deps < <(npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | sed "s|^$PWD/||")
tar czf .device/runtime.tgz --exclude='node_modules/koffi/build/koffi/[!l]*' \
  --exclude='node_modules/koffi/build/koffi/linux_[!x]*' --exclude='node_modules/koffi/src' \
  --exclude='node_modules/koffi/vendor' --exclude='node_modules/koffi/doc' dist "${deps[@]}"
echo "stage-runtime: .device/runtime.tgz $(du -h .device/runtime.tgz | cut -f1) (dist + ${#deps[@]} packages)"
