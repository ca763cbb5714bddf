// The CPU backend's session: KV cache and recurrent state of one sequence, and the qwen35 trunk
// forward over a batch of consecutive tokens (spec §3). Readable first (llama2.c style): one
// function per block part, activations as row-major (n_tokens, width) float matrices.
#pragma once

#include <cstdint>
#include <vector>

#include "../src/runtime/weights.h"
#include "thread-pool.h"

namespace mtp {

class CpuSession {
public:
    CpuSession(const ModelWeights& w, uint32_t n_ctx, int n_threads);

    uint32_t n_ctx() const { return n_ctx_; }
    uint32_t n_past() const { return n_past_; }
    uint32_t n_vocab() const { return hp_.n_vocab; }
    void reset();

    // tokens (n), validated by the caller; logits (n_logit_rows, V); hidden (n, E) or nullptr.
    void eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits,
              float* hidden);

private:
    // y (n, w.ne[1]) = x (n, w.ne[0]) · wᵀ with the activation converted as llama.cpp does (§3.11).
    void matmul(const Tensor& w, const float* x, uint32_t n, float* y);
    void attention(int il, const float* a, uint32_t n, float* out);
    void gated_delta_net(int il, const float* a, uint32_t n, float* out);
    void ffn(int il, const float* a, uint32_t n, float* out);

    const ModelWeights& w_;
    const mtp_hparams& hp_;
    uint32_t n_ctx_;
    uint32_t n_past_ = 0;
    ThreadPool pool_;
    std::vector<int> slot_;  // (n_layer) index into the KV or the recurrent state vectors, by layer kind
    std::vector<std::vector<uint16_t>> k_cache_, v_cache_;  // per attention layer: (n_ctx, H_kv, D) f16
    std::vector<std::vector<float>> conv_state_;             // per GDN layer: (Cc, Kc-1), oldest first
    std::vector<std::vector<float>> ssm_state_;              // per GDN layer: (Hv, Dv, Dk): S_j[a][b] at (j·Dv + b)·Dk + a
    std::vector<uint8_t> act_;                               // converted activations of the current matmul
};

}  // namespace mtp
