// See swiglu.cuh.
#include "matvec.cuh"
#include "swiglu.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 256;

// Q8_0 and F32 output: block (i, r) does elements 256·i … of row r, a warp's 32 values one Q8_0 block
// quantized in registers.
__global__ void __launch_bounds__(kThreads) swiglu_kernel(const float* gate, const float* up, int F, ActView h) {
    const size_t at = static_cast<size_t>(blockIdx.y) * F;
    const int i = blockIdx.x * kThreads + threadIdx.x, lane = threadIdx.x % kWarp;
    if (i >= F) return;  // F % 32 == 0: whole warps leave
    const float v = silu_cpu(gate[at + i]) * up[at + i];
    h.f[at + i] = v;
    if (h.q) quantize_lanes_q8_0(v, h.q + at + (i - lane), h.d + (at + i) / 32, lane);
}

// Q8_K output: one block per row, the row quantizer after a barrier.
__global__ void __launch_bounds__(kThreads) swiglu_q8_k_kernel(const float* gate, const float* up, int F, ActView h) {
    const size_t at = static_cast<size_t>(blockIdx.x) * F;
    for (int i = threadIdx.x; i < F; i += kThreads) h.f[at + i] = silu_cpu(gate[at + i]) * up[at + i];
    __syncthreads();
    quantize_row(h.f + at, F, h.q + at, h.d + at / 32, ActFormat::Q8_K);
}

}  // namespace

cudaError_t launch_swiglu(cudaStream_t stream, const float* gate, const float* up, int n_ff, int n_rows, ActView h,
                          ActFormat fmt) {
    if (n_rows <= 0 || h.k != n_ff || n_ff % (fmt == ActFormat::Q8_K ? 256 : 32)) return cudaErrorInvalidValue;
    if (fmt == ActFormat::Q8_K) {
        swiglu_q8_k_kernel<<<n_rows, kThreads, 0, stream>>>(gate, up, n_ff, h);
    } else {
        ActView out = h;
        if (fmt == ActFormat::F32) out.q = nullptr;
        swiglu_kernel<<<dim3((n_ff + kThreads - 1) / kThreads, n_rows), kThreads, 0, stream>>>(gate, up, n_ff, out);
    }
    return cudaGetLastError();
}

}  // namespace mtp::cuda
