// The k best logits of each row on the device, for sampling with top-k (runtime/sampling.h's
// top_logits, which it equals: the same k candidates by logit descending, the lower id first among
// equals, NaN never a candidate; an all-NaN row gives token 0 with logit 0). Only rows × k
// candidates then leave the device instead of rows × V logits.
//
//   logits (n, V) floats → out (n, k) TokenLogit, sorted best first; fewer than k non-NaN logits:
//   the rest id −1
//
// Each logit becomes a 64-bit key that orders the candidates (the float's order flipped, then the
// id; NaN and padding last), so a sort of keys is the by-logit order. Two launches: blocks (slice,
// row) keep the k smallest of 4096 keys of a row; a block per row those of the slices' k each (at
// most 4096) and writes them. A block bounds its k smallest by the k-th smallest of its threads'
// minima and sorts (bitonic, shared memory) only the keys within the bound.
#pragma once

#include "../runtime/sampling.h"
#include "common.cuh"

namespace mtp::cuda {

constexpr int kMaxTopLogits = 64;

// Whether launch_top_logits serves k candidates of a V-wide row (1 <= k <= 64, ceil(V / 4096)·k
// <= 4096: the 248320-token vocabulary up to k = 64).
bool top_logits_supported(int n_vocab, int k);

// Bytes of scratch for up to kMaxRows rows.
size_t top_logits_scratch_bytes(int n_vocab, int k);

cudaError_t launch_top_logits(cudaStream_t stream, const float* logits, int n_vocab, int n_rows, int k, void* scratch,
                              TokenLogit* out);

}  // namespace mtp::cuda
