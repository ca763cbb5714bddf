// Dot products of one weight row of a low-bit type with 1..8 activation rows, in the CPU backend's
// summation order (cpu/ggml-quants.cpp), so both backends give the same bits. Included by matvec.cu
// inside its unnamed namespace, after lowbit-tables.cuh and the helpers it uses (add_q8_0_block,
// load16, unsigned_byte); matvec_kernel and expert_kernel call these row functions.
//
// Two families, each computing the exact integer sums of a block in parallel and then adding the
// block's float term — the CPU's expression, evaluated in its order — block after block in order:
//
// 32-value blocks (Q4_0, Q5_0, IQ4_NL, MXFP4) · Q8_0 activations (dot_legacy, dot_iq4_nl,
// dot_mxfp4): sum += (d_w · d_x) · isum, as row_q8_0. Device layout (repack_matrix): each block
// without its scale — the 16 bytes of 4-bit indices (Q5_0: after its 4 bytes of fifth bits, 20 in
// all) — and the scale as a float, (n, k/32): the f16 d, or MXFP4's E8M0 halved (e8m0_half). Lane l
// takes block 32i + l; its 4-bit indices become values through byte_perm lookups of the format's
// table (lowbit-tables.cuh), Q5_0's through its fifth bit, − 16.
//
// 256-value super-blocks · Q8_K activations, super-blocks added in order as the CPU does:
//   Q2_K    (dot_q2_k):    sum += x.d·d·Σ sc·(q·q8) − x.d·dmin·Σ m·Σq8
//   Q3_K    (dot_q3_k):    sum += d·x.d·Σ sc·(q·q8)
//   IQ4_XS  (dot_iq4_xs):  sum += d·x.d·Σ ls·(q·q8)
//   IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S (dot_iq_grid): sum += d·x.d·k·Σ (2s + 1)·(q·q8),
//           k = 1/8 (IQ2), 1/4 (IQ3_XXS), 1 (IQ3_S)
// (each product evaluated left to right, as the C++ does). 8 lanes share a super-block, lane t
// decoding 32 of its values into packed int8 with the integer scale of each 8; the 8 lanes' integer
// sums are added by xor shuffles (exact), and the warp's 4 super-blocks' terms are added to the row
// sum in super-block order. Device layouts (repack_matrix): Q2_K (84 bytes) and IQ4_XS (136) as in
// the file; the others without their f16 d, which moves to a float per super-block (n, k/256):
// Q3_K 108 bytes (hmask, qs, scales), IQ2_XXS 64 (qs), IQ2_XS 72 (qs, scales), IQ2_S 80 (qs, signs,
// qh, scales), IQ3_XXS 96 (qs, scales_signs), IQ3_S 108 (qs, qh, signs, scales) — so every block
// is 4-byte aligned and the lanes read it with 4-, 8- and 16-byte loads.
//
// Several activation rows: the weights are decoded once per super-block and every row runs the same
// operations on them (predicated loops over rows), so a row's result does not depend on n_rows.
#pragma once

__device__ __forceinline__ uint32_t ld32(const uint8_t* p) { return __ldg(reinterpret_cast<const unsigned int*>(p)); }
__device__ __forceinline__ uint2 ld64(const uint8_t* p) { return __ldg(reinterpret_cast<const uint2*>(p)); }

// Bits 0-3 of s spread to bit 0 of bytes 0-3 (a multiply: the shifted copies do not overlap, so
// nothing carries).
__device__ __forceinline__ uint32_t spread4(uint32_t s) { return ((s & 0xFu) * 0x00204081u) & 0x01010101u; }

// ---- 32-value blocks · Q8_0

// Whether kType is one of them.
__host__ __device__ constexpr bool block32_type(uint32_t type) { return type == 2 || type == 6 || type == 20 || type == 39; }

template <uint32_t kType>
__device__ void row_block32(const uint8_t* w, const float* ws, const ActView& x, int n_rows, int lane, float* acc) {
    const int nb = x.k / 32;
    for (int b0 = 0; b0 < nb; b0 += kWarp) {
        const int b = b0 + lane, count = min(kWarp, nb - b0);
        const bool has = b < nb;
        int4 w0 = make_int4(0, 0, 0, 0), w1 = w0;  // values 0-15, 16-31 of the block
        float dw = 0.0f;
        if (has) {
            // value i: nibble i / 16 of byte i % 16 (Q5_0: and bit i of qh)
            if constexpr (kType == 6) {
                const uint8_t* blk = w + 20 * b;
                const uint32_t qh = ld32(blk), q[4] = {ld32(blk + 4), ld32(blk + 8), ld32(blk + 12), ld32(blk + 16)};
                int lo[4], hi[4];
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    lo[i] = __vsub4(static_cast<int>((q[i] & 0x0F0F0F0Fu) | (spread4(qh >> (4 * i)) << 4)), 0x10101010);
                    hi[i] = __vsub4(static_cast<int>(((q[i] >> 4) & 0x0F0F0F0Fu) | (spread4(qh >> (16 + 4 * i)) << 4)), 0x10101010);
                }
                w0 = make_int4(lo[0], lo[1], lo[2], lo[3]);
                w1 = make_int4(hi[0], hi[1], hi[2], hi[3]);
            } else {
                const int4 q = load16(w + 16 * b);
                nibble_values<kType>(q.x, w0.x, w1.x);
                nibble_values<kType>(q.y, w0.y, w1.y);
                nibble_values<kType>(q.z, w0.z, w1.z);
                nibble_values<kType>(q.w, w0.w, w1.w);
            }
            dw = ws[b];
        }
        add_q8_0_block(w0, w1, dw, has, b, count, x, n_rows, acc);
    }
}

// ---- 256-value super-blocks · Q8_K

// Whether kType is one of them.
__host__ __device__ constexpr bool superblock_lowbit_type(uint32_t type) {
    return type == 10 || type == 11 || type == 23 || type == 16 || type == 17 || type == 22 || type == 18 || type == 21;
}

// Lane t's 32 values of a super-block: 4 groups of 8 (v[2g], v[2g + 1] packed int8), each within
// one 16-value scale group, with its integer scale sc[g] (and Q2_K's min m[g]); d, dmin the
// super-block's float scales.
struct LowbitLane {
    int v[8];
    int sc[4];
    int m[4];
    float d, dmin;
};

// The bytes of v negated where bit j (j = 0..3) of s is set (0xFF masks from the spread bits).
__device__ __forceinline__ int with_signs(uint32_t v, uint32_t s) {
    const int mask = static_cast<int>(spread4(s) * 0xFFu);
    return __vsub4(static_cast<int>(v) ^ mask, mask);
}

// An 8-magnitude grid entry (two words) with 8 sign bits, into v[0], v[1].
__device__ __forceinline__ void signed_entry8(uint2 e, uint32_t signs, int* v) {
    v[0] = with_signs(e.x, signs);
    v[1] = with_signs(e.y, signs >> 4);
}

// Per type: the raw words lane t loads of super-block blk (load, issued for several super-blocks
// before any is used), then their decoding into a LowbitLane. kRuns: the lane's 4 groups of 8 are
// 32 values apart (Q2_K, Q3_K: positions 128·(t / 4) + 32g + 8·(t % 4)), else its values are
// 32t … 32t + 31. kDevD: d comes from the matrix's float scales.
template <uint32_t kType>
struct Lowbit;

template <>
struct Lowbit<10> {  // Q2_K: scales[16] @0 (scale | min << 4 per 16 values), qs[64] @16, d, dmin @80
    static constexpr int kBytes = lowbit_superblock_bytes(10);
    static constexpr bool kRuns = true, kDevD = false;
    uint32_t q[2], s[2], dd;
    __device__ __forceinline__ void load(const uint8_t* blk, int t) {
        q[0] = ld32(blk + 16 + 8 * t);  // qs bytes 8t … 8t + 7: the 4 values of each at shifts 0, 2, 4, 6
        q[1] = ld32(blk + 20 + 8 * t);
        s[0] = ld32(blk + 8 * (t / 4));  // the scales of the lane's 16-value groups 8·(t / 4) + 2g + (t % 4) / 2
        s[1] = ld32(blk + 8 * (t / 4) + 4);
        dd = ld32(blk + 80);
    }
    __device__ __forceinline__ void decode(int t, LowbitLane& l) const {
#pragma unroll
        for (int g = 0; g < 4; g++) {
            l.v[2 * g] = static_cast<int>((q[0] >> (2 * g)) & 0x03030303u);
            l.v[2 * g + 1] = static_cast<int>((q[1] >> (2 * g)) & 0x03030303u);
            const int b = unsigned_byte(s[g / 2], 2 * (g % 2) + t % 4 / 2);
            l.sc[g] = b & 0xF;
            l.m[g] = b >> 4;
        }
        l.d = f16_bits(static_cast<uint16_t>(dd & 0xFFFF));
        l.dmin = f16_bits(static_cast<uint16_t>(dd >> 16));
    }
};

template <>
struct Lowbit<11> {  // Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96 (d moved out)
    static constexpr int kBytes = lowbit_superblock_bytes(11);
    static constexpr bool kRuns = true, kDevD = true;
    uint32_t q[2], h[2], s[3];
    __device__ __forceinline__ void load(const uint8_t* blk, int t) {
        q[0] = ld32(blk + 32 + 8 * t);  // qs bytes 8t … 8t + 7 (as Q2_K)
        q[1] = ld32(blk + 36 + 8 * t);
        h[0] = ld32(blk + 8 * (t % 4));  // hmask bytes 8·(t % 4) …: bit 4·(t / 4) + g is group g's high bit
        h[1] = ld32(blk + 8 * (t % 4) + 4);
        s[0] = ld32(blk + 96);
        s[1] = ld32(blk + 100);
        s[2] = ld32(blk + 104);
    }
    __device__ __forceinline__ void decode(int t, LowbitLane& l) const {
        const int half = t / 4, c = t % 4;
#pragma unroll
        for (int g = 0; g < 4; g++) {
            // q = low 2 bits + 4·high bit − 4, in −4 … 3
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const uint32_t low = (q[i] >> (2 * g)) & 0x03030303u, high = ((h[i] >> (4 * half + g)) & 0x01010101u) << 2;
                l.v[2 * g + i] = __vsub4(static_cast<int>(low | high), 0x04040404);
            }
            // the 6-bit scale of 16-value group j = 8·half + 2g + c / 2: low nibble from scales[j % 8],
            // high 2 bits from scales[8 + j % 4]
            const int lo = (unsigned_byte(s[g / 2], 2 * (g % 2) + c / 2) >> (4 * half)) & 0xF;
            const int hi = (unsigned_byte(s[2], 2 * (g % 2) + c / 2) >> (2 * (2 * half + g / 2))) & 3;
            l.sc[g] = (lo | (hi << 4)) - 32;
            l.m[g] = 0;
        }
        l.dmin = 0.0f;
    }
};

template <>
struct Lowbit<23> {  // IQ4_XS: d @0, scales_h @2, scales_l[4] @4, qs[128] @8 (16 bytes per 32 values)
    static constexpr int kBytes = lowbit_superblock_bytes(23);
    static constexpr bool kRuns = false, kDevD = false;
    uint2 head, q[2];
    __device__ __forceinline__ void load(const uint8_t* blk, int t) {
        head = ld64(blk);
        q[0] = ld64(blk + 8 + 16 * t);
        q[1] = ld64(blk + 16 + 16 * t);
    }
    __device__ __forceinline__ void decode(int t, LowbitLane& l) const {
        const uint32_t words[4] = {q[0].x, q[0].y, q[1].x, q[1].y};
#pragma unroll
        for (int i = 0; i < 4; i++) nibble_values<23>(words[i], l.v[i], l.v[4 + i]);  // values 4i …, 16 + 4i …
        const int lo = (unsigned_byte(head.y, t / 2) >> (4 * (t % 2))) & 0xF, hi = (head.x >> (16 + 2 * t)) & 3;
#pragma unroll
        for (int g = 0; g < 4; g++) {
            l.sc[g] = (lo | (hi << 4)) - 32;
            l.m[g] = 0;
        }
        l.d = f16_bits(static_cast<uint16_t>(head.x & 0xFFFF));
        l.dmin = 0.0f;
    }
};

// The IQ grid types: one 4-bit scale s per 16 or 32 values, weighted 2s + 1.
__device__ __forceinline__ void iq_scales(LowbitLane& l, int s_lo, int s_hi) {
#pragma unroll
    for (int g = 0; g < 4; g++) {
        l.sc[g] = 2 * (g < 2 ? s_lo : s_hi) + 1;
        l.m[g] = 0;
    }
    l.dmin = 0.0f;
}

template <>
struct Lowbit<16> {  // IQ2_XXS: per 32 values 4 grid indices and a u32 of 4 sign indices + the scale
    static constexpr int kBytes = lowbit_superblock_bytes(16);
    static constexpr bool kRuns = false, kDevD = true;
    uint2 q;
    __device__ __forceinline__ void load(const uint8_t* blk, int t) { q = ld64(blk + 8 * t); }
    __device__ __forceinline__ void decode(int, LowbitLane& l) const {
#pragma unroll
        for (int g = 0; g < 4; g++) {
            signed_entry8(grid8(kIQ2XXSGridDev, unsigned_byte(q.x, g)), iq_sign_bits((q.y >> (7 * g)) & 127), &l.v[2 * g]);
        }
        iq_scales(l, q.y >> 28, q.y >> 28);
    }
};

template <>
struct Lowbit<17> {  // IQ2_XS: qs u16[32] @0 (9-bit grid index | sign index << 9 per 8 values), scales[8] @64
    static constexpr int kBytes = lowbit_superblock_bytes(17);
    static constexpr bool kRuns = false, kDevD = true;
    uint2 q;
    uint32_t s;
    __device__ __forceinline__ void load(const uint8_t* blk, int t) {
        q = ld64(blk + 8 * t);
        s = blk[64 + t];
    }
    __device__ __forceinline__ void decode(int, LowbitLane& l) const {
#pragma unroll
        for (int g = 0; g < 4; g++) {
            const uint32_t e = ((g < 2 ? q.x : q.y) >> (16 * (g % 2))) & 0xFFFF;
            signed_entry8(grid8(kIQ2XSGridDev, e & 511), iq_sign_bits(e >> 9), &l.v[2 * g]);
        }
        iq_scales(l, s & 0xF, s >> 4);
    }
};

template <>
struct Lowbit<22> {  // IQ2_S: qs[32] @0, signs[32] @32, qh[8] @64 (index bits 8-9), scales[8] @72
    static constexpr int kBytes = lowbit_superblock_bytes(22);
    static constexpr bool kRuns = false, kDevD = true;
    uint32_t q, sg, qh, s;
    __device__ __forceinline__ void load(const uint8_t* blk, int t) {
        q = ld32(blk + 4 * t);
        sg = ld32(blk + 32 + 4 * t);
        qh = blk[64 + t];
        s = blk[72 + t];
    }
    __device__ __forceinline__ void decode(int, LowbitLane& l) const {
#pragma unroll
        for (int g = 0; g < 4; g++) {
            const int idx = unsigned_byte(q, g) | static_cast<int>(((qh >> (2 * g)) & 3) << 8);
            signed_entry8(grid8(kIQ2SGridDev, idx), static_cast<uint32_t>(unsigned_byte(sg, g)), &l.v[2 * g]);
        }
        iq_scales(l, s & 0xF, s >> 4);
    }
};

template <>
struct Lowbit<18> {  // IQ3_XXS: qs[64] @0 (a grid index per 4 values), scales_signs[32] @64 (a u32 per 32)
    static constexpr int kBytes = lowbit_superblock_bytes(18);
    static constexpr bool kRuns = false, kDevD = true;
    uint2 q;
    uint32_t aux;
    __device__ __forceinline__ void load(const uint8_t* blk, int t) {
        q = ld64(blk + 8 * t);
        aux = ld32(blk + 64 + 4 * t);
    }
    __device__ __forceinline__ void decode(int, LowbitLane& l) const {
#pragma unroll
        for (int g = 0; g < 4; g++) {
            const uint32_t signs = iq_sign_bits((aux >> (7 * g)) & 127), idx = g < 2 ? q.x : q.y;
            const uint2 e = make_uint2(grid4(kIQ3XXSGridDev, unsigned_byte(idx, 2 * (g % 2))),
                                       grid4(kIQ3XXSGridDev, unsigned_byte(idx, 2 * (g % 2) + 1)));
            signed_entry8(e, signs, &l.v[2 * g]);
        }
        iq_scales(l, aux >> 28, aux >> 28);
    }
};

template <>
struct Lowbit<21> {  // IQ3_S: qs[64] @0, qh[8] @64 (index bit 8 per 4 values), signs[32] @72, scales[4] @104
    static constexpr int kBytes = lowbit_superblock_bytes(21);
    static constexpr bool kRuns = false, kDevD = true;
    uint32_t q[2], qh, sg, s;
    __device__ __forceinline__ void load(const uint8_t* blk, int t) {
        q[0] = ld32(blk + 8 * t);
        q[1] = ld32(blk + 8 * t + 4);
        qh = blk[64 + t];
        sg = ld32(blk + 72 + 4 * t);
        s = (blk[104 + t / 2] >> (4 * (t % 2))) & 0xF;  // one scale for the 32 values
    }
    __device__ __forceinline__ void decode(int, LowbitLane& l) const {
#pragma unroll
        for (int g = 0; g < 4; g++) {
            uint32_t e[2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const int n = 2 * g + i;  // the lane's grid entry n: values 4n …
                e[i] = grid4(kIQ3SGridDev, unsigned_byte(q[n / 4], n % 4) | static_cast<int>(((qh >> n) & 1) << 8));
            }
            signed_entry8(make_uint2(e[0], e[1]), static_cast<uint32_t>(unsigned_byte(sg, g)), &l.v[2 * g]);
        }
        iq_scales(l, s, s);
    }
};

// The super-block's term of the row sum from its exact integer sums, as the CPU writes it.
template <uint32_t kType>
__device__ __forceinline__ float superblock_term(const LowbitLane& l, float xd, int isum, int msum) {
    if constexpr (kType == 10) {
        return (xd * l.d) * static_cast<float>(isum) - (xd * l.dmin) * static_cast<float>(msum);
    } else if constexpr (kType == 11 || kType == 23) {
        return (l.d * xd) * static_cast<float>(isum);
    } else {
        constexpr float k = kType == 21 ? 1.0f : kType == 18 ? 0.25f : 0.125f;
        return ((l.d * xd) * k) * static_cast<float>(isum);
    }
}

// Integer sum over the 8 lanes of a super-block (lanes 8s … 8s + 7): exact in any order.
__device__ __forceinline__ int superblock_sum(int v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    v += __shfl_xor_sync(0xffffffffu, v, 2);
    return v + __shfl_xor_sync(0xffffffffu, v, 4);
}

// One weight row (w: its super-blocks of B::kBytes; w_d: its d per super-block where kDevD) times
// n_rows activation rows. Lane 8s + t takes values of super-block sb0 + 4u + s, kUnroll super-blocks
// of loads in flight per lane.
template <uint32_t kType>
__device__ __forceinline__ void row_superblock(const uint8_t* w, const float* w_d, const ActView& x, int n_rows, int lane, float* acc) {
    using B = Lowbit<kType>;
    constexpr int kUnroll = 4;
    const int nsb = x.k / 256, t = lane % 8, slot = lane / 8;
    for (int sb0 = 0; sb0 < nsb; sb0 += 4 * kUnroll) {
        B raw[kUnroll] = {};
        float d[kUnroll] = {};
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int sb = sb0 + 4 * u + slot;
            if (sb < nsb) {
                raw[u].load(w + static_cast<size_t>(sb) * B::kBytes, t);
                if constexpr (B::kDevD) d[u] = w_d[sb];
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int first = sb0 + 4 * u;  // the super-block of slot 0
            if (first >= nsb) break;         // the same for every lane
            const int sb = min(first + slot, nsb - 1);  // slots past the row's end compute on its last super-block, unused
            LowbitLane l;
            raw[u].decode(t, l);
            if constexpr (B::kDevD) l.d = d[u];
#pragma unroll
            for (int r = 0; r < kMaxRows; r++) {
                if (r < n_rows) {
                    const int8_t* a = x.q + static_cast<size_t>(r) * x.k + 256 * sb;
                    int av[8];  // the activation values of l.v
                    if constexpr (B::kRuns) {
#pragma unroll
                        for (int g = 0; g < 4; g++) {
                            const int2 p = *reinterpret_cast<const int2*>(a + 128 * (t / 4) + 32 * g + 8 * (t % 4));
                            av[2 * g] = p.x;
                            av[2 * g + 1] = p.y;
                        }
                    } else {
                        const int4 p = load16(a + 32 * t), q = load16(a + 32 * t + 16);
                        av[0] = p.x, av[1] = p.y, av[2] = p.z, av[3] = p.w, av[4] = q.x, av[5] = q.y, av[6] = q.z, av[7] = q.w;
                    }
                    int isum = 0, msum = 0;
#pragma unroll
                    for (int g = 0; g < 4; g++) {
                        isum += l.sc[g] * __dp4a(l.v[2 * g + 1], av[2 * g + 1], __dp4a(l.v[2 * g], av[2 * g], 0));
                        if constexpr (kType == 10) msum += l.m[g] * __dp4a(0x01010101, av[2 * g + 1], __dp4a(0x01010101, av[2 * g], 0));
                    }
                    isum = superblock_sum(isum);
                    if constexpr (kType == 10) msum = superblock_sum(msum);
                    const float term = superblock_term<kType>(l, x.d[static_cast<size_t>(r) * (x.k / 32) + sb], isum, msum);
#pragma unroll
                    for (int s = 0; s < 4; s++) {
                        if (first + s < nsb) acc[r] += __shfl_sync(0xffffffffu, term, 8 * s);
                    }
                }
            }
        }
    }
}

// Whether a weight type has a row function here, and that function.
__host__ __device__ constexpr bool lowbit_type(uint32_t type) { return block32_type(type) || superblock_lowbit_type(type); }

// X(type) for every low-bit type, for the launchers' switches over them.
#define MTP_LOWBIT_TYPES(X) X(2) X(6) X(20) X(39) X(10) X(11) X(23) X(16) X(17) X(22) X(18) X(21)

template <uint32_t kType>
__device__ __forceinline__ void row_lowbit(const uint8_t* w, const float* ws, const ActView& x, int n_rows, int lane, float* acc) {
    if constexpr (block32_type(kType)) {
        row_block32<kType>(w, ws, x, n_rows, lane, acc);
    } else {
        row_superblock<kType>(w, ws, x, n_rows, lane, acc);
    }
}
