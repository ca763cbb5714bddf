// Shared device helpers of the CUDA kernels: warp and block reductions in a fixed order (so a
// result never depends on how many rows share a launch), F16/BF16 rounding as the CPU backend does
// it, and the activation formats the matrix kernels read (matvec.cuh).
//
// Numerics: the kernels reproduce the CPU backend's arithmetic operation for operation, so that both
// backends round alike (with quantized activations, a last-bit difference upstream can flip an int8
// rounding and grow through the recurrent state): the CUDA sources are compiled with -fmad=false, so
// `a * b + c` rounds twice like the CPU backend (built with -ffp-contract=off), an explicit fmaf() is
// used where the CPU uses std::fma, exp_poly is the CPU's own exp (cpu/vec-math.cpp), and where the
// CPU calls libm (expf, logf, cosf, sinf, powf) the value is computed in double and rounded once,
// which is what glibc's float functions return.
#pragma once

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace mtp::cuda {

constexpr int kWarp = 32;

// Sum over the 32 lanes by xor butterflies: every lane ends with the same value, in the same order
// for every launch.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide sum (blockDim.x a multiple of 32, at most 1024); every thread gets the total. `scratch`
// holds 32 values. Lane partials are summed by warp, then the warp totals in warp order.
template <typename T>
__device__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = blockDim.x / kWarp;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T total = 0;
    for (int w = 0; w < n_warps; w++) total += scratch[w];
    return total;
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = blockDim.x / kWarp;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float m = scratch[0];
    for (int w = 1; w < n_warps; w++) m = fmaxf(m, scratch[w]);
    return m;
}

__device__ __forceinline__ float round_to_f16(float x) { return __half2float(__float2half_rn(x)); }
__device__ __forceinline__ float round_to_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
__device__ __forceinline__ float f16_bits(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }

// exp(x) as cpu/vec-math.cpp computes it: k = round(x / ln 2) by the 1.5·2^23 trick, r = x − k·ln 2
// in two parts, the Cephes polynomial, 2^k from exponent bits with k clamped to [−126, 127].
__device__ __forceinline__ float exp_poly(float x) {
    constexpr float kRound = 12582912.0f;
    const float k = (x * 1.44269504088896341f + kRound) - kRound;
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    int e = static_cast<int>(k);
    e = e < -126 ? -126 : (e > 127 ? 127 : e);
    return p * __int_as_float((e + 127) << 23);
}

// SiLU and the sigmoid gate as the CPU's vector helpers (vec_silu*, vec_mul_sigmoid).
__device__ __forceinline__ float silu_cpu(float x) { return x / (1.0f + exp_poly(-x)); }
__device__ __forceinline__ float sigmoid_cpu(float x) { return 1.0f / (1.0f + exp_poly(-x)); }

// libm's float functions (glibc rounds them correctly in practice): evaluated in double, rounded once.
__device__ __forceinline__ float libm_expf(float x) { return static_cast<float>(exp(static_cast<double>(x))); }
__device__ __forceinline__ float libm_logf(float x) { return static_cast<float>(log(static_cast<double>(x))); }
__device__ __forceinline__ float libm_cosf(float x) { return static_cast<float>(cos(static_cast<double>(x))); }
__device__ __forceinline__ float libm_sinf(float x) { return static_cast<float>(sin(static_cast<double>(x))); }
__device__ __forceinline__ float libm_powf(float x, float y) {
    return static_cast<float>(pow(static_cast<double>(x), static_cast<double>(y)));
}

// ---- int8 tensor-core and asynchronous-copy primitives (sm_80+), for the matrix kernels.

// c = A·B for A 16 × 16 int8 (a0: row lane / 4, a1: row lane / 4 + 8, bytes 4·(lane % 4) … of each)
// and B 16 × 8 (b: bytes 4·(lane % 4) … of column lane / 4); c0, c1: row lane / 4, columns
// 2·(lane % 4) + 0, 1; c2, c3: row lane / 4 + 8.
__device__ __forceinline__ void mma_k16(int (&c)[4], int a0, int a1, int b) {
    asm("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5}, {%6}, {%7, %7, %7, %7};"
        : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
        : "r"(a0), "r"(a1), "r"(b), "r"(0));
}

// The same over 32 values: a2, a3 and b1 hold bytes 16 + 4·(lane % 4) ….
__device__ __forceinline__ void mma_k32(int (&c)[4], int a0, int a1, int a2, int a3, int b0, int b1) {
    asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %10, %10, %10};"
        : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
}

// Four 8 × 16-byte shared-memory matrices, lane 8i + r giving row r of matrix i; r[i] = bytes
// 4·(lane % 4) … of row lane / 4 of matrix i (an mma fragment).
__device__ __forceinline__ void ldmatrix_x4(int (&r)[4], const void* row) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

// Copies to shared memory that complete asynchronously, in commit groups; wait_async<n>() waits
// until at most n of the thread's groups are still in flight.
__device__ __forceinline__ void copy_async16(void* dst, const void* src) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(a), "l"(src));
}
__device__ __forceinline__ void copy_async4(void* dst, const void* src) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(a), "l"(src));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;"); }
template <int kInFlight>
__device__ __forceinline__ void wait_async() {
    asm volatile("cp.async.wait_group %0;" ::"n"(kInFlight));
}

// ---- Programmatic dependent launch (sm_90+). Every kernel is launched by launch() below, so the
// next kernel on the stream (and in a captured graph) may start while this one drains: its blocks
// become resident as soon as every block of this one has called pdl_enter(), run what does not
// depend on earlier kernels (the tensor-core matvec stages its first weights in shared memory), and
// wait in pdl_enter() until this kernel has finished and its writes are visible. A kernel calls
// pdl_enter() before it reads anything an earlier kernel wrote and before it writes anything (an
// earlier kernel may still read it), in every block, before any early return: that makes the
// completion of each kernel imply the completion of all before it. No-ops before sm_90.
__device__ __forceinline__ void pdl_enter() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// Whether launches are programmatic: the device takes them (compute capability 9.0 and up) and
// MTP_CUDA_PDL=0 was not set when the process first launched a kernel (to measure what they buy).
inline bool pdl_supported() {
    static const bool ok = [] {
        const char* env = std::getenv("MTP_CUDA_PDL");
        if (env && std::strcmp(env, "0") == 0) return false;
        int dev = 0, major = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
            cudaGetLastError();
            return false;
        }
        return major >= 9;
    }();
    return ok;
}

// The current device's number of SMs (1 if it cannot be read), for launch geometry; read once.
inline int device_sm_count() {
    static const int sms = [] {
        int dev = 0, n = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
            cudaGetLastError();
        }
        return n > 0 ? n : 1;
    }();
    return sms;
}

// kernel<<<grid, block, shared, stream>>>(args…) as a programmatic dependent launch (see
// pdl_enter); the launch's error.
template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream, Args... args) {
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = shared;
    cfg.stream = stream;
    cfg.attrs = &attr;
    cfg.numAttrs = pdl_supported() ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
}

// How a matrix kernel wants its activation rows (one per weight type, spec §3.11):
//   F32  — float rows; F16/BF16/F32 weights round them on the fly (to F16 / BF16 / not at all)
//   Q8_0 — per 32 values: int8 q and the F16-rounded scale d (as float)
//   Q8_K — per 256 values: int8 q and the float scale d (K-quant weights)
enum class ActFormat : int { F32 = 0, Q8_0 = 1, Q8_K = 2 };

// Activation rows of one buffer: f (rows, K) floats always; q (rows, K) int8 and d (rows, K / 32)
// scales for the quantized formats (Q8_K uses d[row · K/32 + sb] for super-block sb).
struct ActView {
    float* f;
    int8_t* q;
    float* d;
    int k;  // values per row

    __host__ __device__ ActView rows_from(size_t r) const {  // the rows from r on
        return ActView{f + r * k, q + r * k, d + r * (k / 32), k};
    }
};

}  // namespace mtp::cuda
