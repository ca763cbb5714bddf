// See gated-delta-net.cuh.
#include "gated-delta-net.cuh"
#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kMaxValueDim = 128;  // threads per block: two per value row of the head state

// Three phases, so that only float FMAs run while a thread's share of the state is live in registers
// (the norms' double sums and libm's double exp / log beside it would spill it): the batch's normed
// q/k and scalars first, then the recurrence, then the gated norms of the outputs. The first and last
// give a token's reductions to one warp, so that the tokens of a verify batch run side by side
// instead of one block sum after another. In the recurrence two adjacent lanes share a state row:
// lane 2b + h holds S_j[a][b] for a in [h·Dk/2, (h + 1)·Dk/2), and each sum over a runs in order
// across the pair (the even lane's half, then the odd lane carries on from its partial), so the
// arithmetic is the one-thread-per-row loop's, the CPU's.
template <int DK>
__global__ void __launch_bounds__(2 * kMaxValueDim) gated_delta_net_kernel(GdnParams p, const float* y, const float* z,
                                                                         const float* beta_raw, const float* alpha_raw,
                                                                         const float* dt_bias, const float* a_neg,
                                                                         const float* norm_w, float* state, float* snap,
                                                                         int snap_offset, int n_snap, int n_rows, float* out,
                                                                         int8_t* out_q, float* out_d, const int* live) {
    pdl_enter();
    constexpr int Dv = DK, kHalf = DK / 2;  // the launcher checks value_dim == key_dim
    __shared__ float qs[kMaxRows][DK], ks[kMaxRows][DK];  // the batch's normed q, k of key head i
    __shared__ float os[kMaxRows][Dv];                    // Sᵀq / sqrt(Dk) of every token
    __shared__ float beta[kMaxRows], decay[kMaxRows];
    __shared__ float nscale[kMaxRows];                    // the gated norms' 1 / rms of every token
    const int j = blockIdx.x, Hv = p.n_value_heads, Cc = p.channels, i = j % p.n_key_heads;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = blockDim.x / kWarp;
    const int b = threadIdx.x / 2, h = threadIdx.x % 2, a0 = h * kHalf;
    // Phase 1, three tasks a token, a warp each (no block barrier between tokens): q of token t
    // L2-normed as llama.cpp builds it (RMSNorm with eps/Dk, then × 1/sqrt(Dk); the sum of the float
    // squares in double, as the CPU's, where the order of the adds changes nothing the float scale
    // can see), k the same, then β and the decay.
    const float inv_sqrt_n = 1.0f / sqrtf(static_cast<float>(DK));
    for (int task = warp; task < 3 * n_rows; task += n_warps) {
        const int t = task / 3, kind = task % 3;
        if (kind < 2) {
            const float* src = y + static_cast<size_t>(t) * Cc + (kind ? p.n_key_heads * DK : 0) + i * DK;
            float* dst = kind ? ks[t] : qs[t];
            double part = 0.0;
            for (int a = lane; a < DK; a += kWarp) {
                dst[a] = src[a];
                part += static_cast<double>(dst[a] * dst[a]);
            }
            const double sum = warp_sum(part);
            const float scale = 1.0f / sqrtf(static_cast<float>(sum / DK) + p.eps / static_cast<float>(DK));
            for (int a = lane; a < DK; a += kWarp) dst[a] = (dst[a] * scale) * inv_sqrt_n;
        } else if (lane == 0) {
            const float x = alpha_raw[t * Hv + j] + dt_bias[j];
            beta[t] = 1.0f / (1.0f + libm_expf(-beta_raw[t * Hv + j]));
            decay[t] = libm_expf((x > 20.0f ? x : libm_logf(1.0f + libm_expf(x))) * a_neg[j]);  // ssm_a holds -exp(A_log)
        }
    }
    __syncthreads();
    // S_j[a][b] at (j·Dk + a)·Dv + b: for one a, a warp's 16 rows b are 64 consecutive bytes.
    const size_t col = (static_cast<size_t>(j) * DK + a0) * Dv + b;
    const size_t plane = static_cast<size_t>(Hv) * Dv * DK;
    const float* from = live && *live > 0 ? snap + (*live - 1) * plane : state;  // the state to start from
    float S[kHalf];
#pragma unroll
    for (int a = 0; a < kHalf; a++) S[a] = from[col + static_cast<size_t>(a) * Dv];
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
    // Phase 3, the gated RMSNorm over the head's Dv outputs: warp t's token t's 1 / rms (its sum of
    // squares in double as in phase 1), then thread c < Dv takes output c of every token.
    for (int t = warp; t < n_rows; t += n_warps) {
        double part = 0.0;
        for (int c = lane; c < Dv; c += kWarp) part += static_cast<double>(os[t][c] * os[t][c]);
        const double ss = warp_sum(part);
        if (lane == 0) nscale[t] = 1.0f / sqrtf(static_cast<float>(ss / Dv) + p.eps);
    }
    __syncthreads();
    const int c = threadIdx.x;
    if (c >= Dv) return;
    const float nw = norm_w[c];
    for (int t = 0; t < n_rows; t++) {
        const size_t at = (static_cast<size_t>(t) * Hv + j) * Dv + c;
        const float ov = ((os[t][c] * nscale[t]) * nw) * silu_cpu(z[at]);
        out[at] = ov;
        if (out_q) quantize_lanes_q8_0(ov, out_q + at - lane, out_d + at / 32, lane);
    }
}

}  // namespace

cudaError_t launch_gated_delta_net(cudaStream_t stream, const GdnParams& p, const float* y, const float* z,
                                   const float* beta, const float* alpha, const float* dt_bias, const float* a_neg,
                                   const float* norm_w, float* state, float* snap, int snap_offset, int n_snap,
                                   int n_rows, float* out, int8_t* out_q, float* out_d, const int* live) {
    if (n_rows <= 0 || n_rows > kMaxRows || p.value_dim != p.key_dim || p.value_dim > kMaxValueDim || p.n_value_heads % p.n_key_heads ||
        (live && !snap)) {
        return cudaErrorInvalidValue;
    }
    const dim3 grid(p.n_value_heads), block(2 * p.value_dim);
    switch (p.key_dim) {
        case 32:  // the test fixtures' heads
            return launch(gated_delta_net_kernel<32>, grid, block, 0, stream, p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state,
                          snap, snap_offset, n_snap, n_rows, out, out_q, out_d, live);
        case 64:
            return launch(gated_delta_net_kernel<64>, grid, block, 0, stream, p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state,
                          snap, snap_offset, n_snap, n_rows, out, out_q, out_d, live);
        case 128:
            return launch(gated_delta_net_kernel<128>, grid, block, 0, stream, p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state,
                          snap, snap_offset, n_snap, n_rows, out, out_q, out_d, live);
        default: return cudaErrorInvalidValue;
    }
}

}  // namespace mtp::cuda
