// Sampling on the device, for the sampled speculative step's draft chain: the sampler chain after
// top-k on a row's candidates (top-logits.cuh) and the draw, by the host's own code
// (runtime/sampler-chain.h) with libm's exp and log, so that the distribution and the token are
// the host's for the same candidates and uniform.
//
//   top    (k) TokenLogit, best first (id −1 past the last candidate; at least one: top_logits)
//   args   the chain's parameters and the step's uniforms; a draw takes uniforms[used] and counts
//          it, unless the distribution is a point mass (then its token, no draw)
//   token  the drawn token; dist (k) TokenProb the distribution's n items, dist_n: n
//
// Launch geometry: one block of one warp; every lane runs the chain on its own copy of the ≤ 64
// candidates and the lanes share its exps (the costly step), lane 0 writes the token.
#pragma once

#include "../runtime/sampler-chain.h"
#include "matvec.cuh"

namespace mtp::cuda {

struct SampleArgs {
    float temperature, top_p, min_p;
    int32_t used;                // uniforms taken so far in this step
    double uniforms[kMaxRows];   // the stream's next ones (Rng::peek)
};

cudaError_t launch_sample_row(cudaStream_t stream, const TokenLogit* top, int k, SampleArgs* args, int* token, TokenProb* dist,
                              int* dist_n);

}  // namespace mtp::cuda
