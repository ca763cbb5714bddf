// The Gated DeltaNet recurrence with its gated output norm (spec §3.5 steps 5–9), token by token
// over a batch, writing the state after each token to a snapshot plane for rollback (spec §3.7).
// Operation order of the CPU backend: L2 norms of q/k in double, decay, delta = (v − Sᵀk)·β, the
// rank-1 update as fmaf, o = Sᵀq / sqrt(Dk), RMSNorm(o; ssm_norm) ⊙ SiLU(z).
//
//   y     (n, Cc)           conv output [q (Hk, Dk) | k (Hk, Dk) | v (Hv, Dv)]
//   z     (n, Hv, Dv)       attn_gate output;   beta, alpha (n, Hv) raw ssm_beta / ssm_alpha outputs
//   state (Hv, Dv, Dk)      S_j[a][b] at (j·Dv + b)·Dk + a (updated in place)
//   snap  (n_snap, Hv, Dv, Dk) or null: plane snap_offset + t = the state after token t
//   out   (n, Hv, Dv); with out_q / out_d also quantized to Q8_0 for ssm_out (q (n, Hv·Dv) int8,
//         d (n, Hv·Dv/32)): a block of 32 outputs is one warp's
//
// Launch geometry: one block per value head j (key head j mod Hk), Dv <= 128 threads; thread b keeps
// row b of S_j (Dk floats) in registers for the whole batch (n <= 8 tokens) and sums over a in order.
// Dk ∈ {64, 128}.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

struct GdnParams {
    int n_key_heads, n_value_heads, key_dim, value_dim, channels;  // Hk, Hv, Dk, Dv, Cc
    float eps;
};

cudaError_t launch_gated_delta_net(cudaStream_t stream, const GdnParams& p, const float* y, const float* z,
                                   const float* beta, const float* alpha, const float* dt_bias, const float* a_log_neg,
                                   const float* norm_w, float* state, float* snap, int snap_offset, int n_snap,
                                   int n_rows, float* out, int8_t* out_q, float* out_d);

}  // namespace mtp::cuda
