// See attention.cuh.
#include "attention.cuh"

#include <algorithm>

#include "../../cpu/attention-order.h"
#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kMaxHeadDim = 256;
constexpr int kDims = kMaxHeadDim / kThreads;  // output dims per thread
constexpr int kPos = 64;  // cached positions staged in shared memory per pass (K for the scores, V for the output)
constexpr int kChunk = kAttnChunk;
static_assert(kChunk % kPos == 0, "a chunk is whole tiles");

__host__ __device__ inline int chunks_of(int n_positions) { return (n_positions + kChunk - 1) / kChunk; }

// The scratch (attention_scratch_bytes) for kMaxRows rows of H heads over a cache of n_ctx positions,
// nc = chunks_of(n_ctx) chunks; head = t·H + h.
struct Parts {
    double* l;      // (kMaxRows, H, nc) a long row's chunk sums l_c
    float* m;       // (kMaxRows, H, nc) its chunk maxima m_c
    float* o;       // (kMaxRows, H, nc, D) its chunks' weighted V, o_c
    float* scores;  // (kMaxRows, H, kChunk) a short row's scores
};

__host__ __device__ inline Parts parts_of(void* scratch, int H, int D, int n_ctx) {
    const size_t heads = static_cast<size_t>(kMaxRows) * H, nc = chunks_of(n_ctx);
    Parts p;
    p.l = static_cast<double*>(scratch);
    p.m = reinterpret_cast<float*>(p.l + heads * nc);
    p.o = p.m + heads * nc;
    p.scores = p.o + heads * nc * D;
    return p;
}

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

// w[p − p0] = (q · K_p) · kq_scale for the positions [p0, p1) of KV head j (w in shared or global
// memory), a thread per position of each 64-position tile, each a sequential sum over d; returns the
// largest of the thread's scores (−inf if it has none). q: the row's query in shared memory, written
// before the call. Every thread of the block calls it.
__device__ float scores_range(const float* q, const __half* kc, int p0, int p1, int j, int Hkv, int D, float kq_scale,
                              __half2* rows, float* w) {
    const int words = D / 2;
    float local_max = -INFINITY;
    for (int t0 = p0; t0 < p1; t0 += kPos) {
        const int tile = min(kPos, p1 - t0);
        __syncthreads();  // q is written / the previous tile is no longer read
        stage_rows(kc, t0, tile, j, Hkv, D, rows);
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
            const float score = dot * kq_scale;
            w[t0 - p0 + threadIdx.x] = score;
            local_max = fmaxf(local_max, score);
        }
    }
    return local_max;
}

// acc[s] = Σ_p w[p − p0] · V_p[d] over the positions [p0, p1) of KV head j in order, from +0, for the
// thread's dims d = threadIdx.x + s·kThreads; w in shared memory, written before the call. Every
// thread of the block calls it.
__device__ void weighted_v(const float* w, const __half* vc, int p0, int p1, int j, int Hkv, int D, __half2* rows,
                           float (&acc)[kDims]) {
    const __half* vrows = reinterpret_cast<const __half*>(rows);
#pragma unroll
    for (int s = 0; s < kDims; s++) acc[s] = 0.0f;
    for (int t0 = p0; t0 < p1; t0 += kPos) {
        const int tile = min(kPos, p1 - t0);
        __syncthreads();  // w is written / the previous tile is no longer read
        stage_rows(vc, t0, tile, j, Hkv, D, rows);
        __syncthreads();
        const float* wt = w + (t0 - p0);
#pragma unroll
        for (int s = 0; s < kDims; s++) {
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
}

// Block (h, t, z) of `splits` = gridDim.z for row t, head h: a short row's scores of the positions
// [z·span, (z + 1)·span), span = n_kv / splits rounded up to a tile, into the scratch; a long row's
// chunks c ≡ z (mod splits): m_c, e_p = exp(s_p − m_c), l_c = Σ e_p (double), o_c = Σ e_p · V_p.
__global__ void __launch_bounds__(kThreads) attention_split_kernel(const __half* q16, const __half* kc, const __half* vc,
                                                                    const int* pos_base, int pos_offset, int H, int Hkv, int D,
                                                                    int n_ctx, void* scratch) {
    pdl_enter();
    __shared__ float q[kMaxHeadDim];
    __shared__ __half2 rows[kPos * (kMaxHeadDim / 2 + 1)];
    __shared__ float w[kChunk];
    __shared__ float fscratch[kWarp];
    __shared__ double dscratch[kWarp];
    const int h = blockIdx.x, t = blockIdx.y, z = blockIdx.z, splits = gridDim.z, j = h / (H / Hkv);
    const int n_kv = *pos_base + pos_offset + t + 1;
    const Parts parts = parts_of(scratch, H, D, n_ctx);
    const size_t head = static_cast<size_t>(t) * H + h;
    const float kq_scale = 1.0f / sqrtf(static_cast<float>(D));
    if (n_kv <= kChunk) {
        const int span = (n_kv + splits * kPos - 1) / (splits * kPos) * kPos;
        const int begin = z * span, end = min(n_kv, begin + span);
        if (begin >= end) return;
        for (int d = threadIdx.x; d < D; d += kThreads) q[d] = __half2float(q16[head * D + d]);
        scores_range(q, kc, begin, end, j, Hkv, D, kq_scale, rows, parts.scores + head * kChunk + begin);
        return;
    }
    const int n_chunks = chunks_of(n_kv), nc = chunks_of(n_ctx);
    if (z >= n_chunks) return;
    for (int d = threadIdx.x; d < D; d += kThreads) q[d] = __half2float(q16[head * D + d]);
    for (int c = z; c < n_chunks; c += splits) {
        const int p0 = c * kChunk, p1 = min(n_kv, p0 + kChunk);
        const float m = block_max(scores_range(q, kc, p0, p1, j, Hkv, D, kq_scale, rows, w), fscratch);
        double part = 0.0;
        for (int p = threadIdx.x; p < p1 - p0; p += kThreads) {
            w[p] = exp_poly(w[p] - m);
            part += static_cast<double>(w[p]);
        }
        const double l = block_sum(part, dscratch);
        float acc[kDims];
        weighted_v(w, vc, p0, p1, j, Hkv, D, rows, acc);
        const size_t at = head * nc + c;
        if (threadIdx.x == 0) {
            parts.l[at] = l;
            parts.m[at] = m;
        }
#pragma unroll
        for (int s = 0; s < kDims; s++) {
            const int d = threadIdx.x + s * kThreads;
            if (d < D) parts.o[at * D + d] = acc[s];
        }
    }
}

// Block (h, t): a short row's softmax over its scores (the max subtracted, the sum in double, the
// weights rounded to F16) and weighted V; a long row's chunks combined in order — M = max m_c,
// α_c = exp(m_c − M), o = (Σ_c α_c · o_c) / Σ_c α_c · l_c; then the gate, and the Q8_0 copy.
__global__ void __launch_bounds__(kThreads) gated_attention_kernel(const float* qg, const __half* vc, const int* pos_base, int pos_offset,
                                                                    int H, int Hkv, int D, int n_ctx, void* scratch, float* out,
                                                                    int8_t* out_q, float* out_d) {
    pdl_enter();
    __shared__ __half2 rows[kPos * (kMaxHeadDim / 2 + 1)];
    __shared__ float w[kChunk];
    __shared__ float fscratch[kWarp];
    __shared__ double dscratch[kWarp];
    const int h = blockIdx.x, t = blockIdx.y, j = h / (H / Hkv);
    const int n_kv = *pos_base + pos_offset + t + 1;
    const Parts parts = parts_of(scratch, H, D, n_ctx);
    const size_t head = static_cast<size_t>(t) * H + h;
    float acc[kDims];
    if (n_kv <= kChunk) {
        const float* scores = parts.scores + head * kChunk;
        float local_max = -INFINITY;
        for (int p = threadIdx.x; p < n_kv; p += kThreads) {
            w[p] = scores[p];
            local_max = fmaxf(local_max, w[p]);
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
        weighted_v(w, vc, 0, n_kv, j, Hkv, D, rows, acc);
    } else {
        const int n_chunks = chunks_of(n_kv), nc = chunks_of(n_ctx);
        const float* m = parts.m + head * nc;
        const double* l = parts.l + head * nc;
        const float* o = parts.o + head * nc * D;
        float local_max = -INFINITY;
        for (int c = threadIdx.x; c < n_chunks; c += kThreads) local_max = fmaxf(local_max, m[c]);
        const float M = block_max(local_max, fscratch);
        // Every thread adds the chunks in order (the same total in each).
        double total = 0.0;
#pragma unroll
        for (int s = 0; s < kDims; s++) acc[s] = 0.0f;
        for (int c = 0; c < n_chunks; c++) {
            const float a = exp_poly(m[c] - M);
            total += static_cast<double>(a) * l[c];
#pragma unroll
            for (int s = 0; s < kDims; s++) {
                const int d = threadIdx.x + s * kThreads;
                if (d < D) acc[s] += a * o[static_cast<size_t>(c) * D + d];
            }
        }
        const float inv = static_cast<float>(1.0 / total);
#pragma unroll
        for (int s = 0; s < kDims; s++) acc[s] *= inv;
    }
    const float* gate = qg + head * 2 * D + D;
#pragma unroll
    for (int s = 0; s < kDims; s++) {
        const int d = threadIdx.x + s * kThreads;
        if (d < D) {  // D % 32 == 0: whole warps take part
            const size_t at = head * D + d;
            const float ov = acc[s] * sigmoid_cpu(gate[d]);
            out[at] = ov;
            if (out_q) quantize_lanes_q8_0(ov, out_q + at - d % kWarp, out_d + at / 32, d % kWarp);
        }
    }
}

}  // namespace

size_t attention_scratch_bytes(int n_head, int head_dim, int n_ctx) {
    const size_t heads = static_cast<size_t>(kMaxRows) * n_head, nc = chunks_of(n_ctx);
    return heads * (nc * (sizeof(double) + sizeof(float) + static_cast<size_t>(head_dim) * sizeof(float)) + kChunk * sizeof(float));
}

cudaError_t launch_gated_attention(cudaStream_t stream, const __half* q16, const float* qg, const __half* kc,
                                   const __half* vc, const int* pos_base, int pos_offset, int n_rows, int n_head,
                                   int n_head_kv, int head_dim, int n_ctx, void* scratch, float* out, int8_t* out_q,
                                   float* out_d) {
    // head_dim % 32: whole warps quantize the output, and K/V rows are 16-byte vectors.
    if (n_rows <= 0 || n_rows > kMaxRows || head_dim <= 0 || head_dim > kMaxHeadDim || head_dim % kWarp || n_head_kv <= 0 ||
        n_head % n_head_kv) {
        return cudaErrorInvalidValue;
    }
    // Blocks per (head, row) in the first launch: enough for about 4 blocks per SM, at most one per
    // tile of the cache.
    const int heads = n_head * n_rows;
    const int splits = std::max(1, std::min((n_ctx + kPos - 1) / kPos, (4 * device_sm_count() + heads - 1) / heads));
    const cudaError_t e = launch(attention_split_kernel, dim3(n_head, n_rows, splits), kThreads, 0, stream, q16, kc, vc, pos_base,
                                 pos_offset, n_head, n_head_kv, head_dim, n_ctx, scratch);
    if (e != cudaSuccess) return e;
    return launch(gated_attention_kernel, dim3(n_head, n_rows), kThreads, 0, stream, qg, vc, pos_base, pos_offset, n_head, n_head_kv,
                  head_dim, n_ctx, scratch, out, out_q, out_d);
}

}  // namespace mtp::cuda
