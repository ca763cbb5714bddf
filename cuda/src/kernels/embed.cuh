// Embedding lookup (spec §3.2, `get_rows`): the exact dequantized row of each token, no scaling.
//
//   tokens (n) int32 on the device (read there, so a captured graph serves every step)
//   table  a DevMatrix (n = V rows of k = E values), any supported type; out (n, out_stride) floats
//
// Launch geometry: one block of 128 threads per token; thread t dequantizes values t, t + 128, …
#pragma once

#include "matvec.cuh"

namespace mtp::cuda {

cudaError_t launch_embed(cudaStream_t stream, const DevMatrix& table, const int* tokens, int n_rows, float* out,
                         int out_stride);

}  // namespace mtp::cuda
