// See rope.cuh.
#include "rope.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarp;
constexpr int kMaxHeadDim = 256;

// cos/sin of pair i at position pos, as the CPU's rope_angles builds them: the four position
// streams are [pos, pos, pos, 0], theta_stream · s^i by repeated multiplication.
__device__ void rope_angle(const RopeParams& p, int pos, int i, float& c, float& s) {
    const float theta_scale = libm_powf(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
    const int sect_dims = p.sections[0] + p.sections[1] + p.sections[2] + p.sections[3];
    const int sector = sect_dims ? i % sect_dims : 0;
    int stream = 3;
    if (sector % 3 == 1 && sector < 3 * p.sections[1]) stream = 1;
    else if (sector % 3 == 2 && sector < 3 * p.sections[2]) stream = 2;
    else if (sector % 3 == 0 && sector < 3 * p.sections[0]) stream = 0;
    float theta = stream == 3 ? 0.0f : static_cast<float>(pos);
    for (int j = 0; j < i; j++) theta *= theta_scale;
    const float angle = p.freq_scale * theta;
    c = libm_cosf(angle) * p.attn_factor;
    s = libm_sinf(angle) * p.attn_factor;
}

// RMSNorm + rope of one head (D values at src) by one warp, through the warp's slice sh; cs, sn: the
// position's n_rot / 2 angles.
__device__ void norm_rope_head(const RopeParams& p, const float* src, const float* w, const float* cs, const float* sn, float* sh,
                               int lane) {
    const int D = p.head_dim;
    double part = 0.0;
    for (int d = lane; d < D; d += kWarp) {
        sh[d] = src[d];
        part += static_cast<double>(src[d] * src[d]);
    }
    const double sum = warp_sum(part);
    const float scale = 1.0f / sqrtf(static_cast<float>(sum / static_cast<double>(D)) + p.eps);
    for (int d = lane; d < D; d += kWarp) sh[d] = (sh[d] * scale) * w[d];
    __syncwarp();
    const int half = p.n_rot / 2;
    for (int i = lane; i < half; i += kWarp) {
        const float c = cs[i], s = sn[i], x0 = sh[i], x1 = sh[i + half];
        sh[i] = x0 * c - x1 * s;
        sh[i + half] = x0 * s + x1 * c;
    }
    __syncwarp();
}

__global__ void __launch_bounds__(kThreads) qk_norm_rope_store_kernel(RopeParams p, const float* qg, const float* k,
                                                                       const float* v, const float* q_norm,
                                                                       const float* k_norm, const int* pos_base,
                                                                       int pos_offset, __half* q16, __half* kc, __half* vc) {
    pdl_enter();
    __shared__ float sh_all[kWarps][kMaxHeadDim];
    __shared__ float cs[kMaxHeadDim / 2], sn[kMaxHeadDim / 2];
    const int t = blockIdx.y, lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    const int H = p.n_head, Hkv = p.n_head_kv, D = p.head_dim;
    const int pos = *pos_base + pos_offset + t;
    // The position's angles once per block (every block of the row computes the same ones).
    for (int i = threadIdx.x; i < p.n_rot / 2; i += kThreads) rope_angle(p, pos, i, cs[i], sn[i]);
    __syncthreads();
    float* sh = sh_all[warp];
    const int h = blockIdx.x * kWarps + warp;  // head h of the row: a query head, then the KV heads
    if (h < H) {
        norm_rope_head(p, qg + (static_cast<size_t>(t) * H + h) * 2 * D, q_norm, cs, sn, sh, lane);
        __half* dst = q16 + (static_cast<size_t>(t) * H + h) * D;
        for (int d = lane; d < D; d += kWarp) dst[d] = __float2half_rn(sh[d]);
    } else if (h < H + Hkv) {
        const int j = h - H;
        norm_rope_head(p, k + (static_cast<size_t>(t) * Hkv + j) * D, k_norm, cs, sn, sh, lane);
        __half* dst = kc + (static_cast<size_t>(pos) * Hkv + j) * D;
        for (int d = lane; d < D; d += kWarp) dst[d] = __float2half_rn(sh[d]);
    }
    if (blockIdx.x == 0) {
        const float* vt = v + static_cast<size_t>(t) * Hkv * D;
        __half* vdst = vc + static_cast<size_t>(pos) * Hkv * D;
        for (int e = threadIdx.x; e < Hkv * D; e += kThreads) vdst[e] = __float2half_rn(vt[e]);
    }
}

}  // namespace

cudaError_t launch_qk_norm_rope_store(cudaStream_t stream, const RopeParams& p, const float* qg, const float* k,
                                      const float* v, const float* q_norm, const float* k_norm, const int* pos_base,
                                      int pos_offset, int n_rows, __half* q16, __half* kc, __half* vc) {
    if (n_rows <= 0 || p.head_dim <= 0 || p.head_dim > kMaxHeadDim || p.n_rot > p.head_dim || p.n_rot % 2) {
        return cudaErrorInvalidValue;
    }
    const dim3 grid((p.n_head + p.n_head_kv + kWarps - 1) / kWarps, n_rows);  // a warp per head
    return launch(qk_norm_rope_store_kernel, grid, kThreads, 0, stream, p, qg, k, v, q_norm, k_norm, pos_base, pos_offset, q16, kc, vc);
}

}  // namespace mtp::cuda
