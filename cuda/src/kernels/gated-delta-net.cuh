// The Gated DeltaNet recurrence with its gated output norm (spec §3.5 steps 5–9), token by token
// over a batch, writing the state after each token to a snapshot plane for rollback (spec §3.7).
// Operation order of the CPU backend: L2 norms of q/k in double, decay, delta = (v − Sᵀk)·β, the
// rank-1 update as fmaf, o = Sᵀq / sqrt(Dk), RMSNorm(o; ssm_norm) ⊙ SiLU(z).
//
//   y     (n, Cc)           conv output [q (Hk, Dk) | k (Hk, Dk) | v (Hv, Dv)]
//   z     (n, Hv, Dv)       attn_gate output;   beta, alpha (n, Hv) raw ssm_beta / ssm_alpha outputs
//   state (Hv, Dk, Dv)      S_j[a][b] at (j·Dk + a)·Dv + b (updated in place)
//   snap  (planes, Hv, Dk, Dv) or null: plane snap_offset + t = the state after token t, written
//         for snap_offset + t < n_snap
//   live  null, or a device int: when > 0 the batch starts from snapshot plane *live − 1 instead of
//         state (a rolled-back batch's kept token: the session's keep), and ends in state as always;
//         a block reads its head's plane whole before it writes any, so the batch may overwrite it
//   out   (n, Hv, Dv); with out_q / out_d also quantized to Q8_0 for ssm_out (q (n, Hv·Dv) int8,
//         d (n, Hv·Dv/32)): a block of 32 outputs is one warp's
//
// Launch geometry: one block per value head j (key head j mod Hk), 2·Dv <= 256 threads; lanes 2b and
// 2b + 1 keep row b of S_j (Dk/2 floats each) in registers for the whole batch (n <= 8 tokens) and
// sum over a in order across the pair. Dk = Dv ∈ {64, 128} (every Qwen3.5 / 3.6
// release) or 32 (the test fixtures).
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
                                   int n_rows, float* out, int8_t* out_q, float* out_d, const int* live = nullptr);

}  // namespace mtp::cuda
