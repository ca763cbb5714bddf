/*
 * sampling.cpp — sampler chain and speculative acceptance (see sampling.h for the contract and the
 * llama.cpp behaviour each step mirrors: src/llama-sampler.cpp top_k / top_p / min_p / temp / dist).
 */
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace mtp {

// ---- Rng -------------------------------------------------------------------------------------

static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed) {
    for (uint64_t& s : s_) s = splitmix64(seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::draw() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::uniform() {
    if (ahead_.empty()) return draw();
    const double u = ahead_.front();
    ahead_.pop_front();
    return u;
}

void Rng::peek(int32_t n, double* out) {
    while (ahead_.size() < static_cast<size_t>(n)) ahead_.push_back(draw());
    std::copy(ahead_.begin(), ahead_.begin() + n, out);
}

void Rng::skip(int32_t n) {
    if (n < 0 || static_cast<size_t>(n) > ahead_.size()) throw std::invalid_argument("Rng::skip: more than were peeked");
    ahead_.erase(ahead_.begin(), ahead_.begin() + n);
}

// ---- Distribution ----------------------------------------------------------------------------

float Distribution::prob(int32_t id) const {
    for (const TokenProb& t : items_)
        if (t.id == id) return t.p;
    return 0.0f;
}

int32_t Distribution::sample(Rng& rng) const {
    if (items_.size() == 1) return items_[0].id; // point mass (greedy): no draw, the stream stays put
    return draw_at(items_.data(), static_cast<int32_t>(items_.size()), rng.uniform());
}

Distribution Distribution::of(std::vector<TokenProb> items) {
    if (items.empty()) throw std::invalid_argument("Distribution::of: no tokens");
    Distribution d;
    d.items_ = std::move(items);
    return d;
}

static void sort_by_prob(std::vector<TokenProb>& v) {
    std::sort(v.begin(), v.end(), [](const TokenProb& a, const TokenProb& b) { return a.p > b.p || (a.p == b.p && a.id < b.id); });
}

// ---- SamplerChain ----------------------------------------------------------------------------

namespace {
// Scans of the whole vocabulary go block by block: a block's maximum is a branch-free loop the
// compiler vectorizes, and only a block whose maximum can matter is looked at value by value.
constexpr int32_t kScanBlock = 64;

// The largest non-NaN value of x[b0, end) (−inf if none): NaNs never win, as in a plain scan.
float block_max(const float* x, int32_t b0, int32_t end) {
    float m = -INFINITY;
    for (int32_t i = b0; i < end; i++) m = x[i] > m ? x[i] : m;
    return m;
}
} // namespace

// The first index of the largest logit (greedy decoding takes K + 1 + K of these per step over the
// whole vocabulary): only a block that beats the best so far is searched for its first maximal index.
int32_t SamplerChain::argmax(const float* logits, int32_t n_vocab) {
    int32_t best = 0;
    for (int32_t b0 = 0; b0 < n_vocab; b0 += kScanBlock) {
        const int32_t end = std::min(n_vocab, b0 + kScanBlock);
        if (!(block_max(logits, b0, end) > logits[best]) && b0 > 0) continue;
        for (int32_t i = b0; i < end; i++) {
            if (logits[i] > logits[best] || (b0 == 0 && i == 0)) best = i;
        }
    }
    return best;
}

namespace {
bool by_logit(const TokenLogit& a, const TokenLogit& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }
} // namespace

// One pass over the logits: a buffer of a few times k takes every logit that ranks above the k-th
// best kept so far, and is cut back to its k best (nth_element) when it fills. Logits arrive in id
// order, so a later one equal to the k-th best ranks below it: only a larger one enters; a block of
// logits whose largest cannot enter is skipped (as argmax scans). A 248320-token vocabulary costs
// one read of the logits instead of building and partitioning every candidate.
void top_logits(const float* logits, int32_t n_vocab, int32_t k, TokenLogit* out) {
    const size_t kk = static_cast<size_t>(k), cap = std::max<size_t>(4 * kk, 64);
    std::vector<TokenLogit> buf;
    buf.reserve(cap);
    auto keep_k_best = [&] {
        std::nth_element(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(kk - 1), buf.end(), by_logit);
        buf.resize(kk);
    };
    bool cut = false;
    float kth = 0.0f;
    for (int32_t b0 = 0; b0 < n_vocab; b0 += kScanBlock) {
        const int32_t end = std::min(n_vocab, b0 + kScanBlock);
        if (cut && !(block_max(logits, b0, end) > kth)) continue;  // no logit of the block can enter
        for (int32_t i = b0; i < end; i++) {
            const float l = logits[i];
            if (l != l || (cut && !(l > kth))) continue;
            buf.push_back({i, l});
            if (buf.size() == cap) {
                keep_k_best();
                kth = buf[kk - 1].logit;
                cut = true;
            }
        }
    }
    if (buf.size() > kk) keep_k_best();
    if (buf.empty()) buf.push_back({0, 0.0f});
    std::copy(buf.begin(), buf.end(), out);
    std::fill(out + buf.size(), out + kk, TokenLogit{-1, 0.0f});
}

Distribution SamplerChain::distribution(const float* logits, int32_t n_vocab) const {
    if (n_vocab <= 0) throw std::invalid_argument("sampler: n_vocab must be positive");
    if (greedy()) {
        Distribution d;
        d.items_.push_back({argmax(logits, n_vocab), 1.0f});
        return d;
    }
    if (params_.top_k > 0 && params_.top_k < n_vocab) {
        std::vector<TokenLogit> top(static_cast<size_t>(params_.top_k));
        top_logits(logits, n_vocab, params_.top_k, top.data());
        return distribution_top(top.data(), params_.top_k);
    }
    std::vector<TokenLogit> c(static_cast<size_t>(n_vocab));
    for (int32_t i = 0; i < n_vocab; i++) c[i] = {i, logits[i]};
    return chain(std::move(c));
}

Distribution SamplerChain::distribution_top(const TokenLogit* top, int32_t k) const {
    std::vector<TokenLogit> c;
    for (int32_t i = 0; i < k && top[i].id >= 0; i++) c.push_back(top[i]);
    if (c.empty()) throw std::invalid_argument("sampler: no candidates");
    return chain(std::move(c));
}

// top-k's survivors (or every logit without top-k) through the rest of the chain (sampler-chain.h).
Distribution SamplerChain::chain(std::vector<TokenLogit> c) const {
    Distribution d;
    std::sort(c.begin(), c.end(), by_logit);
    const int32_t n = static_cast<int32_t>(c.size());
    std::vector<float> scratch(c.size());  // chain_sorted's exp arguments
    d.items_.resize(c.size());
    // exp and log in double, rounded once: what the device's chain computes (kernels/sample.cu), so
    // that a draft drawn there has the probabilities the host gives it.
    const int32_t kept = chain_sorted(c.data(), n, params_.top_p, params_.min_p, params_.temperature, scratch.data(), d.items_.data(),
                                      [](float* v, int32_t m) {
                                          for (int32_t i = 0; i < m; i++) v[i] = static_cast<float>(std::exp(static_cast<double>(v[i])));
                                      },
                                      [](float x) { return static_cast<float>(std::log(static_cast<double>(x))); });
    d.items_.resize(static_cast<size_t>(kept));
    return d;
}

// ---- speculative acceptance --------------------------------------------------------------------

Distribution residual(const Distribution& p, const Distribution& q) {
    Distribution r;
    double sum = 0.0;
    for (const TokenProb& t : p.items_) {
        const float m = t.p - q.prob(t.id);
        if (m > 0.0f) {
            r.items_.push_back({t.id, m});
            sum += m;
        }
    }
    if (r.items_.empty() || !(sum > 0.0)) return p;
    for (TokenProb& t : r.items_) t.p = static_cast<float>(t.p / sum);
    sort_by_prob(r.items_);
    return r;
}

AcceptResult speculative_accept(const std::vector<Distribution>& target, const std::vector<Distribution>& draft,
                                const std::vector<int32_t>& drafts, Rng& rng) {
    const size_t k = drafts.size();
    if (draft.size() != k || target.size() != k + 1)
        throw std::invalid_argument("speculative_accept: expected k draft distributions and k + 1 target distributions");
    AcceptResult res{0, {}};
    res.tokens.reserve(k + 1);
    for (size_t i = 0; i < k; i++) {
        const int32_t d = drafts[i];
        const float pd = target[i].prob(d);
        const float qd = draft[i].prob(d);
        if (!(qd > 0.0f)) throw std::invalid_argument("speculative_accept: a draft token has zero draft probability");
        // Draw only when the outcome is uncertain, so greedy (point masses) never touches the rng.
        const bool accept = pd >= qd || (pd > 0.0f && rng.uniform() < static_cast<double>(pd) / qd);
        if (!accept) {
            res.tokens.push_back(residual(target[i], draft[i]).sample(rng));
            return res;
        }
        res.tokens.push_back(d);
        res.n_accepted++;
    }
    res.tokens.push_back(target[k].sample(rng));
    return res;
}

} // namespace mtp
