// See conv1d.cuh.
#include "conv1d.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads) conv1d_update_kernel(const float* x, float* state, const float* w, float* y,
                                                                  float* snap, int snap_offset, int n_snap, int n_rows,
                                                                  int Cc, int Kc) {
    pdl_enter();
    const int c = blockIdx.x * kThreads + threadIdx.x;
    if (c >= Cc) return;
    float win[kMaxConvKernel - 1];
    float taps[kMaxConvKernel];
    for (int i = 0; i + 1 < Kc; i++) win[i] = state[static_cast<size_t>(i) * Cc + c];
    for (int i = 0; i < Kc; i++) taps[i] = w[static_cast<size_t>(c) * Kc + i];
    const size_t plane = static_cast<size_t>(Kc - 1) * Cc;
    for (int t = 0; t < n_rows; t++) {
        const float xt = x[static_cast<size_t>(t) * Cc + c];
        float acc = 0.0f;
        for (int i = 0; i + 1 < Kc; i++) acc += win[i] * taps[i];
        acc += xt * taps[Kc - 1];
        y[static_cast<size_t>(t) * Cc + c] = silu_cpu(acc);
        for (int i = 0; i + 2 < Kc; i++) win[i] = win[i + 1];
        win[Kc - 2] = xt;
        if (snap && snap_offset + t < n_snap) {
            float* dst = snap + (snap_offset + t) * plane;
            for (int i = 0; i + 1 < Kc; i++) dst[static_cast<size_t>(i) * Cc + c] = win[i];
        }
    }
    for (int i = 0; i + 1 < Kc; i++) state[static_cast<size_t>(i) * Cc + c] = win[i];
}

}  // namespace

cudaError_t launch_conv1d_update(cudaStream_t stream, const float* x, float* state, const float* w, float* y,
                                 float* snap, int snap_offset, int n_snap, int n_rows, int channels, int kernel) {
    if (n_rows <= 0 || channels <= 0 || kernel < 2 || kernel > kMaxConvKernel) return cudaErrorInvalidValue;
    return launch(conv1d_update_kernel, (channels + kThreads - 1) / kThreads, kThreads, 0, stream, x, state, w, y, snap, snap_offset,
                  n_snap, n_rows, channels, kernel);
}

}  // namespace mtp::cuda
