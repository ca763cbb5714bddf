// See moe.cuh: routing and the combine step (the expert matvecs are matvec.cu's).
#include "moe.cuh"

namespace mtp::cuda {

namespace {

constexpr int kMaxRouteWarps = 32;

// Token t's route by one warp; p: its X probabilities (shared memory).
__device__ void route_token(const float* router, int t, int X, int k, int* ids, float* weights, float* p) {
    const int lane = threadIdx.x % kWarp;
    const float* r = router + static_cast<size_t>(t) * X;
    float mx = -INFINITY;
    for (int e = lane; e < X; e += kWarp) mx = fmaxf(mx, r[e]);
    mx = warp_max(mx);
    for (int e = lane; e < X; e += kWarp) p[e] = libm_expf(r[e] - mx);
    __syncwarp();
    float inv = 0.0f;
    if (lane == 0) {  // ggml_vec_soft_max_f32: the sum in double, in expert order
        double sum = 0.0;
        // Unrolled by 16 so that the shared-memory loads run ahead of the dependent adds (the adds
        // stay in order); the compiler's own unroll of 4 waited on a load every 4 adds.
#pragma unroll 16
        for (int e = 0; e < X; e++) sum += static_cast<double>(p[e]);
        inv = static_cast<float>(1.0 / sum);
    }
    inv = __shfl_sync(0xffffffffu, inv, 0);
    for (int e = lane; e < X; e += kWarp) p[e] *= inv;
    __syncwarp();
    // The k most probable, highest first, the lower index on ties; a taken expert's p becomes −1.
    int* tid = ids + static_cast<size_t>(t) * k;
    float* tw = weights + static_cast<size_t>(t) * k;
    double wsum = 0.0;
    for (int j = 0; j < k; j++) {
        float best = -1.0f;
        int at = X;
        for (int e = lane; e < X; e += kWarp) {
            if (p[e] > best) {  // e ascends per lane: ties keep the lower index
                best = p[e];
                at = e;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ob = __shfl_xor_sync(0xffffffffu, best, o);
            const int oa = __shfl_xor_sync(0xffffffffu, at, o);
            if (ob > best || (ob == best && oa < at)) {
                best = ob;
                at = oa;
            }
        }
        if (at >= X) at = j % X;  // NaN probabilities pick nothing: stay inside the expert tensors
        if (lane == 0) {
            tid[j] = at;
            tw[j] = best;
            wsum += static_cast<double>(best);
            p[at] = -1.0f;
        }
        __syncwarp();
    }
    if (lane == 0) {
        const float denom = fmaxf(static_cast<float>(wsum), 6.103515625e-5f);
        for (int j = 0; j < k; j++) tw[j] = tw[j] / denom;
    }
}

// One block: warp w routes tokens w, w + warps, …, then the block groups the n·k pairs by expert
// (moe.cuh's groups layout). The pairs of a group are listed in the order the atomics hand out
// their slots, which varies between runs; nothing depends on it, since every pair's output is
// computed on its own.
__global__ void __launch_bounds__(kMaxRouteWarps * kWarp) moe_route_kernel(const float* router, int n, int X, int k, int* ids,
                                                                          float* weights, int* groups) {
    pdl_enter();
    extern __shared__ float shared[];  // (warps, X) probabilities, then (X) ints: pairs per expert, then each one's next slot
    const int warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp, n_pairs = n * k;
    int* next = reinterpret_cast<int*>(shared + static_cast<size_t>(warps) * X);
    for (int e = threadIdx.x; e < X; e += blockDim.x) next[e] = 0;
    for (int t = warp; t < n; t += warps) route_token(router, t, X, k, ids, weights, shared + static_cast<size_t>(warp) * X);
    __syncthreads();  // the ids (global memory) are visible to the block
    int *begin = groups + 1, *order = groups + 2 + n_pairs;
    for (int p = threadIdx.x; p < n_pairs; p += blockDim.x) atomicAdd(&next[ids[p]], 1);
    __syncthreads();
    if (threadIdx.x < kWarp) {  // exclusive scans over the experts: each one's first slot, and the groups
        const int lane = threadIdx.x;
        int base = 0, n_groups = 0;
        for (int e0 = 0; e0 < X; e0 += kWarp) {
            const int e = e0 + lane, c = e < X ? next[e] : 0;
            int sc = c, sg = c > 0 ? 1 : 0;
#pragma unroll
            for (int o = 1; o < kWarp; o <<= 1) {
                const int a = __shfl_up_sync(0xffffffffu, sc, o), b = __shfl_up_sync(0xffffffffu, sg, o);
                if (lane >= o) sc += a, sg += b;
            }
            if (c > 0) begin[n_groups + sg - 1] = base + sc - c;
            if (e < X) next[e] = base + sc - c;
            base += __shfl_sync(0xffffffffu, sc, kWarp - 1);
            n_groups += __shfl_sync(0xffffffffu, sg, kWarp - 1);
        }
        if (lane == 0) {
            groups[0] = n_groups;
            begin[n_groups] = n_pairs;
        }
    }
    __syncthreads();
    for (int p = threadIdx.x; p < n_pairs; p += blockDim.x) order[atomicAdd(&next[ids[p]], 1)] = p;
}

// Block (b, t): values 128b … of token t.
__global__ void moe_combine_kernel(const float* y, const float* weights, const float* shexp, const float* gate_logit, int k, int E,
                                   float* x) {
    pdl_enter();
    const int i = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
    if (i >= E) return;
    const float c = 1.0f / (1.0f + libm_expf(-gate_logit[t]));
    const float* w = weights + static_cast<size_t>(t) * k;
    const float* yt = y + static_cast<size_t>(t) * k * E + i;
    float m = yt[0] * w[0];
    for (int j = 1; j < k; j++) m = m + yt[static_cast<size_t>(j) * E] * w[j];
    const size_t at = static_cast<size_t>(t) * E + i;
    x[at] = x[at] + (m + shexp[at] * c);
}

}  // namespace

cudaError_t launch_moe_route(cudaStream_t stream, const float* router, int n, int n_expert, int k, int* ids, float* weights,
                             int* groups) {
    if (n <= 0 || n_expert <= 0 || k <= 0 || k > n_expert) return cudaErrorInvalidValue;
    const int warps = n < kMaxRouteWarps ? n : kMaxRouteWarps;
    const size_t shared = sizeof(float) * warps * n_expert + sizeof(int) * n_expert;
    if (shared > 48 * 1024) return cudaErrorInvalidValue;
    return launch(moe_route_kernel, 1, warps * kWarp, shared, stream, router, n, n_expert, k, ids, weights, groups);
}

cudaError_t launch_moe_combine(cudaStream_t stream, const float* y, const float* weights, const float* shexp, const float* gate_logit,
                               int n, int k, int E, float* x) {
    if (n <= 0 || k <= 0 || E <= 0) return cudaErrorInvalidValue;
    return launch(moe_combine_kernel, dim3((E + 127) / 128, n), 128, 0, stream, y, weights, shexp, gate_logit, k, E, x);
}

}  // namespace mtp::cuda
