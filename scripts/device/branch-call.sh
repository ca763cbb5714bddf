#!/usr/bin/env bash
# On the GPU machine: the checked-out tree's kernels and tests, then what they change, as the call
# after shapes-call-a.sh and shapes-call-b.sh (run on main) while the machine is still warm — the
# peer in /tmp/lcpp and the shape models in /tmp stay from those calls; each is used if present.
# Carry .device/runtime.txz (staged from this checkout: npm run build && bash
# scripts/device/stage-runtime.sh) and .device/boot.sh; .device/node.xz too if the machine went cold
# (node is unpacked in /tmp/node while it is warm). Results go to $OUT.
#   1. build libmtp and cuda-kernels-check for sm_90; the kernel check (failures, the attention and
#      F32 lines, the long-context attention bench);
#   2. the GPU tests;
#   3. tiny-code q8_0: step cost, and against the peer at depths 0, 4096 and 16384;
#   4. the 35B-A3B and 27B shapes' step cost (issues 8 and 6) and sampled tg128 (T 0.8, K 0 and 1),
#      when their files are in /tmp.
source .device/boot.sh; bash scripts/device/unpack-runtime.sh
source scripts/device/build.sh
build_sm90 cuda cuda/build 16 mtp cuda-kernels-check
cuda/build/cuda-kernels-check > $OUT/kernels.txt 2>&1
grep -E "FAIL|failure|attention|F32|router|copy bandwidth" $OUT/kernels.txt | head -40
node node_modules/vitest/vitest.mjs run test/gpu 2>&1 | grep -E "✓|✗|×|FAIL|passed|failed|skipped|agreement|Error" | head -40 | tee $OUT/tests.txt
COPY=$(sed -n 's/.*copy bandwidth[^0-9]*\([0-9.]*\) GB\/s.*/\1/p' $OUT/kernels.txt | head -1)
node scripts/device/step-cost.mjs gguf/tiny-code-q8_0.gguf ${COPY:+--copy-gbs $COPY} --json $OUT/step-tiny.json | tee $OUT/tiny.txt
if [ -x /tmp/lcpp/build/bin/llama-bench ]; then
  node scripts/device/compare-peer.mjs gguf/tiny-code-q8_0.gguf --ks 1,2 --depths 4096,16384 --json $OUT/peer-tiny.json | tee -a $OUT/tiny.txt
fi
for f in /tmp/35b-a3b.gguf /tmp/27b.gguf; do
  [ -f $f ] || continue
  node scripts/device/step-cost.mjs $f ${COPY:+--copy-gbs $COPY} --json $OUT/step-$(basename $f .gguf).json | tee -a $OUT/shapes.txt
  # Sampled decoding (the CLI's default temperature): what the sampler's host work and copies cost.
  node bin/mtp-cli bench -m $f -p 0 -n 128 -r 3 --temp 0.8 --mtp-spec-decode 0,1 --backend cuda 2>&1 | grep -E "tg128" | tee -a $OUT/shapes.txt
done
