#!/usr/bin/env bash
# Every GPU check in one go, on a machine with an NVIDIA GPU, nvcc and the dev dependencies:
# builds libmtp with the CUDA backend, runs the per-family kernel check (kernels vs the CPU
# backend's arithmetic, row invariance, matvec bandwidth), then the GPU test suite (test/gpu:
# CUDA vs CPU parity, greedy MTP == plain, graphs == eager, rollback, row invariance).
set -euo pipefail
cd "$(dirname "$0")/.."
MTP_CUDA=1 node scripts/build-native.mjs
cuda/build/cuda-kernels-check
node node_modules/vitest/vitest.mjs run test/gpu
