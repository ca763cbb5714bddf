// See swiglu.cuh.
#include "matvec.cuh"
#include "swiglu.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 256;

// Q8_0 and F32 output: block (i, r) does elements 256·i … of row r, a warp's 32 values one Q8_0 block
// quantized in registers.
__global__ void __launch_bounds__(kThreads) swiglu_kernel(const float* gate, const float* up, int F, ActView h) {
    pdl_enter();
    const size_t at = static_cast<size_t>(blockIdx.y) * F;
    const int i = blockIdx.x * kThreads + threadIdx.x, lane = threadIdx.x % kWarp;
    if (i >= F) return;  // F % 32 == 0: whole warps leave
    const float v = silu_cpu(gate[at + i]) * up[at + i];
    h.f[at + i] = v;
    if (h.q) quantize_lanes_q8_0(v, h.q + at + (i - lane), h.d + (at + i) / 32, lane);
}

// Q8_K output: block (g, r) does 256-value blocks 4g … 4g + 3 of row r, a warp each, quantized in
// registers.
__global__ void __launch_bounds__(kQ8kWarps * kWarp) swiglu_q8_k_kernel(const float* gate, const float* up, int F, ActView h) {
    pdl_enter();
    const int lane = threadIdx.x % kWarp, b = blockIdx.x * kQ8kWarps + threadIdx.x / kWarp;
    if (b >= F / 256) return;
    const size_t row = static_cast<size_t>(blockIdx.y) * F, at = row + 256 * b + 8 * lane;
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        v[i] = silu_cpu(gate[at + i]) * up[at + i];
        h.f[at + i] = v[i];
    }
    quantize_lanes_q8_k(v, h.q + row, h.d + row / 32, F, b, lane);
}

}  // namespace

cudaError_t launch_swiglu(cudaStream_t stream, const float* gate, const float* up, int n_ff, int n_rows, ActView h,
                          ActFormat fmt) {
    if (n_rows <= 0 || h.k != n_ff || n_ff % (fmt == ActFormat::Q8_K ? 256 : 32)) return cudaErrorInvalidValue;
    if (fmt == ActFormat::Q8_K) {
        return launch(swiglu_q8_k_kernel, q8k_grid(n_ff, n_rows), kQ8kWarps * kWarp, 0, stream, gate, up, n_ff, h);
    }
    ActView out = h;
    if (fmt == ActFormat::F32) out.q = nullptr;
    return launch(swiglu_kernel, dim3((n_ff + kThreads - 1) / kThreads, n_rows), kThreads, 0, stream, gate, up, n_ff, out);
}

}  // namespace mtp::cuda
