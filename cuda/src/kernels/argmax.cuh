// Greedy token choice on the device: the index of each row's largest logit (the smallest index on
// ties, as the CPU sampler picks it; NaN never, and an all-NaN / −inf row gives 0).
//
//   logits (n, V) floats → out (n) int32; scratch argmax_scratch_bytes(V)
//
// Two launches: blocks (slice, row) of 256 threads find the first largest of 4096 logits each (a
// thread's 16 loads in flight together, then a shared-memory tree of (value, index) pairs); a block
// per row picks the best of its slices' pairs by the same rule. (One block scanning a 248320-wide
// row waited on ~970 dependent rounds of loads: ~40 µs of the 27B shape's step.)
#pragma once

#include "common.cuh"

namespace mtp::cuda {

// Bytes of scratch for up to kMaxRows rows of V logits.
size_t argmax_scratch_bytes(int n_vocab);

cudaError_t launch_argmax(cudaStream_t stream, const float* logits, int n_vocab, int n_rows, void* scratch, int* out);

}  // namespace mtp::cuda
