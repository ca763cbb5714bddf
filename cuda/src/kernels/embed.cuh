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

// The MTP head's input (spec §4.2) in one launch: c = [RMSNorm(embed(tok); enorm) | RMSNorm(h; hnorm)]
//   tokens (n) int32, h (n, E) floats on the device → c.f (n, 2E), and for fmt Q8_0 also c.q / c.d
//   (E % 32 == 0: no block straddles the halves). fmt Q8_K is refused (its 256-blocks may straddle).
// Each half is computed with launch_embed's and launch_rms_norm's arithmetic, so c is bitwise what
// embed + two rms_norm launches + launch_quantize produce. One 128-thread block per (row, half).
cudaError_t launch_mtp_input(cudaStream_t stream, const DevMatrix& table, const int* tokens, const float* h,
                             const float* enorm_w, const float* hnorm_w, int n_rows, float eps, ActView c, ActFormat fmt);

}  // namespace mtp::cuda
