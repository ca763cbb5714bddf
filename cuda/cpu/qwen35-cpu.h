// The CPU backend's session: KV cache and recurrent state of one sequence, and the qwen35 trunk
// forward over a batch of consecutive tokens (spec §3). Readable first (llama2.c style): one
// function per block part, activations as row-major (n_tokens, width) float matrices.
#pragma once

#include <cstdint>
#include <vector>

#include "../src/runtime/speculative.h"
#include "../src/runtime/weights.h"
#include "q8_0-packed.h"
#include "thread-pool.h"

namespace mtp {

// Also the MTP head (spec §4) with its own KV cache, and rollback into the last evaluated batch: a
// batch of up to n_draft_max + 1 tokens records the Gated DeltaNet conv state after each token
// (the snapshot planes of spec §3.7) and each token's rank-1 recurrent update, so keep(n) restores
// the state after token n − 1 without re-evaluating the model. It is the DecodeBackend the shared
// decode loop drives.
class CpuSession : public DecodeBackend {
public:
    // packed: the model's repacked Q8_0 matrices (may be empty), shared by its sessions.
    CpuSession(const ModelWeights& w, const PackedWeights& packed, uint32_t n_ctx, uint32_t n_draft_max, int n_threads);

    uint32_t n_past() const { return n_past_; }
    uint32_t n_draft_max() const { return n_planes_ - 1; }
    void reset();

    // tokens (n), validated by the caller; logits (n_logit_rows, V); hidden (n, E) or nullptr.
    void eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits,
              float* hidden);
    // Keeps the first n_keep tokens of the last eval batch; the batch had at most n_draft_max + 1
    // tokens unless n_keep is all of it.
    void keep(uint32_t n_keep);

    // DecodeBackend
    int32_t n_vocab() const override { return static_cast<int32_t>(hp_.n_vocab); }
    int32_t n_embd() const override { return static_cast<int32_t>(hp_.n_embd); }
    int32_t n_ctx() const override { return static_cast<int32_t>(n_ctx_); }
    bool has_mtp() const override { return hp_.n_mtp > 0; }
    int32_t trunk_n_past() const override { return static_cast<int32_t>(n_past_); }
    void trunk_eval(const int32_t* tokens, int32_t n, int32_t logits_from, float* logits, float* hidden) override;
    void trunk_keep(int32_t n_keep) override { keep(static_cast<uint32_t>(n_keep)); }
    int32_t mtp_n_past() const override { return static_cast<int32_t>(mtp_n_past_); }
    void mtp_eval(const int32_t* tokens, const float* hidden_in, int32_t n, float* logits_last, float* hidden_last) override;
    void mtp_truncate(int32_t n_pos) override;

private:
    // y (n, w.ne[1]) = x (n, w.ne[0]) · wᵀ with the activation converted as llama.cpp does (§3.11).
    void matmul(const Tensor& w, const float* x, uint32_t n, float* y);
    // Several matmuls of the same input (same ne[0]) in one thread-pool dispatch; every output row
    // is computed exactly as matmul computes it.
    struct MatmulOut {
        const Tensor* w;
        float* y;
    };
    static constexpr int kMaxFused = 4;
    void matmuls(const MatmulOut* outs, int count, const float* x, uint32_t n);
    // Gated attention of block L over the cache kc ((H_kv, D, n_ctx) f16: keys transposed, so the
    // scores of consecutive positions are computed side by side) and vc ((n_ctx, H_kv, D) f16)
    // holding n_past positions.
    void attention(const LayerWeights& L, const float* a, uint32_t n, uint32_t n_past, uint16_t* kc, uint16_t* vc,
                   float* out);
    void gated_delta_net(int il, const float* a, uint32_t n, float* out);
    // out (n, E) = the dense SwiGLU FFN of a, or the MoE FFN (qwen35moe).
    void ffn(const LayerWeights& L, const float* a, uint32_t n, float* out);
    void moe_ffn(const LayerWeights& L, const float* a, uint32_t n, float* out);

    const ModelWeights& w_;
    const PackedWeights& packed_;
    const mtp_hparams& hp_;
    uint32_t n_ctx_;
    uint32_t n_past_ = 0;
    ThreadPool pool_;
    std::vector<int> slot_;  // (n_layer) index into the KV or the recurrent state vectors, by layer kind
    std::vector<std::vector<uint16_t>> k_cache_, v_cache_;  // per attention layer: K (H_kv, D, n_ctx), V (n_ctx, H_kv, D) f16
    // The Gated DeltaNet conv state in planes: plane live_ holds the inputs up to the last kept token.
    // A batch that may be rolled back (1 < n <= n_planes) steps from plane to plane: token 0 updates
    // the live plane in place (no keep(n) goes back before it), token t reads the plane token t − 1
    // wrote and writes plane (live + t) mod n_planes; keep(n) then makes plane (live + n − 1) live.
    // Other batches update the live plane in place. No conv state is ever copied.
    uint32_t state_plane_out(uint32_t n, uint32_t t) const { return n > 1 && n <= n_planes_ ? (live_ + t) % n_planes_ : live_; }
    uint32_t state_plane_in(uint32_t n, uint32_t t) const { return t == 0 ? live_ : state_plane_out(n, t - 1); }
    uint32_t n_planes_;                                      // = n_draft_max + 1
    uint32_t live_ = 0, batch_live_ = 0;                     // the live plane, and what it was before the last batch
    std::vector<std::vector<float>> conv_planes_;            // per GDN layer: (n_planes, Kc-1, Cc), oldest input first
    std::vector<std::vector<float>> conv_kernel_t_;          // per GDN layer: (Kc, Cc), the conv kernel transposed
    // The recurrent state: two planes per GDN layer (one when no rollback is possible), S_j[a][b] at
    // (j·Dk + a)·Dv + b; plane ssm_live_ is the state after the last kept token (see gated_delta_net).
    std::vector<std::vector<float>> ssm_planes_;             // per GDN layer: (1 or 2, Hv, Dk, Dv)
    uint32_t ssm_live_ = 0, ssm_batch_live_ = 0;             // the live plane, and the one the last batch started from
    struct GdnReplay {                                       // per GDN layer, the last recorded batch's tokens:
        std::vector<float> k;                                //   (n_planes, Hk, Dk) L2-normed keys
        std::vector<float> delta;                            //   (n_planes, Hv, Dv) deltas
        std::vector<float> decay;                            //   (n_planes, Hv) exp(gamma)
    };
    std::vector<GdnReplay> replay_;
    uint32_t batch_start_ = 0, batch_n_ = 0;                 // the last eval batch
    std::vector<uint16_t> mtp_k_, mtp_v_;                    // MTP block KV, laid out as k_cache_ / v_cache_
    uint32_t mtp_n_past_ = 0;
    std::vector<uint8_t> act_;                               // converted activations of the current matmul
    std::vector<float> act_dx_;                              // (n, n_in / 32) their Q8_0 block scales, for the packed kernel
    std::vector<int32_t> act_corr_;                          // (n, n_in / 32) −128 · Σ block values, for the packed kernel
};

}  // namespace mtp
