// ggml tensor storage types on the CPU: block layouts (spec §7), exact dequantization, and the
// activation quantization + dot products llama.cpp's CPU backend uses for a weight × activation
// product (spec §3.11), so our logits round the way the oracle's do:
//   Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4 weight · activation quantized to Q8_0 (x86 AVX rule: id = 127/amax, round half to even)
//   Q4_1, Q5_1   · activation quantized to Q8_1 (Q8_0's rule, plus s = d · Σ q)
//   K-quant, IQ4_XS, IQ2_*, IQ3_* · activation quantized to Q8_K (per 256: iscale = -127/max, nearest even, clamp 127)
//   BF16 weight  · activation rounded to BF16 (nearest even);  F16 · F16;  F32 · F32.
// Written from the format description in the spec; no ggml code is copied.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mtp {

constexpr int QK8_0 = 32;
constexpr int QK_K = 256;

struct BlockQ8_0 {
    uint16_t d;        // f16 scale
    int8_t qs[QK8_0];
};
struct BlockQ4_K {
    uint16_t d, dmin;  // f16 super-block scale for scales / mins
    uint8_t scales[12];// 8 × (6-bit scale, 6-bit min), packed
    uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[QK_K / 8]; // bit 4 of each value
    uint8_t qs[QK_K / 2];
};
struct BlockQ6_K {
    uint8_t ql[QK_K / 2]; // low 4 bits
    uint8_t qh[QK_K / 4]; // high 2 bits
    int8_t scales[QK_K / 16];
    uint16_t d;
};
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[QK8_0 / 2];     // (q − 8) · d
};
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[QK8_0 / 2];     // q · d + m
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];             // bit 4 of value j at bit j (little endian)
    uint8_t qs[QK8_0 / 2];     // (q − 16) · d
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[QK8_0 / 2];     // q · d + m
};
// Activation format for Q4_1 / Q5_1 dot products: Q8_0 plus s = d · Σ qs (f16), for the min term.
struct BlockQ8_1 {
    uint16_t d, s;
    int8_t qs[QK8_0];
};
struct BlockQ2_K {
    uint8_t scales[QK_K / 16]; // per 16 values: low nibble scale, high nibble min
    uint8_t qs[QK_K / 4];      // 2-bit values
    uint16_t d, dmin;
};
struct BlockQ3_K {
    uint8_t hmask[QK_K / 8];   // high bit of each value (set: no −4 offset)
    uint8_t qs[QK_K / 4];      // low 2 bits
    uint8_t scales[12];        // 16 × 6-bit scales, packed
    uint16_t d;
};
struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[QK8_0 / 2];     // 4-bit indices into the non-linear value table
};
struct BlockIQ4_XS {
    uint16_t d;
    uint16_t scales_h;         // high 2 bits of the 8 sub-block scales
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
};
// IQ2_XXS … IQ3_S: each value is ±(a magnitude of a grid entry: 8 values for IQ2, 4 for IQ3; the
// grids are in iq-grids.h), with a sign bit per value and a 4-bit scale per 16 or 32 values. Where a
// 7-bit sign index is stored, it selects 8 sign bits from kIQSigns.
struct BlockIQ2_XXS {
    uint16_t d;
    uint8_t qs[QK_K / 4];      // per 32 values: 4 grid indices, then a u32 of 4 sign indices (bits 0-27) and the scale (28-31)
};
struct BlockIQ2_XS {
    uint16_t d;
    uint16_t qs[QK_K / 8];     // per 8 values: the 9-bit grid index, the sign index above it
    uint8_t scales[QK_K / 32]; // per 16 values a nibble, low nibble first
};
struct BlockIQ2_S {
    uint16_t d;
    uint8_t qs[QK_K / 8];      // per 8 values: low 8 bits of the 10-bit grid index
    uint8_t signs[QK_K / 8];   // per 8 values: bit j set, value j negative
    uint8_t qh[QK_K / 32];     // grid index bits 8-9, 2 bits per 8 values, low bits first
    uint8_t scales[QK_K / 32]; // per 16 values a nibble, low nibble first
};
struct BlockIQ3_XXS {
    uint16_t d;
    uint8_t qs[QK_K / 4];      // per 4 values: the grid index
    uint8_t scales_signs[QK_K / 8]; // per 32 values: a u32 of 4 sign indices (bits 0-27) and the scale (28-31)
};
struct BlockIQ3_S {
    uint16_t d;
    uint8_t qs[QK_K / 4];      // per 4 values: low 8 bits of the 9-bit grid index
    uint8_t qh[QK_K / 32];     // grid index bit 8, one bit per 4 values, low bits first
    uint8_t signs[QK_K / 8];   // per 8 values: bit j set, value j negative
    uint8_t scales[QK_K / 64]; // per 32 values a nibble, low nibble first
};
struct BlockMXFP4 {
    uint8_t e;                 // E8M0 shared exponent
    uint8_t qs[QK8_0 / 2];     // 4-bit E2M1 values
};
// Activation format for K-quant dot products (never stored in files).
struct BlockQ8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16]; // sums of each 16 qs, for the min terms
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 &&
              sizeof(BlockQ6_K) == 210 && sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 &&
              sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136 && sizeof(BlockMXFP4) == 17 &&
              sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 &&
              sizeof(BlockQ8_1) == 36 && sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 &&
              sizeof(BlockIQ2_S) == 82 && sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110,
              "ggml block layouts");

// The values of a 4-bit index (spec §7), also read by the CUDA kernels (matvec-lowbit.cuh): IQ4_NL /
// IQ4_XS the non-linear table, MXFP4 the E2M1 values doubled, Q4_0 the index − 8.
inline constexpr int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
inline constexpr int8_t kE2M1Doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
inline constexpr int8_t kNibbleMinus8[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

// Half of the E8M0 value 2^(e − 127), as a float's bits (e < 2: a subnormal): MXFP4's block scale
// for the doubled E2M1 values.
inline float e8m0_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

struct TypeTraits {
    const char* name;
    int block_elems;
    int block_bytes;
};

// nullptr for a type the engine does not execute.
const TypeTraits* type_traits(uint32_t type);
// Name for messages, also for types the engine refuses ("IQ1_S", "retired", "unknown").
const char* type_name(uint32_t type);

// f16 → f32 for all 65536 bit patterns: the dot products read F16 weights and KV entries through it.
const std::array<float, 65536>& f16_table();
inline float f16_to_f32(uint16_t h) { return f16_table()[h]; }
uint16_t f32_to_f16(float f);     // round to nearest even
uint16_t f32_to_bf16(float f);    // round to nearest even, NaN kept quiet
inline float bf16_to_f32(uint16_t h) {
    const uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
}
float round_to_f16(float f);      // f16_to_f32(f32_to_f16(f))

// Dequantizes n values (a multiple of the type's block size) starting at a block boundary.
void dequantize_row(uint32_t type, const void* src, float* dst, int64_t n);

// Bytes needed to hold one activation row of n values in the vec-dot format of `weight_type`.
size_t activation_row_bytes(uint32_t weight_type, int64_t n);
// Converts one activation row x (n) into that format.
void quantize_activation_row(uint32_t weight_type, const float* x, void* dst, int64_t n);
// Σ_i w[i]·x[i] for one weight row and one converted activation row, both n long.
float vec_dot(uint32_t weight_type, const void* w_row, const void* act_row, int64_t n);
// y[a · y_stride + r] = vec_dot(w row r, activation row a) for n_rows weight rows (w_stride bytes
// apart) and n_act activation rows (act_stride bytes apart), bitwise equal to vec_dot: a weight row
// is read once for all activation rows where a multi-row kernel exists (Q8_0 on AVX2).
void vec_dot_rows(uint32_t weight_type, const uint8_t* w_rows, size_t w_stride, int64_t n_rows, const uint8_t* act,
                  size_t act_stride, int n_act, int64_t n, float* y, size_t y_stride);

}  // namespace mtp
