// See embed.cuh. Dequantization formulas of spec §7 in ggml's operation order.
#include "embed.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;

__device__ float k_scale(const uint8_t* q, int b, bool want_min) {
    if (b < 4) return static_cast<float>(want_min ? q[b + 4] & 63 : q[b] & 63);
    return static_cast<float>(want_min ? (q[b + 4] >> 4) | ((q[b] >> 6) << 4) : (q[b + 4] & 0xF) | ((q[b - 4] >> 6) << 4));
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
