// See matvec.cuh: activation quantizers, then one matvec kernel per weight type, then launchers.
#include "matvec.cuh"

#include "../../cpu/ggml-quants.h"
#include "lowbit-tables.cuh"

#include <cmath>
#include <cstring>

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;  // 4 warps = 4 output rows per block

// Up to kMaxOutputs matrices of one type; warp g of the launch computes row g − first[i] of matrix i.
struct MatvecArgs {
    const uint8_t* w[kMaxOutputs];
    const float* scale[kMaxOutputs];
    size_t row_bytes[kMaxOutputs];
    float* y[kMaxOutputs];
    int y_stride[kMaxOutputs];
    int add[kMaxOutputs];
    int first[kMaxOutputs + 1];  // cumulative output rows
    int count;
    // One-row K-quant SwiGLU launches (launch_matvec_swiglu, kquant_kernel's kSwiglu): matrix 0 is
    // the gate, these the up matrix's rows and scales (its shape and type).
    const uint8_t* up_w;
    const float* up_scale;
};

// One or two expert matrices of one type and shape (stacked, rows per expert) into y[i] (n_pairs, rows).
struct ExpertArgs {
    DevMatrix w[2];
    float* y[2];
    int rows;
};

// ---- Per-type dot products of one weight row with every activation row, in the CPU backend's
// summation order (cpu/ggml-quants.cpp), so both backends round alike: acc[r] ends as the full dot
// product of activation row r, the same value on every lane. The loops over r are predicated, so the
// code for a row is the same whatever n_rows is.

// acc += p of lanes 0 … count−1, in lane order: a sequential sum over blocks across the warp.
__device__ __forceinline__ float add_in_lane_order(float acc, float p, int count) {
    for (int j = 0; j < count; j++) acc += __shfl_sync(0xffffffffu, p, j);
    return acc;
}

__device__ __forceinline__ int dot8_i8(int4 w0, int4 w1, const int4* x) {
    const int4 a0 = x[0], a1 = x[1];
    int s = __dp4a(w0.x, a0.x, 0);
    s = __dp4a(w0.y, a0.y, s);
    s = __dp4a(w0.z, a0.z, s);
    s = __dp4a(w0.w, a0.w, s);
    s = __dp4a(w1.x, a1.x, s);
    s = __dp4a(w1.y, a1.y, s);
    s = __dp4a(w1.z, a1.z, s);
    return __dp4a(w1.w, a1.w, s);
}

// acc[r] += (d_w · d_x) · isum of lane's 32-value block b (weight values w0, w1: 0-15, 16-31; scale
// dw) with Q8_0 activation row r, the warp's `count` blocks added in lane order: one step of the
// CPU's sequential sum over blocks (dot_q8_0, and the 4-bit types of matvec-lowbit.cuh).
__device__ __forceinline__ void add_q8_0_block(int4 w0, int4 w1, float dw, bool has, int b, int count, const ActView& x, int n_rows,
                                               float* acc) {
    const int nb = x.k / 32;
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) {
        if (r < n_rows) {
            float p = 0.0f;
            if (has) {
                const int isum = dot8_i8(w0, w1, reinterpret_cast<const int4*>(x.q + static_cast<size_t>(r) * x.k + 32 * b));
                p = (dw * x.d[static_cast<size_t>(r) * nb + b]) * static_cast<float>(isum);
            }
            acc[r] = add_in_lane_order(acc[r], p, count);
        }
    }
}

// Q8_0 (dot_q8_0): sum += (d_w · d_x) · isum over the blocks in order; lane l takes block 32i + l.
__device__ void row_q8_0(const uint8_t* w, const float* ws, const ActView& x, int n_rows, int lane, float* acc) {
    const int nb = x.k / 32;
    for (int b0 = 0; b0 < nb; b0 += kWarp) {
        const int b = b0 + lane, count = min(kWarp, nb - b0);
        const bool has = b < nb;
        int4 w0 = make_int4(0, 0, 0, 0), w1 = w0;
        float dw = 0.0f;
        if (has) {
            const int4* wp = reinterpret_cast<const int4*>(w + 32 * b);
            w0 = wp[0];
            w1 = wp[1];
            dw = ws[b];
        }
        add_q8_0_block(w0, w1, dw, has, b, count, x, n_rows, acc);
    }
}

// BF16 (dot_bf16): lane l accumulates the pair (2l + 1, 2l) of every 64 values, odd product first —
// the CPU's 2 × 16 vector lanes — then each half is tree-reduced as _mm512_reduce_add_ps does, the
// halves and the tail (k % 64) are summed in double.
__device__ void row_bf16(const uint8_t* w, const ActView& x, int n_rows, int lane, float* acc) {
    const uint32_t* wp = reinterpret_cast<const uint32_t*>(w);
    const int k64 = x.k / 64 * 64;
    float c[kMaxRows];
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) c[r] = 0.0f;
    for (int i = 0; i < k64; i += 64) {
        const uint32_t pair = wp[i / 2 + lane];
        const float w_even = bf16_bits(static_cast<uint16_t>(pair & 0xffff)), w_odd = bf16_bits(static_cast<uint16_t>(pair >> 16));
#pragma unroll
        for (int r = 0; r < kMaxRows; r++) {
            if (r < n_rows) {
                const float2 xv = *reinterpret_cast<const float2*>(x.f + static_cast<size_t>(r) * x.k + i + 2 * lane);
                c[r] += w_odd * round_to_bf16(xv.y);
                c[r] += w_even * round_to_bf16(xv.x);
            }
        }
    }
    const uint16_t* w16 = reinterpret_cast<const uint16_t*>(w);
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) {
        if (r < n_rows) {
            float v = c[r] + __shfl_down_sync(0xffffffffu, c[r], 8);
            v = v + __shfl_down_sync(0xffffffffu, v, 4);
            v = v + __shfl_down_sync(0xffffffffu, v, 2);
            v = v + __shfl_down_sync(0xffffffffu, v, 1);
            double sum = static_cast<double>(__shfl_sync(0xffffffffu, v, 0));
            sum += static_cast<double>(__shfl_sync(0xffffffffu, v, 16));
            const float* xr = x.f + static_cast<size_t>(r) * x.k;
            for (int i = k64; i < x.k; i++) sum += static_cast<double>(bf16_bits(w16[i]) * round_to_bf16(xr[i]));
            acc[r] = static_cast<float>(sum);
        }
    }
}

// F16 (dot_f16): one sequential sum over the values; products of two F16 values are exact.
__device__ void row_f16(const uint8_t* w, const ActView& x, int n_rows, int lane, float* acc) {
    const uint16_t* w16 = reinterpret_cast<const uint16_t*>(w);
    for (int i0 = 0; i0 < x.k; i0 += kWarp) {
        const int i = i0 + lane, count = min(kWarp, x.k - i0);
        const float wv = i < x.k ? f16_bits(w16[i]) : 0.0f;
#pragma unroll
        for (int r = 0; r < kMaxRows; r++) {
            if (r < n_rows) {
                const float p = i < x.k ? wv * round_to_f16(x.f[static_cast<size_t>(r) * x.k + i]) : 0.0f;
                acc[r] = add_in_lane_order(acc[r], p, count);
            }
        }
    }
}

// F32: the CPU's vectorized reduction order depends on its instruction set, so it is not mirrored:
// lane partials over 8-value chunks, summed by xor butterflies.
__device__ void row_f32(const uint8_t* w, const ActView& x, int n_rows, int lane, float* acc) {
    for (int i = 8 * lane; i < x.k; i += 8 * kWarp) {
        const float4* p = reinterpret_cast<const float4*>(w) + i / 4;
        const float4 a = p[0], b = p[1];
        const float wv[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
        for (int r = 0; r < kMaxRows; r++) {
            if (r < n_rows) {
                const float4* xp = reinterpret_cast<const float4*>(x.f + static_cast<size_t>(r) * x.k + i);
                const float4 xa = xp[0], xb = xp[1];
                const float xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
                for (int j = 0; j < 8; j++) acc[r] += wv[j] * xv[j];
            }
        }
    }
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) {
        if (r < n_rows) acc[r] = warp_sum(acc[r]);
    }
}

// The 6-bit scales and mins of sub-blocks 2j, 2j + 1 of a Q4_K / Q5_K super-block (spec §7.7), from
// its 16-byte header hd (d, dmin | 12 scale bytes q), without branches: sub-block b < 4 has q[b] & 63
// and q[b + 4] & 63; b ≥ 4 the low / high nibble of q[b + 4] with the top two bits of q[b − 4] / q[b]
// — for the pair, bytes 2·(j % 2) and the next of the words hd.y (q0…3), hd.z (q4…7), hd.w (q8…11).
// Packed as bytes 0, 1 (sub-block 2j, 2j + 1) of sc2 and m2, the operands of dp2a below.
__device__ __forceinline__ void k_scale_min_pair(int4 hd, int j, int& sc2, int& m2) {
    const bool low = j < 2;
    const int s = 16 * (j % 2);
    const uint32_t a = static_cast<uint32_t>(hd.y) >> s, b = static_cast<uint32_t>(hd.z) >> s;
    const uint32_t c = static_cast<uint32_t>(low ? hd.y : hd.w) >> s, cm = static_cast<uint32_t>(low ? hd.z : hd.w) >> (low ? s : s + 4);
    const uint32_t keep = low ? 0x3F3Fu : 0x0F0Fu, top = low ? 0u : 0x3030u;
    sc2 = static_cast<int>((c & keep) | ((a >> 2) & top));
    m2 = static_cast<int>((cm & keep) | ((b >> 2) & top));
}

// Integer sums of two products of a K-quant sub-block pair in one instruction: a[0]·b[0] + a[1]·b[1]
// for a the two int16 halves of pair16 and b bytes 2·hi, 2·hi + 1 of bytes (signed; the 6-bit
// scales and mins are < 64). Exact, so the same integer as two multiplies: the Q4_K / Q5_K min term
// Σ m·(Q8_K sub-block sum) with the sums as stored (int16 pairs), and Q4_K's scaled group dots once
// packed (|a 16-value dot| <= 16·15·128 = 30720 < 2^15; Q5_K's and Q6_K's reach 2^16 and keep two
// multiplies).
__device__ __forceinline__ int dp2(int pair16, int bytes, bool hi) { return hi ? __dp2a_hi(pair16, bytes, 0) : __dp2a_lo(pair16, bytes, 0); }
__device__ __forceinline__ int pack16(int lo, int hi) { return static_cast<int>(__byte_perm(lo, hi, 0x5410)); }

__device__ __forceinline__ int4 load16(const void* p) { return __ldg(static_cast<const int4*>(p)); }

// Byte i of v, zero-extended (one PRMT).
__device__ __forceinline__ int unsigned_byte(uint32_t v, int i) { return static_cast<int>(__byte_perm(v, 0, 0x4440 + i)); }

// Σ of 16 products of packed signed bytes.
__device__ __forceinline__ int dot16(const int (&v)[4], int4 a) {
    int s = __dp4a(v[0], a.x, 0);
    s = __dp4a(v[1], a.y, s);
    s = __dp4a(v[2], a.z, s);
    return __dp4a(v[3], a.w, s);
}

// Bytes of a K-quant super-block on the device: Q4_K 144, Q5_K 176 (as in the file), Q6_K 208
// (repack_matrix moves its d out).
__host__ __device__ constexpr int kquant_block_bytes(uint32_t type) { return type == 12 ? 144 : type == 13 ? 176 : 208; }

// Super-block sb of kOut weight rows times the activation row into the lane's float sums acc[o]:
// rows_kquant's arithmetic apart from its weight loads, which stay in rows_kquant's load phase (kept
// apart so that a layout or load path other than rows_kquant's can reuse the same sums). wa, wb the
// lane's 16 bytes of quants and (Q5_K, Q6_K) of high bits, hd the super-block's first 16 bytes
// (Q4_K / Q5_K: d, dmin and the packed scales), Q6_K's two scales of the lane and d.
template <uint32_t kType, int kOut>
__device__ __forceinline__ void kquant_superblock(const int4 (&wa4)[kOut], const int4 (&wb4)[kOut], const int4 (&hd)[kOut],
                                                  const int (&sc_lo)[kOut], const int (&sc_hi)[kOut], const float (&d6)[kOut],
                                                  const ActView& x, int sb, int lane, float (&acc)[kOut]) {
    const int t = lane % 8, j = t / 2, h = t % 2;                          // Q4_K / Q5_K
    const int e_lo = 128 * (t / 4) + 32 * (t % 4 / 2) + 16 * (t % 2);  // Q6_K
    int lo[kOut][4], hi[kOut][4];
    int sc2[kOut], m2[kOut];  // Q4_K / Q5_K: k_scale_min_pair's packed pairs
    float d[kOut], dmin[kOut];
#pragma unroll
    for (int o = 0; o < kOut; o++) {
        const int wa[4] = {wa4[o].x, wa4[o].y, wa4[o].z, wa4[o].w};
        const int wb[4] = {wb4[o].x, wb4[o].y, wb4[o].z, wb4[o].w};
        if constexpr (kType == 14) {
            const int p1 = t % 4 / 2;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                lo[o][i] = __vsub4((wa[i] & 0x0F0F0F0F) | (((wb[i] >> (2 * p1)) & 0x03030303) << 4), 0x20202020);
                hi[o][i] = __vsub4(((wa[i] >> 4) & 0x0F0F0F0F) | (((wb[i] >> (2 * p1 + 4)) & 0x03030303) << 4), 0x20202020);
            }
            d[o] = d6[o];
            dmin[o] = 0.0f;
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                lo[o][i] = wa[i] & 0x0F0F0F0F;
                hi[o][i] = (wa[i] >> 4) & 0x0F0F0F0F;
                if constexpr (kType == 13) {
                    lo[o][i] |= ((wb[i] >> (2 * j)) & 0x01010101) << 4;
                    hi[o][i] |= ((wb[i] >> (2 * j + 1)) & 0x01010101) << 4;
                }
            }
            k_scale_min_pair(hd[o], j, sc2[o], m2[o]);
            if (h != 0) m2[o] = 0;  // the min term of a sub-block once, from its h = 0 lane
            d[o] = f16_bits(static_cast<uint16_t>(hd[o].x & 0xFFFF));
            dmin[o] = f16_bits(static_cast<uint16_t>(static_cast<uint32_t>(hd[o].x) >> 16));
        }
    }
    const int8_t* a = x.q + 256 * sb;
    // Explicit fmas: the CPU (dot_q4_k_or_q5_k, dot_q6_k) rounds exactly so.
    if constexpr (kType == 14) {
        const int4 a_lo = load16(a + e_lo), a_hi = load16(a + e_lo + 64);
#pragma unroll
        for (int o = 0; o < kOut; o++) {
            const int si = sc_lo[o] * dot16(lo[o], a_lo) + sc_hi[o] * dot16(hi[o], a_hi);
            acc[o] = __fmaf_rn(x.d[sb], d[o] * static_cast<float>(si), acc[o]);
        }
    } else {
        const int4 a_lo = load16(a + 64 * j + 16 * h), a_hi = load16(a + 64 * j + 32 + 16 * h);
        const int sums = *reinterpret_cast<const int*>(q8k_sums(x.d, x.k) + 8 * sb + 2 * j);  // sub-blocks 2j, 2j + 1
#pragma unroll
        for (int o = 0; o < kOut; o++) {
            const int s_lo = dot16(lo[o], a_lo), s_hi = dot16(hi[o], a_hi);
            const int si = kType == 12 ? dp2(pack16(s_lo, s_hi), sc2[o], false) : unsigned_byte(sc2[o], 0) * s_lo + unsigned_byte(sc2[o], 1) * s_hi;
            const int sm = dp2(sums, m2[o], false);
            const float uo = __fmaf_rn(d[o], static_cast<float>(si), -(dmin[o] * static_cast<float>(sm)));
            acc[o] = __fmaf_rn(x.d[sb], uo, acc[o]);
        }
    }
}

// Q4_K (144-byte super-blocks), Q5_K (176) and Q6_K (208 on the device: repack_matrix) rows: kOut
// weight rows of one matrix times one activation row (decode), acc[o]. (Two to eight activation
// rows go to kquant_mma_kernel below, which computes the same lane sums on the tensor cores.)
// 8 lanes share a super-block and a warp takes 4 consecutive ones of each weight row per iteration,
// kUnroll iterations' loads in flight: lane t reads 16 bytes of packed quants (Q5_K, Q6_K: and 16 of
// high bits), the 32 values they hold being 16 of each of two sub-blocks:
//   Q4_K/Q5_K: sub-blocks 2j and 2j + 1 (j = t / 2; low and high nibbles of qs bytes 32j + 16h …,
//              h = t % 2), values 16h … 16h + 15 of each;
//   Q6_K:      values e … e + 15 and e + 64 … e + 79, e = 128·(t / 4) + 32·(t % 4 / 2) + 16·(t % 2)
//              (low and high nibbles of ql bytes 16t …, their 2 high bits from qh).
// The integer sums of a lane's 32 values are exact; each lane scales them into its own float sum
// (acc[o] holds the lane's), and the caller adds the lanes' sums by a warp tree (as llama.cpp's mmvq
// does); the CPU backend sums in this same order (dot_q4_k_or_q5_k, dot_q6_k), so the backends agree
// to the bit.
// The Q4_K/Q5_K min term uses the activation's sums of 32 values (q8k_sums).
template <uint32_t kType, int kOut>
__device__ void rows_kquant(const uint8_t* const (&w)[kOut], const float* const (&w_d)[kOut], const ActView& x, int lane,
                            float (&acc)[kOut]) {
    constexpr int kBlock = kquant_block_bytes(kType);
    // Iterations in flight: one weight row 6 for Q4_K (a 5120-wide row in one round of loads), else
    // 4; two rows 3 each (H200, the 27B shape's FFN gate/up 32.6 -> 30.9 us and ssm_out 7.6 -> 7.4
    // against 2; 5 loses on ssm_out; docs/BENCHMARKS.md, ninth session).
    constexpr int kUnroll = kOut == 1 ? (kType == 12 ? 6 : 4) : 3;
    const int nsb = x.k / 256, t = lane % 8, slot = lane / 8;
    const int h = t % 2;                                               // Q5_K
    const int e_lo = 128 * (t / 4) + 32 * (t % 4 / 2) + 16 * (t % 2);  // Q6_K
    for (int sb0 = 0; sb0 < nsb; sb0 += 4 * kUnroll) {
        int4 qa[kOut][kUnroll], qb[kOut][kUnroll];
        // Q6_K one row: the lane's two scales and the super-block's d, loaded with the quants (the
        // scales' sector is not one the quants' loads bring, and d is in the repacked scale array);
        // two rows have no registers for them and load them when computing.
        constexpr bool kEarly6 = kType == 14 && kOut == 1;
        int sc6[kOut][kUnroll][2];
        float d6[kOut][kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int sb = sb0 + 4 * u + slot;
#pragma unroll
            for (int o = 0; o < kOut; o++) {
                qa[o][u] = qb[o][u] = make_int4(0, 0, 0, 0);
                if constexpr (kEarly6) sc6[o][u][0] = sc6[o][u][1] = 0, d6[o][u] = 0.0f;
                if (sb < nsb) {
                    const uint8_t* blk = w[o] + static_cast<size_t>(sb) * kBlock;
                    if constexpr (kType == 12) {
                        qa[o][u] = load16(blk + 16 + 16 * t);
                    } else if constexpr (kType == 13) {
                        qa[o][u] = load16(blk + 48 + 16 * t);
                        qb[o][u] = load16(blk + 16 + 16 * h);
                    } else {
                        qa[o][u] = load16(blk + 16 * t);
                        qb[o][u] = load16(blk + 128 + 32 * (t / 4) + 16 * (t % 2));
                        if constexpr (kEarly6) {
                            const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
                            sc6[o][u][0] = __ldg(scales + e_lo / 16);
                            sc6[o][u][1] = __ldg(scales + e_lo / 16 + 4);
                            d6[o][u] = __ldg(w_d[o] + sb);
                        }
                    }
                }
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int sb = sb0 + 4 * u + slot;
            if (sb >= nsb) break;
            int4 wa[kOut], wb[kOut], hd[kOut];
            int sc_lo[kOut], sc_hi[kOut];  // Q6_K
            float d[kOut];                 // Q6_K
#pragma unroll
            for (int o = 0; o < kOut; o++) {
                const uint8_t* blk = w[o] + static_cast<size_t>(sb) * kBlock;
                wa[o] = qa[o][u];
                wb[o] = qb[o][u];
                if constexpr (kType == 14) {
                    if constexpr (kEarly6) {
                        sc_lo[o] = sc6[o][u][0];
                        sc_hi[o] = sc6[o][u][1];
                        d[o] = d6[o][u];
                    } else {
                        const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
                        sc_lo[o] = scales[e_lo / 16];
                        sc_hi[o] = scales[e_lo / 16 + 4];
                        d[o] = w_d[o][sb];
                    }
                } else {
                    hd[o] = load16(blk);  // from L1: the quants' loads brought its sector
                }
            }
            kquant_superblock<kType, kOut>(wa, wb, hd, sc_lo, sc_hi, d, x, sb, lane, acc);
        }
    }
}

// The sum over lanes 0 … lanes − 1 of a lane group (lanes a power of two), by the xor butterfly's
// last steps. rows_kquant's lane sums of a row of one or two super-blocks are zero past lane 8 or
// 16, and adding +0 is exact (a lane sum is never −0: it starts at +0 and x + y = 0 rounds to +0),
// so for such rows this gives warp_sum's bits.
__device__ __forceinline__ float lane_group_sum(float v, int lanes) {
    for (int o = lanes / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

#include "matvec-lowbit.cuh"  // the low-bit types' row functions (row_lowbit)

// Normalizes rows 0 … n_rows − 1 of norm.x into xs (shared memory): Q8_0 blocks quantized in
// registers, or floats. The same arithmetic as the rms_norm kernel (128 threads, the same partial
// sums added in the same order), all rows' sums of squares in one pass.
__device__ void norm_rows_to_shared(const NormIn& norm, int k, int n_rows, ActFormat fmt, ActView xs) {
    __shared__ double partials[kMaxRows][kThreads / kWarp];
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    // The sums of squares of all rows in one pass, each reduced as block_sum reduces it.
    double part[kMaxRows] = {};
    for (int i = threadIdx.x; i < k; i += kThreads) {
#pragma unroll
        for (int r = 0; r < kMaxRows; r++) {
            if (r < n_rows) {
                const float v = norm.x[static_cast<size_t>(r) * norm.x_stride + i];
                part[r] += static_cast<double>(v * v);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) {
        if (r < n_rows) {
            const double sw = warp_sum(part[r]);
            if (lane == 0) partials[r][warp] = sw;
        }
    }
    __syncthreads();
    for (int r = 0; r < n_rows; r++) {
        double sum = 0.0;
        for (int w = 0; w < kThreads / kWarp; w++) sum += partials[r][w];
        const float* xr = norm.x + static_cast<size_t>(r) * norm.x_stride;
        const float scale = 1.0f / sqrtf(static_cast<float>(sum / static_cast<double>(k)) + norm.eps);
        for (int i = threadIdx.x; i < k; i += kThreads) {
            const float v = (xr[i] * scale) * norm.w[i];
            if (fmt == ActFormat::Q8_0) {
                quantize_lanes_q8_0(v, xs.q + static_cast<size_t>(r) * k + (i - lane), xs.d + static_cast<size_t>(r) * (k / 32) + i / 32, lane);
            } else {
                xs.f[static_cast<size_t>(r) * k + i] = v;
            }
        }
    }
    __syncthreads();
}

template <uint32_t kType, bool kNorm>
__global__ void __launch_bounds__(kThreads) matvec_kernel(MatvecArgs args, ActView x, int n_rows, NormIn norm) {
    const int lane = threadIdx.x % kWarp;
    const int g = blockIdx.x * (kThreads / kWarp) + threadIdx.x / kWarp;
    pdl_enter();
    if constexpr (kNorm) {
        // (n_rows, k) int8 + (n_rows, k/32) scales for Q8_0, else (n_rows, k) floats.
        extern __shared__ float4 shared_rows[];
        constexpr ActFormat fmt = kType == 8 ? ActFormat::Q8_0 : ActFormat::F32;
        int8_t* q = reinterpret_cast<int8_t*>(shared_rows);
        x.f = reinterpret_cast<float*>(shared_rows);
        x.q = q;
        x.d = reinterpret_cast<float*>(q + static_cast<size_t>(n_rows) * x.k);
        norm_rows_to_shared(norm, x.k, n_rows, fmt, x);
    }
    int i = 0;
    while (i < args.count && g >= args.first[i + 1]) i++;
    if (i >= args.count) return;
    const int o = g - args.first[i];
    const uint8_t* w = args.w[i] + static_cast<size_t>(o) * args.row_bytes[i];
    float acc[kMaxRows];
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) acc[r] = 0.0f;
    if constexpr (kType == 8) {
        row_q8_0(w, args.scale[i] + static_cast<size_t>(o) * scales_per_row(kType, x.k), x, n_rows, lane, acc);
    } else if constexpr (lowbit_type(kType)) {
        row_lowbit<kType>(w, args.scale[i] + static_cast<size_t>(o) * scales_per_row(kType, x.k), x, n_rows, lane, acc);
    } else if constexpr (kType == 30) {
        row_bf16(w, x, n_rows, lane, acc);
    } else if constexpr (kType == 1) {
        row_f16(w, x, n_rows, lane, acc);
    } else {
        row_f32(w, x, n_rows, lane, acc);
    }
    if (lane == 0) {
#pragma unroll
        for (int r = 0; r < kMaxRows; r++) {
            if (r < n_rows) {
                float* y = args.y[i] + static_cast<size_t>(r) * args.y_stride[i] + o;
                *y = args.add[i] ? *y + acc[r] : acc[r];
            }
        }
    }
}

// F32 weights without a fused norm (the MoE router, 2048 → 256 on the 35B-A3B shape): a block per
// output row, its 4 warps splitting k, so that a row's loads are in flight together (a warp per row
// waits on k/256 rounds of loads: 8 for the router, at 8 µs for 4 rows). Thread t sums values
// 8t … 8t + 7, 8(t + 128) …, in order, for every activation row; the lane sums meet by xor
// butterflies, then the warps' in warp order — the same operations whatever n_rows is.
__global__ void __launch_bounds__(kThreads) f32_rows_kernel(MatvecArgs args, ActView x, int n_rows) {
    __shared__ float part[kMaxRows][kThreads / kWarp];
    const int g = blockIdx.x, lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    int i = 0;  // the grid is one block per row of the launch's matrices
    while (i + 1 < args.count && g >= args.first[i + 1]) i++;
    const int o = g - args.first[i];
    const float* w = reinterpret_cast<const float*>(args.w[i] + static_cast<size_t>(o) * args.row_bytes[i]);
    pdl_enter();
    float acc[kMaxRows];
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) acc[r] = 0.0f;
    // Two rounds of a thread's values per pass, their weights loaded before either is used.
    constexpr int kStep = 8 * kThreads;
    for (int c0 = 8 * threadIdx.x; c0 < x.k; c0 += 2 * kStep) {
        float wv[2][8];
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const int c = c0 + u * kStep;
            float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f), b = a;
            if (c < x.k) {
                a = __ldg(reinterpret_cast<const float4*>(w + c));
                b = __ldg(reinterpret_cast<const float4*>(w + c + 4));
            }
            wv[u][0] = a.x, wv[u][1] = a.y, wv[u][2] = a.z, wv[u][3] = a.w;
            wv[u][4] = b.x, wv[u][5] = b.y, wv[u][6] = b.z, wv[u][7] = b.w;
        }
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const int c = c0 + u * kStep;
            if (c >= x.k) break;
#pragma unroll
            for (int r = 0; r < kMaxRows; r++) {
                if (r < n_rows) {
                    const float4* xp = reinterpret_cast<const float4*>(x.f + static_cast<size_t>(r) * x.k + c);
                    const float4 xa = xp[0], xb = xp[1];
                    const float xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
                    for (int j = 0; j < 8; j++) acc[r] += wv[u][j] * xv[j];
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < kMaxRows; r++) {
        if (r < n_rows) {
            const float v = warp_sum(acc[r]);
            if (lane == 0) part[r][warp] = v;
        }
    }
    __syncthreads();
    if (threadIdx.x < n_rows) {
        const int r = threadIdx.x;
        float total = part[r][0];
        for (int wi = 1; wi < kThreads / kWarp; wi++) total += part[r][wi];
        float* y = args.y[i] + static_cast<size_t>(r) * args.y_stride[i] + o;
        *y = args.add[i] ? *y + total : total;
    }
}

// One-row K-quant launches: 1 or 2 weight rows per warp (dispatch_kquant), and the blocks per SM the
// kernel is held to (registers 65536 / (128 · blocks)): as many as run without spilling, but Q4_K one
// row a warp — since the thirteenth session only launches too small for two rows — is held to 6 like
// the rest (8 also runs without spilling; the two were not compared on a device).
__host__ __device__ constexpr int kquant_min_blocks(uint32_t type, int out) { return type == 12 && out == 2 ? 5 : 6; }

// Warp g of the launch computes weight rows kOut·(g − firstw[i]) … of matrix i (firstw counting
// ceil(n_i / kOut) warps per matrix) for activation row 0; rows past a matrix's end are computed on
// its last row and not stored.
template <uint32_t kType, int kOut, bool kSwiglu = false>
__global__ void __launch_bounds__(kThreads, kquant_min_blocks(kType, kOut)) kquant_kernel(MatvecArgs args, ActView x) {
    const int lane = threadIdx.x % kWarp;
    const int g = blockIdx.x * (kThreads / kWarp) + threadIdx.x / kWarp;
    // kSwiglu (kOut = 2): warp g takes output o = g, its rows gate o and up o.
    static_assert(!kSwiglu || kOut == 2, "a SwiGLU warp takes a gate and an up row");
    int i = 0, first = 0;
    for (; i < args.count; i++) {
        const int n_i = args.first[i + 1] - args.first[i], warps = kSwiglu ? n_i : (n_i + kOut - 1) / kOut;
        if (g < first + warps) break;
        first += warps;
    }
    pdl_enter();
    if (i >= args.count) return;
    const int n = args.first[i + 1] - args.first[i], o0 = kSwiglu ? g - first : kOut * (g - first);
    const uint8_t* w[kOut];
    const float* w_d[kOut];
#pragma unroll
    for (int o = 0; o < kOut; o++) {
        const int row = min(kSwiglu ? o0 : o0 + o, n - 1);
        const bool up = kSwiglu && o == 1;
        w[o] = (up ? args.up_w : args.w[i]) + static_cast<size_t>(row) * args.row_bytes[i];
        w_d[o] = (up ? args.up_scale : args.scale[i]) + static_cast<size_t>(row) * scales_per_row(kType, x.k);
    }
    float acc[kOut];
#pragma unroll
    for (int o = 0; o < kOut; o++) acc[o] = 0.0f;
    rows_kquant<kType, kOut>(w, w_d, x, lane, acc);
#pragma unroll
    for (int o = 0; o < kOut; o++) acc[o] = warp_sum(acc[o]);
    if (lane == 0 && kSwiglu) {
        if (o0 < n) args.y[0][o0] = silu_cpu(acc[0]) * acc[kOut - 1];  // swiglu_kernel's arithmetic
    } else if (lane == 0) {
#pragma unroll
        for (int o = 0; o < kOut; o++) {
            if (o0 + o >= n) break;
            float* y = args.y[i] + o0 + o;
            *y = args.add[i] ? *y + acc[o] : acc[o];
        }
    }
}

// ---- K-quants × 2..8 activation rows on the tensor cores: rows_kquant's lane sums with the
// integer group dots from int8 mma.sync. A block takes 16 weight rows of one matrix and every
// activation row; its warp w takes lane slot w of rows_kquant — the super-blocks sb ≡ w (mod 4) — so
// the 32 lane sums of an output are split 8 per warp, each accumulated with the matvec's fmas in the
// matvec's super-block order. A warp streams its super-blocks of the 16 rows through kMmaStages
// shared-memory stages (cp.async, kMmaStages − 1 super-blocks ahead) and reads them as ldmatrix
// fragments; activation fragments come from global memory (L1). Thread (g, q) = (lane / 4, lane % 4)
// owns outputs o = 2·rh + c: weight row g + 8·rh, activation row 2q + c (up to 4 activation rows: the
// k32 layout of mma_stage_compute). At the end the warps' lane
// sums meet in shared memory and are added in rows_kquant's butterfly order. Activation rows past
// n_rows are computed on the last row's data and not stored (mma columns are independent).
// Stages per warp: as many as fit the 48 KiB of static shared memory for the 4 warps (Q4_K, Q5_K 4;
// Q6_K 3).
template <uint32_t kType>
constexpr int kMmaStages = kType == 14 ? 3 : 4;

// One stage: super-block sb of the 16 weight rows. The row strides are odd multiples of 16 bytes, so
// the 8 rows an ldmatrix reads land in distinct banks.
template <uint32_t kType>
struct alignas(16) MmaStage {
    static constexpr int kBlock = kquant_block_bytes(kType);
    uint8_t w[16][kBlock];
    float w_d[16];  // Q6_K d
};

// Bytes of shared memory of a block: the warps' stages, reused for the lane sums at the end.
template <uint32_t kType>
__host__ __device__ constexpr size_t mma_shared_bytes() {
    const size_t stages = sizeof(MmaStage<kType>) * kMmaStages<kType> * (kThreads / kWarp), sums = sizeof(float) * 4 * 8 * 4 * kWarp;
    return stages > sums ? stages : sums;
}

// What a lane copies of each super-block of its warp's 16 weight rows (o0 … o0 + 15 of a matrix of
// n rows, clamped to its last row): the 16-byte pieces c = lane, lane + 32, … of the stage, from
// byte offsets (< 4 GiB: launch_kquant_mma checks) of the rows' super-block 0 computed once.
// kSwiglu: the 16 rows are rows o0 … o0 + 7 of the gate (base, scale) and then the same rows of the
// up matrix (up, up_scale), o0 a multiple of 8.
template <uint32_t kType, bool kSwiglu = false>
struct MmaCopies {
    static constexpr int kPieces = MmaStage<kType>::kBlock / 16, kChunks = (16 * kPieces + kWarp - 1) / kWarp;
    const uint8_t* w;
    const uint8_t* w_up;  // kSwiglu
    uint32_t off[kChunks];
    uint32_t up_chunks = 0;  // kSwiglu: bit i set where piece lane + 32i is an up row's
    const float* d;  // Q6_K: the d of row lane (lanes < 16), (k/256) floats

    __device__ MmaCopies(const uint8_t* base, size_t row_bytes, const float* scale, int o0, int n, int nsb, int lane,
                         const uint8_t* up = nullptr, const float* up_scale = nullptr)
        : w(base), w_up(up) {
#pragma unroll
        for (int i = 0; i < kChunks; i++) {
            const int c = lane + kWarp * i, rr = c / kPieces;  // rr: the piece's row of the 16
            const int r = min(o0 + (kSwiglu ? rr % 8 : rr), n - 1);
            off[i] = static_cast<uint32_t>(static_cast<size_t>(r) * row_bytes) + 16 * (c % kPieces);
            if (kSwiglu && rr >= 8) up_chunks |= 1u << i;
        }
        const int rd = kSwiglu ? lane % 8 : lane % 16;
        d = kType == 14 ? (kSwiglu && lane % 16 >= 8 ? up_scale : scale) + static_cast<size_t>(min(o0 + rd, n - 1)) * nsb : nullptr;
    }
};

template <uint32_t kType, bool kSwiglu = false>
__device__ __forceinline__ void mma_stage_load(MmaStage<kType>& st, const MmaCopies<kType, kSwiglu>& m, int sb, int lane) {
    using C = MmaCopies<kType, kSwiglu>;
    const size_t at = static_cast<size_t>(sb) * MmaStage<kType>::kBlock;
    uint8_t* dst = &st.w[0][0];
#pragma unroll
    for (int i = 0; i < C::kChunks; i++) {
        const int c = lane + kWarp * i;  // = 16-byte piece c of the stage's rows (kBlock = 16·kPieces)
        const uint8_t* src = (kSwiglu && (m.up_chunks >> i) & 1u ? m.w_up : m.w) + at;
        if (c < 16 * C::kPieces) copy_async16(dst + 16 * c, src + m.off[i]);
    }
    if constexpr (kType == 14) {
        if (lane < 16) copy_async4(&st.w_d[lane], m.d + sb);
    }
}

// acc[o] += the scaled sums of rows_kquant's lane t = 2tp + odd (its sub-blocks' integer dot products
// s_lo / s_hi of the low / high 16 values) for the outputs o of a lane's C fragment: weight row
// g + 8·(o / 2), activation column c = o % 2 of the lane's pair, whose row scale is xd[c] and Q8_K
// sub-block sums sums[c]. odd may be a run-time value: the register arrays are indexed by tp alone.
template <uint32_t kType>
__device__ __forceinline__ void mma_scale_add(int tp, int odd, const int (&s_lo)[4], const int (&s_hi)[4], const uint32_t (&sc4)[2][2],
                                              const uint32_t (&m4)[2][2], const uint32_t (&s6)[2][4], const float (&d)[2],
                                              const float (&dmin)[2], const float (&xd)[2], const int (&sums)[2][4], float (&acc)[4]) {
#pragma unroll
    for (int o = 0; o < 4; o++) {
        const int rh = o / 2, c = o % 2;
        float& a = acc[o];
        if constexpr (kType == 14) {
            const int e16 = 8 * (tp / 2) + 2 * (tp % 2);  // rows_kquant's e_lo / 16 of t = 2tp; t = 2tp + 1 takes the next byte
            const int sc_lo = static_cast<int8_t>(s6[rh][e16 / 4] >> (8 * (e16 % 4 + odd)));
            const int sc_hi = static_cast<int8_t>(s6[rh][e16 / 4 + 1] >> (8 * (e16 % 4 + odd)));
            const int si = sc_lo * s_lo[o] + sc_hi * s_hi[o];
            a = __fmaf_rn(xd[c], d[rh] * static_cast<float>(si), a);
        } else {
            // Sub-blocks 2j, 2j + 1 (j = t / 2 = tp): bytes 2·(tp % 2), 2·(tp % 2) + 1 of word tp / 2 of
            // the packed scales and mins; the min term of a sub-block once, from its h = 0 lane.
            const uint32_t scw = sc4[rh][tp / 2], mw = odd ? 0u : m4[rh][tp / 2];
            const int si = kType == 12 ? dp2(pack16(s_lo[o], s_hi[o]), scw, tp % 2)
                                       : unsigned_byte(scw, 2 * (tp % 2)) * s_lo[o] + unsigned_byte(scw, 2 * (tp % 2) + 1) * s_hi[o];
            const int sm = dp2(sums[c][tp], mw, tp % 2);
            const float uo = __fmaf_rn(d[rh], static_cast<float>(si), -(dmin[rh] * static_cast<float>(sm)));
            a = __fmaf_rn(xd[c], uo, a);
        }
    }
}

// The lane sums (chains) a lane keeps for kHalf (up to 4 activation rows): 4, those of t = 2tp +
// q / 2 for activation rows 2·(q % 2) + c; else 8, t = 0 … 7 for activation rows 2q + c.
template <bool kHalf>
constexpr int kMmaChains = kHalf ? 4 : 8;

// The activation values a lane's mma_stage_compute reads of super-block sb: its B fragments for
// each lane pair tp (kHalf: groups 0 + bu and 2 + bu of mma_stage_compute's order; else groups 0 … 3),
// the two output rows' scales xd and Q8_K sub-block sums. kquant_mma_kernel loads them a round
// ahead: they come from L2 (no block reuses a super-block's activations), and a warp's wait for
// them was its first stall (ncu, the 4-row ffn_down: docs/device-runs.md, tenth session).
template <uint32_t kType, bool kHalf>
struct MmaX {
    int b[4][kHalf ? 2 : 4];
    float xd[2];
    int sums[2][4];  // Q4_K / Q5_K: int16 pairs, sub-blocks 2i, 2i + 1
};

template <uint32_t kType, bool kHalf>
__device__ __forceinline__ MmaX<kType, kHalf> mma_x_load(const ActView& x, int n_rows, int sb, int lane) {
    const int g = lane / 4, q = lane % 4;
    const int qc = kHalf ? q % 2 : q;  // the lane's output activation rows: 2qc, 2qc + 1
    const int bu = kHalf ? g / 4 : 0;  // kHalf: the B column g holds t = 2tp + bu's activations, row g % 4
    // Activation rows: of the B fragments and of the outputs, clamped to the batch.
    const int8_t* xq = x.q + static_cast<size_t>(min(kHalf ? g % 4 : g, n_rows - 1)) * x.k + 256 * sb + 4 * q;
    MmaX<kType, kHalf> v;
#pragma unroll
    for (int tp = 0; tp < 4; tp++) {
        // The 16-value activation groups m of lanes t = 2tp, 2tp + 1: [lo of t, lo of t + 1, hi of t,
        // hi of t + 1] — Q4_K/Q5_K segments 4tp … 4tp + 3; Q6_K b, b + 1, b + 4, b + 5 with b = 8·(tp / 2)
        // + 2·(tp % 2). kHalf reads group m + bu (m = 0, 2): its segment is m's + bu.
        const auto group = [&](int m) {
            const int seg = kType == 14 ? 8 * (tp / 2) + 2 * (tp % 2) + (m % 2) + 4 * (m / 2) : 4 * tp + 2 * (m / 2) + (m % 2);
            return __ldg(reinterpret_cast<const int*>(xq + 16 * seg));
        };
#pragma unroll
        for (int i = 0; i < (kHalf ? 2 : 4); i++) v.b[tp][i] = kHalf ? group(2 * i + bu) : group(i);
    }
#pragma unroll
    for (int c = 0; c < 2; c++) {
        const float* d_row = x.d + static_cast<size_t>(min(2 * qc + c, n_rows - 1)) * (x.k / 32);
        v.xd[c] = __ldg(d_row + sb);
#pragma unroll
        for (int i = 0; i < 4; i++) v.sums[c][i] = 0;
        if constexpr (kType != 14) {
            const int* s4 = reinterpret_cast<const int*>(q8k_sums(d_row, x.k) + 8 * sb);  // 4-byte aligned only
#pragma unroll
            for (int i = 0; i < 4; i++) v.sums[c][i] = __ldg(s4 + i);
        }
    }
    return v;
}

// Super-block sb of the stage, with its activations xs, into the lane's chains (rows_kquant's lane
// sums of lane 8·(sb % 4) + t).
// With up to 4 activation rows (kHalf) the products of lanes t = 2tp and 2tp + 1 come from one k32
// mma: A = [t's 16 values | t + 1's], B block-diagonal — columns 0…3 t's activations over k 0…15
// and zeros below, columns 4…7 zeros then t + 1's — so no column is padding and a lane scales 4
// products a pair instead of 8 (half of them padding). The integer products are the same, so are the
// chains.
template <uint32_t kType, bool kHalf>
__device__ __forceinline__ void mma_stage_compute(const MmaStage<kType>& st, const MmaX<kType, kHalf>& xs, int lane,
                                                  float (&acc)[kMmaChains<kHalf>][4]) {
    const int g = lane / 4, q = lane % 4;
    const int upper = kHalf ? q / 2 : 0;  // kHalf: the lane's products are of t = 2tp + upper
    const int bu = kHalf ? g / 4 : 0;     // kHalf: the B column g holds t = 2tp + bu's activations
    const int mrow = lane % 8 + 8 * (lane / 8 % 2);  // the weight row this lane addresses for ldmatrix
    // Weight-row scales: Q4_K / Q5_K 6-bit (sc, m) of the 8 sub-blocks packed 4 to a word (the
    // unpacking of k_scale_min_pair), d and dmin; Q6_K the 16 int8 scales and d.
    uint32_t sc4[2][2] = {}, m4[2][2] = {}, s6[2][4] = {};
    float d[2], dmin[2];
#pragma unroll
    for (int rh = 0; rh < 2; rh++) {
        const uint8_t* blk = st.w[g + 8 * rh];
        if constexpr (kType == 14) {
            const uint4 v = *reinterpret_cast<const uint4*>(blk + 192);
            s6[rh][0] = v.x, s6[rh][1] = v.y, s6[rh][2] = v.z, s6[rh][3] = v.w;
            d[rh] = st.w_d[g + 8 * rh];
            dmin[rh] = 0.0f;
        } else {
            const uint4 v = *reinterpret_cast<const uint4*>(blk);  // d, dmin | 12 scale bytes
            sc4[rh][0] = v.y & 0x3F3F3F3Fu;
            m4[rh][0] = v.z & 0x3F3F3F3Fu;
            sc4[rh][1] = (v.w & 0x0F0F0F0Fu) | ((v.y >> 2) & 0x30303030u);
            m4[rh][1] = ((v.w >> 4) & 0x0F0F0F0Fu) | ((v.z >> 2) & 0x30303030u);
            d[rh] = f16_bits(static_cast<uint16_t>(v.x & 0xFFFF));
            dmin[rh] = f16_bits(static_cast<uint16_t>(v.x >> 16));
        }
    }
    int qh5[4];  // Q5_K high bits: the 16 bytes of half h = 0 (rows g, g + 8), then of h = 1
    if constexpr (kType == 13) ldmatrix_x4(qh5, &st.w[mrow][16 + 16 * (lane / 16)]);
#pragma unroll
    for (int tp = 0; tp < 4; tp++) {  // lanes t = 2tp, 2tp + 1
        // A: the low bits of lanes 2tp and 2tp + 1 (16 bytes each), [t rows g, t rows g + 8, t + 1 …].
        const int t_addr = 2 * tp + lane / 16;
        const int w_seg = kType == 12 ? 16 + 16 * t_addr : kType == 13 ? 48 + 16 * t_addr : 16 * t_addr;
        int wa[4], wb[4] = {0, 0, 0, 0};
        ldmatrix_x4(wa, &st.w[mrow][w_seg]);
        if constexpr (kType == 14) ldmatrix_x4(wb, &st.w[mrow][128 + 32 * (tp / 2) + 16 * (lane / 16)]);  // their qh
        int lo[2][2], hi[2][2];  // [u][rh]: the weights of t = 2tp + u, rows g + 8·rh
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const int t = 2 * tp + u;
#pragma unroll
            for (int rh = 0; rh < 2; rh++) {
                const int v = wa[2 * u + rh];
                if constexpr (kType == 14) {
                    const int p1 = t % 4 / 2, qh = wb[2 * u + rh];
                    lo[u][rh] = __vsub4((v & 0x0F0F0F0F) | (((qh >> (2 * p1)) & 0x03030303) << 4), 0x20202020);
                    hi[u][rh] = __vsub4(((v >> 4) & 0x0F0F0F0F) | (((qh >> (2 * p1 + 4)) & 0x03030303) << 4), 0x20202020);
                } else {
                    lo[u][rh] = v & 0x0F0F0F0F;
                    hi[u][rh] = (v >> 4) & 0x0F0F0F0F;
                    if constexpr (kType == 13) {
                        const int j = t / 2, qh = qh5[2 * (t % 2) + rh];
                        lo[u][rh] |= ((qh >> (2 * j)) & 0x01010101) << 4;
                        hi[u][rh] |= ((qh >> (2 * j + 1)) & 0x01010101) << 4;
                    }
                }
            }
        }
        if constexpr (kHalf) {
            const int xlo = xs.b[tp][0], xhi = xs.b[tp][1];
            int s_lo[4], s_hi[4];
            mma_k32(s_lo, lo[0][0], lo[0][1], lo[1][0], lo[1][1], bu ? 0 : xlo, bu ? xlo : 0);
            mma_k32(s_hi, hi[0][0], hi[0][1], hi[1][0], hi[1][1], bu ? 0 : xhi, bu ? xhi : 0);
            mma_scale_add<kType>(tp, upper, s_lo, s_hi, sc4, m4, s6, d, dmin, xs.xd, xs.sums, acc[tp]);
        } else {
#pragma unroll
            for (int u = 0; u < 2; u++) {
                int s_lo[4], s_hi[4];
                mma_k16(s_lo, lo[u][0], lo[u][1], xs.b[tp][u]);
                mma_k16(s_hi, hi[u][0], hi[u][1], xs.b[tp][2 + u]);
                mma_scale_add<kType>(tp, u, s_lo, s_hi, sc4, m4, s6, d, dmin, xs.xd, xs.sums, acc[2 * tp + u]);
            }
        }
    }
}

// Block b of the launch: weight rows 16·(b − first) … of matrix i; kHalf for up to 4 activation rows.
// kSwiglu (launch_matvec_swiglu, one matrix: the gate): block b takes outputs 8b … 8b + 7 — gate
// rows as the tile's first 8, up rows as its last — and stores SiLU(gate) ⊙ up.
template <uint32_t kType, bool kHalf, bool kSwiglu = false>
__global__ void __launch_bounds__(kThreads, 4) kquant_mma_kernel(MatvecArgs args, ActView x, int n_rows) {
    __shared__ float4 shared[mma_shared_bytes<kType>() / sizeof(float4)];
    constexpr int kTileRows = kSwiglu ? 8 : 16;  // outputs a block
    const int lane = threadIdx.x % kWarp, slot = threadIdx.x / kWarp;
    int i = 0, first = 0;
    for (; i < args.count; i++) {
        const int tiles = (args.first[i + 1] - args.first[i] + kTileRows - 1) / kTileRows;
        if (static_cast<int>(blockIdx.x) < first + tiles) break;
        first += tiles;
    }
    if (i >= args.count) {
        pdl_enter();
        return;
    }
    const int n = args.first[i + 1] - args.first[i], o0 = kTileRows * (blockIdx.x - first), nsb = x.k / 256;
    const MmaCopies<kType, kSwiglu> m(args.w[i], args.row_bytes[i], args.scale[i], o0, n, nsb, lane, args.up_w, args.up_scale);
    constexpr int kStages = kMmaStages<kType>;
    MmaStage<kType>* stages = reinterpret_cast<MmaStage<kType>*>(shared) + kStages * slot;
    constexpr int kChains = kMmaChains<kHalf>;
    float acc[kChains][4];
#pragma unroll
    for (int t = 0; t < kChains; t++) {
#pragma unroll
        for (int o = 0; o < 4; o++) acc[t][o] = 0.0f;
    }
#pragma unroll
    for (int s = 0; s < kStages - 1; s++) {
        if (slot + 4 * s < nsb) mma_stage_load<kType, kSwiglu>(stages[s], m, slot + 4 * s, lane);
        commit_async();
    }
    pdl_enter();  // the stages above hold weights only
    // kHalf: the activations a round ahead (H200, 4 rows: the 27B shape's ffn_down 29.1 -> 27.3 us,
    // the LM head 311 -> 302; docs/BENCHMARKS.md, thirteenth session). 5–8 rows have no registers
    // for a second set (it spills: 8 rows 37.0 -> 40.9 us) and load the round's own.
    MmaX<kType, kHalf> xs;
    if constexpr (kHalf) xs = mma_x_load<kType, kHalf>(x, n_rows, min(slot, nsb - 1), lane);
    for (int it = 0; slot + 4 * it < nsb; it++) {
        const int sb = slot + 4 * it, ahead = sb + 4 * (kStages - 1);
        if (ahead < nsb) mma_stage_load<kType, kSwiglu>(stages[(it + kStages - 1) % kStages], m, ahead, lane);
        commit_async();
        // kHalf: the next round's (past the last, the last's again: a load, not a branch).
        const MmaX<kType, kHalf> xn = mma_x_load<kType, kHalf>(x, n_rows, kHalf ? min(sb + 4, nsb - 1) : sb, lane);
        wait_async<kStages - 1>();
        __syncwarp();
        mma_stage_compute<kType, kHalf>(stages[it % kStages], kHalf ? xs : xn, lane, acc);
        __syncwarp();  // the stage is refilled next round
        if constexpr (kHalf) xs = xn;
    }
    // The lane sums of slot w to shared memory (the stages are free once every warp is done) where
    // the 8-chain layout's lane holds them (kHalf: chain tp of lane (g, q) is t = 2tp + q / 2 of lane
    // (g, q % 2)), then warp w adds those of output w in rows_kquant's warp_sum order: lanes l and
    // l ^ 16 (slots s and s ^ 2), then l ^ 8 (slots s ^ 1), then t ^ 4, t ^ 2, t ^ 1.
    float(*sums)[8][4][kWarp] = reinterpret_cast<float(*)[8][4][kWarp]>(shared);
    wait_async<0>();
    __syncthreads();
#pragma unroll
    for (int c = 0; c < kChains; c++) {
        const int t = kHalf ? 2 * c + lane % 4 / 2 : c, l = kHalf ? lane - lane % 4 / 2 * 2 : lane;
#pragma unroll
        for (int o = 0; o < 4; o++) sums[slot][t][o][l] = acc[c][o];
    }
    __syncthreads();
    const int o = slot;
    float v[8];
#pragma unroll
    for (int t = 0; t < 8; t++) v[t] = (sums[0][t][o][lane] + sums[2][t][o][lane]) + (sums[1][t][o][lane] + sums[3][t][o][lane]);
    const float total = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
    const int row = o0 + lane / 4 + 8 * (o / 2), r = 2 * (lane % 4) + o % 2;
    if constexpr (kSwiglu) {
        // Warps 2, 3 hold the up rows' totals of warps 0, 1's gate rows (the same lane: output
        // o0 + lane / 4, activation row r).
        __shared__ float up_total[2][kWarp];
        if (o >= 2) up_total[o % 2][lane] = total;
        __syncthreads();
        const int out = o0 + lane / 4;
        if (o < 2 && out < n && r < n_rows) args.y[0][static_cast<size_t>(r) * args.y_stride[0] + out] = silu_cpu(total) * up_total[o][lane];
        return;
    }
    if (row < n && r < n_rows) {
        float* y = args.y[i] + static_cast<size_t>(r) * args.y_stride[i] + row;
        *y = args.add[i] ? *y + total : total;
    }
}

// Lanes per weight row of the expert kernel: a warp's 32, or for K-quant rows of one or two
// super-blocks (the 35B-A3B experts' down projection: 512 wide) the 8 or 16 lanes that hold
// anything, so that a warp takes 4 or 2 rows (lane_group_sum keeps the 1-row bits).
__host__ __device__ constexpr int expert_row_lanes(uint32_t type, int k) {
    return type == 12 || type == 13 || type == 14 ? (k <= 256 ? 8 : k <= 512 ? 16 : kWarp) : kWarp;
}

// Block (b, g): 4 warps of rows of the expert of group g (moe.cuh's groups), for each of the group's
// pairs p (activation row p / x_div, output row p) and each of the count matrices (an FFN's gate and
// up: one type, one shape), with the type's 1-row code. The rows come from memory once per batch
// (from L1 for a group's later pairs), and each pair's arithmetic is the 1-row matvec's whatever
// shares the batch.
template <uint32_t kType, int kCount>
__global__ void __launch_bounds__(kThreads) expert_kernel(ExpertArgs a, const int* ids, const int* groups, int n_pairs, ActView x,
                                                         int x_div) {
    pdl_enter();
    constexpr bool kKQuant = kType == 12 || kType == 13 || kType == 14;
    const int g = blockIdx.y;
    if (g >= groups[0]) return;
    const int lanes = expert_row_lanes(kType, x.k), lane = threadIdx.x % kWarp, sub_lane = lane % lanes;
    const int r = (blockIdx.x * (kThreads / kWarp) + threadIdx.x / kWarp) * (kWarp / lanes) + lane / lanes;
    if (lanes == kWarp && r >= a.rows) return;  // whole warps (a narrower group computes its last row again)
    const int *begin = groups + 1, *order = groups + 2 + n_pairs;
    const size_t row = static_cast<size_t>(ids[order[begin[g]]]) * a.rows + min(r, a.rows - 1);
    const uint8_t* wr[kCount];
    const float* wd[kCount];
#pragma unroll
    for (int i = 0; i < kCount; i++) {
        wr[i] = a.w[i].data + row * a.w[i].row_bytes;
        wd[i] = a.w[i].scale ? a.w[i].scale + row * scales_per_row(kType, x.k) : nullptr;
    }
    for (int m = begin[g]; m < begin[g + 1]; m++) {
        const int p = order[m];
        const ActView xv = x.rows_from(static_cast<size_t>(p / x_div));
        float v[kCount];
        if constexpr (kKQuant) {
#pragma unroll
            for (int i = 0; i < kCount; i++) v[i] = 0.0f;
            rows_kquant<kType, kCount>(wr, wd, xv, sub_lane, v);
#pragma unroll
            for (int i = 0; i < kCount; i++) v[i] = lane_group_sum(v[i], lanes);
        } else {
#pragma unroll
            for (int i = 0; i < kCount; i++) {
                float acc[kMaxRows] = {};
                if constexpr (kType == 8) {
                    row_q8_0(wr[i], wd[i], xv, 1, lane, acc);
                } else if constexpr (lowbit_type(kType)) {
                    row_lowbit<kType>(wr[i], wd[i], xv, 1, lane, acc);
                } else if constexpr (kType == 30) {
                    row_bf16(wr[i], xv, 1, lane, acc);
                } else if constexpr (kType == 1) {
                    row_f16(wr[i], xv, 1, lane, acc);
                } else {
                    row_f32(wr[i], xv, 1, lane, acc);
                }
                v[i] = acc[0];
            }
        }
        if (sub_lane == 0 && r < a.rows) {
#pragma unroll
            for (int i = 0; i < kCount; i++) a.y[i][static_cast<size_t>(p) * a.rows + r] = v[i];
        }
    }
}

__global__ void quantize_q8_0_kernel(ActView x) {
    pdl_enter();
    const int r = blockIdx.x;
    quantize_row_q8_0(x.f + static_cast<size_t>(r) * x.k, x.k, x.q + static_cast<size_t>(r) * x.k, x.d + static_cast<size_t>(r) * (x.k / 32));
}

// Block (g, r): 256-value blocks 4g … 4g + 3 of row r, a warp each.
__global__ void __launch_bounds__(kQ8kWarps * kWarp) quantize_q8_k_kernel(ActView x) {
    pdl_enter();
    const int lane = threadIdx.x % kWarp, b = blockIdx.x * kQ8kWarps + threadIdx.x / kWarp, r = blockIdx.y;
    if (b >= x.k / 256) return;
    const float4* src = reinterpret_cast<const float4*>(x.f + static_cast<size_t>(r) * x.k + 256 * b + 8 * lane);
    const float4 lo = src[0], hi = src[1];
    const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    quantize_lanes_q8_k(v, x.q + static_cast<size_t>(r) * x.k, x.d + static_cast<size_t>(r) * (x.k / 32), x.k, b, lane);
}

}  // namespace

bool repacked(uint32_t type) {
    switch (type) {
        case 8: case 14: case 2: case 6: case 20: case 39: case 11: case 16: case 17: case 22: case 18: case 21: return true;
        default: return false;
    }
}

namespace {

// Where a repacked type's block scale sits in the file's block, and its size: an f16 d, or MXFP4's
// E8M0 exponent byte.
struct ScaleField {
    int at, bytes;
};
ScaleField scale_field(uint32_t type) {
    switch (type) {
        case 14: return {208, 2};  // Q6_K: ql[128] qh[64] scales[16] d
        case 11: return {108, 2};  // Q3_K: hmask[32] qs[64] scales[12] d
        case 39: return {0, 1};    // MXFP4: e qs[16]
        default: return {0, 2};    // Q8_0, Q4_0, Q5_0, IQ4_NL, IQ2_*, IQ3_*: d first
    }
}

}  // namespace

RepackedMatrix repack_matrix(uint32_t type, const uint8_t* rows, size_t row_bytes, int k, int n) {
    RepackedMatrix m;
    if (!repacked(type)) return m;
    const TypeTraits* tt = type_traits(type);
    const ScaleField f = scale_field(type);
    const size_t nb = static_cast<size_t>(k) / tt->block_elems, file_block = tt->block_bytes, block = file_block - f.bytes;
    const size_t rest = file_block - f.at - f.bytes;  // bytes after the scale
    m.row_bytes = nb * block;
    m.data.resize(static_cast<size_t>(n) * m.row_bytes);
    m.scale.resize(static_cast<size_t>(n) * nb);
    for (size_t r = 0; r < static_cast<size_t>(n); r++) {
        for (size_t b = 0; b < nb; b++) {
            const uint8_t* src = rows + r * row_bytes + file_block * b;
            uint8_t* dst = &m.data[r * m.row_bytes + block * b];
            std::memcpy(dst, src, f.at);
            std::memcpy(dst + f.at, src + f.at + f.bytes, rest);
            uint16_t d;
            std::memcpy(&d, src + f.at, 2);
            m.scale[r * nb + b] = type == 39 ? e8m0_half(src[0]) : f16_to_f32(d);
        }
    }
    return m;
}

ActFormat act_format_for(uint32_t weight_type) {
    switch (weight_type) {
        case 8: case 2: case 6: case 20: case 39: return ActFormat::Q8_0;
        case 12: case 13: case 14: case 10: case 11: case 23: case 16: case 17: case 22: case 18: case 21: return ActFormat::Q8_K;
        default: return ActFormat::F32;
    }
}

cudaError_t launch_quantize(cudaStream_t stream, ActView x, int n_rows, ActFormat fmt) {
    if (fmt == ActFormat::F32) return cudaSuccess;
    if (n_rows <= 0 || x.k % (fmt == ActFormat::Q8_0 ? 32 : 256) != 0) return cudaErrorInvalidValue;
    if (fmt == ActFormat::Q8_0) return launch(quantize_q8_0_kernel, n_rows, 128, 0, stream, x);
    return launch(quantize_q8_k_kernel, q8k_grid(x.k, n_rows), kQ8kWarps * kWarp, 0, stream, x);
}

namespace {

// Arguments of one launch; false when the outputs do not share a type and k.
bool matvec_args(const MatvecOut* outs, int count, int k, MatvecArgs& args) {
    args = MatvecArgs{};
    args.count = count;
    for (int i = 0; i < count; i++) {
        const DevMatrix& w = *outs[i].w;
        if (w.type != outs[0].w->type || w.k != k) return false;
        args.w[i] = w.data;
        args.scale[i] = w.scale;
        args.row_bytes[i] = w.row_bytes;
        args.y[i] = outs[i].y;
        args.y_stride[i] = outs[i].y_stride;
        args.add[i] = outs[i].add ? 1 : 0;
        args.first[i + 1] = args.first[i] + w.n;
    }
    return true;
}

constexpr size_t kNormSharedBytes = 46 * 1024;  // under the 48 KiB default with the static partial sums

size_t norm_shared_bytes(uint32_t type, int k, int n_rows) {
    const size_t rows = static_cast<size_t>(n_rows);
    return type == 8 ? rows * k + rows * (k / 32) * sizeof(float) : rows * k * sizeof(float);
}

// 2..8 activation rows: a block per 16 weight rows of every matrix (up to 4 rows: the k32 layout).
template <uint32_t kType, bool kSwiglu = false>
cudaError_t launch_kquant_mma(cudaStream_t stream, const MatvecArgs& args, ActView x, int n_rows) {
    constexpr int kTileRows = kSwiglu ? 8 : 16;
    int tiles = 0;
    for (int i = 0; i < args.count; i++) {
        const int n = args.first[i + 1] - args.first[i];
        if (static_cast<size_t>(n) * args.row_bytes[i] > UINT32_MAX) return cudaErrorInvalidValue;  // MmaCopies' offsets
        tiles += (n + kTileRows - 1) / kTileRows;
    }
    if (n_rows <= 4) return launch(kquant_mma_kernel<kType, true, kSwiglu>, tiles, kThreads, 0, stream, args, x, n_rows);
    return launch(kquant_mma_kernel<kType, false, kSwiglu>, tiles, kThreads, 0, stream, args, x, n_rows);
}

// One activation row: a warp per kOut weight rows.
template <uint32_t kType, int kOut, bool kSwiglu = false>
cudaError_t launch_kquant(cudaStream_t stream, const MatvecArgs& args, ActView x) {
    constexpr int kWarps = kThreads / kWarp;
    int warps = 0;
    for (int i = 0; i < args.count; i++) {
        const int n_i = args.first[i + 1] - args.first[i];
        warps += kSwiglu ? n_i : (n_i + kOut - 1) / kOut;
    }
    return launch(kquant_kernel<kType, kOut, kSwiglu>, (warps + kWarps - 1) / kWarps, kThreads, 0, stream, args, x);
}

// One activation row: two weight rows a warp (the activation's loads and the per-super-block work
// shared), faster on the 27B shape's K-quant matrices (docs/BENCHMARKS.md, twelfth session) but
// - Q6_K rows wider than 8192 values: the two-row form loads a Q6_K super-block's scales when it
//   computes it (no registers to load them with the quants), a wait in each of such a row's rounds;
// - launches whose two-row blocks would not give every SM one (attention v, 1024 rows: 3.5 -> 4.7 us;
//   thirteenth session).
// Whether a one-row launch may take two weight rows a warp for rows of k values (the first exception).
__host__ constexpr bool kquant_two_rows_fit(uint32_t type, int k) { return type != 14 || k <= 8192; }

template <uint32_t kType>
cudaError_t dispatch_kquant(cudaStream_t stream, const MatvecArgs& args, ActView x, int n_rows) {
    if (n_rows > 1) return launch_kquant_mma<kType>(stream, args, x, n_rows);
    if (!kquant_two_rows_fit(kType, x.k)) return launch_kquant<kType, 1>(stream, args, x);
    const int warps_per_block = kThreads / kWarp, rows = args.first[args.count];
    if ((rows + 1) / 2 < warps_per_block * device_sm_count()) return launch_kquant<kType, 1>(stream, args, x);
    return launch_kquant<kType, 2>(stream, args, x);
}

// The low-bit types (matvec-lowbit.cuh): matvec_kernel, a warp per weight row.
cudaError_t dispatch_lowbit(cudaStream_t stream, uint32_t type, const MatvecArgs& args, ActView x, int n_rows, int blocks) {
#define MTP_LOWBIT_MATVEC(T) \
    case T: return launch(matvec_kernel<T, false>, blocks, kThreads, 0, stream, args, x, n_rows, NormIn{});
    switch (type) {
        MTP_LOWBIT_TYPES(MTP_LOWBIT_MATVEC)
        default: return cudaErrorInvalidValue;
    }
#undef MTP_LOWBIT_MATVEC
}

template <bool kNorm>
cudaError_t dispatch(cudaStream_t stream, uint32_t type, const MatvecArgs& args, ActView x, int n_rows, NormIn norm,
                     size_t shared) {
    const int blocks = (args.first[args.count] + kThreads / kWarp - 1) / (kThreads / kWarp);
    switch (type) {
        case 0:
            if constexpr (!kNorm) return launch(f32_rows_kernel, args.first[args.count], kThreads, 0, stream, args, x, n_rows);
            return launch(matvec_kernel<0, kNorm>, blocks, kThreads, shared, stream, args, x, n_rows, norm);
        case 1: return launch(matvec_kernel<1, kNorm>, blocks, kThreads, shared, stream, args, x, n_rows, norm);
        case 30: return launch(matvec_kernel<30, kNorm>, blocks, kThreads, shared, stream, args, x, n_rows, norm);
        case 8: return launch(matvec_kernel<8, kNorm>, blocks, kThreads, shared, stream, args, x, n_rows, norm);
        default:
            if constexpr (kNorm) return cudaErrorInvalidValue;
            switch (type) {
                case 12: return dispatch_kquant<12>(stream, args, x, n_rows);
                case 13: return dispatch_kquant<13>(stream, args, x, n_rows);
                case 14: return dispatch_kquant<14>(stream, args, x, n_rows);
                default: return dispatch_lowbit(stream, type, args, x, n_rows, blocks);
            }
    }
}

// Row layout checks shared by both launchers.
bool width_ok(uint32_t type, int k) {
    switch (type) {
        case 0: return k % 8 == 0;
        case 30: return k % 2 == 0;
        case 8: case 2: case 6: case 20: case 39: return k % 32 == 0;
        case 12: case 13: case 14: case 10: case 11: case 23: case 16: case 17: case 22: case 18: case 21: return k % 256 == 0;
        default: return true;
    }
}

}  // namespace

cudaError_t launch_matvec(cudaStream_t stream, const MatvecOut* outs, int count, ActView x, int n_rows) {
    if (count < 1 || count > kMaxOutputs || n_rows < 1 || n_rows > kMaxRows) return cudaErrorInvalidValue;
    const uint32_t type = outs[0].w->type;
    MatvecArgs args;
    if (!matvec_args(outs, count, x.k, args) || !width_ok(type, x.k)) return cudaErrorInvalidValue;
    return dispatch<false>(stream, type, args, x, n_rows, NormIn{}, 0);
}

cudaError_t launch_matvec_experts(cudaStream_t stream, const ExpertOut* outs, int count, int rows, const int* ids, const int* groups,
                                  int n_pairs, ActView x, int x_div) {
    if (count < 1 || count > 2 || rows <= 0 || n_pairs <= 0 || x_div <= 0) return cudaErrorInvalidValue;
    ExpertArgs a{};
    a.rows = rows;
    for (int i = 0; i < count; i++) {
        const DevMatrix& w = *outs[i].w;
        if (w.type != outs[0].w->type || w.k != x.k || w.n != outs[0].w->n || w.n % rows != 0 || !width_ok(w.type, x.k)) {
            return cudaErrorInvalidValue;
        }
        a.w[i] = w;
        a.y[i] = outs[i].y;
    }
    const uint32_t type = a.w[0].type;
    const int rows_per_block = kThreads / kWarp * (kWarp / expert_row_lanes(type, x.k));
    const dim3 grid((rows + rows_per_block - 1) / rows_per_block, n_pairs);
#define MTP_EXPERTS(T)                                                                                    \
    case T:                                                                                               \
        return count == 1 ? launch(expert_kernel<T, 1>, grid, kThreads, 0, stream, a, ids, groups, n_pairs, x, x_div) \
                          : launch(expert_kernel<T, 2>, grid, kThreads, 0, stream, a, ids, groups, n_pairs, x, x_div);
    switch (type) {
        MTP_EXPERTS(0)
        MTP_EXPERTS(1)
        MTP_EXPERTS(8)
        MTP_EXPERTS(12)
        MTP_EXPERTS(13)
        MTP_EXPERTS(14)
        MTP_EXPERTS(30)
        MTP_LOWBIT_TYPES(MTP_EXPERTS)
        default: return cudaErrorInvalidValue;
    }
#undef MTP_EXPERTS
}

bool matvec_swiglu_supported(const DevMatrix& gate, const DevMatrix& up, int n_rows) {
    // One row: the two-row form (a warp takes gate row o and up row o).
    const bool kquant = (gate.type == 12 || gate.type == 13 || gate.type == 14) && kquant_two_rows_fit(gate.type, gate.k);
    return n_rows >= 1 && n_rows <= kMaxRows && kquant && up.type == gate.type && up.k == gate.k && up.n == gate.n &&
           up.row_bytes == gate.row_bytes && width_ok(gate.type, gate.k);
}

cudaError_t launch_matvec_swiglu(cudaStream_t stream, const DevMatrix& gate, const DevMatrix& up, float* h, ActView x, int n_rows) {
    if (!matvec_swiglu_supported(gate, up, n_rows) || x.k != gate.k) return cudaErrorInvalidValue;
    const MatvecOut out{&gate, h, gate.n, false};
    MatvecArgs args;
    if (!matvec_args(&out, 1, x.k, args)) return cudaErrorInvalidValue;
    args.up_w = up.data;
    args.up_scale = up.scale;
    switch (gate.type) {
        case 12: return n_rows == 1 ? launch_kquant<12, 2, true>(stream, args, x) : launch_kquant_mma<12, true>(stream, args, x, n_rows);
        case 13: return n_rows == 1 ? launch_kquant<13, 2, true>(stream, args, x) : launch_kquant_mma<13, true>(stream, args, x, n_rows);
        default: return n_rows == 1 ? launch_kquant<14, 2, true>(stream, args, x) : launch_kquant_mma<14, true>(stream, args, x, n_rows);
    }
}

bool matvec_norm_supported(uint32_t weight_type, int k) {
    const bool fmt_ok = weight_type == 0 || weight_type == 1 || weight_type == 30 || weight_type == 8;
    return fmt_ok && width_ok(weight_type, k) && k % kWarp == 0 && norm_shared_bytes(weight_type, k, kMaxRows) <= kNormSharedBytes;
}

cudaError_t launch_matvec_norm(cudaStream_t stream, const MatvecOut* outs, int count, NormIn norm, int k, int n_rows) {
    if (count < 1 || count > kMaxOutputs || n_rows < 1 || n_rows > kMaxRows) return cudaErrorInvalidValue;
    const uint32_t type = outs[0].w->type;
    MatvecArgs args;
    if (!matvec_args(outs, count, k, args) || !matvec_norm_supported(type, k)) return cudaErrorInvalidValue;
    ActView x{};
    x.k = k;
    return dispatch<true>(stream, type, args, x, n_rows, norm, norm_shared_bytes(type, k, n_rows));
}

}  // namespace mtp::cuda
