// Q8_0 matrix × many activation rows on the tensor cores (prefill chunks wider than the matvec's
// kMaxRows), every output bitwise equal to what the matvec kernel (matvec.cuh) computes for that row:
//
//   y[r, o] (+)= Σ_i W[o, i] · x[r, i]     W: (n, k) Q8_0 (repacked), x: (n_rows, k) quantized to Q8_0
//
// The integer dot products of 32 values are exact whoever computes them, so int8 mma.sync computes
// them and the kernel replays the matvec's float arithmetic: one sequential sum over the blocks,
// acc += (d_w·d_x)·isum. (The K-quants run their prefill through the tensor-core matvec for 8 rows,
// matvec.cu, which streams the weights in their order; their float order — 32 lane sums and a tree
// — is the matvec's own there.)
//
// Launch geometry: 128 threads = 4 warps per block; a warp computes 16 weight rows × 32 activation
// rows (4 mma tiles of 16 × 8), a block 32 × 64. Grid (ceil(n / 32), ceil(n_rows / 64)).
#pragma once

#include "matvec.cuh"

namespace mtp::cuda {

// Whether launch_gemm serves this weight type.
bool gemm_supported(uint32_t weight_type);

// y = W·x (or y += W·x) over n_rows >= 1 activation rows; x must hold act_format_for(type).
cudaError_t launch_gemm(cudaStream_t stream, const MatvecOut& out, ActView x, int n_rows);

}  // namespace mtp::cuda
