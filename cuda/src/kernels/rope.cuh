// Query/key preparation of gated attention (spec §3.3 steps 3–5, §3.4): per head RMSNorm of q and
// k, IMROPE in NeoX pairing on the first R dims, then K and V appended to the F16 cache and q
// rounded to F16 (the CPU backend rounds q before q·K, as llama.cpp's non-flash path does).
//
//   qg   (n, H, 2D)   per head [query | gate] from attn_q           → q16 (n, H, D) f16
//   k, v (n, Hkv, D)  from attn_k / attn_v                          → kc, vc (n_ctx, Hkv, D) f16 at pos
//   pos  = *pos_base + pos_offset + t  (read on the device, so a captured graph serves every step)
//
// Launch geometry: blocks of 256 threads, (ceil((H + Hkv) / 8), n_rows): each block computes the
// row's rope angles into shared memory, then warp w of block g handles head 8g + w of the H query
// and Hkv key heads (a warp-private D-float slice of shared memory); block 0 copies V.
#pragma once

#include "common.cuh"

namespace mtp::cuda {

struct RopeParams {
    int n_head, n_head_kv, head_dim, n_rot;  // H, Hkv, D, R
    int sections[4];
    float freq_base, freq_scale, attn_factor, eps;
};

cudaError_t launch_qk_norm_rope_store(cudaStream_t stream, const RopeParams& p, const float* qg, const float* k,
                                      const float* v, const float* q_norm, const float* k_norm, const int* pos_base,
                                      int pos_offset, int n_rows, __half* q16, __half* kc, __half* vc);

}  // namespace mtp::cuda
