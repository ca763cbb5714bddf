#!/usr/bin/env bash
# Builds the llama.cpp peer for the CPU (the release node-llama-cpp 3.22.1 bundles) into DIR/build/bin:
# llama-bench, llama-completion (the plain CLI) and llama-speculative-simple (draft-mtp). Used by
# `node scripts/bench-cpu-spec.mjs --peer DIR/build/bin`. About 20 minutes on 2 cores.
# AVX-512 (VNNI, VBMI, BF16) is enabled explicitly: a -march=native build died with SIGILL in a VM
# whose CPU reports AMX.
# Usage: bash scripts/peer/build-llama-cpu.sh [DIR = /tmp/lcpp-cpu]   (needs .device/llama-src.txz:
# bash ../shared/device/stage.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-/tmp/lcpp-cpu}
[ -f .device/llama-src.txz ] || { echo "build-llama-cpu: .device/llama-src.txz missing (bash ../shared/device/stage.sh)" >&2; exit 1; }
mkdir -p "$DIR" && tar xJf .device/llama-src.txz -C "$DIR"
cmake -S "$DIR" -B "$DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
  -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON \
  -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF > "$DIR/cmake.log"
cmake --build "$DIR/build" -j "$(nproc)" --target llama-bench llama-speculative-simple llama-completion > "$DIR/build.log"
echo "build-llama-cpu: $DIR/build/bin"
