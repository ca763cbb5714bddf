#!/usr/bin/env bash
# On the GPU machine: unpacks .device/runtime.tgz (scripts/device/stage-runtime.sh) into the working
# tree, so bin/mtp-cli runs there. Needs node on PATH (source .device/boot.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
tar xzf .device/runtime.tgz
node bin/mtp-cli --version > /dev/null && echo "unpack-runtime: mtp-cli $(node bin/mtp-cli --version) ready"
