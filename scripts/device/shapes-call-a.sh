#!/usr/bin/env bash
# On the GPU machine, the first of two back-to-back calls (docs/device-runs.md, fifth session): starts
# in the background the peer (+ llama-imatrix), the 27B and 35B-A3B shape models (8 layers + MTP,
# official converter) and their quantizations (35B Q4_K_M; 27B Q4_K_M, and with LOWBIT=1 also
# IQ4_XS, then IQ2_XXS with an importance matrix over docs/*.md + README.md — llama-imatrix does not
# run the MTP block, blk.8, which stays Q8_0), all under nice so that a measurement beside them is
# not slowed (but llama-imatrix runs on the GPU: beside ab-steps.sh it made the sixteenth session's
# second 27B run noise, hence opt-in); builds libmtp.
# Carry .device/llama-src.txz, .device/peer-build.sh, .device/peer-bench.sh, .device/node.xz,
# .device/boot.sh. Progress: /tmp/sh-KIND/done.log (Q4-DONE, IQ4-DONE, SHAPE-DONE).
setsid bash -c 'bash .device/peer-build.sh > /tmp/peer.log 2>&1; cmake --build /tmp/lcpp/build -j 16 --target llama-imatrix >> /tmp/peer.log 2>&1; echo PEER-DONE >> /tmp/peer.log' > /dev/null 2>&1 < /dev/null &
source .device/boot.sh
cat docs/*.md README.md > /tmp/calib.txt
for i in $(seq 60); do [ -f /tmp/lcpp/convert_hf_to_gguf.py ] && break; sleep 1; done
Q="nice -n 19 /tmp/lcpp/build/bin/llama-quantize"
for kind in 35b-a3b 27b; do
  d=/tmp/sh-$kind; mkdir -p $d
  extra=":"
  [ $kind = 27b ] && [ "${LOWBIT:-0}" = 1 ] && touch $d/lowbit && extra="$Q $d/bf16.gguf /tmp/27b-IQ4_XS.gguf IQ4_XS > $d/q2.log 2>&1; echo IQ4-DONE >> $d/done.log; nice -n 19 /tmp/lcpp/build/bin/llama-imatrix -m $d/bf16.gguf -f /tmp/calib.txt -o $d/imatrix.gguf -c 512 --chunks 4 -ngl 99 --no-ppl > $d/imat.log 2>&1 && $Q --imatrix $d/imatrix.gguf --tensor-type 'blk\.8\.=q8_0' $d/bf16.gguf /tmp/27b-IQ2_XXS.gguf IQ2_XXS > $d/q3.log 2>&1"
  setsid nice -n 10 bash -c "cd $PWD && python3 scripts/fixtures/make-shape-model.py $d/hf $kind 8 > $d/make.log 2>&1 && python3 scripts/fixtures/convert-hf.py $d/hf --outfile $d/bf16.gguf --outtype bf16 > $d/conv.log 2>&1 && rm -rf $d/hf && until grep -q PEER-DONE /tmp/peer.log; do sleep 2; done && $Q $d/bf16.gguf /tmp/$kind.gguf Q4_K_M > $d/q.log 2>&1 && echo Q4-DONE >> $d/done.log && $extra; echo SHAPE-DONE >> $d/done.log" > /dev/null 2>&1 < /dev/null &
done
source scripts/device/build.sh
build_sm90 cuda cuda/build 8 mtp

