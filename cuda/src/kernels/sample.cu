// See sample.cuh.
#include "sample.cuh"

#include "top-logits.cuh"  // kMaxTopLogits

namespace mtp::cuda {

namespace {

struct LibmExp {
    __device__ float operator()(float x) const { return libm_expf(x); }
};
struct LibmLog {
    __device__ float operator()(float x) const { return libm_logf(x); }
};

__global__ void sample_row_kernel(const TokenLogit* top, int k, SampleArgs* args, int* token, TokenProb* dist, int* dist_n) {
    pdl_enter();
    if (threadIdx.x != 0) return;
    TokenLogit c[kMaxTopLogits];
    float p[kMaxTopLogits];
    int n = 0;
    while (n < k && top[n].id >= 0) {
        c[n] = top[n];
        n++;
    }
    const int m = chain_sorted(c, n, args->top_p, args->min_p, args->temperature, p, dist, LibmExp{}, LibmLog{});
    *dist_n = m;
    *token = m == 1 ? dist[0].id : draw_at(dist, m, args->uniforms[args->used++]);
}

}  // namespace

cudaError_t launch_sample_row(cudaStream_t stream, const TokenLogit* top, int k, SampleArgs* args, int* token, TokenProb* dist,
                              int* dist_n) {
    if (k < 1 || k > kMaxTopLogits) return cudaErrorInvalidValue;
    return launch(sample_row_kernel, dim3(1), kWarp, 0, stream, top, k, args, token, dist, dist_n);
}

}  // namespace mtp::cuda
