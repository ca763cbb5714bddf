/*
 * speculative.h — the decode loop, written once for every backend: plain decoding (K = 0) and MTP
 * self-speculative decoding (draft K tokens with the NextN head → verify K+1 tokens in one trunk
 * pass → accept → commit / roll back). ../shared/docs/qwen35-mtp-spec.md §4–§5 describe llama.cpp's
 * draft-mtp loop, which this follows with two changes:
 *   - sampled acceptance is speculative (rejection) sampling (sampling.h), not exact match;
 *   - the MTP cache is brought up to date with the accepted tokens in the same MTP batch that
 *     drafts the next step (llama.cpp runs a separate "process" batch), so a step costs one MTP
 *     batch + K−1 single-row MTP evals + one trunk batch.
 *
 * Invariants (checked by cuda/tests/speculative-test.cpp on a toy backend):
 *   - greedy output is token-identical to K = 0;
 *   - the MTP cache entry at position p was computed from (x_p, h_final(p−1)) of the trunk for every
 *     committed p (h_final(−1) = 0), entries written while drafting are dropped before they matter;
 *   - an end-of-generation token inside the accepted window ends generation there; the n_predict
 *     budget and the context size cap the draft length so no work is done past them.
 */
#ifndef MTP_RUNTIME_SPECULATIVE_H
#define MTP_RUNTIME_SPECULATIVE_H

#include <cstdint>
#include <deque>
#include <vector>

#include "sampling.h"

namespace mtp {

/* What a backend provides to the decode loop. Logits and hidden rows are host float arrays. */
class DecodeBackend {
public:
    virtual ~DecodeBackend() = default;
    virtual int32_t n_vocab() const = 0;
    virtual int32_t n_embd() const = 0;
    virtual int32_t n_ctx() const = 0;
    virtual bool has_mtp() const = 0;
    /* Positions the trunk has evaluated (the next token goes to position trunk_n_past()). */
    virtual int32_t trunk_n_past() const = 0;
    /*
     * Evaluates n tokens at positions trunk_n_past() … + n − 1. Writes logits of rows
     * [logits_from, n) to `logits` ((n − logits_from) × n_vocab) and, if `hidden` is not null,
     * h_final of every row ((n, n_embd)). Keeps what trunk_keep needs to roll back into this batch.
     */
    virtual void trunk_eval(const int32_t* tokens, int32_t n, int32_t logits_from, float* logits, float* hidden) = 0;
    /* Keeps the first n_keep tokens of the last trunk_eval batch (1 ≤ n_keep ≤ n), forgets the rest. */
    virtual void trunk_keep(int32_t n_keep) = 0;
    /* Positions the MTP head's cache holds (entries 0 … mtp_n_past() − 1). */
    virtual int32_t mtp_n_past() const = 0;
    /*
     * Appends n rows (tokens[i], position mtp_n_past() + i, hidden_in row i) to the MTP head's cache;
     * writes the logits (n_vocab) and output hidden h' (n_embd) of the last row.
     */
    virtual void mtp_eval(const int32_t* tokens, const float* hidden_in, int32_t n, float* logits_last,
                          float* hidden_last) = 0;
    /* Drops MTP cache entries at positions ≥ n_pos. */
    virtual void mtp_truncate(int32_t n_pos) = 0;
};

struct GenerateParams {
    int32_t draft_max = 0;  /* K: 0 = plain decoding */
    SamplerParams sampler;  /* temperature ≤ 0: greedy */
    uint64_t seed = 0;
    int32_t n_predict = -1; /* tokens to generate; < 0: until end of generation or context full */
    std::vector<int32_t> eog_tokens;
};

enum class StopReason { None, EndOfGeneration, Budget, ContextFull };

struct GenerateStats {
    int64_t n_steps = 0;    /* trunk decode passes after the prompt */
    int64_t n_drafted = 0;  /* draft tokens verified */
    int64_t n_accepted = 0; /* draft tokens accepted */
    int64_t n_generated = 0;
};

class SpeculativeDecoder {
public:
    SpeculativeDecoder(DecodeBackend& backend, const GenerateParams& params);
    /* Evaluates the prompt (n ≥ 1 tokens) on a fresh backend. */
    void prompt(const int32_t* tokens, int32_t n);
    /* Writes up to `capacity` generated tokens to `out`, running steps as needed; 0 once finished. */
    int32_t next(int32_t* out, int32_t capacity);
    StopReason stop_reason() const { return stop_; }
    const GenerateStats& stats() const { return stats_; }

private:
    void step();
    bool is_eog(int32_t t) const;

    DecodeBackend& be_;
    GenerateParams params_;
    SamplerChain chain_;
    Rng rng_;
    GenerateStats stats_;
    StopReason stop_ = StopReason::None;
    bool prompted_ = false;
    std::deque<int32_t> ready_; /* generated, not yet handed out */

    int32_t id_last_ = 0;        /* newest token, not yet in the trunk (goes to position trunk_n_past()) */
    std::vector<float> pending_h_; /* h_final(trunk_n_past() − 1), or zeros at position 0 */
    /* Committed rows the MTP cache still lacks: tokens and their h_final(p − 1) rows. */
    std::vector<int32_t> catchup_tokens_;
    std::vector<float> catchup_hidden_;

    std::vector<float> logits_, hidden_, mtp_logits_, mtp_hidden_;
};

} // namespace mtp

#endif
