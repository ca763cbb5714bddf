// See attention.cuh.
#include "attention.cuh"
#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kMaxHeadDim = 256;
constexpr int kPos = 64;  // cached positions staged in shared memory per pass (K for the scores, V for the output)
constexpr int kSharedScores = 2048;  // up to this many positions the scores stay in shared memory

// Rows p0 … p0 + tile − 1 of head j of a cache (n_ctx, Hkv, D) into sh, rows D/2 + 1 words apart (the
// extra word keeps a thread-per-row read free of bank conflicts); all threads, 16-byte coalesced
// loads, four in flight per thread before their stores.
__device__ void stage_rows(const __half* cache, int p0, int tile, int j, int Hkv, int D, __half2* sh) {
    const int per_row = D / 8, total = tile * per_row;  // 16-byte vectors
    const uint4* src = reinterpret_cast<const uint4*>(cache);
    uint32_t* dst = reinterpret_cast<uint32_t*>(sh);
    for (int base = threadIdx.x; base < total; base += 4 * kThreads) {
        uint4 v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int e = base + u * kThreads;
            if (e < total) v[u] = src[((static_cast<size_t>(p0) + e / per_row) * Hkv + j) * per_row + e % per_row];
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int e = base + u * kThreads;
            if (e < total) {
                uint32_t* row = dst + (e / per_row) * (D / 2 + 1) + 4 * (e % per_row);
                row[0] = v[u].x;
                row[1] = v[u].y;
                row[2] = v[u].z;
                row[3] = v[u].w;
            }
        }
    }
}

__global__ void __launch_bounds__(kThreads) gated_attention_kernel(const __half* q16, const float* qg, const __half* kc,
                                                                    const __half* vc, const int* pos_base, int pos_offset,
                                                                    int H, int Hkv, int D, int n_ctx, float* scores,
                                                                    float* out, int8_t* out_q, float* out_d) {
    pdl_enter();
    __shared__ float q[kMaxHeadDim];
    __shared__ __half2 rows[kPos * (kMaxHeadDim / 2 + 1)];
    __shared__ float wt[kPos];
    __shared__ float shared_scores[kSharedScores];
    __shared__ float fscratch[kWarp];
    __shared__ double dscratch[kWarp];
    const int h = blockIdx.x, t = blockIdx.y, j = h / (H / Hkv), words = D / 2;
    const int n_kv = *pos_base + pos_offset + t + 1;
    const float kq_scale = 1.0f / sqrtf(static_cast<float>(D));
    for (int d = threadIdx.x; d < D; d += kThreads) q[d] = __half2float(q16[(static_cast<size_t>(t) * H + h) * D + d]);

    // Scores w[p] = (q · K_p) · kq_scale, each a sequential sum over d.
    // (n_kv) scores, then weights: in shared memory, or the global scratch for long contexts.
    float* w = n_kv <= kSharedScores ? shared_scores : scores + (static_cast<size_t>(t) * H + h) * n_ctx;
    float local_max = -INFINITY;
    for (int p0 = 0; p0 < n_kv; p0 += kPos) {
        const int tile = min(kPos, n_kv - p0);
        __syncthreads();  // q is written / the previous tile is no longer read
        stage_rows(kc, p0, tile, j, Hkv, D, rows);
        __syncthreads();
        if (threadIdx.x < tile) {
            const __half2* kp = rows + threadIdx.x * (words + 1);
            // Eight words loaded ahead of their (in-order) additions, so the loads overlap.
            float dot = 0.0f;
            for (int c0 = 0; c0 < words; c0 += 8) {  // words = D/2, a multiple of 16
                float2 kv[8];
#pragma unroll
                for (int u = 0; u < 8; u++) kv[u] = __half22float2(kp[c0 + u]);
#pragma unroll
                for (int u = 0; u < 8; u++) {
                    dot += q[2 * (c0 + u)] * kv[u].x;
                    dot += q[2 * (c0 + u) + 1] * kv[u].y;
                }
            }
            w[p0 + threadIdx.x] = dot * kq_scale;
            local_max = fmaxf(local_max, w[p0 + threadIdx.x]);
        }
    }
    const float max = block_max(local_max, fscratch);
    double part = 0.0;
#pragma unroll 4
    for (int p = threadIdx.x; p < n_kv; p += kThreads) {
        w[p] = exp_poly(w[p] - max);
        part += static_cast<double>(w[p]);
    }
    const float inv = static_cast<float>(1.0 / block_sum(part, dscratch));
#pragma unroll 4
    for (int p = threadIdx.x; p < n_kv; p += kThreads) w[p] = round_to_f16(w[p] * inv);

    // o[d] = Σ_p w[p] · V_p[d], p in order: thread d keeps its sums while weights and V rows pass
    // through shared memory a tile at a time.
    const float* gate = qg + (static_cast<size_t>(t) * H + h) * 2 * D + D;
    float acc[kMaxHeadDim / kThreads] = {};
    const __half* vrows = reinterpret_cast<const __half*>(rows);
    for (int p0 = 0; p0 < n_kv; p0 += kPos) {
        const int tile = min(kPos, n_kv - p0);
        __syncthreads();  // the weights are written / the previous tile is no longer read
        stage_rows(vc, p0, tile, j, Hkv, D, rows);
        for (int i = threadIdx.x; i < tile; i += kThreads) wt[i] = w[p0 + i];
        __syncthreads();
#pragma unroll
        for (int s = 0; s < kMaxHeadDim / kThreads; s++) {
            const int d = threadIdx.x + s * kThreads;
            if (d < D) {
                // Eight positions loaded ahead of their (in-order) additions, so the loads overlap.
                float a = acc[s];
                int p = 0;
                for (; p + 8 <= tile; p += 8) {
                    float wv[8], vv[8];
#pragma unroll
                    for (int u = 0; u < 8; u++) {
                        wv[u] = wt[p + u];
                        vv[u] = __half2float(vrows[(p + u) * (D + 2) + d]);
                    }
#pragma unroll
                    for (int u = 0; u < 8; u++) a += wv[u] * vv[u];
                }
                for (; p < tile; p++) a += wt[p] * __half2float(vrows[p * (D + 2) + d]);
                acc[s] = a;
            }
        }
    }
#pragma unroll
    for (int s = 0; s < kMaxHeadDim / kThreads; s++) {
        const int d = threadIdx.x + s * kThreads;
        if (d < D) {  // D % 32 == 0: whole warps take part
            const size_t at = (static_cast<size_t>(t) * H + h) * D + d;
            const float ov = acc[s] * sigmoid_cpu(gate[d]);
            out[at] = ov;
            if (out_q) quantize_lanes_q8_0(ov, out_q + at - d % kWarp, out_d + at / 32, d % kWarp);
        }
    }
}

}  // namespace

cudaError_t launch_gated_attention(cudaStream_t stream, const __half* q16, const float* qg, const __half* kc,
                                   const __half* vc, const int* pos_base, int pos_offset, int n_rows, int n_head,
                                   int n_head_kv, int head_dim, int n_ctx, float* scores, float* out, int8_t* out_q,
                                   float* out_d) {
    // head_dim % 32: whole warps quantize the output, and K/V rows are 16-byte vectors.
    if (n_rows <= 0 || head_dim <= 0 || head_dim > kMaxHeadDim || head_dim % kWarp || n_head_kv <= 0 || n_head % n_head_kv) {
        return cudaErrorInvalidValue;
    }
    return launch(gated_attention_kernel, dim3(n_head, n_rows), kThreads, 0, stream, q16, qg, kc, vc, pos_base, pos_offset, n_head,
                  n_head_kv, head_dim, n_ctx, scores, out, out_q, out_d);
}

}  // namespace mtp::cuda
