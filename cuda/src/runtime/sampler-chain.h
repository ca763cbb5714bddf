/*
 * sampler-chain.h — the sampler chain after top-k, and the draw, as one piece of code for the host
 * (sampling.cpp) and the device (kernels/sample.cu), so that both give the same probabilities and
 * the same token for the same uniform. exp_f / log_f: both sides evaluate them in double and round
 * once to float (the device's libm_expf / libm_logf), so they agree but for a double result that
 * straddles a float rounding boundary.
 */
#ifndef MTP_RUNTIME_SAMPLER_CHAIN_H
#define MTP_RUNTIME_SAMPLER_CHAIN_H

#include <cstdint>

#if defined(__CUDACC__)
#define MTP_HD __host__ __device__
#else
#define MTP_HD
#endif

namespace mtp {

struct TokenProb {
    int32_t id;
    float p;
};

/* A candidate of the chain: a token and its raw logit. */
struct TokenLogit {
    int32_t id; /* −1: no candidate (a row with fewer than k non-NaN logits ends there) */
    float logit;
};

/*
 * top-p → min-p → temperature → softmax on n >= 1 candidates sorted by (logit descending, lower id
 * first): out[0 … n_out) (returned) the survivors in that order with their probabilities. Filters see
 * temperature-1 probabilities (p: n floats of scratch); llama.cpp's order (src/llama-sampler.cpp
 * top_p / min_p / temp). exp_all(v, n) sets v[i] = exp_f(v[i]) for i < n — the device's lanes share
 * those, the one costly step; everything else runs in order.
 */
template <typename ExpAll, typename Log>
MTP_HD int32_t chain_sorted(const TokenLogit* c, int32_t n, float top_p, float min_p, float temperature, float* p, TokenProb* out,
                            ExpAll exp_all, Log log_f) {
    // top-p: the smallest prefix whose temperature-1 probabilities reach top_p.
    if (top_p < 1.0f) {
        const float maxl = c[0].logit;
        for (int32_t i = 0; i < n; i++) p[i] = c[i].logit - maxl;
        exp_all(p, n);
        float sum = 0.0f;
        for (int32_t i = 0; i < n; i++) sum += p[i];
        float cum = 0.0f;
        int32_t keep = n;
        for (int32_t i = 0; i < n; i++) {
            cum += p[i] / sum;
            if (cum >= top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    // min-p: drop candidates whose probability is below min_p × the best one's (on logits).
    if (min_p > 0.0f) {
        const float min_logit = c[0].logit + log_f(min_p);
        int32_t keep = 0;
        while (keep < n && c[keep].logit >= min_logit) keep++;
        n = keep > 1 ? keep : 1;
    }
    // temperature, then softmax over what is left (the sum in double).
    const float inv_t = 1.0f / temperature;
    const float maxl = c[0].logit * inv_t;
    for (int32_t i = 0; i < n; i++) p[i] = c[i].logit * inv_t - maxl;
    exp_all(p, n);
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        out[i] = {c[i].id, p[i]};
        sum += p[i];
    }
    for (int32_t i = 0; i < n; i++) out[i].p = static_cast<float>(out[i].p / sum);
    return n;
}

/* The token of items (n >= 2, in the chain's order) that uniform u in [0, 1) falls on: the first
 * whose running sum (in double) passes u, or the last when rounding leaves u above them all. */
MTP_HD inline int32_t draw_at(const TokenProb* items, int32_t n, double u) {
    double cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += items[i].p;
        if (u < cum) return items[i].id;
    }
    return items[n - 1].id;
}

} // namespace mtp

#endif
