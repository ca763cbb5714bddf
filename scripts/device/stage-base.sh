#!/usr/bin/env bash
# Packs cuda/ of a commit (default HEAD) as .device/base-cuda.tar.xz (~0.2 MB): the baseline library
# that scripts/device/ab-steps.sh builds beside the working tree's on the GPU machine.
#   bash scripts/device/stage-base.sh [COMMIT]
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:-HEAD}
git rev-parse --verify -q "$rev^{commit}" > /dev/null || { echo "stage-base: no commit $rev" >&2; exit 1; }
mkdir -p .device
git archive --format=tar "$rev" cuda | xz -T2 -6 > .device/base-cuda.tar.xz
echo "stage-base: $(git rev-parse --short "$rev") $(du -h .device/base-cuda.tar.xz | cut -f1)"
