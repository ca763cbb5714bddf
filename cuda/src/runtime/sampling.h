/*
 * sampling.h — the sampler chain and speculative acceptance, shared by every backend's decode loop.
 *
 * The chain mirrors llama.cpp's default order (common/sampling.cpp): top-k → top-p → min-p →
 * temperature → draw. Filters see temperature-1 probabilities; temperature then reshapes the logits
 * that survive. temperature <= 0 means greedy (argmax, ties to the lowest id).
 *
 * Speculative acceptance (Leviathan et al. 2023; Chen et al. 2023): with p_i the target's and q_i
 * the draft's distribution at draft position i — both after the SAME chain — draft token d_i (drawn
 * from q_i) is accepted with probability min(1, p_i(d_i) / q_i(d_i)); the first rejection draws the
 * replacement from normalize(max(0, p_i − q_i)); when every draft passes, a bonus token is drawn
 * from p_K. Every emitted token is then distributed exactly as plain sampling from the target would
 * draw it. In greedy mode this reduces to "accept while the target's argmax equals the draft".
 * (llama.cpp instead accepts only a sampled target token equal to the draft, which wastes drafts at
 * temperature > 0.)
 */
#ifndef MTP_RUNTIME_SAMPLING_H
#define MTP_RUNTIME_SAMPLING_H

#include <cstdint>
#include <deque>
#include <vector>

#include "sampler-chain.h"

namespace mtp {

struct SamplerParams {
    float temperature = 0.0f; /* <= 0: greedy */
    int32_t top_k = 40;       /* <= 0: off */
    float top_p = 0.95f;      /* >= 1: off */
    float min_p = 0.05f;      /* <= 0: off */
};

/* Seeded, reproducible generator (xoshiro256**, seeded through splitmix64). */
class Rng {
public:
    explicit Rng(uint64_t seed);
    uint64_t next_u64();
    /* Uniform in [0, 1) with 53 random bits: the next peeked one first. */
    double uniform();
    /* The next n uniforms into out without using them up (a backend's fused step draws with them). */
    void peek(int32_t n, double* out);
    /* Uses up the first n peeked uniforms, as n calls of uniform() would. */
    void skip(int32_t n);

private:
    double draw();
    uint64_t s_[4];
    std::deque<double> ahead_; /* peeked, not yet used */
};

/*
 * The k < n_vocab best logits by (logit descending, lower id first among equals) into out (k), in no
 * particular order; NaN logits are never candidates (fewer than k non-NaN logits: the rest of out
 * has id −1; none at all: token 0 with logit 0). What the chain's top-k keeps, found in one pass.
 */
void top_logits(const float* logits, int32_t n_vocab, int32_t k, TokenLogit* out);

/*
 * A sparse distribution over token ids: the candidates that survive the chain, sorted by
 * descending probability (ties by ascending id), probabilities summing to 1.
 */
class Distribution {
public:
    const std::vector<TokenProb>& items() const { return items_; }
    /* Probability of `id` (0 when it was filtered out). */
    float prob(int32_t id) const;
    /* The most probable token (lowest id among ties). */
    int32_t argmax() const { return items_.front().id; }
    /* A draw: the one token of a point mass without touching the rng, else draw_at(rng.uniform()). */
    int32_t sample(Rng& rng) const;
    /* What a chain computed elsewhere (chain_sorted's output, in its order). */
    static Distribution of(std::vector<TokenProb> items);

private:
    friend class SamplerChain;
    friend Distribution residual(const Distribution& p, const Distribution& q);
    std::vector<TokenProb> items_;
};

class SamplerChain {
public:
    explicit SamplerChain(const SamplerParams& params) : params_(params) {}
    bool greedy() const { return params_.temperature <= 0.0f; }
    /* Argmax of raw logits (ties to the lowest id); what greedy decoding emits. */
    static int32_t argmax(const float* logits, int32_t n_vocab);
    /* The chain's distribution for one row of logits (n_vocab floats). Greedy: a point mass. */
    Distribution distribution(const float* logits, int32_t n_vocab) const;
    /* With 0 < top_k < the vocabulary: the same distribution from top_logits' k candidates alone. */
    Distribution distribution_top(const TokenLogit* top, int32_t k) const;
    int32_t top_k() const { return params_.top_k; }
    const SamplerParams& params() const { return params_; }

private:
    Distribution chain(std::vector<TokenLogit> candidates) const;
    SamplerParams params_;
};

/* normalize(max(0, p − q)); p itself when the residual has no mass (p == q). */
Distribution residual(const Distribution& p, const Distribution& q);

struct AcceptResult {
    /* Number of draft tokens accepted (0..n_draft). */
    int32_t n_accepted;
    /* The tokens to commit: the accepted drafts, then one token from the target (replacement or bonus). */
    std::vector<int32_t> tokens;
};

/*
 * Verifies n_draft drafted tokens. target[i] is the target's distribution at draft position i
 * (i = 0..n_draft, the last one for the bonus token); draft[i] is the draft's distribution that
 * drafts[i] was drawn from (i < n_draft). In greedy mode pass point masses (SamplerChain with
 * temperature 0) and the result is exact greedy verification; the rng is then not used.
 */
AcceptResult speculative_accept(const std::vector<Distribution>& target, const std::vector<Distribution>& draft,
                                const std::vector<int32_t>& drafts, Rng& rng);

} // namespace mtp

#endif
