// See embed.cuh. Dequantization formulas of spec §7 in ggml's operation order.
#include "embed.cuh"

#include "lowbit-tables.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;

__device__ float k_scale(const uint8_t* q, int b, bool want_min) {
    if (b < 4) return static_cast<float>(want_min ? q[b + 4] & 63 : q[b] & 63);
    return static_cast<float>(want_min ? (q[b + 4] >> 4) | ((q[b] >> 6) << 4) : (q[b + 4] & 0xF) | ((q[b - 4] >> 6) << 4));
}

// Little-endian u16 / u32 at p (any alignment).
__device__ __forceinline__ uint32_t le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
__device__ __forceinline__ uint32_t le32(const uint8_t* p) { return le16(p) | (le16(p + 2) << 16); }

// Value e of an IQ grid type's super-block blk in its device layout (matvec-lowbit.cuh: the d is in
// scale), as cpu/ggml-quants.cpp's dequantize_row: db = d·(0.5 + s)·0.25 (IQ2), d·(0.5 + s)·0.5
// (IQ3_XXS) or d·(1 + 2s) (IQ3_S), times the signed grid magnitude.
__device__ float iq_grid_value(uint32_t type, const uint8_t* blk, float d, int e) {
    int mag, neg;
    uint32_t s;
    switch (type) {
        case 16: {  // qs[64]: per 32 values 4 grid indices, a u32 of sign indices + scale
            const uint32_t aux = le32(blk + 8 * (e / 32) + 4);
            mag = kIQ2XXSGridDev[blk[8 * (e / 32) + e % 32 / 8]][e % 8];
            neg = (iq_sign_bits((aux >> (7 * (e % 32 / 8))) & 127) >> (e % 8)) & 1;
            s = aux >> 28;
            break;
        }
        case 17: {  // qs u16[32], scales[8]
            const uint32_t q = le16(blk + 2 * (e / 8));
            mag = kIQ2XSGridDev[q & 511][e % 8];
            neg = (iq_sign_bits(q >> 9) >> (e % 8)) & 1;
            s = (blk[64 + e / 32] >> (4 * (e / 16 % 2))) & 0xF;
            break;
        }
        case 22: {  // qs[32], signs[32], qh[8], scales[8]
            const int i = e / 8;
            mag = kIQ2SGridDev[blk[i] | (((blk[64 + i / 4] >> (2 * (i % 4))) & 3) << 8)][e % 8];
            neg = (blk[32 + i] >> (e % 8)) & 1;
            s = (blk[72 + e / 32] >> (4 * (e / 16 % 2))) & 0xF;
            break;
        }
        case 18: {  // qs[64], scales_signs[32]
            const uint32_t aux = le32(blk + 64 + 4 * (e / 32));
            mag = kIQ3XXSGridDev[blk[e / 4]][e % 4];
            neg = (iq_sign_bits((aux >> (7 * (e % 32 / 8))) & 127) >> (e % 8)) & 1;
            s = aux >> 28;
            break;
        }
        default: {  // 21, IQ3_S: qs[64], qh[8], signs[32], scales[4]
            const int i = e / 4;
            mag = kIQ3SGridDev[blk[i] | (((blk[64 + i / 8] >> (i % 8)) & 1) << 8)][e % 4];
            neg = (blk[72 + e / 8] >> (e % 8)) & 1;
            s = (blk[104 + e / 64] >> (4 * (e / 32 % 2))) & 0xF;
            break;
        }
    }
    const float db = type == 21 ? d * static_cast<float>(1 + 2 * s) : d * (0.5f + static_cast<float>(s)) * (type == 18 ? 0.5f : 0.25f);
    return db * static_cast<float>(neg ? -mag : mag);
}

// Value i of a row in the device layout of `type` (scale: the row's scales, matvec.cuh).
__device__ float dequant_value(uint32_t type, const uint8_t* row, const float* scale, int i) {
    switch (type) {
        case 0: return reinterpret_cast<const float*>(row)[i];
        case 1: return f16_bits(reinterpret_cast<const uint16_t*>(row)[i]);
        case 30: return bf16_bits(reinterpret_cast<const uint16_t*>(row)[i]);
        case 8: return scale[i / 32] * static_cast<float>(reinterpret_cast<const int8_t*>(row)[i]);
        case 12: case 13: {
            const bool five = type == 13;
            const uint8_t* blk = row + static_cast<size_t>(i / 256) * (five ? 176 : 144);
            const int e = i % 256, g = e / 64, b = e / 32;
            const float d = f16_bits(static_cast<uint16_t>(blk[0] | (blk[1] << 8)));
            const float dmin = f16_bits(static_cast<uint16_t>(blk[2] | (blk[3] << 8)));
            const uint8_t qb = blk[(five ? 48 : 16) + 32 * g + e % 32];
            int q = (b & 1) ? qb >> 4 : qb & 0xF;
            if (five) q += 16 * ((blk[16 + e % 32] >> b) & 1);
            return (d * k_scale(blk + 4, b, false)) * static_cast<float>(q) - dmin * k_scale(blk + 4, b, true);
        }
        case 14: {  // repack_matrix's 208-byte super-blocks, d in scale
            const uint8_t* blk = row + static_cast<size_t>(i / 256) * 208;
            const int e = i % 256, n = e / 128, part = (e % 128) / 32, l = e % 32;
            const uint8_t lo = blk[64 * n + l + (part & 1) * 32];
            const int low = part < 2 ? (lo & 0xF) : (lo >> 4);
            const int high = (blk[128 + 32 * n + l] >> (2 * part)) & 3;
            const float d = scale[i / 256];
            const int8_t sc = static_cast<int8_t>(blk[192 + e / 16]);
            return (d * static_cast<float>(sc)) * static_cast<float>((low | (high << 4)) - 32);
        }
        // 16 index bytes per 32 values, the block scale in scale: d · table value
        case 6: {  // qh[4] qs[16] per 32 values, d in scale: d · (q − 16)
            const uint8_t* blk = row + 20 * (i / 32);
            const int e = i % 32, q = ((blk[4 + e % 16] >> (4 * (e / 16))) & 0xF) | (((blk[e / 8] >> (e % 8)) & 1) << 4);
            return scale[i / 32] * static_cast<float>(q - 16);
        }
        case 2: case 20: case 39: {
            const uint8_t* qs = row + 16 * (i / 32);
            const int e = i % 32, q = (qs[e % 16] >> (4 * (e / 16))) & 0xF;
            const float v = type == 2 ? nibble_value<2>(q) : type == 20 ? nibble_value<20>(q) : nibble_value<39>(q);
            return scale[i / 32] * v;
        }
        case 10: {  // scales[16] qs[64] d dmin: (d · scale) · q − dmin · min per 16 values
            const uint8_t* blk = row + static_cast<size_t>(i / 256) * lowbit_superblock_bytes(10);
            const int e = i % 256, q = (blk[16 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3, sc = blk[e / 16];
            const float dl = f16_bits(static_cast<uint16_t>(le16(blk + 80))) * static_cast<float>(sc & 0xF);
            const float ml = f16_bits(static_cast<uint16_t>(le16(blk + 82))) * static_cast<float>(sc >> 4);
            return dl * static_cast<float>(q) - ml;
        }
        case 11: {  // hmask[32] qs[64] scales[12], d in scale: (d · scale) · q
            const uint8_t* blk = row + static_cast<size_t>(i / 256) * lowbit_superblock_bytes(11);
            const int e = i % 256, j = e / 16;
            const int low = (blk[32 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3, high = (blk[e % 32] >> (e / 32)) & 1;
            const int sc = (((blk[96 + j % 8] >> (4 * (j / 8))) & 0xF) | (((blk[104 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
            return (scale[i / 256] * static_cast<float>(sc)) * static_cast<float>(low - (high ? 0 : 4));
        }
        case 23: {  // d scales_h scales_l[4] qs[128]: (d · scale) · table value
            const uint8_t* blk = row + static_cast<size_t>(i / 256) * lowbit_superblock_bytes(23);
            const int e = i % 256, ib = e / 32;
            const int ls = (((blk[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((le16(blk + 2) >> (2 * ib)) & 3) << 4)) - 32;
            const float dl = f16_bits(static_cast<uint16_t>(le16(blk))) * static_cast<float>(ls);
            return dl * nibble_value<23>((blk[8 + 16 * ib + e % 16] >> (4 * (e % 32 / 16))) & 0xF);
        }
        case 16: case 17: case 22: case 18: case 21: {
            const uint8_t* blk = row + static_cast<size_t>(i / 256) * lowbit_superblock_bytes(type);
            return iq_grid_value(type, blk, scale[i / 256], i % 256);
        }
        default: return 0.0f;
    }
}

constexpr int kEmbedChunk = 1024;  // values of a row per block (grid.x), 8 a thread

__global__ void __launch_bounds__(kThreads) embed_kernel(uint32_t type, const uint8_t* data, const float* scale,
                                                          size_t row_bytes, int k, int n_vocab, const int* tokens,
                                                          float* out, int out_stride) {
    pdl_enter();
    const int tok = tokens[blockIdx.y];
    if (tok < 0 || tok >= n_vocab) return;  // validated on the host; never read out of bounds
    const uint8_t* row = data + static_cast<size_t>(tok) * row_bytes;
    const float* rs = scale ? scale + static_cast<size_t>(tok) * scales_per_row(type, k) : nullptr;
    float* o = out + static_cast<size_t>(blockIdx.y) * out_stride;
    const int end = min(k, (static_cast<int>(blockIdx.x) + 1) * kEmbedChunk);
    for (int i = blockIdx.x * kEmbedChunk + threadIdx.x; i < end; i += kThreads) o[i] = dequant_value(type, row, rs, i);
}

__global__ void __launch_bounds__(kThreads) mtp_input_kernel(uint32_t type, const uint8_t* data, const float* scale,
                                                              size_t row_bytes, int n_vocab, const int* tokens,
                                                              const float* h, const float* enorm_w, const float* hnorm_w,
                                                              float eps, ActView c, ActFormat fmt) {
    pdl_enter();
    extern __shared__ float row_in[];  // (E) the embedding row or the hidden row
    __shared__ double scratch[kWarp];
    const int r = blockIdx.x, half = blockIdx.y, E = c.k / 2, lane = threadIdx.x % kWarp;
    if (half == 0) {
        const int tok = tokens[r];
        const bool ok = tok >= 0 && tok < n_vocab;  // validated on the host; never read out of bounds
        const uint8_t* row = data + static_cast<size_t>(ok ? tok : 0) * row_bytes;
        const float* rs = scale ? scale + static_cast<size_t>(ok ? tok : 0) * scales_per_row(type, E) : nullptr;
        for (int i = threadIdx.x; i < E; i += kThreads) row_in[i] = ok ? dequant_value(type, row, rs, i) : 0.0f;
    } else {
        for (int i = threadIdx.x; i < E; i += kThreads) row_in[i] = h[static_cast<size_t>(r) * E + i];
    }
    __syncthreads();
    // rms_norm_kernel's arithmetic (rms-norm.cu)
    const float* w = half == 0 ? enorm_w : hnorm_w;
    double part = 0.0;
    for (int i = threadIdx.x; i < E; i += kThreads) part += static_cast<double>(row_in[i] * row_in[i]);
    const double sum = block_sum(part, scratch);
    const float mean = static_cast<float>(sum / static_cast<double>(E));
    const float s = 1.0f / sqrtf(mean + eps);
    const size_t at = static_cast<size_t>(r) * c.k + static_cast<size_t>(half) * E;
    for (int i = threadIdx.x; i < E; i += kThreads) {
        const float v = (row_in[i] * s) * w[i];
        c.f[at + i] = v;
        if (fmt == ActFormat::Q8_0) quantize_lanes_q8_0(v, c.q + at + i - lane, c.d + (at + i) / 32, lane);
    }
}

}  // namespace

cudaError_t launch_mtp_input(cudaStream_t stream, const DevMatrix& table, const int* tokens, const float* h,
                             const float* enorm_w, const float* hnorm_w, int n_rows, float eps, ActView c, ActFormat fmt) {
    const int E = c.k / 2;
    if (n_rows <= 0 || E != table.k || E % kWarp != 0 || fmt == ActFormat::Q8_K) return cudaErrorInvalidValue;
    return launch(mtp_input_kernel, dim3(n_rows, 2), kThreads, static_cast<size_t>(E) * sizeof(float), stream, table.type, table.data,
                  table.scale, table.row_bytes, table.n, tokens, h, enorm_w, hnorm_w, eps, c, fmt);
}

cudaError_t launch_embed(cudaStream_t stream, const DevMatrix& table, const int* tokens, int n_rows, float* out,
                         int out_stride) {
    if (n_rows <= 0) return cudaErrorInvalidValue;
    return launch(embed_kernel, dim3((table.k + kEmbedChunk - 1) / kEmbedChunk, n_rows), kThreads, 0, stream, table.type, table.data,
                  table.scale, table.row_bytes, table.k, table.n, tokens, out, out_stride);
}

}  // namespace mtp::cuda
