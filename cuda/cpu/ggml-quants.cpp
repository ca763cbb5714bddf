// See ggml-quants.h. Hot loops are plain C++ compiled twice (MTP_HOT, hot.h), the multi-row Q8_0
// kernels are written with intrinsics for AVX2 and AVX512-VNNI and picked at run time.
#include "ggml-quants.h"
#include "hot.h"
#include "iq-grids.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MTP_X86_KERNELS 1
#endif


namespace mtp {

namespace {

const TypeTraits kF32{"F32", 1, 4};
const TypeTraits kF16{"F16", 1, 2};
const TypeTraits kBF16{"BF16", 1, 2};
const TypeTraits kQ8_0{"Q8_0", QK8_0, sizeof(BlockQ8_0)};
const TypeTraits kQ4_K{"Q4_K", QK_K, sizeof(BlockQ4_K)};
const TypeTraits kQ5_K{"Q5_K", QK_K, sizeof(BlockQ5_K)};
const TypeTraits kQ6_K{"Q6_K", QK_K, sizeof(BlockQ6_K)};
const TypeTraits kQ4_0{"Q4_0", QK8_0, sizeof(BlockQ4_0)};
const TypeTraits kQ4_1{"Q4_1", QK8_0, sizeof(BlockQ4_1)};
const TypeTraits kQ5_0{"Q5_0", QK8_0, sizeof(BlockQ5_0)};
const TypeTraits kQ5_1{"Q5_1", QK8_0, sizeof(BlockQ5_1)};
const TypeTraits kQ2_K{"Q2_K", QK_K, sizeof(BlockQ2_K)};
const TypeTraits kQ3_K{"Q3_K", QK_K, sizeof(BlockQ3_K)};
const TypeTraits kIQ4_NL{"IQ4_NL", QK8_0, sizeof(BlockIQ4_NL)};
const TypeTraits kIQ4_XS{"IQ4_XS", QK_K, sizeof(BlockIQ4_XS)};
const TypeTraits kMXFP4{"MXFP4", QK8_0, sizeof(BlockMXFP4)};
const TypeTraits kIQ2_XXS{"IQ2_XXS", QK_K, sizeof(BlockIQ2_XXS)};
const TypeTraits kIQ2_XS{"IQ2_XS", QK_K, sizeof(BlockIQ2_XS)};
const TypeTraits kIQ2_S{"IQ2_S", QK_K, sizeof(BlockIQ2_S)};
const TypeTraits kIQ3_XXS{"IQ3_XXS", QK_K, sizeof(BlockIQ3_XXS)};
const TypeTraits kIQ3_S{"IQ3_S", QK_K, sizeof(BlockIQ3_S)};

// The 256 2-bit values of a Q2_K block in element order, and its 16 (scale, min) nibbles.
inline void q2k_unpack(const BlockQ2_K& b, uint8_t* q) {
    for (int p = 0; p < QK_K; p++) q[p] = (b.qs[(p / 128) * 32 + p % 32] >> (2 * ((p % 128) / 32))) & 3;
}

// The 256 values (−4 … 3) of a Q3_K block in element order, and its 16 signed 6-bit scales.
inline void q3k_unpack(const BlockQ3_K& b, int8_t* q, int8_t* sc) {
    for (int p = 0; p < QK_K; p++) {
        const int low = (b.qs[(p / 128) * 32 + p % 32] >> (2 * ((p % 128) / 32))) & 3;
        const int high = (b.hmask[p % 32] >> (p / 32)) & 1;
        q[p] = static_cast<int8_t>(low - (high ? 0 : 4));
    }
    for (int j = 0; j < 16; j++) {
        const int low = (b.scales[j % 8] >> (4 * (j / 8))) & 0xF;
        const int high = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = static_cast<int8_t>((low | (high << 4)) - 32);
    }
}

// The 8 signed 6-bit sub-block scales of an IQ4_XS block.
inline int iq4xs_scale(const BlockIQ4_XS& b, int ib) {
    const int low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    const int high = (b.scales_h >> (2 * ib)) & 3;
    return (low | (high << 4)) - 32;
}

// IQ2_XXS / IQ3_XXS: the u32 at p (little endian) of a 32-value sub-block: its 4 sign indices → the
// sign bytes of its 4 groups of 8 values (signs: 4), its scale → both 16-value halves (sc: 2).
inline void iq_signs_scale(const uint8_t* p, uint8_t* signs, uint8_t* sc) {
    uint32_t aux;
    std::memcpy(&aux, p, 4);
    for (int k = 0; k < 4; k++) signs[k] = kIQSigns[(aux >> (7 * k)) & 127];
    sc[0] = sc[1] = static_cast<uint8_t>(aux >> 28);
}

// The 256 values of an IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS or IQ3_S block in element order as signed
// grid magnitudes (q: 256) and the 4-bit scale of each 16 values (sc: 16; the formats with a scale
// per 32 values give both halves the same one); returns the block's f16 d.
MTP_HOT uint16_t iq_grid_unpack(uint32_t type, const void* blk, int8_t* q, uint8_t* sc) {
    uint8_t signs[QK_K / 8];  // a byte per 8 values, bit j set: value j negative
    uint16_t d;
    // The grids' magnitudes are below 64, so their bytes copy as int8.
    switch (type) {
        case 16: {
            const BlockIQ2_XXS& b = *static_cast<const BlockIQ2_XXS*>(blk);
            for (int ib = 0; ib < QK_K / 32; ib++) {
                for (int k = 0; k < 4; k++) std::memcpy(q + 32 * ib + 8 * k, kIQ2XXSGrid[b.qs[8 * ib + k]], 8);
                iq_signs_scale(b.qs + 8 * ib + 4, signs + 4 * ib, sc + 2 * ib);
            }
            d = b.d;
            break;
        }
        case 17: {
            const BlockIQ2_XS& b = *static_cast<const BlockIQ2_XS*>(blk);
            for (int i = 0; i < QK_K / 8; i++) {
                std::memcpy(q + 8 * i, kIQ2XSGrid[b.qs[i] & 511], 8);
                signs[i] = kIQSigns[b.qs[i] >> 9];
            }
            for (int j = 0; j < QK_K / 16; j++) sc[j] = (b.scales[j / 2] >> (4 * (j % 2))) & 0xF;
            d = b.d;
            break;
        }
        case 22: {
            const BlockIQ2_S& b = *static_cast<const BlockIQ2_S*>(blk);
            for (int i = 0; i < QK_K / 8; i++) {
                std::memcpy(q + 8 * i, kIQ2SGrid[b.qs[i] | (((b.qh[i / 4] >> (2 * (i % 4))) & 3) << 8)], 8);
            }
            std::memcpy(signs, b.signs, sizeof signs);
            for (int j = 0; j < QK_K / 16; j++) sc[j] = (b.scales[j / 2] >> (4 * (j % 2))) & 0xF;
            d = b.d;
            break;
        }
        case 18: {
            const BlockIQ3_XXS& b = *static_cast<const BlockIQ3_XXS*>(blk);
            for (int i = 0; i < QK_K / 4; i++) std::memcpy(q + 4 * i, kIQ3XXSGrid[b.qs[i]], 4);
            for (int ib = 0; ib < QK_K / 32; ib++) iq_signs_scale(b.scales_signs + 4 * ib, signs + 4 * ib, sc + 2 * ib);
            d = b.d;
            break;
        }
        default: {  // 21, IQ3_S
            const BlockIQ3_S& b = *static_cast<const BlockIQ3_S*>(blk);
            for (int i = 0; i < QK_K / 4; i++) {
                std::memcpy(q + 4 * i, kIQ3SGrid[b.qs[i] | (((b.qh[i / 8] >> (i % 8)) & 1) << 8)], 4);
            }
            std::memcpy(signs, b.signs, sizeof signs);
            for (int j = 0; j < QK_K / 16; j++) sc[j] = (b.scales[j / 4] >> (4 * (j / 2 % 2))) & 0xF;
            d = b.d;
            break;
        }
    }
    // Without a branch (random signs would mispredict half the time): neg is 0 or −1, (v ^ neg) − neg = ±v.
    for (int e = 0; e < QK_K; e++) {
        const int neg = -((signs[e / 8] >> (e % 8)) & 1);
        q[e] = static_cast<int8_t>((q[e] ^ neg) - neg);
    }
    return d;
}

// Value i (0 … 31) of a 32-value block of 4-bit indices: nibble i / 16 of byte i % 16.
inline int nibble(const uint8_t* qs, int i) { return (qs[i % 16] >> (4 * (i / 16))) & 0xF; }
// Q5_0 / Q5_1: value i's 5 bits (its nibble and bit i of qh).
inline int five_bits(const uint8_t* qs, const uint8_t* qh, int i) { return nibble(qs, i) | (((qh[i / 8] >> (i % 8)) & 1) << 4); }

// out[i] = lut[nibble(qs, i)] for the 32 values of a block of 16 nibble bytes (one byte shuffle per
// half where the CPU has SSSE3/AVX2).
constexpr int8_t kNibble[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#ifdef MTP_X86_KERNELS
bool have_avx2();
__attribute__((target("avx2"))) void lut_nibbles_avx2(const uint8_t* qs, const int8_t* lut, int8_t* out) {
    const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lut));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m128i mask = _mm_set1_epi8(0x0F);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_shuffle_epi8(table, _mm_and_si128(bytes, mask)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(bytes, 4), mask)));
}
#endif
inline void lut_nibbles(const uint8_t* qs, const int8_t* lut, int8_t* out) {
#ifdef MTP_X86_KERNELS
    if (have_avx2()) {
        lut_nibbles_avx2(qs, lut, out);
        return;
    }
#endif
    for (int i = 0; i < 32; i++) out[i] = lut[nibble(qs, i)];
}

// Σ a[i]·b[i] of n int8 values (exact, so any vectorized order gives the same result).
MTP_HOT int32_t dot_i8(const int8_t* a, const int8_t* b, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

// The 6-bit scale and min of sub-block b (0..7) of a Q4_K/Q5_K block (spec §7.7).
inline void k_scale_min(const uint8_t* q, int b, uint8_t* sc, uint8_t* m) {
    if (b < 4) {
        *sc = q[b] & 63;
        *m = q[b + 4] & 63;
    } else {
        *sc = (q[b + 4] & 0xF) | ((q[b - 4] >> 6) << 4);
        *m = (q[b + 4] >> 4) | ((q[b] >> 6) << 4);
    }
}

// Unpacks a Q4_K (high_bits = nullptr) or Q5_K block to its 256 unsigned values (256) and the 8
// scales/mins, in element order: value 64g + l is the low nibble of qs[32g + l], 64g + 32 + l the high.
inline void k_unpack(const uint8_t* scales, const uint8_t* qs, const uint8_t* qh, uint8_t* q,
                     uint8_t* sc, uint8_t* m) {
    for (int b = 0; b < 8; b++) k_scale_min(scales, b, &sc[b], &m[b]);
    for (int g = 0; g < 4; g++) {
        for (int l = 0; l < 32; l++) {
            uint8_t lo = qs[32 * g + l] & 0xF;
            uint8_t hi = qs[32 * g + l] >> 4;
            if (qh) {
                lo |= ((qh[l] >> (2 * g)) & 1) << 4;
                hi |= ((qh[l] >> (2 * g + 1)) & 1) << 4;
            }
            q[64 * g + l] = lo;
            q[64 * g + 32 + l] = hi;
        }
    }
}

// Unpacks a Q6_K block to 256 signed values in [-32, 31] (spec §7.9); value e uses scales[e / 16].
inline void q6k_unpack(const BlockQ6_K& b, int8_t* q) {
    for (int n = 0; n < 2; n++) {
        const uint8_t* ql = b.ql + 64 * n;
        const uint8_t* qh = b.qh + 32 * n;
        int8_t* out = q + 128 * n;
        for (int l = 0; l < 32; l++) {
            out[l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

MTP_HOT void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float* xb = x + i * QK8_0;
        float amax = 0.0f;
#pragma omp simd reduction(max : amax)
        for (int j = 0; j < QK8_0; j++) amax = std::max(amax, std::fabs(xb[j]));
        // x86 AVX rule of llama.cpp (spec §3.11): scale from 127/amax, not 1/d; round half to even
        // (adding and subtracting 1.5 · 2^23 rounds |v| <= 127 to nearest even, and vectorizes).
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = f32_to_f16(d);
        constexpr float kRound = 12582912.0f;
#pragma omp simd
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = static_cast<int8_t>((xb[j] * id + kRound) - kRound);
    }
}

// Q8_1: the Q8_0 blocks, plus s = f16(d · Σ q) with d the unrounded scale (llama.cpp's x86 rule).
void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; b++) {
        BlockQ8_0 q;
        quantize_q8_0(x + b * QK8_0, &q, QK8_0);
        float amax = 0.0f;
        for (int i = 0; i < QK8_0; i++) amax = std::max(amax, std::fabs(x[b * QK8_0 + i]));
        const float d = amax / 127.0f;
        int32_t sum = 0;
        for (int i = 0; i < QK8_0; i++) sum += q.qs[i];
        y[b].d = q.d;
        y[b].s = f32_to_f16(d * static_cast<float>(sum));
        std::memcpy(y[b].qs, q.qs, QK8_0);
    }
}

void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float* xb = x + i * QK_K;
        float amax = 0.0f, max = 0.0f;  // max: the signed value of largest magnitude (first one)
        for (int j = 0; j < QK_K; j++) {
            if (std::fabs(xb[j]) > amax) {
                amax = std::fabs(xb[j]);
                max = xb[j];
            }
        }
        if (amax == 0.0f) {
            std::memset(&y[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = static_cast<int>(std::nearbyint(iscale * xb[j]));
            y[i].qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = static_cast<int16_t>(sum);
        }
        y[i].d = 1.0f / iscale;
    }
}

MTP_HOT float dot_f32(const float* w, const float* x, int64_t n) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; i++) sum += w[i] * x[i];
    return sum;
}

// 16-lane tree reduction in the order of x86's _mm512_reduce_add_ps (halves, then quarters, …).
inline float reduce_16_lanes(const float* c) {
    float l8[8], l4[4];
    for (int k = 0; k < 8; k++) l8[k] = c[k + 8] + c[k];
    for (int k = 0; k < 4; k++) l4[k] = l8[k + 4] + l8[k];
    return (l4[0] + l4[2]) + (l4[1] + l4[3]);
}

// BF16 dot product summed in the order of llama.cpp's single-row CPU kernel on AVX512-BF16 (the
// decode path of the oracle): two 16-lane accumulators over 64-value steps, each lane adding the
// odd then the even product of its pair (vdpbf16ps), tree-reduced, summed in double; the tail (n
// not a multiple of 64) added in double. Products of two BF16 values are exact in F32, so only the
// summation order matters, and it is fixed here, independent of the CPU running it.
MTP_HOT float dot_bf16(const uint16_t* w, const uint16_t* x, int64_t n) {
    float c1[16] = {}, c2[16] = {};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int j = 0; j < 16; j++) {
            c1[j] += bf16_to_f32(w[i + 2 * j + 1]) * bf16_to_f32(x[i + 2 * j + 1]);
            c1[j] += bf16_to_f32(w[i + 2 * j]) * bf16_to_f32(x[i + 2 * j]);
            c2[j] += bf16_to_f32(w[i + 32 + 2 * j + 1]) * bf16_to_f32(x[i + 32 + 2 * j + 1]);
            c2[j] += bf16_to_f32(w[i + 32 + 2 * j]) * bf16_to_f32(x[i + 32 + 2 * j]);
        }
    }
    double sum = static_cast<double>(reduce_16_lanes(c1));
    sum += static_cast<double>(reduce_16_lanes(c2));
    for (; i < n; i++) sum += static_cast<double>(bf16_to_f32(w[i]) * bf16_to_f32(x[i]));
    return static_cast<float>(sum);
}

float dot_f16(const uint16_t* w, const uint16_t* x, int64_t n) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += t[w[i]] * t[x[i]];
    return sum;
}

MTP_HOT float dot_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t nb) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += w[b].qs[j] * x[b].qs[j];
        sum += t[w[b].d] * t[x[b].d] * static_cast<float>(isum);
    }
    return sum;
}

#ifdef MTP_X86_KERNELS
// Q8_0 weight rows × activation rows with AVX2, 4 weight rows at a time: each weight block is loaded
// once for all activation rows. Per (weight row, activation row) the arithmetic is dot_q8_0's: the
// block's integer sum is exact whatever the order its products are added in, and the float
// accumulation sum += (d_w · d_x) · isum runs over the blocks in order, one vector lane per weight
// row — so every result is bitwise the same as dot_q8_0's, whatever the number of rows.
// Weights in [-128, 127], activations in [-127, 127] (quantize_q8_0 output): |w| · (x · sign w)
// stays exact in maddubs (pairs ≤ 2 · 128 · 127 < 2^15).
__attribute__((target("avx2"))) void dot_q8_0_rows4_avx2(const uint8_t* w0, size_t w_stride, const BlockQ8_0* const* xs,
                                                         int n_act, int64_t nb, float* y, size_t y_stride) {
    const float* t = f16_table().data();
    const BlockQ8_0* w[4];
    for (int r = 0; r < 4; r++) w[r] = reinterpret_cast<const BlockQ8_0*>(w0 + r * w_stride);
    const __m256i ones = _mm256_set1_epi16(1);
    constexpr int kMaxAct = 8;
    for (int t0 = 0; t0 < n_act; t0 += kMaxAct) {
        const int na = n_act - t0 < kMaxAct ? n_act - t0 : kMaxAct;
        __m128 acc[kMaxAct];
        for (int a = 0; a < na; a++) acc[a] = _mm_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            __m256i wq[4], wa[4];
            for (int r = 0; r < 4; r++) {
                wq[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].qs));
                wa[r] = _mm256_sign_epi8(wq[r], wq[r]);
            }
            const __m128 dw = _mm_set_ps(t[w[3][b].d], t[w[2][b].d], t[w[1][b].d], t[w[0][b].d]);
            for (int a = 0; a < na; a++) {
                const BlockQ8_0& xb = xs[t0 + a][b];
                const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
                __m256i v[4];
                for (int r = 0; r < 4; r++) {
                    v[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[r], _mm256_sign_epi8(xq, wq[r])), ones);
                }
                // lanes: [r0 r0 r1 r1 | r0 r0 r1 r1], …; then [r0 r1 r2 r3 | r0 r1 r2 r3]
                const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]);
                const __m256i h23 = _mm256_hadd_epi32(v[2], v[3]);
                const __m256i h = _mm256_hadd_epi32(h01, h23);
                const __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
                const __m128 scale = _mm_mul_ps(dw, _mm_set1_ps(t[xb.d]));
                acc[a] = _mm_add_ps(acc[a], _mm_mul_ps(scale, _mm_cvtepi32_ps(isum)));
            }
        }
        for (int a = 0; a < na; a++) _mm_storeu_ps(y + (t0 + a) * y_stride, acc[a]);
    }
}

// The same with AVX512-VNNI (256-bit, EVEX) and 8 weight rows at a time: the activation taken as
// unsigned (x + 128) against the signed weights in vpdpbusd, which accumulates in int32 without
// saturating; the accumulator starts at −128 · Σw so the block's integer sum is again exact.
__attribute__((target("avx2,f16c,avx512f,avx512vl,avx512vnni"))) void dot_q8_0_rows8_vnni(
    const uint8_t* w0, size_t w_stride, const BlockQ8_0* const* xs, int n_act, int64_t nb, float* y, size_t y_stride) {
    const float* t = f16_table().data();
    const BlockQ8_0* w[8];
    for (int r = 0; r < 8; r++) w[r] = reinterpret_cast<const BlockQ8_0*>(w0 + r * w_stride);
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    constexpr int kMaxAct = 8;
    for (int t0 = 0; t0 < n_act; t0 += kMaxAct) {
        const int na = n_act - t0 < kMaxAct ? n_act - t0 : kMaxAct;
        __m256 acc[kMaxAct];
        for (int a = 0; a < na; a++) acc[a] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            __m256i wq[8], nc[8];
            for (int r = 0; r < 8; r++) {
                wq[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].qs));
                nc[r] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, wq[r]));
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_set_epi16(static_cast<short>(w[7][b].d), static_cast<short>(w[6][b].d),
                                                            static_cast<short>(w[5][b].d), static_cast<short>(w[4][b].d),
                                                            static_cast<short>(w[3][b].d), static_cast<short>(w[2][b].d),
                                                            static_cast<short>(w[1][b].d), static_cast<short>(w[0][b].d)));
            for (int a = 0; a < na; a++) {
                const BlockQ8_0& xb = xs[t0 + a][b];
                const __m256i xu = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs)), bias);
                __m256i v[8];
                for (int r = 0; r < 8; r++) v[r] = _mm256_dpbusd_epi32(nc[r], xu, wq[r]);
                const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
                const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
                const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
                const __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                                                      _mm256_permute2x128_si256(h0123, h4567, 0x31));
                const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(t[xb.d]));
                acc[a] = _mm256_add_ps(acc[a], _mm256_mul_ps(scale, _mm256_cvtepi32_ps(isum)));
            }
        }
        for (int a = 0; a < na; a++) _mm256_storeu_ps(y + (t0 + a) * y_stride, acc[a]);
    }
}

bool have_vnni() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") &&
                            __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                            __builtin_cpu_supports("avx512vnni") && !std::getenv("MTP_NO_VNNI");
    return yes;
}

bool have_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2");
    return yes;
}
#endif

// Σ of the 16 products of each 16-value group of a super-block (s16: 16 sums).
MTP_HOT void group16_dots(const int8_t* q, const int8_t* q8, int32_t* s16) {
    for (int g = 0; g < QK_K / 16; g++) {
        int32_t s = 0;
        for (int l = 0; l < 16; l++) s += q[16 * g + l] * q8[16 * g + l];
        s16[g] = s;
    }
}

// Σ over a super-block of sc[j] · Σ_{16 values of group j} q·q8 (Q3_K).
MTP_HOT int32_t scaled16_block_dot(const int8_t* q, const int8_t* sc, const int8_t* q8) {
    int32_t s16[QK_K / 16];
    group16_dots(q, q8, s16);
    int32_t sumi = 0;
    for (int j = 0; j < QK_K / 16; j++) sumi += sc[j] * s16[j];
    return sumi;
}

// ---- Q4_K, Q5_K and Q6_K in the CUDA kernel's summation order (cuda/src/kernels/matvec.cu,
// row_kquant), so that both backends give the same bits: a 32-lane accumulator whose lane
// 8·(i % 4) + t takes 32 values of super-block i (below), scales their exact integer sums with
// explicit fmas, and the lanes are added by the kernel's xor butterfly.

float butterfly_sum(float* v) {
    for (int o = 16; o > 0; o >>= 1) {
        float w[32];
        for (int i = 0; i < 32; i++) w[i] = v[i] + v[i ^ o];
        std::memcpy(v, w, sizeof w);
    }
    return v[0];
}

// Lane t (0..7) of a super-block: Q4_K/Q5_K groups 4j + h and 4j + 2 + h (values 16h … of
// sub-blocks 2j and 2j + 1, j = t / 2, h = t % 2), the min term of both sub-blocks on h = 0;
// Q6_K groups g and g + 4, g = 8·(t / 4) + 2·(t % 4 / 2) + t % 2.
float dot_q4_k_or_q5_k(bool five_bit, const void* w, const BlockQ8_K* x, int64_t nb) {
    const float* t = f16_table().data();
    float acc[32] = {};
    for (int64_t i = 0; i < nb; i++) {
        uint8_t q[QK_K], sc[8], m[8];
        uint16_t d, dmin;
        if (five_bit) {
            const BlockQ5_K& b = static_cast<const BlockQ5_K*>(w)[i];
            k_unpack(b.scales, b.qs, b.qh, q, sc, m);
            d = b.d;
            dmin = b.dmin;
        } else {
            const BlockQ4_K& b = static_cast<const BlockQ4_K*>(w)[i];
            k_unpack(b.scales, b.qs, nullptr, q, sc, m);
            d = b.d;
            dmin = b.dmin;
        }
        int32_t s16[QK_K / 16];
        group16_dots(reinterpret_cast<const int8_t*>(q), x[i].qs, s16);  // the values are 0 … 31
        const int16_t* bs = x[i].bsums;
        for (int lane = 0; lane < 8; lane++) {
            const int j = lane / 2, h = lane % 2;
            const int32_t si = sc[2 * j] * s16[4 * j + h] + sc[2 * j + 1] * s16[4 * j + 2 + h];
            const int32_t sm = h ? 0 : m[2 * j] * (bs[4 * j] + bs[4 * j + 1]) + m[2 * j + 1] * (bs[4 * j + 2] + bs[4 * j + 3]);
            const float u = std::fma(t[d], static_cast<float>(si), -(t[dmin] * static_cast<float>(sm)));
            float& a = acc[8 * (i % 4) + lane];
            a = std::fma(x[i].d, u, a);
        }
    }
    return butterfly_sum(acc);
}

float dot_q6_k(const BlockQ6_K* w, const BlockQ8_K* x, int64_t nb) {
    const float* t = f16_table().data();
    float acc[32] = {};
    for (int64_t i = 0; i < nb; i++) {
        int8_t q[QK_K];
        q6k_unpack(w[i], q);
        int32_t s16[QK_K / 16];
        group16_dots(q, x[i].qs, s16);
        for (int lane = 0; lane < 8; lane++) {
            const int g = 8 * (lane / 4) + 2 * (lane % 4 / 2) + lane % 2;
            const int32_t si = w[i].scales[g] * s16[g] + w[i].scales[g + 4] * s16[g + 4];
            float& a = acc[8 * (i % 4) + lane];
            a = std::fma(x[i].d, t[w[i].d] * static_cast<float>(si), a);
        }
    }
    return butterfly_sum(acc);
}

// Q4_0 / Q5_0 · Q8_0: per block sum += (d_w·d_x)·Σ (q − offset)·q8; Q4_1 / Q5_1 · Q8_1: sum +=
// (d_w·d_x)·Σ q·q8 + m_w·s_x.
template <typename Block, bool kFive, bool kMin>
float dot_legacy(const Block* w, const void* act, int64_t nb) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const int8_t* q8;
        uint16_t dx, sx = 0;
        if constexpr (kMin) {
            const BlockQ8_1& x = static_cast<const BlockQ8_1*>(act)[i];
            q8 = x.qs, dx = x.d, sx = x.s;
        } else {
            const BlockQ8_0& x = static_cast<const BlockQ8_0*>(act)[i];
            q8 = x.qs, dx = x.d;
        }
        int8_t q[QK8_0];
        if constexpr (kFive) {
            lut_nibbles(w[i].qs, kNibble, q);
            for (int l = 0; l < QK8_0; l++) {
                q[l] = static_cast<int8_t>(q[l] + (((w[i].qh[l / 8] >> (l % 8)) & 1) << 4) - (kMin ? 0 : 16));
            }
        } else {
            lut_nibbles(w[i].qs, kMin ? kNibble : kNibbleMinus8, q);
        }
        const int32_t s = dot_i8(q, q8, QK8_0);
        if constexpr (kMin) sum += (t[w[i].d] * t[dx]) * static_cast<float>(s) + t[w[i].m] * t[sx];
        else sum += (t[w[i].d] * t[dx]) * static_cast<float>(s);
    }
    return sum;
}

// Q2_K · Q8_K: sum += x.d·d·Σ_j sc_j·(q·q8)_j − x.d·dmin·Σ_j m_j·Σq8_j, super-blocks in order.
float dot_q2_k(const BlockQ2_K* w, const BlockQ8_K* x, int64_t nb) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t q[QK_K];
        q2k_unpack(w[i], q);
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            const int32_t s = dot_i8(reinterpret_cast<const int8_t*>(q + 16 * j), x[i].qs + 16 * j, 16);  // values 0 … 3
            sumi += (w[i].scales[j] & 0xF) * s;
            summ += (w[i].scales[j] >> 4) * x[i].bsums[j];
        }
        sum += x[i].d * t[w[i].d] * static_cast<float>(sumi) - x[i].d * t[w[i].dmin] * static_cast<float>(summ);
    }
    return sum;
}

// Q3_K · Q8_K: sum += x.d·d·Σ_j sc_j·(q·q8)_j.
float dot_q3_k(const BlockQ3_K* w, const BlockQ8_K* x, int64_t nb) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8_t q[QK_K], sc[16];
        q3k_unpack(w[i], q, sc);
        sum += t[w[i].d] * x[i].d * static_cast<float>(scaled16_block_dot(q, sc, x[i].qs));
    }
    return sum;
}

// IQ4_XS · Q8_K: sum += d·x.d·Σ_ib ls_ib·Σ value(q)·q8 over the 8 sub-blocks of 32.
float dot_iq4_xs(const BlockIQ4_XS* w, const BlockQ8_K* x, int64_t nb) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t sumi = 0;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            int8_t v[32];
            lut_nibbles(w[i].qs + 16 * ib, kIQ4Values, v);
            sumi += iq4xs_scale(w[i], ib) * dot_i8(v, x[i].qs + 32 * ib, 32);
        }
        sum += t[w[i].d] * x[i].d * static_cast<float>(sumi);
    }
    return sum;
}

// IQ4_NL · Q8_0 and MXFP4 · Q8_0: per 32-block sum += (d_w·d_x)·Σ value(q)·q8.
float dot_iq4_nl(const BlockIQ4_NL* w, const BlockQ8_0* x, int64_t nb) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8_t v[32];
        lut_nibbles(w[i].qs, kIQ4Values, v);
        sum += (t[w[i].d] * t[x[i].d]) * static_cast<float>(dot_i8(v, x[i].qs, 32));
    }
    return sum;
}

float dot_mxfp4(const BlockMXFP4* w, const BlockQ8_0* x, int64_t nb) {
    const float* t = f16_table().data();
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8_t v[32];
        lut_nibbles(w[i].qs, kE2M1Doubled, v);
        sum += (e8m0_half(w[i].e) * t[x[i].d]) * static_cast<float>(dot_i8(v, x[i].qs, 32));
    }
    return sum;
}

// IQ2_XXS … IQ3_S · Q8_K: a value is d·(2s + 1)·k·q, k = 1/8 for the IQ2 types (gguf-py's
// d·(0.5 + s)·0.25), 1/4 for IQ3_XXS (d·(0.5 + s)·0.5), 1 for IQ3_S (d·(1 + 2s)); so per super-block
// sum += d·x.d·k·Σ_j (2 s_j + 1)·Σ_{16 values of j} q·q8, the sum exact in int32.
float dot_iq_grid(uint32_t type, const uint8_t* w, const BlockQ8_K* x, int64_t nb) {
    const float* t = f16_table().data();
    const size_t bytes = type_traits(type)->block_bytes;
    const float k = type == 21 ? 1.0f : type == 18 ? 0.25f : 0.125f;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8_t q[QK_K], m[QK_K / 16];
        uint8_t sc[QK_K / 16];
        const uint16_t d = iq_grid_unpack(type, w + i * bytes, q, sc);
        for (int j = 0; j < QK_K / 16; j++) m[j] = static_cast<int8_t>(2 * sc[j] + 1);
        sum += t[d] * x[i].d * k * static_cast<float>(scaled16_block_dot(q, m, x[i].qs));
    }
    return sum;
}

}  // namespace

const TypeTraits* type_traits(uint32_t type) {
    switch (type) {
        case 0: return &kF32;
        case 1: return &kF16;
        case 8: return &kQ8_0;
        case 12: return &kQ4_K;
        case 13: return &kQ5_K;
        case 14: return &kQ6_K;
        case 2: return &kQ4_0;
        case 3: return &kQ4_1;
        case 6: return &kQ5_0;
        case 7: return &kQ5_1;
        case 10: return &kQ2_K;
        case 11: return &kQ3_K;
        case 20: return &kIQ4_NL;
        case 23: return &kIQ4_XS;
        case 39: return &kMXFP4;
        case 16: return &kIQ2_XXS;
        case 17: return &kIQ2_XS;
        case 22: return &kIQ2_S;
        case 18: return &kIQ3_XXS;
        case 21: return &kIQ3_S;
        case 30: return &kBF16;
        default: return nullptr;
    }
}

const char* type_name(uint32_t type) {
    static const char* const names[] = {"F32",    "F16",    "Q4_0",    "Q4_1",   "retired", "retired",  "Q5_0",
                                        "Q5_1",   "Q8_0",   "Q8_1",    "Q2_K",   "Q3_K",   "Q4_K",    "Q5_K",
                                        "Q6_K",   "Q8_K",   "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",  "IQ4_NL",
                                        "IQ3_S",  "IQ2_S",  "IQ4_XS",  "I8",     "I16",    "I32",     "I64",
                                        "F64",    "IQ1_M",  "BF16",    "retired", "retired", "retired", "TQ1_0",
                                        "TQ2_0",  "retired", "retired", "retired", "MXFP4", "NVFP4",  "Q1_0",
                                        "Q2_0"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

namespace {

// IEEE binary16 → binary32, exact (written out so that no compiler _Float16 support is needed).
float f16_bits_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        const float sub = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal
        std::memcpy(&bits, &sub, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0);  // inf / quiet NaN, as F16C converts
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// value >> shift rounded to nearest even (1 <= shift <= 24).
uint32_t round_shift(uint32_t value, uint32_t shift) {
    uint32_t q = value >> shift;
    const uint32_t rest = value & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1))) q++;
    return q;
}

}  // namespace

const std::array<float, 65536>& f16_table() {
    static const std::array<float, 65536> table = [] {
        std::array<float, 65536> t{};
        for (uint32_t i = 0; i < 65536; i++) t[i] = f16_bits_to_f32(static_cast<uint16_t>(i));
        return t;
    }();
    return table;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const uint32_t sign = (u >> 16) & 0x8000;
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00 | ((abs >> 13) & 0x3ff));  // NaN stays NaN
    if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00);                         // >= 2^16: inf
    const uint32_t e = abs >> 23;
    if (e < 113) {  // below 2^-14: an f16 subnormal (units of 2^-24) or zero
        const uint32_t shift = 126 - e;
        return static_cast<uint16_t>(shift > 24 ? sign : sign | round_shift((abs & 0x7fffff) | 0x800000, shift));
    }
    // A rounding carry out of the mantissa ripples into the exponent (up to inf): the right encoding.
    return static_cast<uint16_t>(sign | (((e - 112) << 10) + round_shift(abs & 0x7fffff, 13)));
}

float round_to_f16(float f) { return f16_to_f32(f32_to_f16(f)); }

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);  // quiet NaN
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

void dequantize_row(uint32_t type, const void* src, float* dst, int64_t n) {
    switch (type) {
        case 0: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
        case 1:
            for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(static_cast<const uint16_t*>(src)[i]);
            return;
        case 30:
            for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
            return;
        case 8: {
            const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
            for (int64_t i = 0; i < n / QK8_0; i++) {
                const float d = f16_to_f32(b[i].d);
                for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = d * static_cast<float>(b[i].qs[j]);
            }
            return;
        }
        case 12:
        case 13:
            for (int64_t i = 0; i < n / QK_K; i++) {
                uint8_t q[QK_K], sc[8], m[8];
                uint16_t dh, dminh;
                if (type == 13) {
                    const BlockQ5_K& b = static_cast<const BlockQ5_K*>(src)[i];
                    k_unpack(b.scales, b.qs, b.qh, q, sc, m);
                    dh = b.d;
                    dminh = b.dmin;
                } else {
                    const BlockQ4_K& b = static_cast<const BlockQ4_K*>(src)[i];
                    k_unpack(b.scales, b.qs, nullptr, q, sc, m);
                    dh = b.d;
                    dminh = b.dmin;
                }
                const float d = f16_to_f32(dh), dmin = f16_to_f32(dminh);
                for (int e = 0; e < QK_K; e++) {
                    const float d1 = d * static_cast<float>(sc[e / 32]);
                    const float m1 = dmin * static_cast<float>(m[e / 32]);
                    dst[i * QK_K + e] = d1 * static_cast<float>(q[e]) - m1;
                }
            }
            return;
        case 14: {
            const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
            for (int64_t i = 0; i < n / QK_K; i++) {
                int8_t q[QK_K];
                q6k_unpack(b[i], q);
                const float d = f16_to_f32(b[i].d);
                for (int e = 0; e < QK_K; e++) {
                    dst[i * QK_K + e] = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>(q[e]);
                }
            }
            return;
        }
        // gguf-py's operation order: d · (q − offset), or d · q + m.
        case 2: case 3: case 6: case 7: {
            const size_t bytes = type_traits(type)->block_bytes;
            for (int64_t i = 0; i < n / QK8_0; i++) {
                const uint8_t* blk = static_cast<const uint8_t*>(src) + i * bytes;
                uint16_t dh, mh = 0;
                std::memcpy(&dh, blk, 2);
                if (type == 3 || type == 7) std::memcpy(&mh, blk + 2, 2);
                const float d = f16_to_f32(dh), m = f16_to_f32(mh);
                for (int e = 0; e < QK8_0; e++) {
                    float v;
                    switch (type) {
                        case 2: v = d * static_cast<float>(nibble(blk + 2, e) - 8); break;
                        case 3: v = d * static_cast<float>(nibble(blk + 4, e)) + m; break;
                        case 6: v = d * static_cast<float>(five_bits(blk + 6, blk + 2, e) - 16); break;
                        default: v = d * static_cast<float>(five_bits(blk + 8, blk + 4, e)) + m; break;
                    }
                    dst[i * QK8_0 + e] = v;
                }
            }
            return;
        }
        // gguf-py's operation order: (d · scale) · q − (dmin · min), per 16 values.
        case 10: {
            const BlockQ2_K* b = static_cast<const BlockQ2_K*>(src);
            for (int64_t i = 0; i < n / QK_K; i++) {
                uint8_t q[QK_K];
                q2k_unpack(b[i], q);
                const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
                for (int e = 0; e < QK_K; e++) {
                    const float dl = d * static_cast<float>(b[i].scales[e / 16] & 0xF);
                    const float ml = dmin * static_cast<float>(b[i].scales[e / 16] >> 4);
                    dst[i * QK_K + e] = dl * static_cast<float>(q[e]) - ml;
                }
            }
            return;
        }
        case 11: {
            const BlockQ3_K* b = static_cast<const BlockQ3_K*>(src);
            for (int64_t i = 0; i < n / QK_K; i++) {
                int8_t q[QK_K], sc[16];
                q3k_unpack(b[i], q, sc);
                const float d = f16_to_f32(b[i].d);
                for (int e = 0; e < QK_K; e++) dst[i * QK_K + e] = (d * static_cast<float>(sc[e / 16])) * static_cast<float>(q[e]);
            }
            return;
        }
        case 20: {
            const BlockIQ4_NL* b = static_cast<const BlockIQ4_NL*>(src);
            for (int64_t i = 0; i < n / QK8_0; i++) {
                const float d = f16_to_f32(b[i].d);
                for (int e = 0; e < QK8_0; e++) dst[i * QK8_0 + e] = d * static_cast<float>(kIQ4Values[nibble(b[i].qs, e)]);
            }
            return;
        }
        case 23: {
            const BlockIQ4_XS* b = static_cast<const BlockIQ4_XS*>(src);
            for (int64_t i = 0; i < n / QK_K; i++) {
                const float d = f16_to_f32(b[i].d);
                for (int e = 0; e < QK_K; e++) {
                    const float dl = d * static_cast<float>(iq4xs_scale(b[i], e / 32));
                    dst[i * QK_K + e] = dl * static_cast<float>(kIQ4Values[nibble(b[i].qs + 16 * (e / 32), e % 32)]);
                }
            }
            return;
        }
        case 39: {
            const BlockMXFP4* b = static_cast<const BlockMXFP4*>(src);
            for (int64_t i = 0; i < n / QK8_0; i++) {
                const float d = e8m0_half(b[i].e);
                for (int e = 0; e < QK8_0; e++) dst[i * QK8_0 + e] = d * static_cast<float>(kE2M1Doubled[nibble(b[i].qs, e)]);
            }
            return;
        }
        // gguf-py's operation order: db = d·(0.5 + s)·0.25 (IQ2), d·(0.5 + s)·0.5 (IQ3_XXS) or d·(1 + 2s)
        // (IQ3_S), then db · grid · sign (the sign's factor ±1 commutes with the rounding).
        case 16: case 17: case 18: case 21: case 22: {
            const size_t bytes = type_traits(type)->block_bytes;
            for (int64_t i = 0; i < n / QK_K; i++) {
                int8_t q[QK_K];
                uint8_t sc[QK_K / 16];
                const float d = f16_to_f32(iq_grid_unpack(type, static_cast<const uint8_t*>(src) + i * bytes, q, sc));
                for (int e = 0; e < QK_K; e++) {
                    const uint8_t s = sc[e / 16];
                    const float db = type == 21 ? d * static_cast<float>(1 + 2 * s)
                                                : d * (0.5f + static_cast<float>(s)) * (type == 18 ? 0.5f : 0.25f);
                    dst[i * QK_K + e] = db * static_cast<float>(q[e]);
                }
            }
            return;
        }
        default: return;  // callers check type_traits first
    }
}

size_t activation_row_bytes(uint32_t weight_type, int64_t n) {
    switch (weight_type) {
        case 0: return static_cast<size_t>(n) * 4;
        case 1:
        case 30: return static_cast<size_t>(n) * 2;
        case 8: case 2: case 6: case 20: case 39: return static_cast<size_t>(n / QK8_0) * sizeof(BlockQ8_0);
        case 3: case 7: return static_cast<size_t>(n / QK8_0) * sizeof(BlockQ8_1);
        default: return static_cast<size_t>(n / QK_K) * sizeof(BlockQ8_K);
    }
}

void quantize_activation_row(uint32_t weight_type, const float* x, void* dst, int64_t n) {
    switch (weight_type) {
        case 0: std::memcpy(dst, x, static_cast<size_t>(n) * 4); return;
        case 1:
            for (int64_t i = 0; i < n; i++) static_cast<uint16_t*>(dst)[i] = f32_to_f16(x[i]);
            return;
        case 30:
            for (int64_t i = 0; i < n; i++) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(x[i]);
            return;
        case 8: case 2: case 6: case 20: case 39: quantize_q8_0(x, static_cast<BlockQ8_0*>(dst), n); return;
        case 3: case 7: quantize_q8_1(x, static_cast<BlockQ8_1*>(dst), n); return;
        default: quantize_q8_k(x, static_cast<BlockQ8_K*>(dst), n); return;
    }
}

float vec_dot(uint32_t weight_type, const void* w_row, const void* act_row, int64_t n) {
    switch (weight_type) {
        case 0: return dot_f32(static_cast<const float*>(w_row), static_cast<const float*>(act_row), n);
        case 1: return dot_f16(static_cast<const uint16_t*>(w_row), static_cast<const uint16_t*>(act_row), n);
        case 30: return dot_bf16(static_cast<const uint16_t*>(w_row), static_cast<const uint16_t*>(act_row), n);
        case 8:
            return dot_q8_0(static_cast<const BlockQ8_0*>(w_row), static_cast<const BlockQ8_0*>(act_row), n / QK8_0);
        case 12: return dot_q4_k_or_q5_k(false, w_row, static_cast<const BlockQ8_K*>(act_row), n / QK_K);
        case 13: return dot_q4_k_or_q5_k(true, w_row, static_cast<const BlockQ8_K*>(act_row), n / QK_K);
        case 14: return dot_q6_k(static_cast<const BlockQ6_K*>(w_row), static_cast<const BlockQ8_K*>(act_row), n / QK_K);
        case 2: return dot_legacy<BlockQ4_0, false, false>(static_cast<const BlockQ4_0*>(w_row), act_row, n / QK8_0);
        case 3: return dot_legacy<BlockQ4_1, false, true>(static_cast<const BlockQ4_1*>(w_row), act_row, n / QK8_0);
        case 6: return dot_legacy<BlockQ5_0, true, false>(static_cast<const BlockQ5_0*>(w_row), act_row, n / QK8_0);
        case 7: return dot_legacy<BlockQ5_1, true, true>(static_cast<const BlockQ5_1*>(w_row), act_row, n / QK8_0);
        case 10: return dot_q2_k(static_cast<const BlockQ2_K*>(w_row), static_cast<const BlockQ8_K*>(act_row), n / QK_K);
        case 11: return dot_q3_k(static_cast<const BlockQ3_K*>(w_row), static_cast<const BlockQ8_K*>(act_row), n / QK_K);
        case 23: return dot_iq4_xs(static_cast<const BlockIQ4_XS*>(w_row), static_cast<const BlockQ8_K*>(act_row), n / QK_K);
        case 20: return dot_iq4_nl(static_cast<const BlockIQ4_NL*>(w_row), static_cast<const BlockQ8_0*>(act_row), n / QK8_0);
        case 39: return dot_mxfp4(static_cast<const BlockMXFP4*>(w_row), static_cast<const BlockQ8_0*>(act_row), n / QK8_0);
        case 16: case 17: case 18: case 21: case 22:
            return dot_iq_grid(weight_type, static_cast<const uint8_t*>(w_row), static_cast<const BlockQ8_K*>(act_row), n / QK_K);
        default: return 0.0f;  // callers check type_traits first
    }
}

void vec_dot_rows(uint32_t weight_type, const uint8_t* w_rows, size_t w_stride, int64_t n_rows, const uint8_t* act,
                  size_t act_stride, int n_act, int64_t n, float* y, size_t y_stride) {
    int64_t r = 0;
#ifdef MTP_X86_KERNELS
    if (weight_type == 8 && have_avx2() && n_act <= 64) {
        const BlockQ8_0* xs[64];
        for (int a = 0; a < n_act; a++) xs[a] = reinterpret_cast<const BlockQ8_0*>(act + a * act_stride);
        if (have_vnni()) {
            const size_t group = 8 * w_stride;  // the bytes of 8 rows, contiguous
            for (; r + 8 <= n_rows; r += 8) {
                const uint8_t* next = w_rows + (r + 16) * w_stride;
                if (r + 24 <= n_rows) {
                    for (size_t o = 0; o < group; o += 64) _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
                }
                dot_q8_0_rows8_vnni(w_rows + r * w_stride, w_stride, xs, n_act, n / QK8_0, y + r, y_stride);
            }
        }
        const size_t group = 4 * w_stride;  // the bytes of 4 rows, contiguous
        for (; r + 4 <= n_rows; r += 4) {
            // Stream the weights: ask for the group after next while this one is computed.
            const uint8_t* next = w_rows + (r + 8) * w_stride;
            if (r + 12 <= n_rows) {
                for (size_t o = 0; o < group; o += 64) _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
            }
            dot_q8_0_rows4_avx2(w_rows + r * w_stride, w_stride, xs, n_act, n / QK8_0, y + r, y_stride);
        }
    }
#endif
    for (; r < n_rows; r++) {
        const uint8_t* row = w_rows + r * w_stride;
        for (int a = 0; a < n_act; a++) y[a * y_stride + r] = vec_dot(weight_type, row, act + a * act_stride, n);
    }
}

}  // namespace mtp
