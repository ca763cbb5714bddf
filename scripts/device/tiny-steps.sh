#!/usr/bin/env bash
# On the GPU machine (carry .device/node.xz, .device/runtime.txz, .device/boot.sh,
# .device/base-cuda.tar.xz from stage-base.sh): the working tree's and the baseline's libmtp built
# side by side, then step-cost on the bundled tiny-code q8_0 (launch-bound: a change of a few µs a
# step shows) for both, three runs interleaved, widths 1, 2, 4 (the 2- and 4-row calls each roll
# back one batch: keep(1)). ~90 s from cold; needs no shape model.
#   bash scripts/device/tiny-steps.sh
set -uo pipefail
source .device/boot.sh
bash scripts/device/unpack-runtime.sh > /dev/null
source scripts/device/build.sh
build_with_base mtp
for r in 1 2 3; do
  for L in $PWD/cuda/build /tmp/base/build; do
    echo "== tiny-code q8_0, run $r, $L"
    MTP_LIB=$L/libmtp.so node scripts/device/step-cost.mjs gguf/tiny-code-q8_0.gguf --widths 1,2,4 --reps 300 | grep -E "^\| [0-9]"
  done
done
echo "done $(date +%T)"
