#!/usr/bin/env bash
# On the GPU machine, the call right after scripts/device/shapes-call-a.sh (carry .device/node.xz,
# .device/runtime.txz, .device/boot.sh, .device/base-cuda.tar.xz from stage-base.sh — Node too: the
# call may find a fresh machine, whose shape models are then missing and the steps skipped, not
# waited for): the baseline library built in
# /tmp/base beside the working tree's (cuda/build, which call A configured), the working tree's
# kernel check ($OUT/kernels.txt) and GPU tests ($OUT/tests.txt), `bench dense` and `bench matvec` of
# both ($OUT/dense-*.txt, matvec-*.txt), then the
# 27B shape's step cost of both libraries twice, interleaved, and the 35B-A3B shape's once each
# (docs/device-runs.md, twelfth session). ~6 minutes; scripts/device/peer-call.sh comes next.
set -uo pipefail
source .device/boot.sh
bash scripts/device/unpack-runtime.sh > /dev/null
source scripts/device/build.sh
build_with_base mtp cuda-kernels-check
cuda/build/cuda-kernels-check matvec lowbit embed gemm moe norm sampling gdn attention > "$OUT/kernels.txt" 2>&1
echo "kernel checks: $(grep -cE '^ok' "$OUT/kernels.txt") ok"; grep -E "^FAIL|failure" "$OUT/kernels.txt" | head
MTP_LIB=$PWD/cuda/build/libmtp.so node node_modules/vitest/vitest.mjs run test/gpu > "$OUT/tests.txt" 2>&1
grep -E "×|FAIL|Tests |Test Files" "$OUT/tests.txt" | head -12
for b in cuda/build /tmp/base/build; do
  n=$(basename "$(dirname $b)")
  $b/cuda-kernels-check bench dense > "$OUT/dense-$n.txt" 2>&1; echo "== bench dense, $b"; grep -E "step" "$OUT/dense-$n.txt"
  $b/cuda-kernels-check bench matvec 2>&1 | grep "^bench matvec" > "$OUT/matvec-$n.txt"
done
step() { MTP_LIB=$2/libmtp.so node scripts/device/step-cost.mjs "$1" --widths 1,2,4 --copy-gbs 4242 | grep -E "^\| [0-9]|reads|allocated"; }
# A shape model, once call A's background job has quantized it (~5 minutes after call A began).
model() {
  [ -d /tmp/sh-$1 ] || { echo "no /tmp/sh-$1: not the machine shapes-call-a.sh prepared"; return 1; }
  for i in $(seq 120); do grep -q Q4-DONE /tmp/sh-$1/done.log 2>/dev/null && return 0; sleep 3; done
  echo "no $1 model after 6 minutes"; return 1
}
if model 27b; then
  for r in 1 2; do for L in $PWD/cuda/build /tmp/base/build; do echo "== 27B run $r, $L"; step /tmp/27b.gguf $L; done; done
fi
if model 35b-a3b; then
  for L in $PWD/cuda/build /tmp/base/build; do echo "== 35B-A3B, $L"; step /tmp/35b-a3b.gguf $L; done
fi
echo "done $(date +%T)"
