// Gated attention over the F16 KV cache for decode and verify widths (spec §3.3 steps 6–7), with
// the CPU backend's roundings: q is F16 (rope.cuh), scores (q·K_p)/sqrt(D) in float, softmax with
// the max subtracted and the sum in double, weights rounded to F16 before they weight V, then the
// output gate o ⊙ σ(gate).
//
//   q16    (n, H, D) f16          qg (n, H, 2D) float, gate = second half of each head
//   kc, vc (n_ctx, Hkv, D) f16    row t attends positions 0 … *pos_base + pos_offset + t
//   scores (kMaxRows, H, n_ctx)   float scratch for rows attending more than 2048 positions
//   out    (n, H, D) float; with out_q / out_d also quantized to Q8_0 for attn_output (q (n, H·D)
//          int8, d (n, H·D/32)): a block of 32 outputs is one warp's
//
// Launch geometry: one block of 128 threads per (head, row): threads stride over positions for the
// scores and over dims for the output (each o[d] sums positions in order); K and V rows pass through
// shared memory 64 positions at a time (coalesced loads). The work for a row is the same code
// whatever the batch width.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

cudaError_t launch_gated_attention(cudaStream_t stream, const __half* q16, const float* qg, const __half* kc,
                                   const __half* vc, const int* pos_base, int pos_offset, int n_rows, int n_head,
                                   int n_head_kv, int head_dim, int n_ctx, float* scores, float* out, int8_t* out_q,
                                   float* out_d);

}  // namespace mtp::cuda
