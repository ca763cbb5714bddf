// See conv1d.cuh.
#include "conv1d.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;

// Channel c over tokens in groups of kGroup: seq = [the window (Kc − 1 values) | the group's x],
// token t's output silu(seq[t … t + Kc − 1] · taps) with the taps added in order, the window after
// it seq[t + 1 … t + Kc − 1]. A group's inputs are loaded first and its tokens' SiLUs are
// independent, so a verify batch's tokens overlap instead of one exp chain after another.
constexpr int kGroup = 8;  // a verify batch is at most 8 tokens

template <int Kc>
__global__ void __launch_bounds__(kThreads) conv1d_update_kernel(const float* x, float* state, const float* w, float* y,
                                                                  float* snap, int snap_offset, int n_snap, int n_rows, int Cc,
                                                                  const int* live) {
    pdl_enter();
    const int c = blockIdx.x * kThreads + threadIdx.x;
    if (c >= Cc) return;
    float seq[Kc - 1 + kGroup];
    float taps[Kc];
    const size_t plane = static_cast<size_t>(Kc - 1) * Cc;
    const float* from = live && *live > 0 ? snap + (*live - 1) * plane : state;  // the window to start from
#pragma unroll
    for (int i = 0; i + 1 < Kc; i++) seq[i] = from[static_cast<size_t>(i) * Cc + c];
#pragma unroll
    for (int i = 0; i < Kc; i++) taps[i] = w[static_cast<size_t>(c) * Kc + i];
    for (int t0 = 0; t0 < n_rows; t0 += kGroup) {
        const int rows = min(kGroup, n_rows - t0);
#pragma unroll
        for (int t = 0; t < kGroup; t++) {
            if (t < rows) seq[Kc - 1 + t] = x[static_cast<size_t>(t0 + t) * Cc + c];
        }
#pragma unroll
        for (int t = 0; t < kGroup; t++) {
            if (t < rows) {
                float acc = 0.0f;
#pragma unroll
                for (int i = 0; i < Kc; i++) acc += seq[t + i] * taps[i];
                y[static_cast<size_t>(t0 + t) * Cc + c] = silu_cpu(acc);
                if (snap && snap_offset + t0 + t < n_snap) {
                    float* dst = snap + (snap_offset + t0 + t) * plane;
#pragma unroll
                    for (int i = 0; i + 1 < Kc; i++) dst[static_cast<size_t>(i) * Cc + c] = seq[t + 1 + i];
                }
            }
        }
        if (rows == kGroup) {  // the window after the group's last token, for the next group
#pragma unroll
            for (int i = 0; i + 1 < Kc; i++) seq[i] = seq[kGroup + i];
        } else {
#pragma unroll
            for (int t = 0; t < kGroup; t++) {
                if (t + 1 == rows) {
#pragma unroll
                    for (int i = 0; i + 1 < Kc; i++) seq[i] = seq[t + 1 + i];
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i + 1 < Kc; i++) state[static_cast<size_t>(i) * Cc + c] = seq[i];
}

template <int Kc>
cudaError_t launch_kc(cudaStream_t stream, const float* x, float* state, const float* w, float* y, float* snap, int snap_offset,
                      int n_snap, int n_rows, int channels, const int* live) {
    return launch(conv1d_update_kernel<Kc>, (channels + kThreads - 1) / kThreads, kThreads, 0, stream, x, state, w, y, snap,
                  snap_offset, n_snap, n_rows, channels, live);
}

}  // namespace

cudaError_t launch_conv1d_update(cudaStream_t stream, const float* x, float* state, const float* w, float* y,
                                 float* snap, int snap_offset, int n_snap, int n_rows, int channels, int kernel, const int* live) {
    if (n_rows <= 0 || channels <= 0 || kernel < 2 || kernel > kMaxConvKernel || (live && !snap)) return cudaErrorInvalidValue;
    switch (kernel) {
        case 2: return launch_kc<2>(stream, x, state, w, y, snap, snap_offset, n_snap, n_rows, channels, live);
        case 3: return launch_kc<3>(stream, x, state, w, y, snap, snap_offset, n_snap, n_rows, channels, live);
        case 4: return launch_kc<4>(stream, x, state, w, y, snap, snap_offset, n_snap, n_rows, channels, live);
        case 5: return launch_kc<5>(stream, x, state, w, y, snap, snap_offset, n_snap, n_rows, channels, live);
        case 6: return launch_kc<6>(stream, x, state, w, y, snap, snap_offset, n_snap, n_rows, channels, live);
        case 7: return launch_kc<7>(stream, x, state, w, y, snap, snap_offset, n_snap, n_rows, channels, live);
        default: return launch_kc<8>(stream, x, state, w, y, snap, snap_offset, n_snap, n_rows, channels, live);
    }
}

}  // namespace mtp::cuda
