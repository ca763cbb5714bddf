// The routed mixture of experts of qwen35moe (spec §3.9) with the CPU backend's operations
// (CpuSession::moe_ffn, llama.cpp's build_moe_ffn):
//
//   route    p = softmax(router logits) over the X experts (exp as libm's, the sum in double in
//            expert order), the k most probable in descending order (ties: the lower index), their
//            weights p_e / max(Σ_top p (double, in that order), 2^-14)
//   group    the pairs by expert, so that an expert's rows are read from memory once per batch
//   experts  y[t, j] = FFN_e(a_t) for e = ids[t, j]: gate/up and down matvecs of expert e's rows of
//            the stacked tensors (launch_matvec_experts, matvec.cuh), each pair's a 1-row matvec, so
//            a token's result does not depend on the batch or on which other tokens share its experts
//   combine  x_t += (Σ_j y[t, j] · w[t, j] (in j order) + shexp_t · σ(shexp gate logit_t))
//
//   router (n, X), ids / weights (n, k), expert rows (n·k, ·): row t·k + j; shexp, x (n, E).
//   groups (2·n·k + 2) ints: [0] the number of groups G (distinct experts of the batch), [1 … G + 1]
//            begin, [2 + n·k …] order: group g's pairs are order[begin[g] … begin[g + 1]).
#pragma once

#include "matvec.cuh"

namespace mtp::cuda {

// Routing then grouping, in one block (one launch): a warp per token (the exps in parallel, the
// double sums by lane 0 in order, k warp-wide argmaxes), up to 32 warps, then the grouping.
cudaError_t launch_moe_route(cudaStream_t stream, const float* router, int n, int n_expert, int k, int* ids, float* weights,
                             int* groups);

// The combine step above; y (n·k, E), weights (n·k), shexp (n, E), gate_logit (n), x (n, E).
cudaError_t launch_moe_combine(cudaStream_t stream, const float* y, const float* weights, const float* shexp, const float* gate_logit,
                               int n, int k, int E, float* x);

}  // namespace mtp::cuda
