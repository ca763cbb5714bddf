#!/usr/bin/env bash
# On the GPU machine: a real-shape random-weight GGUF (scripts/fixtures/make-shape-model.py) converted
# by llama.cpp's official converter and quantized by llama-quantize, so anyone can reproduce the
# benchmark files. Needs the peer built first (bash .device/peer-build.sh: source in /tmp/lcpp,
# llama-quantize in /tmp/lcpp/build/bin).
# Usage: bash scripts/device/make-shape-gguf.sh 27b|35b-a3b N_LAYERS OUT.gguf [QUANT = Q4_K_M]
set -euo pipefail
kind=$1; layers=$2; out=$3; quant=${4:-Q4_K_M}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/shape-XXXX)
python3 "$here/scripts/fixtures/make-shape-model.py" "$work/hf" "$kind" "$layers"
python3 "$here/scripts/fixtures/convert-hf.py" "$work/hf" --outfile "$work/bf16.gguf" --outtype bf16 > "$work/convert.log" 2>&1 \
  || { tail -20 "$work/convert.log"; exit 1; }
/tmp/lcpp/build/bin/llama-quantize "$work/bf16.gguf" "$out" "$quant" > "$work/quantize.log" 2>&1 \
  || { tail -20 "$work/quantize.log"; exit 1; }
rm -rf "$work/hf" "$work/bf16.gguf"
echo "make-shape-gguf: $out ($(du -h "$out" | cut -f1), $kind, $layers layers + MTP, $quant)"
