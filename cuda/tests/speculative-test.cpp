/*
 * speculative-test — the decode loop of cuda/src/runtime/speculative.cpp on a toy backend, run by
 * test/native/speculative.test.ts.
 *
 * The toy "model" is a deterministic state machine: the trunk's state is a 64-bit hash of every
 * token fed so far (so any rollback mistake changes all later logits), its logits are a hash of the
 * state, and h_final encodes the state exactly in 4 floats. The toy MTP head reconstructs the state
 * from (token, hidden) and returns the trunk's logits plus state-dependent noise: a good but
 * imperfect drafter. It records every MTP cache entry and checks that entries for committed
 * positions were computed from the trunk's own hidden rows.
 *
 * Checks: greedy K = 1..6 equals K = 0; end-of-generation inside the accepted window; n_predict cut
 * exactly with no trunk work past it; context full; seeded reproducibility; the sampled joint
 * distribution of the first two tokens matches the exact target distribution for K = 2. The greedy
 * checks run twice: with the composed step, and with the toy's greedy_step (the backend-run step the
 * CUDA backend has, here composed from the toy's own calls by its contract in speculative.h) — both
 * must give the plain tokens, the same drafts and the same acceptance.
 */
#include "../src/runtime/failure.h"
#include "../src/runtime/speculative.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

#include "check.h"

using namespace mtp;


static uint64_t mix(uint64_t s, uint64_t t) {
    uint64_t z = s + 0x9e3779b97f4a7c15ull * (t + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class ToyBackend : public DecodeBackend {
public:
    ToyBackend(int32_t vocab, int32_t n_ctx, bool with_mtp, float draft_noise)
        : V_(vocab), n_ctx_(n_ctx), with_mtp_(with_mtp), noise_(draft_noise) {}

    int32_t n_vocab() const override { return V_; }
    int32_t n_embd() const override { return 4; }
    int32_t n_ctx() const override { return n_ctx_; }
    bool has_mtp() const override { return with_mtp_; }
    int32_t trunk_n_past() const override { return static_cast<int32_t>(tokens_.size()); }
    int32_t mtp_n_past() const override { return static_cast<int32_t>(mtp_entries_.size()); }

    void logits_of(uint64_t s, float* out) const {
        for (int32_t v = 0; v < V_; v++) out[v] = static_cast<float>(mix(s, static_cast<uint64_t>(v)) % 1000) / 100.0f;
    }
    static void encode(uint64_t s, float* h) {
        for (int i = 0; i < 4; i++) h[i] = static_cast<float>((s >> (16 * i)) & 0xffff);
    }
    static uint64_t decode(const float* h) {
        uint64_t s = 0;
        for (int i = 0; i < 4; i++) s |= static_cast<uint64_t>(h[i]) << (16 * i);
        return s;
    }
    uint64_t state() const { return states_.empty() ? 0 : states_.back(); }

    void trunk_eval(const int32_t* tokens, int32_t n, int32_t logits_from, float* logits, float* hidden) override {
        if (trunk_n_past() + n > n_ctx_) throw std::length_error("toy: context overflow");
        batch_start_ = trunk_n_past();
        uint64_t s = state();
        for (int32_t i = 0; i < n; i++) {
            s = mix(s, static_cast<uint64_t>(tokens[i]));
            tokens_.push_back(tokens[i]);
            states_.push_back(s);
            if (i >= logits_from) logits_of(s, logits + static_cast<size_t>(i - logits_from) * V_);
            if (hidden) encode(s, hidden + static_cast<size_t>(i) * 4);
        }
        max_position_ = std::max(max_position_, trunk_n_past() - 1);
        trunk_rows_ += n;
    }
    void trunk_keep(int32_t n_keep) override {
        const int32_t n = trunk_n_past() - batch_start_;
        if (n_keep < 1 || n_keep > n) throw std::invalid_argument("toy: trunk_keep out of range");
        tokens_.resize(static_cast<size_t>(batch_start_ + n_keep));
        states_.resize(tokens_.size());
    }

    int32_t greedy_step_max_draft() const override { return fused_ ? 16 : -1; }
    // speculative.h's contract, step by step, from the calls above.
    void greedy_step(GreedyStep& g) override {
        const int32_t P = trunk_n_past();
        if (g.mtp && mtp_n_past() != P + 1) throw std::logic_error("toy: greedy_step with the MTP cache out of step");
        std::vector<float> lg(static_cast<size_t>(V_)), h(4);
        std::vector<int32_t> batch{g.id_last};
        if (g.k > 0) batch.push_back(g.draft1);
        if (g.k > 1) h = mtp_out_.at(static_cast<size_t>(g.h_row));
        for (int32_t j = 1; j < g.k; j++) {
            const std::vector<float> h_in = h;
            mtp_eval(&batch.back(), h_in.data(), 1, lg.data(), h.data());
            batch.push_back(SamplerChain::argmax(lg.data(), V_));
        }
        mtp_truncate(P + 1);
        std::vector<float> logits(static_cast<size_t>(g.k + 1) * V_), hidden(static_cast<size_t>(g.k + 1) * 4);
        trunk_eval(batch.data(), g.k + 1, 0, logits.data(), hidden.data());
        // Until the loop keeps the accepted rows, the trunk still holds the rejected drafts, which
        // the MTP rows past the accepted ones do not match: check again at the loop's mtp_truncate.
        checking_ = false;
        std::vector<std::vector<float>> rows;
        for (int32_t i = 0; i <= g.k; i++) {
            g.target[static_cast<size_t>(i)] = SamplerChain::argmax(&logits[static_cast<size_t>(i) * V_], V_);
            if (i < g.k) g.drafts[static_cast<size_t>(i)] = batch[static_cast<size_t>(i) + 1];
            if (!g.mtp) continue;
            mtp_eval(&g.target[static_cast<size_t>(i)], &hidden[static_cast<size_t>(i) * 4], 1, lg.data(), h.data());
            g.mtp_next[static_cast<size_t>(i)] = SamplerChain::argmax(lg.data(), V_);
            rows.push_back(h);
        }
        if (g.mtp) mtp_out_ = rows;
        checking_ = true;
        greedy_steps_++;
    }

    void mtp_eval(const int32_t* tokens, const float* hidden_in, int32_t n, float* logits_last, float* hidden_last) override {
        if (!with_mtp_) throw std::logic_error("toy: no MTP head");
        check_mtp_cache();
        for (int32_t i = 0; i < n; i++) {
            const float* h = hidden_in + static_cast<size_t>(i) * 4;
            mtp_entries_.push_back({tokens[i], decode(h)});
            const uint64_t s = mix(decode(h), static_cast<uint64_t>(tokens[i]));
            if (i == n - 1) {
                logits_of(s, logits_last);
                for (int32_t v = 0; v < V_; v++) logits_last[v] += noise_ * static_cast<float>(mix(s ^ 0xabcdef, static_cast<uint64_t>(v)) % 100) / 100.0f;
                encode(s, hidden_last);
                mtp_out_ = {std::vector<float>(hidden_last, hidden_last + 4)};
            }
        }
        mtp_rows_ += n;
    }
    void mtp_truncate(int32_t n_pos) override {
        if (n_pos < static_cast<int32_t>(mtp_entries_.size())) mtp_entries_.resize(static_cast<size_t>(n_pos));
        check_mtp_cache();
    }

    // With own_top_: candidates as a device backend might hand them over — selected, then worst
    // first (the padding stays last) — which must not change what the loop draws.
    void trunk_eval_top(const int32_t* tokens, int32_t n, int32_t logits_from, int32_t k, TokenLogit* top, float* hidden) override {
        if (!own_top_) return DecodeBackend::trunk_eval_top(tokens, n, logits_from, k, top, hidden);
        std::vector<float> lg(static_cast<size_t>(n - logits_from) * V_);
        trunk_eval(tokens, n, logits_from, lg.data(), hidden);
        for (int32_t r = 0; r < n - logits_from; r++) reorder_top(&lg[static_cast<size_t>(r) * V_], k, top + static_cast<size_t>(r) * k);
    }
    void mtp_eval_top(const int32_t* tokens, const float* hidden_in, int32_t n, int32_t k, TokenLogit* top_last, float* hidden_last) override {
        if (!own_top_) return DecodeBackend::mtp_eval_top(tokens, hidden_in, n, k, top_last, hidden_last);
        std::vector<float> lg(static_cast<size_t>(V_));
        mtp_eval(tokens, hidden_in, n, lg.data(), hidden_last);
        reorder_top(lg.data(), k, top_last);
    }
    void reorder_top(const float* logits, int32_t k, TokenLogit* top) const {
        top_logits(logits, V_, k, top);
        std::stable_sort(top, top + k, [](const TokenLogit& a, const TokenLogit& b) {
            if ((a.id < 0) != (b.id < 0)) return b.id < 0;
            return a.logit < b.logit || (a.logit == b.logit && a.id > b.id);
        });
    }
    bool own_top_ = false;

    // With sampled_limit_ >= 0: a backend-run sampled step of up to that many drafts from up to one
    // more MTP row (run as the default composes it), so the loop must send the rows past those
    // ahead on their own (after the prompt).
    int32_t sampled_step_max_draft() const override { return sampled_limit_; }
    void sampled_step(SampledStep& s, const SamplerChain& chain) override {
        CHECK(sampled_limit_ < 0 || s.k == 0 || static_cast<int32_t>(s.mtp_tokens.size()) <= sampled_limit_ + 1,
              "sampled_step got %zu MTP rows, at most %d allowed", s.mtp_tokens.size(), sampled_limit_ + 1);
        sampled_steps_++;
        DecodeBackend::sampled_step(s, chain);
    }
    int32_t sampled_limit_ = -1;
    int64_t sampled_steps_ = 0;

    /* Every MTP entry at a committed position p holds (x_p, state before p) of the trunk. */
    void check_mtp_cache() {
        if (!checking_) return;
        const size_t n = std::min(mtp_entries_.size(), tokens_.size());
        for (size_t p = 0; p < n; p++) {
            const uint64_t before = p == 0 ? 0 : states_[p - 1];
            if (mtp_entries_[p].token != tokens_[p] || mtp_entries_[p].state_before != before) {
                CHECK(false, "MTP cache entry %zu was not computed from the trunk's committed row", p);
                return;
            }
        }
    }

    int32_t max_position_ = -1;
    int64_t trunk_rows_ = 0, mtp_rows_ = 0, greedy_steps_ = 0;
    bool fused_ = false;  // offer greedy_step
    bool checking_ = true;

private:
    struct Entry {
        int32_t token;
        uint64_t state_before;
    };
    int32_t V_, n_ctx_;
    bool with_mtp_;
    float noise_;
    int32_t batch_start_ = 0;
    std::vector<int32_t> tokens_;
    std::vector<uint64_t> states_;
    std::vector<Entry> mtp_entries_;
    std::vector<std::vector<float>> mtp_out_;  // the MTP output rows greedy_step's h_row indexes
};

// Whether the greedy checks run the toy's greedy_step (see main).
static bool toy_fused = false;
// The toy's sampled_step_max_draft (test_sampled_step_rows).
static int32_t toy_sampled_limit = -1;

struct Run {
    std::vector<int32_t> out;
    StopReason stop;
    GenerateStats stats;
    int32_t trunk_n_past;
    int32_t max_position;
    int64_t greedy_steps;
};

static Run generate(int32_t V, int32_t n_ctx, const std::vector<int32_t>& prompt, GenerateParams gp, float noise = 4.0f,
                    int32_t chunk = 3, bool own_top = false) {
    ToyBackend be(V, n_ctx, true, noise);
    be.fused_ = toy_fused;
    be.own_top_ = own_top;
    be.sampled_limit_ = toy_sampled_limit;
    SpeculativeDecoder dec(be, gp);
    dec.prompt(prompt.data(), static_cast<int32_t>(prompt.size()));
    Run r;
    std::vector<int32_t> buf(static_cast<size_t>(chunk));
    for (int32_t n; (n = dec.next(buf.data(), chunk)) > 0;) r.out.insert(r.out.end(), buf.begin(), buf.begin() + n);
    be.check_mtp_cache();
    r.stop = dec.stop_reason();
    r.stats = dec.stats();
    r.trunk_n_past = be.trunk_n_past();
    r.max_position = be.max_position_;
    r.greedy_steps = be.greedy_steps_;
    CHECK(r.greedy_steps == (toy_fused && gp.sampler.temperature <= 0.0f ? r.stats.n_steps : 0), "greedy_step used %lld times in %lld steps",
          static_cast<long long>(r.greedy_steps), static_cast<long long>(r.stats.n_steps));
    return r;
}

static GenerateParams greedy(int32_t k, int32_t n_predict, std::vector<int32_t> eog = {}) {
    GenerateParams gp;
    gp.draft_max = k;
    gp.sampler.temperature = 0.0f;
    gp.n_predict = n_predict;
    gp.eog_tokens = std::move(eog);
    return gp;
}

static void test_greedy_equivalence() {
    const std::vector<std::vector<int32_t>> prompts = {{5}, {1, 2, 3}, {7, 7, 7, 7, 7, 7, 7, 9}};
    for (float noise : {0.5f, 4.0f, 20.0f}) {
        for (const auto& prompt : prompts) {
            const Run plain = generate(64, 4096, prompt, greedy(0, 300));
            CHECK(plain.out.size() == 300 && plain.stop == StopReason::Budget, "plain run length");
            for (int32_t k = 1; k <= 6; k++) {
                const Run spec = generate(64, 4096, prompt, greedy(k, 300), noise);
                CHECK(spec.out == plain.out, "greedy k=%d noise=%g prompt of %zu differs from k=0", k, noise, prompt.size());
                CHECK(spec.stats.n_accepted <= spec.stats.n_drafted, "accepted <= drafted");
                CHECK(spec.stats.n_steps < plain.stats.n_steps || noise > 10, "k=%d saved no trunk passes (%lld vs %lld)", k,
                      static_cast<long long>(spec.stats.n_steps), static_cast<long long>(plain.stats.n_steps));
            }
        }
        const Run r = generate(64, 4096, prompts[1], greedy(3, 300), noise);
        std::printf("ok greedy k=1..6 == k=0 (noise %g: k=3 acceptance %.2f, %lld steps for 300 tokens)\n", noise,
                    static_cast<double>(r.stats.n_accepted) / r.stats.n_drafted, static_cast<long long>(r.stats.n_steps));
    }
}

static void test_eog_and_budget() {
    const std::vector<int32_t> prompt = {1, 2, 3};
    const Run plain = generate(64, 4096, prompt, greedy(0, 200));
    // end-of-generation: pick tokens that occur in the plain output; generation ends at the first one
    for (size_t at : {0ul, 1ul, 7ul, 33ul, 120ul}) {
        const int32_t eog = plain.out[at];
        size_t first = 0;
        while (plain.out[first] != eog) first++;
        const std::vector<int32_t> expect(plain.out.begin(), plain.out.begin() + static_cast<long>(first) + 1);
        for (int32_t k = 0; k <= 4; k++) {
            const Run r = generate(64, 4096, prompt, greedy(k, 200, {eog}));
            CHECK(r.out == expect && r.stop == StopReason::EndOfGeneration, "eog %d k=%d: got %zu tokens, expected %zu", eog, k,
                  r.out.size(), expect.size());
            // the trunk holds the prompt and every emitted token but the last (which was never fed)
            CHECK(r.trunk_n_past == static_cast<int32_t>(prompt.size() + expect.size() - 1), "eog k=%d: trunk holds %d", k,
                  r.trunk_n_past);
        }
    }
    // n_predict: exactly that many tokens, and no trunk position evaluated past the last one needed
    for (int32_t n = 1; n <= 12; n++) {
        for (int32_t k = 0; k <= 5; k++) {
            const Run r = generate(64, 4096, prompt, greedy(k, n));
            CHECK(r.out.size() == static_cast<size_t>(n) && r.stop == StopReason::Budget, "n_predict %d k=%d: got %zu", n, k,
                  r.out.size());
            CHECK(std::equal(r.out.begin(), r.out.end(), plain.out.begin()), "n_predict %d k=%d: tokens differ", n, k);
            CHECK(r.max_position <= static_cast<int32_t>(prompt.size()) + n - 2, "n_predict %d k=%d: evaluated position %d", n, k,
                  r.max_position);
        }
    }
    std::printf("ok end of generation inside the window, n_predict cut exactly\n");
}

static void test_context_full() {
    const std::vector<int32_t> prompt = {4, 5, 6, 7, 8};
    for (int32_t n_ctx : {5, 6, 9, 20, 33}) {
        const Run plain = generate(64, n_ctx, prompt, greedy(0, -1));
        const size_t expect = static_cast<size_t>(n_ctx) - prompt.size() + 1;
        CHECK(plain.out.size() == expect && plain.stop == StopReason::ContextFull, "n_ctx %d: plain made %zu tokens", n_ctx,
              plain.out.size());
        for (int32_t k = 1; k <= 4; k++) {
            const Run r = generate(64, n_ctx, prompt, greedy(k, -1));
            CHECK(r.out == plain.out && r.stop == StopReason::ContextFull, "n_ctx %d k=%d differs", n_ctx, k);
            CHECK(r.max_position == n_ctx - 1, "n_ctx %d k=%d: max position %d", n_ctx, k, r.max_position);
        }
    }
    bool threw = false;
    try {
        generate(64, 4, prompt, greedy(2, 10));
    } catch (const Failure& f) {
        threw = f.status == MTP_STATUS_CONTEXT_FULL;
    }
    CHECK(threw, "a prompt longer than the context is refused");
    std::printf("ok context full\n");
}

static GenerateParams sampled(int32_t k, int32_t n_predict, uint64_t seed) {
    GenerateParams gp;
    gp.draft_max = k;
    gp.sampler = SamplerParams{0.8f, 0, 0.95f, 0.0f};
    gp.n_predict = n_predict;
    gp.seed = seed;
    return gp;
}

static void test_sampling() {
    const std::vector<int32_t> prompt = {3, 1};
    CHECK(generate(64, 4096, prompt, sampled(3, 100, 7)).out == generate(64, 4096, prompt, sampled(3, 100, 7)).out,
          "same seed, same tokens");
    CHECK(generate(64, 4096, prompt, sampled(3, 100, 7)).out != generate(64, 4096, prompt, sampled(3, 100, 8)).out,
          "another seed, other tokens");
    // With top-k the loop reads candidates (DecodeBackend::trunk_eval_top): their order is the backend's.
    for (int32_t k : {0, 3}) {
        GenerateParams gp = sampled(k, 100, 11);
        gp.sampler.top_k = 5;
        const Run host = generate(64, 4096, prompt, gp), own = generate(64, 4096, prompt, gp, 4.0f, 3, true);
        CHECK(host.out == own.out && host.stats.n_accepted == own.stats.n_accepted,
              "K=%d top-k 5: candidates handed over worst first change the tokens", k);
    }

    // joint distribution of the first two tokens with K = 2 against the exact target distribution
    const int32_t V = 8;
    ToyBackend ref(V, 64, true, 0.0f);
    const SamplerChain chain(sampled(0, 0, 0).sampler);
    std::vector<float> lg(V);
    std::vector<double> exact(V * V, 0.0);
    uint64_t s0 = 0;
    for (int32_t t : prompt) s0 = mix(s0, static_cast<uint64_t>(t));
    ref.logits_of(s0, lg.data());
    const Distribution p1 = chain.distribution(lg.data(), V);
    for (const TokenProb& a : p1.items()) {
        ref.logits_of(mix(s0, static_cast<uint64_t>(a.id)), lg.data());
        const Distribution p2 = chain.distribution(lg.data(), V);
        for (const TokenProb& b : p2.items()) exact[a.id * V + b.id] += static_cast<double>(a.p) * b.p;
    }
    const int samples = 20000;
    std::vector<double> count(V * V, 0.0);
    int64_t drafted = 0, accepted = 0;
    for (int i = 0; i < samples; i++) {
        const Run r = generate(V, 64, prompt, sampled(2, 2, 1000 + static_cast<uint64_t>(i)), 3.0f);
        count[r.out[0] * V + r.out[1]] += 1;
        drafted += r.stats.n_drafted;
        accepted += r.stats.n_accepted;
    }
    const Fit f = chi_square_fit(exact, count, samples);
    CHECK(f.impossible == 0, "%d outcome(s) with target probability 0 were emitted", f.impossible);
    CHECK(f.chi2 < f.limit && f.tv <= 0.02, "K=2 sampled joint: chi2 %.1f (dof %d, limit %.1f), tv %.4f", f.chi2, f.dof, f.limit, f.tv);
    std::printf("ok sampled K=2 joint distribution of 2 tokens: %d samples, chi2 %.1f over %d dof, tv %.4f, acceptance %.2f\n",
                samples, f.chi2, f.dof, f.tv, static_cast<double>(accepted) / drafted);
}

static void test_refusals() {
    ToyBackend no_mtp(64, 100, false, 0.0f);
    bool threw = false;
    try {
        SpeculativeDecoder d(no_mtp, greedy(2, 10));
    } catch (const Failure& f) {
        threw = f.status == MTP_STATUS_UNSUPPORTED;
    }
    CHECK(threw, "drafting without an MTP head is refused");
    SpeculativeDecoder plain(no_mtp, greedy(0, 10));
    const int32_t p[2] = {1, 2};
    plain.prompt(p, 2);
    int32_t out[16];
    CHECK(plain.next(out, 16) == 10, "plain decoding without an MTP head works");
    std::printf("ok refusals\n");
}

// Sampling with top-k goes through sampled_step; a backend that takes at most limit + 1 MTP rows a
// step gets the rows past those (the prompt's) as an MTP batch of their own first, and the loop
// emits, drafts and accepts exactly what it does without a limit (the MTP cache checks run too).
static void test_sampled_step_rows() {
    std::vector<int32_t> prompt;
    for (int32_t i = 0; i < 20; i++) prompt.push_back((7 * i + 3) % 64);
    for (int32_t k : {1, 2, 3}) {
        GenerateParams gp = sampled(k, 120, 5);
        gp.sampler.top_k = 5;
        toy_sampled_limit = -1;
        const Run a = generate(64, 4096, prompt, gp);
        toy_sampled_limit = 3;
        const Run b = generate(64, 4096, prompt, gp);
        toy_sampled_limit = -1;
        CHECK(a.out == b.out && a.stats.n_drafted == b.stats.n_drafted && a.stats.n_accepted == b.stats.n_accepted,
              "K=%d: a backend-run sampled step of at most 4 MTP rows changes the tokens (accepted %lld vs %lld)", k,
              static_cast<long long>(b.stats.n_accepted), static_cast<long long>(a.stats.n_accepted));
    }
    std::printf("ok sampled steps: the prompt's MTP rows ahead of a step that takes at most 4, same tokens, K = 1..3\n");
}

// The backend-run greedy step drafts, accepts and emits exactly what the composed step does.
static void test_fused_equals_composed() {
    for (float noise : {0.5f, 4.0f, 20.0f}) {
        for (int32_t k = 0; k <= 6; k++) {
            toy_fused = false;
            const Run a = generate(64, 4096, {1, 2, 3}, greedy(k, 257), noise);
            toy_fused = true;
            const Run b = generate(64, 4096, {1, 2, 3}, greedy(k, 257), noise);
            CHECK(a.out == b.out && a.stats.n_drafted == b.stats.n_drafted && a.stats.n_accepted == b.stats.n_accepted &&
                      a.stats.n_steps == b.stats.n_steps,
                  "k=%d noise %g: greedy_step differs from the composed step (accepted %lld vs %lld)", k, noise,
                  static_cast<long long>(b.stats.n_accepted), static_cast<long long>(a.stats.n_accepted));
        }
    }
    toy_fused = false;
    std::printf("ok greedy_step == the composed step (tokens, drafted, accepted, steps), k = 0..6\n");
}

int main() {
    for (bool fused : {false, true}) {
        toy_fused = fused;
        std::printf("-- greedy steps %s\n", fused ? "run by the backend (greedy_step)" : "composed by the loop");
        test_greedy_equivalence();
        test_eog_and_budget();
        test_context_full();
    }
    toy_fused = false;
    test_fused_equals_composed();
    test_sampling();
    test_sampled_step_rows();
    test_refusals();
    if (failures) {
        std::printf("%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all speculative-loop checks passed\n");
    return 0;
}
