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
rm -rf /tmp/base && mkdir -p /tmp/base && tar xJf .device/base-cuda.tar.xz -C /tmp/base
cfg="-DCMAKE_BUILD_TYPE=Release -DMTP_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90"
(cmake -S /tmp/base/cuda -B /tmp/base/build $cfg > /dev/null && cmake --build /tmp/base/build -j 8 --target mtp 2>&1 | grep -E "error|warning") &
(cmake -S cuda -B cuda/build $cfg > /dev/null && cmake --build cuda/build -j 8 --target mtp 2>&1 | grep -E "error|warning")
wait
echo "built $(date +%T)"
for r in 1 2 3; do
  for L in $PWD/cuda/build /tmp/base/build; do
    echo "== tiny-code q8_0, run $r, $L"
    MTP_LIB=$L/libmtp.so node scripts/device/step-cost.mjs gguf/tiny-code-q8_0.gguf --widths 1,2,4 --reps 300 | grep -E "^\| [0-9]"
  done
done
echo "done $(date +%T)"
