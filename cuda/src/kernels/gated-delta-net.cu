// See gated-delta-net.cuh.
#include "gated-delta-net.cuh"
#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kMaxValueDim = 128;  // threads per block: two per value row of the head state

// q, k of key head i at row t into qs, ks, each L2-normed as llama.cpp builds it (RMSNorm with
// eps/Dk, then × 1/sqrt(Dk)).
template <int DK>
__device__ void load_qk(const GdnParams& p, const float* yt, int i, float* qs, float* ks, double* scratch) {
    double pq = 0.0, pk = 0.0;
    for (int a = threadIdx.x; a < DK; a += blockDim.x) {
        qs[a] = yt[i * DK + a];
        ks[a] = yt[p.n_key_heads * DK + i * DK + a];
        pq += static_cast<double>(qs[a] * qs[a]);
        pk += static_cast<double>(ks[a] * ks[a]);
    }
    const double sq = block_sum(pq, scratch);
    const double sk = block_sum(pk, scratch);
    const float eps = p.eps / static_cast<float>(DK);
    const float inv_sqrt_n = 1.0f / sqrtf(static_cast<float>(DK));
    const float scale_q = 1.0f / sqrtf(static_cast<float>(sq / DK) + eps);
    const float scale_k = 1.0f / sqrtf(static_cast<float>(sk / DK) + eps);
    for (int a = threadIdx.x; a < DK; a += blockDim.x) {
        qs[a] = (qs[a] * scale_q) * inv_sqrt_n;
        ks[a] = (ks[a] * scale_k) * inv_sqrt_n;
    }
    __syncthreads();
}

// Three phases, so that only float FMAs run while a thread's share of the state is live in registers
// (the norms' double sums and libm's double exp / log beside it would spill it): the batch's normed
// q/k and scalars first, then the recurrence, then the gated norms of the outputs. In the recurrence
// two adjacent lanes share a state row: lane 2b + h holds S_j[a][b] for a in [h·Dk/2, (h + 1)·Dk/2),
// and each sum over a runs in order across the pair (the even lane's half, then the odd lane carries
// on from its partial), so the arithmetic is the one-thread-per-row loop's, the CPU's.
template <int DK>
__global__ void __launch_bounds__(2 * kMaxValueDim) gated_delta_net_kernel(GdnParams p, const float* y, const float* z,
                                                                         const float* beta_raw, const float* alpha_raw,
                                                                         const float* dt_bias, const float* a_neg,
                                                                         const float* norm_w, float* state, float* snap,
                                                                         int snap_offset, int n_snap, int n_rows, float* out,
                                                                         int8_t* out_q, float* out_d) {
    pdl_enter();
    constexpr int Dv = DK, kHalf = DK / 2;  // the launcher checks value_dim == key_dim
    __shared__ float qs[kMaxRows][DK], ks[kMaxRows][DK];  // the batch's normed q, k of key head i
    __shared__ float os[kMaxRows][Dv];                    // Sᵀq / sqrt(Dk) of every token
    __shared__ float beta[kMaxRows], decay[kMaxRows];
    __shared__ double scratch[kWarp];
    const int j = blockIdx.x, Hv = p.n_value_heads, Cc = p.channels, i = j % p.n_key_heads;
    const int lane = threadIdx.x % kWarp, b = threadIdx.x / 2, h = threadIdx.x % 2, a0 = h * kHalf;
    for (int t = 0; t < n_rows; t++) {
        load_qk<DK>(p, y + static_cast<size_t>(t) * Cc, i, qs[t], ks[t], scratch);
        if (threadIdx.x == 0) {
            const float x = alpha_raw[t * Hv + j] + dt_bias[j];
            beta[t] = 1.0f / (1.0f + libm_expf(-beta_raw[t * Hv + j]));
            decay[t] = libm_expf((x > 20.0f ? x : libm_logf(1.0f + libm_expf(x))) * a_neg[j]);  // ssm_a holds -exp(A_log)
        }
    }
    __syncthreads();
    // S_j[a][b] at (j·Dk + a)·Dv + b: for one a, a warp's 16 rows b are 64 consecutive bytes.
    const size_t col = (static_cast<size_t>(j) * DK + a0) * Dv + b;
    const size_t plane = static_cast<size_t>(Hv) * Dv * DK;
    float S[kHalf];
#pragma unroll
    for (int a = 0; a < kHalf; a++) S[a] = state[col + static_cast<size_t>(a) * Dv];
    const float scale = 1.0f / sqrtf(static_cast<float>(DK));
#pragma unroll 1
    for (int t = 0; t < n_rows; t++) {
        const float* kt = ks[t] + a0;
        const float* qt = qs[t] + a0;
#pragma unroll
        for (int a = 0; a < kHalf; a++) S[a] *= decay[t];
        float sum = 0.0f;
        if (h == 0) {
#pragma unroll
            for (int a = 0; a < kHalf; a++) sum += S[a] * kt[a];
        }
        sum = __shfl_sync(0xffffffffu, sum, lane & ~1);  // the odd lane carries on from the even one's partial
        if (h == 1) {
#pragma unroll
            for (int a = 0; a < kHalf; a++) sum += S[a] * kt[a];
        }
        const float v = y[static_cast<size_t>(t) * Cc + 2 * p.n_key_heads * DK + j * Dv + b];
        const float delta = __shfl_sync(0xffffffffu, (v - sum) * beta[t], lane | 1);
#pragma unroll
        for (int a = 0; a < kHalf; a++) S[a] = fmaf(kt[a], delta, S[a]);
        float o = 0.0f;
        if (h == 0) {
#pragma unroll
            for (int a = 0; a < kHalf; a++) o += S[a] * qt[a];
        }
        o = __shfl_sync(0xffffffffu, o, lane & ~1);
        if (h == 1) {
#pragma unroll
            for (int a = 0; a < kHalf; a++) o += S[a] * qt[a];
            os[t][b] = o * scale;
        }
        if (snap && snap_offset + t < n_snap) {
            float* dst = snap + (snap_offset + t) * plane + col;
#pragma unroll
            for (int a = 0; a < kHalf; a++) dst[static_cast<size_t>(a) * Dv] = S[a];
        }
    }
#pragma unroll
    for (int a = 0; a < kHalf; a++) state[col + static_cast<size_t>(a) * Dv] = S[a];
    __syncthreads();  // os complete
    // Gated RMSNorm over the head's Dv outputs, token by token: thread c < Dv takes output c (the other
    // threads add zeros after them, so the block sum adds the same values in the same order).
    const int c = threadIdx.x;
    const float nw = c < Dv ? norm_w[c] : 0.0f;
    for (int t = 0; t < n_rows; t++) {
        const float o = c < Dv ? os[t][c] : 0.0f;
        const double ss = block_sum(static_cast<double>(o * o), scratch);
        if (c < Dv) {
            const float nscale = 1.0f / sqrtf(static_cast<float>(ss / Dv) + p.eps);
            const size_t at = (static_cast<size_t>(t) * Hv + j) * Dv + c;
            const float ov = ((o * nscale) * nw) * silu_cpu(z[at]);
            out[at] = ov;
            if (out_q) quantize_lanes_q8_0(ov, out_q + at - lane, out_d + at / 32, lane);
        }
    }
}

}  // namespace

cudaError_t launch_gated_delta_net(cudaStream_t stream, const GdnParams& p, const float* y, const float* z,
                                   const float* beta, const float* alpha, const float* dt_bias, const float* a_neg,
                                   const float* norm_w, float* state, float* snap, int snap_offset, int n_snap,
                                   int n_rows, float* out, int8_t* out_q, float* out_d) {
    if (n_rows <= 0 || n_rows > kMaxRows || p.value_dim != p.key_dim || p.value_dim > kMaxValueDim || p.n_value_heads % p.n_key_heads) {
        return cudaErrorInvalidValue;
    }
    const dim3 grid(p.n_value_heads), block(2 * p.value_dim);
    switch (p.key_dim) {
        case 32:  // the test fixtures' heads
            return launch(gated_delta_net_kernel<32>, grid, block, 0, stream, p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state,
                          snap, snap_offset, n_snap, n_rows, out, out_q, out_d);
        case 64:
            return launch(gated_delta_net_kernel<64>, grid, block, 0, stream, p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state,
                          snap, snap_offset, n_snap, n_rows, out, out_q, out_d);
        case 128:
            return launch(gated_delta_net_kernel<128>, grid, block, 0, stream, p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state,
                          snap, snap_offset, n_snap, n_rows, out, out_q, out_d);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace mtp::cuda
