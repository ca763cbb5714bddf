// See attention.cuh.
#include "attention.cuh"

#include <algorithm>

#include "../../cpu/attention-order.h"
#include "matvec.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kMaxHeadDim = 256;
constexpr int kPos = 64;  // cached K rows staged in shared memory per pass of the scores
constexpr int kChunk = kAttnChunk;
constexpr int kVDims = 2 * kWarp;  // dims of V a block of the weighted-V launch (one warp) weights: 2 a lane
constexpr int kGroups = kMaxHeadDim / kVDims;  // dim groups of a head, at most
constexpr int kVAhead = 64;  // positions whose V loads a lane has in flight before their (in-order) adds
static_assert(kChunk % kVAhead == 0 && kChunk % kWarp == 0, "a chunk's weights, padded with +0, fill whole V batches");

__host__ __device__ inline int chunks_of(int n_positions) { return (n_positions + kChunk - 1) / kChunk; }

// The scratch (attention_scratch_bytes) for kMaxRows rows of H heads over a cache of n_ctx positions,
// nc = chunks_of(n_ctx) chunks; head = t·H + h, g a dim group.
struct Parts {
    double* l;          // (kMaxRows, H, kGroups, nc) a long row's chunk sums l_c, as group g computed them
    float* m;           // (kMaxRows, H, kGroups, nc) its chunk maxima m_c, the same
    float* o;           // (kMaxRows, H, nc, D) its chunks' weighted V o_c
    float* scores;      // (kMaxRows, H, n_ctx) every row's scores
    unsigned* arrived;  // (kMaxRows, H, kGroups) a long row's weighted-V blocks done (zeroed by the scores launch)
};

__host__ __device__ inline Parts parts_of(void* scratch, int H, int D, int n_ctx) {
    const size_t heads = static_cast<size_t>(kMaxRows) * H, nc = chunks_of(n_ctx);
    Parts p;
    p.l = static_cast<double*>(scratch);
    p.m = reinterpret_cast<float*>(p.l + heads * kGroups * nc);
    p.o = p.m + heads * kGroups * nc;
    p.scores = p.o + heads * nc * D;
    p.arrived = reinterpret_cast<unsigned*>(p.scores + heads * n_ctx);
    return p;
}

// Rows of the staged K tile: D halves and 16 bytes of padding, so that threads reading their rows 16
// bytes at a time hit distinct banks in each quarter warp.
constexpr int kRowWords = kMaxHeadDim / 2 + 4;
constexpr int kTileVecs = kPos * (kMaxHeadDim / 8) / kThreads;  // 16-byte loads of a tile a thread

// Rows p0 … p0 + tile − 1 of head j of a cache (n_ctx, Hkv, D): a thread's 16-byte pieces e =
// threadIdx.x + u·kThreads (coalesced), all in flight together; store_rows puts them into sh, rows
// kRowWords words apart.
__device__ __forceinline__ void load_rows(const __half* cache, int p0, int tile, int j, int Hkv, int D, uint4 (&v)[kTileVecs]) {
    const int per_row = D / 8, total = tile * per_row;
    const uint4* src = reinterpret_cast<const uint4*>(cache);
#pragma unroll
    for (int u = 0; u < kTileVecs; u++) {
        const int e = threadIdx.x + u * kThreads;
        if (e < total) v[u] = src[((static_cast<size_t>(p0) + e / per_row) * Hkv + j) * per_row + e % per_row];
    }
}
__device__ __forceinline__ void store_rows(const uint4 (&v)[kTileVecs], int tile, int D, uint32_t* sh) {
    const int per_row = D / 8, total = tile * per_row;
#pragma unroll
    for (int u = 0; u < kTileVecs; u++) {
        const int e = threadIdx.x + u * kThreads;
        if (e < total) *reinterpret_cast<uint4*>(sh + (e / per_row) * kRowWords + 4 * (e % per_row)) = v[u];
    }
}

// Block (h, t, z) of `splits` = gridDim.z for row t, head h: the scores (q · K_p) · kq_scale of the
// positions [z·span, (z + 1)·span), span = n_kv / splits rounded up to a tile, into the scratch: a
// thread per position of each 64-position tile, each a sequential sum over d (a score's arithmetic is
// the same whichever block computes it).
__global__ void __launch_bounds__(kThreads) attention_scores_kernel(const __half* q16, const __half* kc, const __half* vc,
                                                                     const int* pos_base, int pos_offset, int H, int Hkv, int D, int n_ctx,
                                                                     void* scratch) {
    pdl_enter();
    __shared__ __align__(16) float q[kMaxHeadDim];
    __shared__ __align__(16) uint32_t rows[kPos * kRowWords];
    const int h = blockIdx.x, t = blockIdx.y, z = blockIdx.z, splits = gridDim.z, j = h / (H / Hkv);
    const int n_kv = *pos_base + pos_offset + t + 1;
    const size_t head = static_cast<size_t>(t) * H + h;
    const Parts parts = parts_of(scratch, H, D, n_ctx);
    if (z == 0 && threadIdx.x < kGroups) parts.arrived[head * kGroups + threadIdx.x] = 0;
    const int span = (n_kv + splits * kPos - 1) / (splits * kPos) * kPos;
    const int begin = z * span, end = min(n_kv, begin + span);
    if (begin >= end) return;
    if (h % (H / Hkv) == 0) {
        // The V rows of these positions into L2 (once a KV head), where the weighted V finds them.
        const int lines = D / 64;  // 128-byte lines a row
        for (int e = threadIdx.x; e < (end - begin) * lines; e += kThreads) {
            const __half* line = vc + (static_cast<size_t>(begin + e / lines) * Hkv + j) * D + 64 * (e % lines);
            asm volatile("prefetch.global.L2 [%0];" ::"l"(line));
        }
    }
    float* w = parts.scores + head * n_ctx;
    const float kq_scale = 1.0f / sqrtf(static_cast<float>(D));
    const float4* q4 = reinterpret_cast<const float4*>(q);
    for (int t0 = begin; t0 < end; t0 += kPos) {
        const int tile = min(kPos, end - t0);
        uint4 kv[kTileVecs];
        load_rows(kc, t0, tile, j, Hkv, D, kv);
        if (t0 == begin) {  // q's loads behind the first tile's
            for (int d = threadIdx.x; d < D; d += kThreads) q[d] = __half2float(q16[head * D + d]);
        }
        __syncthreads();  // the previous tile is no longer read
        store_rows(kv, tile, D, rows);
        __syncthreads();  // the tile and q are written
        if (threadIdx.x < tile) {
            const uint4* kp = reinterpret_cast<const uint4*>(rows + threadIdx.x * kRowWords);
            // 8 values a 16-byte read, added in order.
            float dot = 0.0f;
#pragma unroll 4
            for (int c = 0; c < D / 8; c++) {  // D / 8 is a multiple of 4
                const uint4 kr = kp[c];
                const float4 qa = q4[2 * c], qb = q4[2 * c + 1];
                const float2 k0 = __half22float2(*reinterpret_cast<const __half2*>(&kr.x)), k1 = __half22float2(*reinterpret_cast<const __half2*>(&kr.y));
                const float2 k2 = __half22float2(*reinterpret_cast<const __half2*>(&kr.z)), k3 = __half22float2(*reinterpret_cast<const __half2*>(&kr.w));
                dot += qa.x * k0.x;
                dot += qa.y * k0.y;
                dot += qa.z * k1.x;
                dot += qa.w * k1.y;
                dot += qb.x * k2.x;
                dot += qb.y * k2.y;
                dot += qb.z * k3.x;
                dot += qb.w * k3.y;
            }
            w[t0 + threadIdx.x] = dot * kq_scale;
        }
    }
}

// The gate and the outputs of dims d, d + 1 (= 64g + 2·lane) of one head's row: out (float) and, with
// out_q, the Q8_0 blocks of the warp's 64 dims (quantize_lanes_q8_0 takes dim 32i + lane from lane
// 16i + lane / 2).
__device__ void gate_and_store(float o0, float o1, const float* gate, float* out, int8_t* out_q, float* out_d, int d, int D, int lane) {
    float v0 = 0.0f, v1 = 0.0f;
    if (d < D) {
        v0 = o0 * sigmoid_cpu(gate[d]);
        v1 = o1 * sigmoid_cpu(gate[d + 1]);
        *reinterpret_cast<float2*>(out + d) = make_float2(v0, v1);
    }
    if (!out_q) return;
    const int base = d - 2 * lane;  // the warp's first dim
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int src = 16 * i + lane / 2;
        const float x0 = __shfl_sync(0xffffffffu, v0, src), x1 = __shfl_sync(0xffffffffu, v1, src);
        const int at = base + 32 * i;  // whole Q8_0 blocks: D % 32 == 0
        if (at < D) quantize_lanes_q8_0(lane % 2 ? x1 : x0, out_q + at, out_d + at / 32, lane);
    }
}

// Block (h, t, s·G + g), one warp, G = ceil(D / 64): dims 64g + 2·lane, + 1 of head h, row t, for the
// row's chunks c ≡ s (mod slots), slots = gridDim.z / G. A chunk's scores in registers (16 a lane):
// their max m, e_p = exp(s_p − m), l = Σ e_p in double; then o[d] = Σ_p w_p · V_p[d] in position order
// from +0, V read straight from the cache (L2: the scores launch asked for it) with kVAhead positions'
// loads in flight (a warp's load is one 128-byte row piece). A short row (one chunk) weights by
// w_p = e_p / l rounded to F16 and stores o ⊙ σ(gate). A long row weights by e_p and stores its
// chunks' o_c, m_c, l_c; the group's block that finishes last combines them in order — M = max m_c,
// α_c = exp(m_c − M), o = (Σ_c α_c · o_c) / Σ_c α_c · l_c — and stores o ⊙ σ(gate).
__global__ void __launch_bounds__(kWarp) attention_values_kernel(const float* qg, const __half* vc, const int* pos_base, int pos_offset,
                                                                  int H, int Hkv, int D, int n_ctx, void* scratch, float* out,
                                                                  int8_t* out_q, float* out_d) {
    pdl_enter();
    __shared__ __align__(16) float w[kChunk];
    const int G = (D + kVDims - 1) / kVDims, slots = gridDim.z / G;
    const int h = blockIdx.x, t = blockIdx.y, g = blockIdx.z % G, s = blockIdx.z / G, j = h / (H / Hkv), lane = threadIdx.x;
    const int n_kv = *pos_base + pos_offset + t + 1, n_chunks = chunks_of(n_kv), nc = chunks_of(n_ctx);
    if (s >= n_chunks) return;
    const Parts parts = parts_of(scratch, H, D, n_ctx);
    const size_t head = static_cast<size_t>(t) * H + h, group = head * kGroups + g;
    const float* scores = parts.scores + head * n_ctx;
    const float* gate = qg + head * 2 * D + D;
    float* out_h = out + head * D;  // the head's outputs, and their Q8_0 copy (or none)
    int8_t* q_h = out_q ? out_q + head * D : nullptr;
    float* d_h = out_q ? out_d + head * D / 32 : nullptr;
    const int d = g * kVDims + 2 * lane;  // D % 32 == 0: d < D implies d + 1 < D
    const size_t v_stride = static_cast<size_t>(Hkv) * D / 2;  // half2 words a position
    const int dl = min(d, D - 2);  // the lane's dims, clamped for the loads of lanes past D
    // Positions p … p + kVAhead − 1 of the chunk at p0 (zeros past len): the lane's V pair.
    const auto load_v = [&](int p0, int p, int len, __half2 (&vv)[kVAhead]) {
        const __half2* v = reinterpret_cast<const __half2*>(vc) + ((static_cast<size_t>(p0 + p) * Hkv + j) * D + dl) / 2;
#pragma unroll
        for (int u = 0; u < kVAhead; u++) vv[u] = p + u < len ? v[u * v_stride] : __half2{};
    };
    for (int c = s; c < n_chunks; c += slots) {
        const int p0 = c * kChunk, len = min(n_kv, p0 + kChunk) - p0;
        __half2 vv[kVAhead];
        load_v(p0, 0, len, vv);  // in flight beside the softmax
        // The chunk's scores, all of a lane's loads in flight: positions lane + 32u.
        float e[kChunk / kWarp];
#pragma unroll
        for (int u = 0; u < kChunk / kWarp; u++) e[u] = lane + kWarp * u < len ? scores[p0 + lane + kWarp * u] : -INFINITY;
        float m = -INFINITY;
#pragma unroll
        for (int u = 0; u < kChunk / kWarp; u++) m = fmaxf(m, e[u]);
        m = warp_max(m);
        double part = 0.0;
#pragma unroll
        for (int u = 0; u < kChunk / kWarp; u++) {
            if (lane + kWarp * u < len) {
                e[u] = exp_poly(e[u] - m);
                part += static_cast<double>(e[u]);
            }
        }
        const double l = warp_sum(part);
        const float inv = n_kv <= kChunk ? static_cast<float>(1.0 / l) : 0.0f;
        // The weights, +0 past len: a batch's tail adds +0 · 0 = +0, which leaves a sum as it is (a
        // sum from +0 is never −0), so every batch runs the same unpredicated adds.
#pragma unroll
        for (int u = 0; u < kChunk / kWarp; u++) {
            const int p = lane + kWarp * u;
            w[p] = p < len ? (n_kv <= kChunk ? round_to_f16(e[u] * inv) : e[u]) : 0.0f;
        }
        __syncwarp();
        float a0 = 0.0f, a1 = 0.0f;
        for (int p = 0; p < len; p += kVAhead) {
            __half2 next[kVAhead];
            if (p + kVAhead < len) load_v(p0, p + kVAhead, len, next);  // the next batch in flight beside this one's adds
#pragma unroll
            for (int u = 0; u < kVAhead; u += 4) {
                const float4 w4 = *reinterpret_cast<const float4*>(w + p + u);
                const float wu[4] = {w4.x, w4.y, w4.z, w4.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const float2 f = __half22float2(vv[u + i]);
                    a0 += wu[i] * f.x;
                    a1 += wu[i] * f.y;
                }
            }
#pragma unroll
            for (int u = 0; u < kVAhead; u++) vv[u] = next[u];
        }
        if (n_kv <= kChunk) {
            gate_and_store(a0, a1, gate, out_h, q_h, d_h, d, D, lane);
            return;
        }
        if (lane == 0) {
            parts.l[group * nc + c] = l;
            parts.m[group * nc + c] = m;
        }
        if (d < D) *reinterpret_cast<float2*>(parts.o + (head * nc + c) * D + d) = make_float2(a0, a1);
        __syncwarp();  // w is read before the next chunk overwrites it
    }
    // The group's last block (of min(slots, n_chunks)) combines the chunks; the others' stores are
    // visible to it after their fences, read past L1.
    __threadfence();
    unsigned before = 0;
    if (lane == 0) before = atomicAdd(&parts.arrived[group], 1u);
    if (__shfl_sync(0xffffffffu, before, 0) != static_cast<unsigned>(min(slots, n_chunks)) - 1) return;
    __threadfence();
    const float* m = parts.m + group * nc;
    const double* l = parts.l + group * nc;
    const float* o = parts.o + head * nc * D;
    float local_max = -INFINITY;
    for (int c = lane; c < n_chunks; c += kWarp) local_max = fmaxf(local_max, __ldcg(m + c));
    const float M = warp_max(local_max);
    // Every lane adds the chunks in order (the same total in each).
    double total = 0.0;
    float a0 = 0.0f, a1 = 0.0f;
#pragma unroll 4
    for (int c = 0; c < n_chunks; c++) {
        const float a = exp_poly(__ldcg(m + c) - M);
        total += static_cast<double>(a) * __ldcg(l + c);
        if (d < D) {
            const float2 oc = __ldcg(reinterpret_cast<const float2*>(o + static_cast<size_t>(c) * D + d));
            a0 += a * oc.x;
            a1 += a * oc.y;
        }
    }
    const float inv = static_cast<float>(1.0 / total);
    gate_and_store(a0 * inv, a1 * inv, gate, out_h, q_h, d_h, d, D, lane);
}

}  // namespace

size_t attention_scratch_bytes(int n_head, int head_dim, int n_ctx) {
    const size_t heads = static_cast<size_t>(kMaxRows) * n_head, nc = chunks_of(n_ctx);
    return heads * (nc * (kGroups * (sizeof(double) + sizeof(float)) + static_cast<size_t>(head_dim) * sizeof(float)) +
                    static_cast<size_t>(n_ctx) * sizeof(float) + kGroups * sizeof(unsigned));
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
    // Blocks per (head, row) of the scores: enough for the 6 blocks an SM holds, at most one per tile
    // of the cache. Weighted-V blocks per (head, row, dim group): enough chunk slots for about 16
    // warps per SM, at most one per chunk of the cache.
    const int heads = n_head * n_rows, groups = (head_dim + kVDims - 1) / kVDims;
    const int splits = std::max(1, std::min((n_ctx + kPos - 1) / kPos, (6 * device_sm_count() + heads - 1) / heads));
    const int slots = std::max(1, std::min(chunks_of(n_ctx), (16 * device_sm_count() + heads * groups - 1) / (heads * groups)));
    const cudaError_t e = launch(attention_scores_kernel, dim3(n_head, n_rows, splits), kThreads, 0, stream, q16, kc, vc, pos_base,
                                 pos_offset, n_head, n_head_kv, head_dim, n_ctx, scratch);
    if (e != cudaSuccess) return e;
    return launch(attention_values_kernel, dim3(n_head, n_rows, slots * groups), kWarp, 0, stream, qg, vc, pos_base, pos_offset, n_head,
                  n_head_kv, head_dim, n_ctx, scratch, out, out_q, out_d);
}

}  // namespace mtp::cuda
