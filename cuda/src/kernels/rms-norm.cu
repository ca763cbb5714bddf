// See rms-norm.cuh.
#include "matvec.cuh"
#include "rms-norm.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;
static_assert(kThreads == kQ8kWarps * kWarp, "a Q8_K row block quantizes one 256-value block per warp");
constexpr int kLoadsAhead = 48;  // a thread's loads of a row up to k = 6144 before its sum of squares

__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const float* x, int x_stride, const float* w, float* y,
                                                             int y_stride, int k, float eps, ActView quant, ActFormat fmt) {
    pdl_enter();
    __shared__ double scratch[kWarp];
    const int r = blockIdx.y, lane = threadIdx.x % kWarp;
    const float* xr = x + static_cast<size_t>(r) * x_stride;
    float* yr = y + static_cast<size_t>(r) * y_stride;
    double part = 0.0;
    if (k <= kLoadsAhead * kThreads) {
        // Every load of the thread in flight before its adds (k = 5120: one round instead of five in
        // groups of 8); the adds stay in order: the same bits.
        float v[kLoadsAhead];
#pragma unroll
        for (int u = 0; u < kLoadsAhead; u++) {
            const int i = threadIdx.x + u * kThreads;
            v[u] = i < k ? xr[i] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < kLoadsAhead; u++) {
            if (threadIdx.x + u * kThreads < k) part += static_cast<double>(v[u] * v[u]);
        }
    } else {
        // 8 of a thread's loads in flight before their adds, in order.
#pragma unroll 8
        for (int i = threadIdx.x; i < k; i += kThreads) part += static_cast<double>(xr[i] * xr[i]);
    }
    const double sum = block_sum(part, scratch);
    const float mean = static_cast<float>(sum / static_cast<double>(k));
    const float scale = 1.0f / sqrtf(mean + eps);
    if (fmt == ActFormat::Q8_K) {
        // Block g of the row's grid: 256-value blocks 4g … 4g + 3, a warp each, quantized in registers.
        const int b = blockIdx.x * kQ8kWarps + threadIdx.x / kWarp;
        if (b >= k / 256) return;
        float v[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int e = 256 * b + 8 * lane + i;
            v[i] = (xr[e] * scale) * w[e];
            yr[e] = v[i];
        }
        quantize_lanes_q8_k(v, quant.q + static_cast<size_t>(r) * k, quant.d + static_cast<size_t>(r) * (k / 32), k, b, lane);
        return;
    }
    // Warp w's values in pass i are elements 32·(w + 4i) … + 31: one Q8_0 block, quantized in registers.
    for (int i = threadIdx.x; i < k; i += kThreads) {
        const float v = (xr[i] * scale) * w[i];
        yr[i] = v;
        if (fmt == ActFormat::Q8_0) {
            quantize_lanes_q8_0(v, quant.q + static_cast<size_t>(r) * k + (i - lane), quant.d + static_cast<size_t>(r) * (k / 32) + i / 32, lane);
        }
    }
}

}  // namespace

cudaError_t launch_rms_norm(cudaStream_t stream, const float* x, int x_stride, const float* w, float* y, int y_stride,
                            int k, int n_rows, float eps, ActView quant, ActFormat fmt) {
    if (n_rows <= 0 || k <= 0) return cudaErrorInvalidValue;
    if (fmt != ActFormat::F32 && (y_stride != k || k % (fmt == ActFormat::Q8_0 ? 32 : 256) != 0)) return cudaErrorInvalidValue;
    // Q8_K: every block of a row's grid sums the row's squares itself (the same partials, the same bits).
    const dim3 grid = fmt == ActFormat::Q8_K ? q8k_grid(k, n_rows) : dim3(1, n_rows);
    return launch(rms_norm_kernel, grid, kThreads, 0, stream, x, x_stride, w, y, y_stride, k, eps, quant, fmt);
}

}  // namespace mtp::cuda
