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
 * A backend may also run a whole greedy step itself (DecodeBackend::greedy_step: the CUDA backend
 * replays one graph per step, so a step costs one host round trip and no logits leave the device).
 * That step computes the next step's MTP rows right after verification, for every verified row:
 * in greedy decoding the token at position P+i+1 is the target's argmax of row i whenever rows
 * 0 … i are kept, so the MTP inputs (argmax_i, h_final_i) are known before acceptance is; the rows
 * past the accepted ones are dropped (mtp_truncate). Drafts, acceptance and output are those of the
 * composed loop.
 *
 * Invariants (checked by cuda/tests/speculative-test.cpp on a toy backend, for both kinds of step):
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

/* One greedy step run by the backend (DecodeBackend::greedy_step). */
struct GreedyStep {
    /* in */
    int32_t id_last = 0; /* the token at trunk_n_past() */
    int32_t draft1 = 0;  /* k >= 1: d_1, the MTP head's argmax for the position after id_last */
    int32_t h_row = 0;   /* k >= 2: which of the MTP output rows is d_1's h' (see greedy_step) */
    int32_t k = 0;       /* drafts to verify, 0 … greedy_step_max_draft() */
    bool mtp = false;    /* compute the next step's MTP rows */
    /* out */
    std::vector<int32_t> drafts;   /* (k) d_1 … d_k */
    std::vector<int32_t> target;   /* (k + 1) the trunk's argmax of verify row i */
    std::vector<int32_t> mtp_next; /* (k + 1) with mtp: the MTP head's argmax of MTP row i */
};

/* One sampled step with top-k candidates (DecodeBackend::sampled_step). */
struct SampledStep {
    /* in */
    int32_t id_last = 0;             /* the token at trunk_n_past() */
    int32_t k = 0;                   /* drafts to verify */
    std::vector<int32_t> mtp_tokens; /* k >= 1: the rows the MTP cache lacks, the last one id_last's */
    std::vector<float> mtp_hidden;   /* (rows, n_embd) their h_final(p − 1) rows */
    std::vector<double> uniforms;    /* (k) the stream's next uniforms (Rng::peek) */
    bool hidden = false;             /* h_final of the verify rows wanted */
    /* out */
    std::vector<int32_t> drafts;      /* (k) d_1 … d_k */
    std::vector<Distribution> q;      /* (k) the distribution each draft was drawn from */
    int32_t uniforms_used = 0;        /* how many of `uniforms` the draws took */
    std::vector<TokenLogit> target;   /* (k + 1, top_k) the verify rows' candidates (top_logits) */
    std::vector<float> verify_hidden; /* (k + 1, n_embd) with `hidden`: h_final of the verify rows */
};

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

    /*
     * Sampling with top-k (0 < k < n_vocab) reads only the k best logits of a row: trunk_eval and
     * mtp_eval that write, instead of the logits rows, each row's top_logits (sampling.h: (rows, k)
     * TokenLogit) — a backend that finds them where the logits are saves moving whole rows. The
     * defaults compute the logits and select on the host.
     */
    virtual void trunk_eval_top(const int32_t* tokens, int32_t n, int32_t logits_from, int32_t k, TokenLogit* top, float* hidden);
    virtual void mtp_eval_top(const int32_t* tokens, const float* hidden_in, int32_t n, int32_t k, TokenLogit* top_last,
                              float* hidden_last);

    /* The largest k greedy_step serves; −1 when the backend has no greedy_step (the default). */
    virtual int32_t greedy_step_max_draft() const { return -1; }
    /*
     * One greedy step, P = trunk_n_past(). With s.mtp the MTP cache must hold positions ≤ P
     * (mtp_n_past() == P + 1) and s.draft1 / s.h_row name the first draft and its h': the MTP output
     * rows are, after mtp_eval, its last row as row 0, and after greedy_step, its MTP row i as row i.
     *   1. chain: d_{j+1} = argmax MTP(d_j, h'_j) at position P + j for j = 1 … k − 1 (h'_1 = row h_row,
     *      h'_{j+1} the output of row j); those cache entries are scratch;
     *   2. verify [id_last, d_1 … d_k] at P … P + k as trunk_eval does (trunk_keep rolls back into it);
     *      target[i] = argmax of row i's logits;
     *   3. with s.mtp: MTP rows (target[i], h_final(row i)) at positions P + 1 + i, i = 0 … k;
     *      mtp_next[i] = argmax of row i, whose h' becomes output row i; mtp_n_past() = P + k + 2.
     */
    virtual void greedy_step(GreedyStep& s);

    /*
     * One sampled step with the chain's top-k (0 < top_k <= 64 < n_vocab), P = trunk_n_past():
     *   1. with k >= 1: the MTP rows s.mtp_tokens / s.mtp_hidden at mtp_n_past() … P; q_1 = the chain
     *      on the last row's candidates; d_j drawn from q_j — a point mass is its token, else
     *      draw_at(the next unused uniform); d_{j+1} from MTP(d_j, h'_j) at P + j; the entries past P
     *      are dropped (mtp_n_past() == P + 1 after);
     *   2. verify [id_last, d_1 … d_k] at P … P + k as trunk_eval does (trunk_keep rolls back into
     *      it): the rows' candidates, and with s.hidden their h_final.
     * The default composes it from mtp_eval_top and trunk_eval_top on the host; a backend that runs
     * it in one round trip serves k up to sampled_step_max_draft() and up to that + 1 MTP rows.
     */
    virtual void sampled_step(SampledStep& s, const SamplerChain& chain);
    virtual int32_t sampled_step_max_draft() const { return -1; }

private:
    std::vector<float> top_scratch_; /* the defaults' logits rows */
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
    /* Draft k tokens and verify them: the composed calls, or the backend's greedy_step (fused_). */
    AcceptResult draft_and_verify(int32_t k);
    AcceptResult fused_draft_and_verify(int32_t k);
    AcceptResult sampled_draft_and_verify(int32_t k);
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
    /* Sampling with top-k: steps through DecodeBackend::sampled_step, on the rows' candidates. */
    bool top_ = false;
    SampledStep sampled_;

    /* Greedy steps through DecodeBackend::greedy_step: the next step's first draft and its h' row. */
    bool fused_ = false;
    GreedyStep greedy_;
    int32_t draft1_ = 0, h_row_ = 0;
};

} // namespace mtp

#endif
