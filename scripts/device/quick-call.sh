#!/usr/bin/env bash
# On the GPU machine (carry .device/base-cuda.tar.xz from stage-base.sh): a kernel change's first
# check, ~75 s warm. The working tree's and the baseline's cuda-kernels-check built side by side,
# the working tree's kernel checks (default `matvec moe`; $OUT/kernels.txt), then `bench matvec`
# and `bench dense` of both, twice, interleaved ($OUT/{matvec,dense}-{wt,base}-{1,2}.txt, the
# dense step lines printed).
#   bash scripts/device/quick-call.sh [CHECK-GROUP...]
set -uo pipefail
groups=${*:-matvec moe}
source scripts/device/build.sh
build_with_base cuda-kernels-check
# shellcheck disable=SC2086
cuda/build/cuda-kernels-check $groups > "$OUT/kernels.txt" 2>&1
echo "kernel checks ($groups): $(grep -cE '^ok' "$OUT/kernels.txt") ok"; grep -E "^FAIL|failure" "$OUT/kernels.txt" | head
for r in 1 2; do
  for n in wt base; do
    b=cuda/build; [ $n = base ] && b=/tmp/base/build
    $b/cuda-kernels-check bench matvec > "$OUT/matvec-$n-$r.txt" 2>&1
    $b/cuda-kernels-check bench dense > "$OUT/dense-$n-$r.txt" 2>&1
    echo "== run $r, $n"; grep -E "step" "$OUT/dense-$n-$r.txt"
  done
done
echo "done $(date +%T)"
