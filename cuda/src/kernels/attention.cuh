// Gated attention over the F16 KV cache for decode and verify widths (spec §3.3 steps 6–7), with
// the CPU backend's roundings and summation order (cpu/attention-order.h): q is F16 (rope.cuh),
// scores (q·K_p)/sqrt(D) in float; a row of at most kAttnChunk positions takes the softmax with the
// max subtracted and the sum in double, weights rounded to F16 before they weight V; a longer row is
// summed in chunks of kAttnChunk positions (flash decoding) and the chunks combined in order; then
// the output gate o ⊙ σ(gate).
//
//   q16    (n, H, D) f16          qg (n, H, 2D) float, gate = second half of each head
//   kc, vc (n_ctx, Hkv, D) f16    row t attends positions 0 … *pos_base + pos_offset + t
//   scratch attention_scratch_bytes(H, D, n_ctx): every row's scores, the chunks' results, arrival counts
//   out    (n, H, D) float; with out_q / out_d also quantized to Q8_0 for attn_output (q (n, H·D)
//          int8, d (n, H·D/32)): a block of 32 outputs is one warp's
//
// Launch geometry: two launches, each a row's work the same code whatever the batch width. The
// scores: 128-thread blocks (head, row, split), as many as an SM holds, a row's positions split over
// its blocks; K rows pass through shared memory 64 positions at a time (coalesced loads), a thread per
// position; the V rows of those positions asked into L2. The weighted V: one-warp blocks (head, row,
// chunk slot × 64-dim group), so that a context's chunks and a head's dims run side by side (a dim's
// sum over positions is one ordered chain); each block takes its chunk's softmax statistics itself
// and reads V straight from the cache, 64 positions' loads in flight a lane; a short row's block
// applies the gate, a long row's chunks are combined by the dim group's block that finishes last.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

// Bytes of the scratch of launch_gated_attention for up to kMaxRows rows of n_head heads of head_dim
// over a cache of n_ctx positions.
size_t attention_scratch_bytes(int n_head, int head_dim, int n_ctx);

cudaError_t launch_gated_attention(cudaStream_t stream, const __half* q16, const float* qg, const __half* kc,
                                   const __half* vc, const int* pos_base, int pos_offset, int n_rows, int n_head,
                                   int n_head_kv, int head_dim, int n_ctx, void* scratch, float* out, int8_t* out_q,
                                   float* out_d);

}  // namespace mtp::cuda
