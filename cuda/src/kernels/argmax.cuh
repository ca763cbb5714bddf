// Greedy token choice on the device: the index of each row's largest logit (the smallest index on
// ties, as the CPU sampler picks it).
//
//   logits (n, V) floats → out (n) int32
//
// Launch geometry: one block of 256 threads per row; thread t scans t, t + 256, …, then a
// shared-memory tree keeps (value, index) pairs.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

cudaError_t launch_argmax(cudaStream_t stream, const float* logits, int n_vocab, int n_rows, int* out);

}  // namespace mtp::cuda
