// Quantized matrix × 1..8 activation rows, and the activation quantizers it reads (spec §3.11).
//
//   y[r, o] (+)= Σ_i W[o, i] · x[r, i]     W: (n, k) in its storage type, x: (n_rows <= 8, k)
//
// Activation formats by weight type (as the CPU backend converts them, cuda/cpu/ggml-quants.h):
//   Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4 weight · x quantized to Q8_0 (id = 127/amax, round half to even, d
//     rounded to F16)
//   Q2_K … Q6_K, IQ4_XS, IQ2_*, IQ3_* · x quantized to Q8_K (per 256: iscale = −127/max, nearest
//     even, clamp 127)
//   BF16 · x rounded to BF16; F16 · x rounded to F16; F32 · x.
// The integer block sums are exact, so only the float accumulation order differs from the CPU.
// A Q8_K row keeps in its k/32 scale slots the k/256 block scales and then the k/32 int16 sums of
// 32 quantized values (q8k_sums), which the Q4_K/Q5_K min term needs.
//
// Weight layouts on the device (CudaWeights, qwen35-cuda.cu): the repacked types keep each block
// without its scale, which moves to DevMatrix::scale as a float: Q8_0 into q (n, k) int8 + scales
// (n, k/32), so a block's 32 values are two aligned 16-byte loads; Q6_K into 208-byte super-blocks
// (ql, qh, scales: 16-byte aligned) + d (n, k/256); the low-bit types as matvec-lowbit.cuh says
// (Q4_0, IQ4_NL, MXFP4: 16 bytes + a scale per 32 values, Q5_0 20 bytes; Q3_K and the IQ grid
// types without their f16 d). Every other type keeps the file's rows.
//
// Summation order: the CPU backend's (cpu/ggml-quants.cpp), so the backends agree to the last bit:
// Q8_0 adds (d_w·d_x)·isum block after block in order, BF16 mirrors the CPU's 2 × 16-lane
// accumulators and their tree reduction, F16 is one sequential sum; for the K-quants (the large
// models' types, where the kernel must run at the memory bandwidth) the CPU follows the kernel
// instead: 32 lane sums and a warp tree. Only F32 (whose CPU order depends on the vector ISA) is not
// mirrored. The low-bit types (matvec-lowbit.cuh) mirror the CPU's sequential sums over blocks.
//
// Launch geometry: 128 threads = 4 warps per block, one warp per output row (with a fused RMSNorm,
// the block first normalizes the input rows into shared memory as the rms_norm kernel does); lane l
// reads blocks l, l + 32, … of the row (or its share of values for F32/F16/BF16). F32 without a
// fused norm: a block per output row, its 128 threads splitting k. The K-quants: one
// activation row through rows_kquant (8 lanes per super-block, 1–2 weight rows per warp), two to
// eight through kquant_mma_kernel (16 weight rows per block on int8 mma.sync), which computes the
// same 32 lane sums with the same fmas and adds them by the same tree. The operations for activation
// row r are the same whatever n_rows is (the loops over rows are predicated; the tensor-core kernel's
// columns are independent), so every output is bitwise independent of how many rows share the launch.
// Several matrices with the same input and type (q/k/v, gate/up, …) go in one launch.
#pragma once

#include "common.cuh"

#include <vector>

namespace mtp::cuda {

constexpr int kMaxRows = 8;     // activation rows per launch
constexpr int kMaxOutputs = 4;  // matrices per launch

// Floats of DevMatrix::scale per matrix row (the repacked types' block scales): a scale per 32
// values for Q8_0, Q4_0, Q5_0, IQ4_NL and MXFP4, a d per 256 for Q6_K, Q3_K and the IQ grid types.
__host__ __device__ inline int scales_per_row(uint32_t type, int k) {
    switch (type) {
        case 8: case 2: case 6: case 20: case 39: return k / 32;
        case 14: case 11: case 16: case 17: case 22: case 18: case 21: return k / 256;
        default: return 0;
    }
}

// Bytes on the device of a 256-value super-block of the low-bit types (matvec-lowbit.cuh; Q3_K and
// the IQ grid types without the f16 d that repack_matrix moves into DevMatrix::scale).
__host__ __device__ constexpr int lowbit_superblock_bytes(uint32_t type) {
    switch (type) {
        case 10: return 84;   // Q2_K
        case 11: return 108;  // Q3_K
        case 23: return 136;  // IQ4_XS
        case 16: return 64;   // IQ2_XXS
        case 17: return 72;   // IQ2_XS
        case 22: return 80;   // IQ2_S
        case 18: return 96;   // IQ3_XXS
        case 21: return 108;  // IQ3_S
        default: return 0;
    }
}

// One weight matrix on the device.
struct DevMatrix {
    uint32_t type = 0;              // ggml type id
    int k = 0, n = 0;               // ne[0] (inputs), ne[1] (outputs)
    const uint8_t* data = nullptr;  // rows row_bytes apart; Q8_0: int8 q (n, k); Q6_K: (n, k/256, 208)
    const float* scale = nullptr;   // (n, scales_per_row): Q8_0 block scales, Q6_K super-block d
    size_t row_bytes = 0;
};

struct MatvecOut {
    const DevMatrix* w;
    float* y;      // (n_rows, y_stride)
    int y_stride;  // floats between activation rows of y
    bool add;      // y += W·x (a residual add) instead of y = W·x
};

ActFormat act_format_for(uint32_t weight_type);

// Host side: a matrix of the file (n rows row_bytes apart, k values each) in its device layout, for
// the types whose layout differs (repacked(type)): each block without its scale (the f16 d, or
// MXFP4's E8M0 byte), in order, and the scales as floats (n, scales_per_row) — Q8_0 as q (n, k)
// int8 + scales (n, k/32), Q6_K as 208-byte super-blocks (ql, qh, scales as in the file) + d
// (n, k/256), and the low-bit types of matvec-lowbit.cuh. Other types upload as is.
struct RepackedMatrix {
    std::vector<uint8_t> data;  // n rows of row_bytes
    std::vector<float> scale;   // (n, scales_per_row)
    size_t row_bytes = 0;
};
bool repacked(uint32_t type);
RepackedMatrix repack_matrix(uint32_t type, const uint8_t* rows, size_t row_bytes, int k, int n);

// The int16 sums of 32 values that follow the block scales in a Q8_K row's scale slots (d_row: the
// row's first slot).
__device__ __forceinline__ int16_t* q8k_sums(float* d_row, int k) { return reinterpret_cast<int16_t*>(d_row + k / 256); }
__device__ __forceinline__ const int16_t* q8k_sums(const float* d_row, int k) {
    return reinterpret_cast<const int16_t*>(d_row + k / 256);
}

// Quantizes x.f (n_rows, x.k) into x.q / x.d; a no-op for ActFormat::F32.
cudaError_t launch_quantize(cudaStream_t stream, ActView x, int n_rows, ActFormat fmt);

// outs[0..count) share x and their weight type and k; x must hold act_format_for(type).
cudaError_t launch_matvec(cudaStream_t stream, const MatvecOut* outs, int count, ActView x, int n_rows);

// h (n_rows, F) = SiLU(gate · x) ⊙ (up · x), F = gate.n = up.n, with swiglu.cuh's arithmetic: one
// launch for both matrices instead of the two outputs and a SwiGLU launch — one row: a warp takes
// gate row o and up row o; 2–8 rows: a tensor-core tile is 8 gate rows and the same 8 up rows — each
// product the plain matvec's (the same bits). K-quant weights (matvec_swiglu_supported); h is not
// quantized (launch_quantize).
bool matvec_swiglu_supported(const DevMatrix& gate, const DevMatrix& up, int n_rows);
cudaError_t launch_matvec_swiglu(cudaStream_t stream, const DevMatrix& gate, const DevMatrix& up, float* h, ActView x, int n_rows);

// Expert matvecs of a mixture of experts (moe.cuh): y[p, r] = Σ_i W_e[r, i] · x[p / x_div, i] for the
// n_pairs (token, slot) pairs p, e = ids[p] (on the device), W_e rows [e·rows, (e + 1)·rows) of the
// stacked matrix w; x holds act_format_for(w.type); y (n_pairs, rows). One or two matrices of one
// type and shape per launch (an FFN's gate and up share the activation). A block serves the pairs of
// one group (moe.cuh's groups: the pairs that share an expert), so an expert's rows are read once;
// each output is the 1-row matvec's (the same code per row), so it does not depend on n_pairs.
// Grid (ceil(rows / rows per block), n_pairs): the blocks past the batch's number of groups return
// at once.
struct ExpertOut {
    const DevMatrix* w;
    float* y;
};
cudaError_t launch_matvec_experts(cudaStream_t stream, const ExpertOut* outs, int count, int rows, const int* ids, const int* groups,
                                  int n_pairs, ActView x, int x_div);

// The input as raw rows to RMS-normalize first (rms-norm.cuh's arithmetic): x (n_rows, k) x_stride
// apart, weight w (k).
struct NormIn {
    const float* x;
    int x_stride;
    const float* w;
    float eps;
};

// Whether launch_matvec_norm serves this weight type and width (Q8_0 / F32-format activations that
// fit in shared memory for kMaxRows rows).
bool matvec_norm_supported(uint32_t weight_type, int k);

// launch_matvec on RMSNorm(norm.x; norm.w): every block normalizes and converts the n_rows input rows
// into shared memory itself (the normed rows are not written out), which saves a launch per norm.
cudaError_t launch_matvec_norm(cudaStream_t stream, const MatvecOut* outs, int count, NormIn norm, int k, int n_rows);

// ---- Quantizers other kernels run on values they produced. One warp per quantization block.

// One Q8_0 block from the 32 lanes' values v (lane l holds value l); the whole warp calls it.
__device__ inline void quantize_lanes_q8_0(float v, int8_t* q, float* d, int lane) {
    const float amax = warp_max(fabsf(v));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    q[lane] = static_cast<int8_t>(__float2int_rn(v * id));
    if (lane == 0) d[0] = round_to_f16(amax / 127.0f);
}

// Block b (256 values) of a Q8_K row of k values from the warp's registers (lane l holds values
// 8l … 8l + 7 of the block in v), with its 8 sums of 32 values; the whole warp calls it. q_row, d_row:
// the row's quantized values and scale slots.
__device__ inline void quantize_lanes_q8_k(const float (&v)[8], int8_t* q_row, float* d_row, int k, int b, int lane) {
    int8_t* q = q_row + 256 * b;
    float* d = d_row + b;
    int16_t* sums = q8k_sums(d_row, k) + 8 * b;
    // The value of largest magnitude, the first one on ties (the CPU scans in order).
    float best = 0.0f, max = 0.0f;
    int at = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        if (fabsf(v[i]) > best) {
            best = fabsf(v[i]);
            max = v[i];
            at = lane * 8 + i;
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(0xffffffffu, best, o), om = __shfl_xor_sync(0xffffffffu, max, o);
        const int oa = __shfl_xor_sync(0xffffffffu, at, o);
        if (ob > best || (ob == best && oa < at)) {
            best = ob;
            max = om;
            at = oa;
        }
    }
    if (best == 0.0f) {
        *reinterpret_cast<int2*>(q + lane * 8) = make_int2(0, 0);
        if (lane % 4 == 0) sums[lane / 4] = 0;
        if (lane == 0) d[0] = 0.0f;
        return;
    }
    const float iscale = -127.0f / max;
    int sum = 0;
    uint32_t packed[2] = {0, 0};
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int x = min(127, __float2int_rn(iscale * v[i]));
        packed[i / 4] |= (static_cast<uint32_t>(x) & 0xFF) << (8 * (i % 4));
        sum += x;
    }
    *reinterpret_cast<int2*>(q + lane * 8) = make_int2(static_cast<int>(packed[0]), static_cast<int>(packed[1]));
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);  // 4 lanes hold a group of 32 values
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    if (lane % 4 == 0) sums[lane / 4] = static_cast<int16_t>(sum);
    if (lane == 0) d[0] = 1.0f / iscale;
}

// Q8_K producers give each warp one 256-value block: a block of 128 threads takes 4 of a row's
// (blockIdx.x), rows in blockIdx.y, so a row's blocks spread over the device instead of queuing in
// one thread block.
constexpr int kQ8kWarps = 4;
inline dim3 q8k_grid(int k, int n_rows) { return dim3((k / 256 + kQ8kWarps - 1) / kQ8kWarps, n_rows); }

// Quantizes one row x (k floats) into Q8_0 blocks q (k) and d (k/32); the calling block's warps share
// the blocks (every thread calls it, after a barrier that makes the row's floats visible).
__device__ inline void quantize_row_q8_0(const float* x, int k, int8_t* q, float* d) {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = blockDim.x / kWarp;
    for (int b = warp; b < k / 32; b += n_warps) quantize_lanes_q8_0(x[32 * b + lane], q + 32 * b, d + b, lane);
}

}  // namespace mtp::cuda
