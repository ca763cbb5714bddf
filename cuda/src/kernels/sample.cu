// See sample.cuh.
#include "sample.cuh"

#include "top-logits.cuh"  // kMaxTopLogits

namespace mtp::cuda {

namespace {

// exp_all of the chain on the warp: lane l takes values l, l + 32, … of the lane's own (identical)
// copy into shared memory, and every lane reads them all back.
struct LanesExp {
    float* shared;  // kMaxTopLogits floats
    __device__ void operator()(float* v, int n) const {
        const int lane = threadIdx.x % kWarp;
        for (int i = lane; i < n; i += kWarp) shared[i] = libm_expf(v[i]);
        __syncwarp();
        for (int i = 0; i < n; i++) v[i] = shared[i];
        __syncwarp();  // every lane has read them before a next call overwrites them
    }
};
struct LibmLog {
    __device__ float operator()(float x) const { return libm_logf(x); }
};

// One warp: each lane runs the chain on its own copy of the candidates (the same steps in the same
// order, so the same results), sharing the exps; lane 0 writes the token and takes the uniform.
__global__ void sample_row_kernel(const TokenLogit* top, int k, SampleArgs* args, int* token, TokenProb* dist, int* dist_n) {
    pdl_enter();
    __shared__ float exps[kMaxTopLogits];
    const int lane = threadIdx.x % kWarp;
    TokenLogit c[kMaxTopLogits];
    float p[kMaxTopLogits];
    TokenProb out[kMaxTopLogits];
    int n = 0;
    while (n < k && top[n].id >= 0) {
        c[n] = top[n];
        n++;
    }
    const int m = chain_sorted(c, n, args->top_p, args->min_p, args->temperature, p, out, LanesExp{exps}, LibmLog{});
    for (int i = lane; i < m; i += kWarp) dist[i] = out[i];
    if (lane == 0) {
        *dist_n = m;
        *token = m == 1 ? out[0].id : draw_at(out, m, args->uniforms[args->used++]);
    }
}

}  // namespace

cudaError_t launch_sample_row(cudaStream_t stream, const TokenLogit* top, int k, SampleArgs* args, int* token, TokenProb* dist,
                              int* dist_n) {
    if (k < 1 || k > kMaxTopLogits) return cudaErrorInvalidValue;
    return launch(sample_row_kernel, dim3(1), kWarp, 0, stream, top, k, args, token, dist, dist_n);
}

}  // namespace mtp::cuda
