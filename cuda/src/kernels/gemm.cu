// See gemm.cuh: the Q8_0 kernel on int8 mma.sync, then the launcher.
#include "gemm.cuh"

namespace mtp::cuda {

namespace {

constexpr int kThreads = 128;                     // 4 warps: 2 (weight rows) × 2 (activation rows)
constexpr int kTileRows = 32, kTileTokens = 64;   // per block
constexpr int kTiles = 4;                         // mma tiles of 8 activation rows per warp
constexpr int kOutputs = 2 * kTiles * 2;          // per thread: 2 weight rows × 4 tiles × 2 activation rows

struct GemmArgs {
    const uint8_t* w;    // (n, k) int8 rows row_bytes apart (the repacked Q8_0 layout, matvec.cuh)
    const float* scale;  // (n, scales): the block scales (scales_per_row)
    int scales;
    size_t row_bytes;
    int n;               // weight rows
    float* y;            // (n_rows, y_stride)
    int y_stride, add;
};

__device__ __forceinline__ int ld32(const void* p) { return __ldg(static_cast<const int*>(p)); }

// What a thread works on: weight rows g, g + 8 of its warp's 16 (clamped to the matrix) and the
// activation rows of its B operands (column g of each tile) and of its outputs (columns 2·(lane % 4)
// + 0, 1 of each tile), clamped to the batch. Output (weight row g + 8·rh, activation row
// 8·tile + 2·(lane % 4) + c of the warp's) is index (rh·kTiles + tile)·2 + c.
struct Thread {
    int g, q, row0, tok0;
    const uint8_t* w[2];
    const float* wd[2];  // the rows' scales
    const int8_t* xb[kTiles];
    const float* xd[kTiles][2];

    __device__ Thread(const GemmArgs& a, const ActView& x, int n_rows) {
        const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
        g = lane / 4;
        q = lane % 4;
        row0 = blockIdx.x * kTileRows + (warp % 2) * 16;
        tok0 = blockIdx.y * kTileTokens + (warp / 2) * (8 * kTiles);
        for (int rh = 0; rh < 2; rh++) {
            const size_t row = static_cast<size_t>(min(row0 + g + 8 * rh, a.n - 1));
            w[rh] = a.w + row * a.row_bytes;
            wd[rh] = a.scale ? a.scale + row * a.scales : nullptr;
        }
        for (int t = 0; t < kTiles; t++) {
            xb[t] = x.q + static_cast<size_t>(min(tok0 + 8 * t + g, n_rows - 1)) * x.k;
            for (int c = 0; c < 2; c++) xd[t][c] = x.d + static_cast<size_t>(min(tok0 + 8 * t + 2 * q + c, n_rows - 1)) * (x.k / 32);
        }
    }

    __device__ void store(const GemmArgs& a, int n_rows, const float (&v)[kOutputs]) const {
#pragma unroll
        for (int rh = 0; rh < 2; rh++) {
#pragma unroll
            for (int t = 0; t < kTiles; t++) {
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    const int row = row0 + g + 8 * rh, tok = tok0 + 8 * t + 2 * q + c;
                    if (row < a.n && tok < n_rows) {
                        float* y = a.y + static_cast<size_t>(tok) * a.y_stride + row;
                        const float s = v[(rh * kTiles + t) * 2 + c];
                        *y = a.add ? *y + s : s;
                    }
                }
            }
        }
    }
};

// Q8_0 (row_q8_0's order): acc += (d_w · d_x) · isum block after block.
__global__ void __launch_bounds__(kThreads) gemm_q8_0_kernel(GemmArgs a, ActView x, int n_rows) {
    pdl_enter();
    const Thread th(a, x, n_rows);
    const int nb = x.k / 32;
    float acc[kOutputs];
#pragma unroll
    for (int o = 0; o < kOutputs; o++) acc[o] = 0.0f;
    for (int b = 0; b < nb; b++) {
        const int off = 32 * b + 4 * th.q;
        const int a0 = ld32(th.w[0] + off), a1 = ld32(th.w[1] + off), a2 = ld32(th.w[0] + off + 16), a3 = ld32(th.w[1] + off + 16);
        float dw[2];
#pragma unroll
        for (int rh = 0; rh < 2; rh++) dw[rh] = __ldg(th.wd[rh] + b);
#pragma unroll
        for (int t = 0; t < kTiles; t++) {
            int c[4];
            mma_k32(c, a0, a1, a2, a3, ld32(th.xb[t] + off), ld32(th.xb[t] + off + 16));
#pragma unroll
            for (int cc = 0; cc < 2; cc++) {
                const float dx = __ldg(th.xd[t][cc] + b);
#pragma unroll
                for (int rh = 0; rh < 2; rh++) {
                    const float p = (dw[rh] * dx) * static_cast<float>(c[2 * rh + cc]);
                    float& s = acc[(rh * kTiles + t) * 2 + cc];
                    s = s + p;
                }
            }
        }
    }
    th.store(a, n_rows, acc);
}

}  // namespace

bool gemm_supported(uint32_t weight_type) { return weight_type == 8; }

cudaError_t launch_gemm(cudaStream_t stream, const MatvecOut& out, ActView x, int n_rows) {
    const DevMatrix& w = *out.w;
    if (n_rows < 1 || !gemm_supported(w.type) || w.k != x.k || x.k % 32 != 0) return cudaErrorInvalidValue;
    const GemmArgs a{w.data, w.scale, scales_per_row(w.type, w.k), w.row_bytes, w.n, out.y, out.y_stride, out.add ? 1 : 0};
    const dim3 grid((w.n + kTileRows - 1) / kTileRows, (n_rows + kTileTokens - 1) / kTileTokens);
    return launch(gemm_q8_0_kernel, grid, kThreads, 0, stream, a, x, n_rows);
}

}  // namespace mtp::cuda
