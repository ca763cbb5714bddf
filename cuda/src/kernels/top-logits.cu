// See top-logits.cuh.
#include "top-logits.cuh"

#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kSort = 4096;  // keys per sort: a slice of a row, or the slices' candidates
constexpr uint64_t kNone = ~0ull;

// The key of logit l at id i: smaller = better. The float's bits made to order like its value
// (negative values' bits flipped, positive ones' sign set), inverted so the largest comes first;
// −0 as +0 (the sampler's comparisons treat them alike); NaN sorts with the padding, last.
__device__ __forceinline__ uint64_t logit_key(float l, int i) {
    if (l != l) return kNone;
    const uint32_t u = __float_as_uint(l == 0.0f ? 0.0f : l);
    const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return (static_cast<uint64_t>(~ordered) << 32) | static_cast<uint32_t>(i);
}

__device__ __forceinline__ TokenLogit key_candidate(uint64_t key) {
    if ((key >> 32) == 0xFFFFFFFFu) return TokenLogit{-1, 0.0f};  // NaN or padding (no finite float maps there)
    const uint32_t ordered = ~static_cast<uint32_t>(key >> 32);
    const uint32_t u = (ordered & 0x80000000u) ? (ordered & 0x7FFFFFFFu) : ~ordered;
    return TokenLogit{static_cast<int32_t>(key & 0xFFFFFFFFu), __uint_as_float(u)};
}

// Ascending bitonic sort of s[0 … n) by the whole block, n a power of two up to kSort.
__device__ void sort_keys(uint64_t* s, int n) {
    for (int size = 2; size <= n; size <<= 1) {
        for (int stride = size / 2; stride > 0; stride >>= 1) {
            __syncthreads();
            for (int i = threadIdx.x; i < n / 2; i += kThreads) {
                const int a = 2 * i - (i & (stride - 1)), b = a + stride;
                const uint64_t x = s[a], y = s[b];
                if ((x > y) == ((a & size) == 0)) {
                    s[a] = y;
                    s[b] = x;
                }
            }
        }
    }
    __syncthreads();
}

// The k smallest of the block's keys (kPerThread a thread, kNone for none), ascending, into
// s[0 … k). A full sort of 4096 keys costs 78 barrier rounds of 8 exchanges a
// thread (~40 µs); instead a bound first: the k-th smallest of the threads' own minima is ≥ the
// k-th smallest key (those k minima are k keys no larger), so only keys up to it can be among the k
// smallest — typically a few hundred, sorted alone. Keys are unique but for the padding kNone, so
// the result is the full sort's whatever order the survivors arrive in.
constexpr int kPerThread = kSort / kThreads;
__device__ void block_smallest(const uint64_t (&keys)[kPerThread], int k, uint64_t* s, int* n_kept) {
    uint64_t m = kNone;
#pragma unroll
    for (int j = 0; j < kPerThread; j++) m = min(m, keys[j]);
    s[threadIdx.x] = m;
    if (threadIdx.x == 0) *n_kept = 0;
    sort_keys(s, kThreads);
    const uint64_t bound = s[k - 1];
    __syncthreads();  // every thread has read the bound before s is refilled
#pragma unroll
    for (int j = 0; j < kPerThread; j++) {
        if (keys[j] <= bound) s[atomicAdd(n_kept, 1)] = keys[j];
    }
    __syncthreads();
    const int kept = *n_kept;  // >= k
    int n = 1;
    while (n < kept) n <<= 1;
    for (int i = kept + threadIdx.x; i < n; i += kThreads) s[i] = kNone;
    sort_keys(s, n);
}

// Block (slice, row): the k smallest keys of logits [4096·slice, 4096·(slice + 1)) of the row into
// part (rows, slices, k); thread t reads t, t + 256, ….
__global__ void __launch_bounds__(kThreads) top_slices_kernel(const float* logits, int V, int k, uint64_t* part) {
    pdl_enter();
    __shared__ uint64_t s[kSort];
    __shared__ int n_kept;
    const int slice = blockIdx.x, row = blockIdx.y, base = slice * kSort;
    const float* r = logits + static_cast<size_t>(row) * V;
    uint64_t keys[kPerThread];
#pragma unroll
    for (int j = 0; j < kPerThread; j++) {
        const int i = base + threadIdx.x + kThreads * j;
        keys[j] = i < V ? logit_key(r[i], i) : kNone;
    }
    block_smallest(keys, k, s, &n_kept);
    uint64_t* out = part + (static_cast<size_t>(row) * gridDim.x + slice) * k;
    for (int i = threadIdx.x; i < k; i += kThreads) out[i] = s[i];
}

// Block row: the k best of the row's slices × k keys, best first.
__global__ void __launch_bounds__(kThreads) top_merge_kernel(const uint64_t* part, int n_slices, int k, TokenLogit* out) {
    pdl_enter();
    __shared__ uint64_t s[kSort];
    __shared__ int n_kept;
    const int row = blockIdx.x, n = n_slices * k;
    const uint64_t* p = part + static_cast<size_t>(row) * n;
    uint64_t keys[kPerThread];
#pragma unroll
    for (int j = 0; j < kPerThread; j++) {
        const int i = threadIdx.x + kThreads * j;
        keys[j] = i < n ? p[i] : kNone;
    }
    block_smallest(keys, k, s, &n_kept);
    TokenLogit* o = out + static_cast<size_t>(row) * k;
    for (int i = threadIdx.x; i < k; i += kThreads) o[i] = key_candidate(s[i]);
    if (threadIdx.x == 0 && s[0] == kNone) o[0] = TokenLogit{0, 0.0f};  // every logit NaN: token 0, as the host
}

int slices_of(int n_vocab) { return (n_vocab + kSort - 1) / kSort; }

}  // namespace

bool top_logits_supported(int n_vocab, int k) { return n_vocab > 0 && k >= 1 && k <= kMaxTopLogits && slices_of(n_vocab) * k <= kSort; }

size_t top_logits_scratch_bytes(int n_vocab, int k) { return sizeof(uint64_t) * kMaxRows * slices_of(n_vocab) * k; }

cudaError_t launch_top_logits(cudaStream_t stream, const float* logits, int n_vocab, int n_rows, int k, void* scratch,
                              TokenLogit* out) {
    if (n_rows <= 0 || n_rows > kMaxRows || !top_logits_supported(n_vocab, k)) return cudaErrorInvalidValue;
    uint64_t* part = static_cast<uint64_t*>(scratch);
    const cudaError_t e = launch(top_slices_kernel, dim3(slices_of(n_vocab), n_rows), kThreads, 0, stream, logits, n_vocab, k, part);
    if (e != cudaSuccess) return e;
    return launch(top_merge_kernel, n_rows, kThreads, 0, stream, part, slices_of(n_vocab), k, out);
}

}  // namespace mtp::cuda
