// SwiGLU of the dense FFN (spec §3.8): h = SiLU(gate) ⊙ up, quantized for ffn_down.
//
//   gate, up, h (n, F) floats; quant: h's rows in ffn_down's activation format
//
// Launch geometry: a thread per element, 256-thread blocks (grid: F/256 × rows), Q8_0 output
// quantized in registers (a warp's 32 values are one block); for Q8_K output one block per row and
// the row quantizer after a barrier. F % 32 == 0.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

cudaError_t launch_swiglu(cudaStream_t stream, const float* gate, const float* up, int n_ff, int n_rows, ActView h,
                          ActFormat fmt);

}  // namespace mtp::cuda
