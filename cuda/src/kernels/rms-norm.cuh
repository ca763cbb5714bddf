// RMSNorm of activation rows (spec §3.1), optionally quantizing the result for the next matvec.
//
//   y[r, i] = (x[r, i] · 1/sqrt(mean_i x[r, i]² + eps)) · w[i]      x: (n_rows, k), rows x_stride apart
//
// The sum of squares is accumulated in double, as the CPU backend does. Launch geometry: one block
// of 128 threads per row; thread t sums elements t, t + 128, … and the block adds the partials in a
// fixed order, so a row's result does not depend on the other rows of the launch. Q8_0 output is
// quantized in registers (a warp's 32 values of a pass are one block); for Q8_K output a row has a
// block per 4 quantization blocks (matvec.cuh's q8k_grid), each summing the squares the same way
// and then normalizing and quantizing its 4 × 256 values, a warp each.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

// y (n_rows, y_stride) floats; if quant is given (fmt != F32), y's rows (y_stride == k) are also
// quantized into quant.q / quant.d.
cudaError_t launch_rms_norm(cudaStream_t stream, const float* x, int x_stride, const float* w, float* y, int y_stride,
                            int k, int n_rows, float eps, ActView quant, ActFormat fmt);

}  // namespace mtp::cuda
