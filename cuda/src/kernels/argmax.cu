// See argmax.cuh.
#include "argmax.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* logits, int V, int* out) {
    pdl_enter();
    __shared__ float best_v[kThreads];
    __shared__ int best_i[kThreads];
    const float* row = logits + static_cast<size_t>(blockIdx.x) * V;
    float bv = -INFINITY;
    int bi = V;
    for (int i = threadIdx.x; i < V; i += kThreads) {
        if (row[i] > bv) { bv = row[i]; bi = i; }
    }
    best_v[threadIdx.x] = bv;
    best_i[threadIdx.x] = bi;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const float ov = best_v[threadIdx.x + s];
            const int oi = best_i[threadIdx.x + s];
            if (ov > best_v[threadIdx.x] || (ov == best_v[threadIdx.x] && oi < best_i[threadIdx.x])) {
                best_v[threadIdx.x] = ov;
                best_i[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = best_i[0] < V ? best_i[0] : 0;
}

}  // namespace

cudaError_t launch_argmax(cudaStream_t stream, const float* logits, int n_vocab, int n_rows, int* out) {
    if (n_rows <= 0 || n_vocab <= 0) return cudaErrorInvalidValue;
    return launch(argmax_kernel, n_rows, kThreads, 0, stream, logits, n_vocab, out);
}

}  // namespace mtp::cuda
