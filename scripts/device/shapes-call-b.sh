#!/usr/bin/env bash
# On the GPU machine, the second call, at once after shapes-call-a.sh: the GPU tests on whatever
# .cache/quant files were carried, then each measurement as soon as its file is ready (35B-A3B step
# cost and peer comparison, the 27B Q4_K_M's, then — if call A ran with LOWBIT=1 — tg128 of the 27B
# IQ4_XS / IQ2_XXS files next to llama-bench's); results go to $OUT as they come. Carry .device/runtime.txz, .device/boot.sh,
# .device/peer-bench.sh (and up to ~20 MB of .cache/quant files).
source .device/boot.sh; bash scripts/device/unpack-runtime.sh
node node_modules/vitest/vitest.mjs run test/gpu -t "IQ2_XXS|MXFP4" 2>&1 | grep -E "✓|✗|×|FAIL|passed|failed|Error|agreement" | head -20 | tee $OUT/tests.txt
waitfor() { for i in $(seq 240); do grep -q $2 /tmp/sh-$1/done.log 2>/dev/null && return 0; sleep 2; done; return 1; }
waitfor 35b-a3b SHAPE-DONE
f=/tmp/35b-a3b.gguf; echo "=== 35b-a3b $(du -h $f | cut -f1)"
node scripts/device/step-cost.mjs $f --copy-gbs ${COPY_GBS:-4268} --json $OUT/step-35b.json | tee $OUT/35b.txt
node scripts/device/compare-peer.mjs $f --ks 1,2 --json $OUT/peer-35b.json | tee -a $OUT/35b.txt
waitfor 27b Q4-DONE
f=/tmp/27b.gguf; echo "=== 27b Q4_K_M"
node scripts/device/step-cost.mjs $f --copy-gbs ${COPY_GBS:-4268} --json $OUT/step-27b.json | tee $OUT/27b.txt
node scripts/device/compare-peer.mjs $f --ks 1 --json $OUT/peer-27b.json | tee -a $OUT/27b.txt
# Programmatic dependent launch off: what it buys on the big shape.
MTP_CUDA_PDL=0 node scripts/device/step-cost.mjs $f --widths 1,4 --copy-gbs ${COPY_GBS:-4268} | tee -a $OUT/27b.txt
# Sampled decoding (the CLI's default temperature): the sampler's host work and the logits copies.
node bin/mtp-cli bench -m $f -p 0 -n 128 -r 3 --temp 0.8 --mtp-spec-decode 0,1 --backend cuda 2>&1 | grep -E "tg128" | tee -a $OUT/27b.txt
[ -f /tmp/sh-27b/lowbit ] || { echo "no 27B low-bit files: call A ran without LOWBIT=1"; exit 0; }
for q in IQ4_XS IQ2_XXS; do
  [ $q = IQ2_XXS ] && waitfor 27b SHAPE-DONE
  [ $q = IQ4_XS ] && waitfor 27b IQ4-DONE
  f=/tmp/27b-$q.gguf; [ -f $f ] || { echo "$q missing"; tail -3 /tmp/sh-27b/q*.log /tmp/sh-27b/imat.log; continue; }
  echo "=== 27b $q $(du -h $f | cut -f1)" | tee -a $OUT/iq.txt
  node bin/mtp-cli bench -m $f -p 0 -n 128 -r 3 --mtp-spec-decode 0 --backend cuda 2>&1 | grep -E "tg128|model" | tee -a $OUT/iq.txt
  /tmp/lcpp/build/bin/llama-bench -m $f -p 0 -n 128 -ngl 99 -r 3 2>/dev/null | grep -E '^\|' | tee -a $OUT/iq.txt
done
