// See argmax.cuh.
#include "argmax.cuh"

#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kSlice = 4096;  // logits a block of the first launch scans: 16 a thread

// (value, index) pairs: the larger value wins, the smaller index on ties; index V stands for none
// (every logit NaN or −inf), which any real candidate beats.
struct Best {
    float v;
    int i;
};
__device__ __forceinline__ Best better(Best a, Best b) { return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a; }

// The block's best of the candidates its threads hold, in thread 0 (shared-memory tree).
__device__ Best block_best(Best b) {
    __shared__ float best_v[kThreads];
    __shared__ int best_i[kThreads];
    best_v[threadIdx.x] = b.v;
    best_i[threadIdx.x] = b.i;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const Best o = better(Best{best_v[threadIdx.x], best_i[threadIdx.x]}, Best{best_v[threadIdx.x + s], best_i[threadIdx.x + s]});
            best_v[threadIdx.x] = o.v;
            best_i[threadIdx.x] = o.i;
        }
        __syncthreads();
    }
    return Best{best_v[0], best_i[0]};
}

// Block (slice, row): the first largest of logits [4096·slice, …) of the row into part (rows,
// slices). Thread t scans t, t + 256, … with its 16 loads in flight together.
__global__ void __launch_bounds__(kThreads) argmax_slices_kernel(const float* logits, int V, Best* part) {
    pdl_enter();
    const int slice = blockIdx.x, row = blockIdx.y, base = slice * kSlice;
    const float* r = logits + static_cast<size_t>(row) * V;
    float v[kSlice / kThreads];
#pragma unroll
    for (int j = 0; j < kSlice / kThreads; j++) {
        const int i = base + threadIdx.x + kThreads * j;
        v[j] = i < V ? r[i] : -INFINITY;
    }
    Best b{-INFINITY, V};
#pragma unroll
    for (int j = 0; j < kSlice / kThreads; j++) {
        if (v[j] > b.v) b = Best{v[j], base + static_cast<int>(threadIdx.x) + kThreads * j};
    }
    b = block_best(b);
    if (threadIdx.x == 0) part[static_cast<size_t>(row) * gridDim.x + slice] = b;
}

// Block row: the best of its slices' candidates.
__global__ void __launch_bounds__(kThreads) argmax_merge_kernel(const Best* part, int n_slices, int V, int* out) {
    pdl_enter();
    const Best* p = part + static_cast<size_t>(blockIdx.x) * n_slices;
    Best b{-INFINITY, V};
    for (int s = threadIdx.x; s < n_slices; s += kThreads) b = better(b, p[s]);
    b = block_best(b);
    if (threadIdx.x == 0) out[blockIdx.x] = b.i < V ? b.i : 0;
}

int slices_of(int n_vocab) { return (n_vocab + kSlice - 1) / kSlice; }

}  // namespace

size_t argmax_scratch_bytes(int n_vocab) { return sizeof(Best) * kMaxRows * slices_of(n_vocab); }

cudaError_t launch_argmax(cudaStream_t stream, const float* logits, int n_vocab, int n_rows, void* scratch, int* out) {
    if (n_rows <= 0 || n_rows > kMaxRows || n_vocab <= 0) return cudaErrorInvalidValue;
    Best* part = static_cast<Best*>(scratch);
    const cudaError_t e = launch(argmax_slices_kernel, dim3(slices_of(n_vocab), n_rows), kThreads, 0, stream, logits, n_vocab, part);
    if (e != cudaSuccess) return e;
    return launch(argmax_merge_kernel, n_rows, kThreads, 0, stream, part, slices_of(n_vocab), n_vocab, out);
}

}  // namespace mtp::cuda
