// See gated-delta-net.cuh.
#include "gated-delta-net.cuh"
#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kMaxValueDim = 128;  // threads per block: one per value row of the head state

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

// Three phases, so that only float FMAs run while the Dk state values of a thread are live in
// registers (the norms' double sums and libm's double exp / log beside them would spill the state):
// the batch's normed q/k and scalars first, then the recurrence, then the gated norms of the outputs.
template <int DK>
__global__ void __launch_bounds__(kMaxValueDim) gated_delta_net_kernel(GdnParams p, const float* y, const float* z, const float* beta_raw,
                                                               const float* alpha_raw, const float* dt_bias, const float* a_neg,
                                                               const float* norm_w, float* state, float* snap, int snap_offset,
                                                               int n_snap, int n_rows, float* out, int8_t* out_q, float* out_d) {
    __shared__ float qs[kMaxRows][DK], ks[kMaxRows][DK];  // the batch's normed q, k of key head i
    __shared__ float os[kMaxRows][kMaxValueDim];          // Sᵀq / sqrt(Dk) of every token
    __shared__ double scratch[kWarp];
    const int j = blockIdx.x, b = threadIdx.x, Hv = p.n_value_heads, Dv = p.value_dim, Cc = p.channels;
    const int i = j % p.n_key_heads;
    const size_t row = (static_cast<size_t>(j) * Dv + b) * DK;
    const size_t plane = static_cast<size_t>(Hv) * Dv * DK;
    __shared__ float beta[kMaxRows], decay[kMaxRows];
    for (int t = 0; t < n_rows; t++) {
        load_qk<DK>(p, y + static_cast<size_t>(t) * Cc, i, qs[t], ks[t], scratch);
        if (b == 0) {
            const float x = alpha_raw[t * Hv + j] + dt_bias[j];
            beta[t] = 1.0f / (1.0f + libm_expf(-beta_raw[t * Hv + j]));
            decay[t] = libm_expf((x > 20.0f ? x : libm_logf(1.0f + libm_expf(x))) * a_neg[j]);  // ssm_a holds -exp(A_log)
        }
    }
    __syncthreads();
    float S[DK];
#pragma unroll
    for (int a = 0; a < DK; a += 4) {
        const float4 v = *reinterpret_cast<const float4*>(state + row + a);
        S[a] = v.x; S[a + 1] = v.y; S[a + 2] = v.z; S[a + 3] = v.w;
    }
    const float scale = 1.0f / sqrtf(static_cast<float>(DK));
#pragma unroll 1
    for (int t = 0; t < n_rows; t++) {
        const float v = y[static_cast<size_t>(t) * Cc + 2 * p.n_key_heads * DK + j * Dv + b];
        float sum = 0.0f;
#pragma unroll
        for (int a = 0; a < DK; a++) {
            S[a] *= decay[t];
            sum += S[a] * ks[t][a];
        }
        const float delta = (v - sum) * beta[t];
        float o = 0.0f;
#pragma unroll
        for (int a = 0; a < DK; a++) {
            S[a] = fmaf(ks[t][a], delta, S[a]);
            o += S[a] * qs[t][a];
        }
        os[t][b] = o * scale;
        if (snap && snap_offset + t < n_snap) {
            float* dst = snap + (snap_offset + t) * plane + row;
#pragma unroll
            for (int a = 0; a < DK; a += 4) *reinterpret_cast<float4*>(dst + a) = make_float4(S[a], S[a + 1], S[a + 2], S[a + 3]);
        }
    }
#pragma unroll
    for (int a = 0; a < DK; a += 4) *reinterpret_cast<float4*>(state + row + a) = make_float4(S[a], S[a + 1], S[a + 2], S[a + 3]);
    // Gated RMSNorm over the head's Dv outputs, token by token.
    const float nw = norm_w[b];
    for (int t = 0; t < n_rows; t++) {
        const float o = os[t][b];
        const double ss = block_sum(static_cast<double>(o * o), scratch);
        const float nscale = 1.0f / sqrtf(static_cast<float>(ss / Dv) + p.eps);
        const size_t at = (static_cast<size_t>(t) * Hv + j) * Dv + b;
        const float ov = ((o * nscale) * nw) * silu_cpu(z[at]);
        out[at] = ov;
        if (out_q) quantize_lanes_q8_0(ov, out_q + at - b % kWarp, out_d + at / 32, b % kWarp);
    }
}

}  // namespace

cudaError_t launch_gated_delta_net(cudaStream_t stream, const GdnParams& p, const float* y, const float* z,
                                   const float* beta, const float* alpha, const float* dt_bias, const float* a_neg,
                                   const float* norm_w, float* state, float* snap, int snap_offset, int n_snap,
                                   int n_rows, float* out, int8_t* out_q, float* out_d) {
    if (n_rows <= 0 || n_rows > kMaxRows || p.value_dim % kWarp || p.value_dim > kMaxValueDim || p.n_value_heads % p.n_key_heads) {
        return cudaErrorInvalidValue;
    }
    const dim3 grid(p.n_value_heads), block(p.value_dim);
    switch (p.key_dim) {
        case 64:
            gated_delta_net_kernel<64><<<grid, block, 0, stream>>>(p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state, snap,
                                                                   snap_offset, n_snap, n_rows, out, out_q, out_d);
            break;
        case 128:
            gated_delta_net_kernel<128><<<grid, block, 0, stream>>>(p, y, z, beta, alpha, dt_bias, a_neg, norm_w, state, snap,
                                                                    snap_offset, n_snap, n_rows, out, out_q, out_d);
            break;
        default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

}  // namespace mtp::cuda
