// See matvec.cuh: activation quantizers, then one matvec kernel per weight type, then launchers.
#include "matvec.cuh"

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

// The 6-bit scale and min of sub-block b of a Q4_K / Q5_K super-block (spec §7.7).
__device__ __forceinline__ void k_scale_min(const uint8_t* q, int b, int& sc, int& m) {
    if (b < 4) {
        sc = q[b] & 63;
        m = q[b + 4] & 63;
    } else {
        sc = (q[b + 4] & 0xF) | ((q[b - 4] >> 6) << 4);
        m = (q[b + 4] >> 4) | ((q[b] >> 6) << 4);
    }
}

// Q4_K (kFive = false, 144-byte blocks) and Q5_K (176-byte blocks), dot_q4_k_or_q5_k: lane l takes
// super-block 32i + l, the CPU's integer sums, then sum += x.d·d·Σ sc·(q·q8) − x.d·dmin·Σ m·Σq8 over
// the super-blocks in order.
template <bool kFive>
__device__ void row_q45_k(const uint8_t* w, const ActView& x, int n_rows, int lane, float* acc) {
    constexpr int kBytes = kFive ? 176 : 144;
    const int nsb = x.k / 256;
    for (int sb0 = 0; sb0 < nsb; sb0 += kWarp) {
        const int sb = sb0 + lane, count = min(kWarp, nsb - sb0);
        const bool has = sb < nsb;
        const uint8_t* blk = w + static_cast<size_t>(has ? sb : 0) * kBytes;
        const float d = f16_bits(static_cast<uint16_t>(blk[0] | (blk[1] << 8)));
        const float dmin = f16_bits(static_cast<uint16_t>(blk[2] | (blk[3] << 8)));
        const uint8_t* scales = blk + 4;
        const uint8_t* qh = kFive ? blk + 16 : nullptr;
        const uint8_t* qs = blk + (kFive ? 48 : 16);
#pragma unroll 1
        for (int r = 0; r < kMaxRows; r++) {
            if (r >= n_rows) break;
            float p = 0.0f;
            if (has) {
                const int8_t* a = x.q + static_cast<size_t>(r) * x.k + 256 * sb;
                int sumi = 0, summ = 0;
                for (int b = 0; b < 8; b++) {
                    int sc, m;
                    k_scale_min(scales, b, sc, m);
                    const uint8_t* Q = qs + 32 * (b / 2);
                    const int shift = 4 * (b & 1);
                    int s = 0, qsum = 0;
                    for (int l = 0; l < 32; l++) {
                        int v = (Q[l] >> shift) & 0xF;
                        if (kFive) v += 16 * ((qh[l] >> b) & 1);
                        s += v * a[32 * b + l];
                        qsum += a[32 * b + l];
                    }
                    sumi += sc * s;
                    summ += m * qsum;
                }
                const float xd = x.d[static_cast<size_t>(r) * (x.k / 32) + sb];
                p = xd * d * static_cast<float>(sumi) - xd * dmin * static_cast<float>(summ);
            }
            acc[r] = add_in_lane_order(acc[r], p, count);
        }
    }
}

// Q6_K (210-byte blocks, spec §7.9), dot_q6_k: sum += d·x.d·Σ_j scales[j]·Σ (q − 32)·q8 over
// 16-value groups, super-blocks in order.
__device__ void row_q6_k(const uint8_t* w, const ActView& x, int n_rows, int lane, float* acc) {
    const int nsb = x.k / 256;
    for (int sb0 = 0; sb0 < nsb; sb0 += kWarp) {
        const int sb = sb0 + lane, count = min(kWarp, nsb - sb0);
        const bool has = sb < nsb;
        const uint8_t* blk = w + static_cast<size_t>(has ? sb : 0) * 210;
        const uint8_t* ql = blk;
        const uint8_t* qh = blk + 128;
        const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
        const float d = f16_bits(static_cast<uint16_t>(blk[208] | (blk[209] << 8)));
#pragma unroll 1
        for (int r = 0; r < kMaxRows; r++) {
            if (r >= n_rows) break;
            float p = 0.0f;
            if (has) {
                const int8_t* a = x.q + static_cast<size_t>(r) * x.k + 256 * sb;
                int sumi = 0;
                for (int j = 0; j < 16; j++) {
                    int s = 0;
                    for (int e = 16 * j; e < 16 * j + 16; e++) {
                        const int n = e / 128, part = (e % 128) / 32, l = e % 32;
                        const uint8_t lo = ql[64 * n + l + (part & 1) * 32];
                        const int low = part < 2 ? (lo & 0xF) : (lo >> 4);
                        const int high = (qh[32 * n + l] >> (2 * part)) & 3;
                        s += ((low | (high << 4)) - 32) * a[e];
                    }
                    sumi += scales[j] * s;
                }
                p = d * x.d[static_cast<size_t>(r) * (x.k / 32) + sb] * static_cast<float>(sumi);
            }
            acc[r] = add_in_lane_order(acc[r], p, count);
        }
    }
}

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
        row_q8_0(w, args.scale[i] + static_cast<size_t>(o) * (x.k / 32), x, n_rows, lane, acc);
    } else if constexpr (kType == 12 || kType == 13) {
        row_q45_k<kType == 13>(w, x, n_rows, lane, acc);
    } else if constexpr (kType == 14) {
        row_q6_k(w, x, n_rows, lane, acc);
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

__global__ void quantize_kernel(ActView x, ActFormat fmt) {
    const int r = blockIdx.x;
    quantize_row(x.f + static_cast<size_t>(r) * x.k, x.k, x.q + static_cast<size_t>(r) * x.k, x.d + static_cast<size_t>(r) * (x.k / 32), fmt);
}

}  // namespace

void repack_q8_0(const uint8_t* rows, size_t row_bytes, int k, int n, int8_t* q, float* scale) {
    const size_t nb = static_cast<size_t>(k) / 32;
    for (size_t r = 0; r < static_cast<size_t>(n); r++) {
        const uint8_t* row = rows + r * row_bytes;
        for (size_t b = 0; b < nb; b++) {
            __half_raw h;
            std::memcpy(&h.x, row + 34 * b, 2);
            scale[r * nb + b] = __half2float(__half(h));
            std::memcpy(q + r * k + 32 * b, row + 34 * b + 2, 32);
        }
    }
}

ActFormat act_format_for(uint32_t weight_type) {
    switch (weight_type) {
        case 8: return ActFormat::Q8_0;
        case 12: case 13: case 14: return ActFormat::Q8_K;
        default: return ActFormat::F32;
    }
}

cudaError_t launch_quantize(cudaStream_t stream, ActView x, int n_rows, ActFormat fmt) {
    if (fmt == ActFormat::F32) return cudaSuccess;
    if (n_rows <= 0 || x.k % (fmt == ActFormat::Q8_0 ? 32 : 256) != 0) return cudaErrorInvalidValue;
    quantize_kernel<<<n_rows, 128, 0, stream>>>(x, fmt);
    return cudaGetLastError();
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

template <bool kNorm>
cudaError_t dispatch(cudaStream_t stream, uint32_t type, const MatvecArgs& args, ActView x, int n_rows, NormIn norm,
                     size_t shared) {
    const int blocks = (args.first[args.count] + kThreads / kWarp - 1) / (kThreads / kWarp);
    switch (type) {
        case 0: matvec_kernel<0, kNorm><<<blocks, kThreads, shared, stream>>>(args, x, n_rows, norm); break;
        case 1: matvec_kernel<1, kNorm><<<blocks, kThreads, shared, stream>>>(args, x, n_rows, norm); break;
        case 30: matvec_kernel<30, kNorm><<<blocks, kThreads, shared, stream>>>(args, x, n_rows, norm); break;
        case 8: matvec_kernel<8, kNorm><<<blocks, kThreads, shared, stream>>>(args, x, n_rows, norm); break;
        default:
            if constexpr (kNorm) return cudaErrorInvalidValue;
            switch (type) {
                case 12: matvec_kernel<12, false><<<blocks, kThreads, 0, stream>>>(args, x, n_rows, norm); break;
                case 13: matvec_kernel<13, false><<<blocks, kThreads, 0, stream>>>(args, x, n_rows, norm); break;
                case 14: matvec_kernel<14, false><<<blocks, kThreads, 0, stream>>>(args, x, n_rows, norm); break;
                default: return cudaErrorInvalidValue;
            }
    }
    return cudaGetLastError();
}

// Row layout checks shared by both launchers.
bool width_ok(uint32_t type, int k) {
    switch (type) {
        case 0: return k % 8 == 0;
        case 30: return k % 2 == 0;
        case 8: return k % 32 == 0;
        case 12: case 13: case 14: return k % 256 == 0;
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
