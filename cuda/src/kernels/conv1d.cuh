// Causal depthwise conv1d update + SiLU of a Gated DeltaNet layer (spec §3.5 step 4, §3.1), token
// by token over a batch, recording the window after each token for rollback (spec §3.7).
//
//   x     (n, Cc)          raw attn_qkv output            y (n, Cc) = SiLU(conv)
//   state (Kc−1, Cc)       the last Kc−1 inputs per channel, oldest first (updated in place)
//   w     (Cc, Kc)         ssm_conv1d, tap Kc−1 multiplies the current token
//   snap  (planes, Kc−1, Cc) or null: plane snap_offset + t = the window after token t, written for
//         snap_offset + t < n_snap
//   live  null, or a device int: when > 0 the batch starts from snapshot plane *live − 1 instead of
//         state (a rolled-back batch's kept token: the session's keep), and ends in state as always;
//         a thread reads its channel's window before it writes any plane
//
// Launch geometry: one thread per channel (128-thread blocks), the tokens in groups of 8 with their
// inputs loaded first; a channel sums its taps in order.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

constexpr int kMaxConvKernel = 8;

cudaError_t launch_conv1d_update(cudaStream_t stream, const float* x, float* state, const float* w, float* y,
                                 float* snap, int snap_offset, int n_snap, int n_rows, int channels, int kernel,
                                 const int* live = nullptr);

}  // namespace mtp::cuda
