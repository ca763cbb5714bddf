#!/usr/bin/env bash
# On the GPU machine (no carry needed): an Nsight Compute profile of one kernel launch of
# `cuda-kernels-check bench GROUP` down to SASS instructions — where its shared-memory wavefronts,
# global sectors and stall samples go (docs/device-runs.md, thirteenth session). Builds
# cuda-kernels-check if cuda/build lacks it.
#   bash scripts/device/ncu-source.sh KERNEL-REGEX LAUNCH-SKIP [GROUP]
#   e.g. bash scripts/device/ncu-source.sh kquant_mma 3 dense   (the 2-row GDN-in launch)
# Writes $OUT/ncu-source.csv (every SASS instruction with its counters) and prints the header and
# the 15 instructions highest in each counter of excess wavefronts / sectors and stall samples.
set -uo pipefail
regex=${1:?kernel regex}; skip=${2:?launch skip}; group=${3:-dense}
source scripts/device/build.sh
[ -x cuda/build/cuda-kernels-check ] || build_sm90 cuda cuda/build 16 cuda-kernels-check
NCU=$(ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1); NCU=${NCU:-ncu}
$NCU --section SourceCounters --section WarpStateStats --section InstructionStats --import-source yes \
  -k "regex:$regex" --launch-skip "$skip" --launch-count 1 -f -o /tmp/ncu-source cuda/build/cuda-kernels-check bench "$group" > /tmp/ncu-run.log 2>&1
grep -E "==PROF==|ERR" /tmp/ncu-run.log | head -5
$NCU --import /tmp/ncu-source.ncu-rep --page details > "$OUT/ncu-details.txt" 2>&1
$NCU --import /tmp/ncu-source.ncu-rep --page source --csv --print-source sass > "$OUT/ncu-source.csv" 2>&1
python3 - "$OUT/ncu-source.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
start = next((i for i, r in enumerate(rows) if len(r) > 3), None)
if start is None:
    print("no table in", sys.argv[1]); print("".join(open(sys.argv[1]).readlines()[:20])); sys.exit()
head, body = rows[start], [r for r in rows[start + 1:] if len(r) == len(rows[start])]
print("columns:", " | ".join(head))
src = next((i for i, h in enumerate(head) if h.lower() in ("source", "sass")), 1)
def num(v):
    try: return float(v.replace(",", ""))
    except ValueError: return 0.0
for c, h in enumerate(head):
    if not any(w in h.lower() for w in ("excessive", "sampling", "samples")): continue
    top = sorted(body, key=lambda r: -num(r[c]))[:15]
    if not top or num(top[0][c]) == 0: continue
    print(f"\n== {h} (total {sum(num(r[c]) for r in body):.0f})")
    for r in top: print(f"{num(r[c]):>10.0f}  {r[0]:>6}  {r[src][:110]}")
PY
