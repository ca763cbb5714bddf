#!/usr/bin/env bash
# On the GPU machine (no carry): each patch given (default docs/patches/*.patch) applied to a copy of
# the working tree's cuda/ and built beside the working tree itself (cuda-kernels-check, -j 4 each),
# each variant's kernel checks ($CHECKS, default `matvec gdn attention`; $OUT/checks-NAME.txt), then
# `bench $BENCH` (default dense) of the working tree and every variant twice, interleaved
# ($OUT/bench-NAME-R.txt, the lines matching $SHOW printed: default the one-graph step lines).
# ~3 minutes from cold for three patches.
#   bash scripts/device/patch-variants.sh [PATCH...]
#   BENCH=tiled SHOW='^bench tiled' bash scripts/device/patch-variants.sh docs/patches/tiled-rows.patch
set -uo pipefail
patches=("$@")
[ ${#patches[@]} -gt 0 ] || patches=(docs/patches/*.patch)
source scripts/device/build.sh
names=(wt)
for p in "${patches[@]}"; do
  n=$(basename "$p" .patch); d=/tmp/pv-$n
  rm -rf "$d" && mkdir -p "$d" && cp -r cuda "$d/" && rm -rf "$d/cuda/build"
  (cd "$d" && patch -p1 -s < "$OLDPWD/$p") || { echo "$n: does not apply"; continue; }
  names+=("$n")
done
for n in "${names[@]}"; do
  src=/tmp/pv-$n/cuda; [ "$n" = wt ] && src=cuda
  build_sm90 "$src" "/tmp/pvb-$n" 4 cuda-kernels-check &
done
wait
echo "built $(date +%T)"
for n in "${names[@]:1}"; do
  /tmp/pvb-$n/cuda-kernels-check ${CHECKS:-matvec gdn attention} > "$OUT/checks-$n.txt" 2>&1
  echo "$n: checks rc $?, $(grep -cE '^ok' "$OUT/checks-$n.txt") ok"; grep -E "^FAIL|failure" "$OUT/checks-$n.txt" | head -5
done
for r in 1 2; do
  for n in "${names[@]}"; do
    /tmp/pvb-$n/cuda-kernels-check bench ${BENCH:-dense} > "$OUT/bench-$n-$r.txt" 2>&1
    echo "== run $r, $n"; grep -E "${SHOW:-one graph}" "$OUT/bench-$n-$r.txt" | sed 's/bench dense step //'
  done
done
echo "done $(date +%T)"
