/*
 * sampling-test — checks of cuda/src/runtime/sampling.cpp, run by test/native/sampling.test.ts.
 *
 * 1. The chain on hand-made logits (top-k, top-p, min-p, temperature, greedy ties).
 * 2. Distribution preservation of speculative sampling, end to end on a toy Markov "language model":
 *    target and draft are different random next-token tables; drafts are chained (each drawn from
 *    the draft given the previous draft), verified, and decoding continues from the committed token.
 *    The empirical joint distribution of the first two emitted tokens over many seeded runs must
 *    match the exact target joint p(t1|s)·p(t2|t1) (chi-square, and total-variation distance).
 * 3. Greedy speculative decoding equals greedy plain decoding token for token, and draws no numbers.
 * 4. top-k over a large vocabulary (one pass, sampling.cpp's top_candidates) gives the distribution
 *    that the chain without top-k gives on the k best logits alone — bit for bit, ties and NaNs
 *    included — and what a row of Qwen3.6's 248320 logits costs (printed, not checked).
 * Prints one line per check; exit status 0 only when all pass.
 */
#include "../src/runtime/sampling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "check.h"

using namespace mtp;


static bool near(double a, double b, double tol) { return std::fabs(a - b) <= tol; }

static void test_chain() {
    // probabilities 0.4 0.3 0.2 0.1 as logits
    const float lg[4] = {std::log(0.3f), std::log(0.4f), std::log(0.1f), std::log(0.2f)};
    SamplerParams none{1.0f, 0, 1.0f, 0.0f};
    Distribution d = SamplerChain(none).distribution(lg, 4);
    CHECK(d.items().size() == 4 && d.argmax() == 1, "no filters keeps all, best first");
    CHECK(near(d.prob(0), 0.3, 1e-6) && near(d.prob(2), 0.1, 1e-6), "temperature 1 = softmax");

    SamplerParams k2{1.0f, 2, 1.0f, 0.0f};
    d = SamplerChain(k2).distribution(lg, 4);
    CHECK(d.items().size() == 2 && near(d.prob(1), 4.0 / 7, 1e-6) && near(d.prob(0), 3.0 / 7, 1e-6), "top-k 2");

    SamplerParams p5{1.0f, 0, 0.5f, 0.0f};
    d = SamplerChain(p5).distribution(lg, 4);
    CHECK(d.items().size() == 2 && near(d.prob(1), 4.0 / 7, 1e-6), "top-p 0.5 keeps the prefix reaching 0.5");

    SamplerParams m3{1.0f, 0, 1.0f, 0.3f};
    d = SamplerChain(m3).distribution(lg, 4);
    CHECK(d.items().size() == 3 && d.prob(2) == 0.0f, "min-p 0.3 drops p < 0.12");

    SamplerParams t05{0.5f, 0, 1.0f, 0.0f};
    d = SamplerChain(t05).distribution(lg, 4);
    CHECK(near(d.prob(1), 0.16 / 0.30, 1e-6), "temperature 0.5 squares probabilities: got %f", d.prob(1));

    const float ties[4] = {1.0f, 3.0f, 3.0f, 2.0f};
    SamplerParams greedy{0.0f, 40, 0.95f, 0.05f};
    d = SamplerChain(greedy).distribution(ties, 4);
    CHECK(d.items().size() == 1 && d.argmax() == 1 && SamplerChain::argmax(ties, 4) == 1, "greedy ties go to the lowest id");

    std::printf("ok chain\n");
}

/* Toy Markov LM: table[prev * V + next] logits. */
struct Toy {
    int V;
    std::vector<float> target, draft;
};

static Toy make_toy(int V, uint64_t seed) {
    Rng r(seed);
    Toy t{V, std::vector<float>(V * V), std::vector<float>(V * V)};
    for (int i = 0; i < V * V; i++) {
        t.target[i] = static_cast<float>(3.0 * r.uniform());
        // the draft is correlated with the target but different: a realistic, imperfect drafter
        t.draft[i] = t.target[i] + static_cast<float>(1.5 * (r.uniform() - 0.5));
    }
    return t;
}

/* Emits at least n tokens with speculative decoding (k drafts per step) from `start`. */
static std::vector<int32_t> speculative_run(const Toy& toy, const SamplerChain& chain, int start, int k, int n, Rng& rng,
                                            int& n_drafted, int& n_accepted) {
    std::vector<int32_t> out;
    int32_t last = start;
    while (static_cast<int>(out.size()) < n) {
        std::vector<Distribution> q, p;
        std::vector<int32_t> drafts;
        int32_t prev = last;
        for (int i = 0; i < k; i++) {
            q.push_back(chain.distribution(&toy.draft[prev * toy.V], toy.V));
            drafts.push_back(chain.greedy() ? q.back().argmax() : q.back().sample(rng));
            prev = drafts.back();
        }
        p.push_back(chain.distribution(&toy.target[last * toy.V], toy.V));
        for (int i = 0; i < k; i++) p.push_back(chain.distribution(&toy.target[drafts[i] * toy.V], toy.V));
        AcceptResult a = speculative_accept(p, q, drafts, rng);
        n_drafted += k;
        n_accepted += a.n_accepted;
        out.insert(out.end(), a.tokens.begin(), a.tokens.end());
        last = out.back();
    }
    return out;
}

static void test_distribution(const SamplerParams& sp, int k, int samples, const char* label) {
    const int failures_before = failures;
    const int V = 6;
    Toy toy = make_toy(V, 42);
    SamplerChain chain(sp);
    const int start = 0;
    std::vector<double> exact(V * V, 0.0);
    Distribution p1 = chain.distribution(&toy.target[start * V], V);
    for (const TokenProb& a : p1.items()) {
        Distribution p2 = chain.distribution(&toy.target[a.id * V], V);
        for (const TokenProb& b : p2.items()) exact[a.id * V + b.id] += static_cast<double>(a.p) * b.p;
    }
    std::vector<double> count(V * V, 0.0);
    Rng rng(1234);
    int drafted = 0, accepted = 0;
    for (int s = 0; s < samples; s++) {
        std::vector<int32_t> t = speculative_run(toy, chain, start, k, 2, rng, drafted, accepted);
        count[t[0] * V + t[1]] += 1;
    }
    const Fit f = chi_square_fit(exact, count, samples);
    CHECK(f.impossible == 0, "%s: %d outcome(s) with target probability 0 were emitted", label, f.impossible);
    CHECK(f.chi2 < f.limit, "%s: chi2 %.1f over %d dof exceeds %.1f", label, f.chi2, f.dof, f.limit);
    CHECK(f.tv < 0.01, "%s: total variation %.4f", label, f.tv);
    const double acc = static_cast<double>(accepted) / drafted;
    std::printf("%s distribution %s: k=%d samples=%d chi2=%.1f dof=%d tv=%.4f acceptance=%.3f\n", failures == failures_before ? "ok" : "FAILED", label, k, samples, f.chi2, f.dof, f.tv, acc);
}

static void test_greedy_equivalence() {
    const int V = 50;
    Toy toy = make_toy(V, 7);
    SamplerChain chain(SamplerParams{0.0f, 40, 0.95f, 0.05f});
    std::vector<int32_t> plain;
    int32_t last = 3;
    for (int i = 0; i < 64; i++) plain.push_back(last = SamplerChain::argmax(&toy.target[last * V], V));
    for (int k = 1; k <= 4; k++) {
        Rng rng(99), untouched(99);
        int drafted = 0, accepted = 0;
        std::vector<int32_t> spec = speculative_run(toy, chain, 3, k, 64, rng, drafted, accepted);
        spec.resize(64);
        CHECK(spec == plain, "greedy k=%d differs from plain greedy", k);
        CHECK(rng.next_u64() == untouched.next_u64(), "greedy k=%d drew random numbers", k);
        CHECK(accepted <= drafted, "accepted <= drafted");
    }
    std::printf("ok greedy equivalence k=1..4\n");
}

// The k best of `logits` by (logit descending, lower id first) found by sorting them all; the chain
// without top-k on those alone (in id order) must give what the chain with top-k gives on all.
static void test_top_k_selection() {
    std::mt19937 rng(5);
    std::normal_distribution<float> g(0.0f, 2.0f);
    int cases = 0;
    for (int V : {50, 1000, 248320}) {
        for (int ties : {0, 1, 2}) {
            // Distinct normal logits; half-steps (many equal logits) and a NaN; a rising sawtooth, so
            // that later logits keep beating the k-th best kept so far.
            std::vector<float> lg(static_cast<size_t>(V));
            for (size_t i = 0; i < lg.size(); i++) {
                lg[i] = ties == 0 ? g(rng) : ties == 1 ? std::round(g(rng) * 2.0f) / 2.0f : static_cast<float>(i % 977) * 0.01f + static_cast<float>(i) * 1e-6f;
            }
            if (ties == 1) lg[static_cast<size_t>(V) / 3] = NAN;
            for (int k : {1, 2, 40, 100, V - 1}) {
                if (k >= V) continue;  // top-k off: every logit is a candidate
                for (const SamplerParams& base : {SamplerParams{0.8f, 0, 0.95f, 0.05f}, SamplerParams{1.0f, 0, 1.0f, 0.0f}}) {
                    std::vector<int32_t> ids;
                    for (int32_t i = 0; i < V; i++) {
                        if (!std::isnan(lg[static_cast<size_t>(i)])) ids.push_back(i);
                    }
                    std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
                        return lg[static_cast<size_t>(a)] > lg[static_cast<size_t>(b)] || (lg[static_cast<size_t>(a)] == lg[static_cast<size_t>(b)] && a < b);
                    });
                    ids.resize(static_cast<size_t>(k));
                    std::sort(ids.begin(), ids.end());
                    std::vector<float> sub;
                    for (int32_t i : ids) sub.push_back(lg[static_cast<size_t>(i)]);
                    const Distribution ref = SamplerChain(base).distribution(sub.data(), k);
                    SamplerParams with_k = base;
                    with_k.top_k = k;
                    const Distribution got = SamplerChain(with_k).distribution(lg.data(), V);
                    bool same = got.items().size() == ref.items().size();
                    for (size_t i = 0; same && i < ref.items().size(); i++) {
                        same = got.items()[i].id == ids[static_cast<size_t>(ref.items()[i].id)] && got.items()[i].p == ref.items()[i].p;
                    }
                    CHECK(same, "top-k %d of %d logits (%s): not the chain on the k best", k, V, ties == 0 ? "distinct" : ties == 1 ? "ties, a NaN" : "sawtooth");
                    cases++;
                }
            }
        }
    }
    const std::vector<float> nan(100, NAN);
    const Distribution all_nan = SamplerChain(SamplerParams{0.8f, 40, 0.95f, 0.05f}).distribution(nan.data(), 100);
    CHECK(all_nan.items().size() == 1 && all_nan.argmax() == 0, "all-NaN logits: token 0 alone");
    std::printf("ok top-k selection: %d cases equal to sorting every logit\n", cases);

    std::vector<float> row(248320);
    for (float& x : row) x = g(rng);
    const SamplerChain chain(SamplerParams{0.8f, 40, 0.95f, 0.05f});
    const auto t0 = std::chrono::steady_clock::now();
    size_t n = 0;
    for (int i = 0; i < 20; i++) n += chain.distribution(row.data(), static_cast<int32_t>(row.size())).items().size();
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 20;
    std::printf("bench distribution of 248320 logits (temp 0.8, top-k 40, top-p 0.95, min-p 0.05): %.0f us per row (%zu candidates)\n", us, n / 20);
}

int main() {
    test_chain();
    test_top_k_selection();
    test_distribution(SamplerParams{1.0f, 0, 1.0f, 0.0f}, 2, 200000, "temp 1 no filters");
    test_distribution(SamplerParams{0.8f, 0, 0.95f, 0.0f}, 2, 200000, "temp 0.8 top-p 0.95");
    test_distribution(SamplerParams{0.8f, 4, 0.9f, 0.05f}, 3, 200000, "temp 0.8 top-k 4 top-p 0.9 min-p 0.05");
    test_greedy_equivalence();
    if (failures) {
        std::printf("%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all sampling checks passed\n");
    return 0;
}
