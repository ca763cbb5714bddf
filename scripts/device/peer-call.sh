#!/usr/bin/env bash
# On the GPU machine, after scripts/device/ab-steps.sh (carry .device/boot.sh): compare-peer with the
# working tree's library on the 27B shape (k = 1: random weights accept nothing) and on tiny-code
# q8_0 (k = 1…4), the peer being the llama.cpp that shapes-call-a.sh built. $OUT/peer-*.txt.
set -uo pipefail
source .device/boot.sh
for i in $(seq 100); do grep -q PEER-DONE /tmp/peer.log 2>/dev/null && break; sleep 3; done
grep -q PEER-DONE /tmp/peer.log 2>/dev/null || { echo "peer-call: no llama.cpp build here (not the machine shapes-call-a.sh prepared?)"; exit 1; }
[ -f /tmp/27b.gguf ] || echo "peer-call: no /tmp/27b.gguf"
MTP_LIB=$PWD/cuda/build/libmtp.so node scripts/device/compare-peer.mjs /tmp/27b.gguf --ks 1 > "$OUT/peer-27b.txt" 2>&1
tail -8 "$OUT/peer-27b.txt"
MTP_LIB=$PWD/cuda/build/libmtp.so node scripts/device/compare-peer.mjs gguf/tiny-code-q8_0.gguf > "$OUT/peer-tiny.txt" 2>&1
tail -12 "$OUT/peer-tiny.txt"
