#!/usr/bin/env bash
# On the GPU machine: unpacks .device/runtime.txz (scripts/device/stage-runtime.sh) into the working
# tree, so bin/mtp-cli and the GPU tests run there. Needs node on PATH (source .device/boot.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
tar xJf .device/runtime.txz
node bin/mtp-cli --version > /dev/null && echo "unpack-runtime: mtp-cli $(node bin/mtp-cli --version) ready"
