// See gated-delta-net.cuh.
#include "gated-delta-net.cuh"
#include "matvec.cuh"

namespace mtp::cuda {

namespace {

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

template <int DK>
__global__ void gated_delta_net_kernel(GdnParams p, const float* y, const float* z, const float* beta_raw,
                                       const float* alpha_raw, const float* dt_bias, const float* a_neg,
                                       const float* norm_w, float* state, float* snap, int snap_offset, int n_snap,
                                       int n_rows, float* out, int8_t* out_q, float* out_d) {
    __shared__ float qs[DK], ks[DK];
    __shared__ double scratch[kWarp];
    const int j = blockIdx.x, b = threadIdx.x, Hv = p.n_value_heads, Dv = p.value_dim, Cc = p.channels;
    const int i = j % p.n_key_heads;
    const size_t row = (static_cast<size_t>(j) * Dv + b) * DK;
    const size_t plane = static_cast<size_t>(Hv) * Dv * DK;
    float S[DK];
#pragma unroll
    for (int a = 0; a < DK; a += 4) {
        const float4 v = *reinterpret_cast<const float4*>(state + row + a);
        S[a] = v.x; S[a + 1] = v.y; S[a + 2] = v.z; S[a + 3] = v.w;
    }
    const float scale = 1.0f / sqrtf(static_cast<float>(DK));
    const float dtb = dt_bias[j], A = a_neg[j], nw = norm_w[b];
    for (int t = 0; t < n_rows; t++) {
        const float* yt = y + static_cast<size_t>(t) * Cc;
        // This token's scalars first, so their loads overlap the q/k norms.
        const float v = yt[2 * p.n_key_heads * DK + j * Dv + b];
        const float zv = z[(static_cast<size_t>(t) * Hv + j) * Dv + b];
        const float braw = beta_raw[t * Hv + j], x = alpha_raw[t * Hv + j] + dtb;
        __syncthreads();  // qs/ks of the previous token are no longer read
        load_qk<DK>(p, yt, i, qs, ks, scratch);
        const float beta = 1.0f / (1.0f + libm_expf(-braw));
        const float g = (x > 20.0f ? x : libm_logf(1.0f + libm_expf(x))) * A;  // ssm_a already holds -exp(A_log)
        const float decay = libm_expf(g);
        float sum = 0.0f;
#pragma unroll
        for (int a = 0; a < DK; a++) {
            S[a] *= decay;
            sum += S[a] * ks[a];
        }
        const float delta = (v - sum) * beta;
        float o = 0.0f;
#pragma unroll
        for (int a = 0; a < DK; a++) {
            S[a] = fmaf(ks[a], delta, S[a]);
            o += S[a] * qs[a];
        }
        o *= scale;
        if (snap && snap_offset + t < n_snap) {
            float* dst = snap + (snap_offset + t) * plane + row;
#pragma unroll
            for (int a = 0; a < DK; a += 4) *reinterpret_cast<float4*>(dst + a) = make_float4(S[a], S[a + 1], S[a + 2], S[a + 3]);
        }
        // Gated RMSNorm over the head's Dv outputs.
        const double ss = block_sum(static_cast<double>(o * o), scratch);
        const float nscale = 1.0f / sqrtf(static_cast<float>(ss / Dv) + p.eps);
        const size_t at = (static_cast<size_t>(t) * Hv + j) * Dv + b;
        const float ov = ((o * nscale) * nw) * silu_cpu(zv);
        out[at] = ov;
        if (out_q) quantize_lanes_q8_0(ov, out_q + at - b % kWarp, out_d + at / 32, b % kWarp);
    }
#pragma unroll
    for (int a = 0; a < DK; a += 4) *reinterpret_cast<float4*>(state + row + a) = make_float4(S[a], S[a + 1], S[a + 2], S[a + 3]);
}

}  // namespace

cudaError_t launch_gated_delta_net(cudaStream_t stream, const GdnParams& p, const float* y, const float* z,
                                   const float* beta, const float* alpha, const float* dt_bias, const float* a_neg,
                                   const float* norm_w, float* state, float* snap, int snap_offset, int n_snap,
                                   int n_rows, float* out, int8_t* out_q, float* out_d) {
    if (n_rows <= 0 || p.value_dim % kWarp || p.value_dim > 1024 || p.n_value_heads % p.n_key_heads) return cudaErrorInvalidValue;
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
