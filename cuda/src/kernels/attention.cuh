// Gated attention over the F16 KV cache for decode and verify widths (spec §3.3 steps 6–7), with
// the CPU backend's roundings and summation order (cpu/attention-order.h): q is F16 (rope.cuh),
// scores (q·K_p)/sqrt(D) in float; a row of at most kAttnChunk positions takes the softmax with the
// max subtracted and the sum in double, weights rounded to F16 before they weight V; a longer row is
// summed in chunks of kAttnChunk positions (flash decoding) and the chunks combined in order; then
// the output gate o ⊙ σ(gate).
//
//   q16    (n, H, D) f16          qg (n, H, 2D) float, gate = second half of each head
//   kc, vc (n_ctx, Hkv, D) f16    row t attends positions 0 … *pos_base + pos_offset + t
//   scratch attention_scratch_bytes(H, D, n_ctx): the short rows' scores, the long rows' chunk
//          results
//   out    (n, H, D) float; with out_q / out_d also quantized to Q8_0 for attn_output (q (n, H·D)
//          int8, d (n, H·D/32)): a block of 32 outputs is one warp's
//
// Launch geometry: two launches of 128-thread blocks. The first, blocks (head, row, split) with
// about 4 blocks per SM: a short row's scores, its positions split over the row's blocks (a score's
// arithmetic is the same whichever block computes it); a long row's chunks, chunk c in split
// c mod splits (its max, sum and weighted V). K and V rows pass through shared memory 64 positions
// at a time (coalesced loads), a thread per position for the scores and per dim for the weighted V.
// The second, a block per (head, row): a short row's softmax and weighted V, a long row's combination
// of its chunks; the gate. The work for a row is the same code whatever the batch width.
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
