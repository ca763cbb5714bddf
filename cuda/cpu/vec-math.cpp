// See vec-math.h.
#include "vec-math.h"

#include <cstring>

#include "hot.h"

namespace mtp {

namespace {

// exp(x) = 2^k · exp(r), k = round(x / ln 2) (to nearest even, by adding and subtracting 1.5 · 2^23,
// no libm call), r = x − k·ln 2 (ln 2 split in two so k·ln2_hi is exact), exp(r) on |r| <= ln2/2 by
// the Cephes polynomial, 2^k built in the exponent bits with k clamped to [−126, 127], so the result
// stays finite and normal (about 1e-38 .. 2e38) for |x| < 2.9e6. The clamp is on the integer k: a
// clamp of x lets GCC evaluate the clamped branch for every vector lane, whose denormal
// intermediates cost a microcode assist each.
inline float exp_poly(float x) {
    constexpr float kRound = 12582912.0f;
    const float k = (x * 1.44269504088896341f + kRound) - kRound;
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    int32_t e = static_cast<int32_t>(k);
    e = e < -126 ? -126 : (e > 127 ? 127 : e);
    const int32_t bits = (e + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

inline float silu(float x) { return x / (1.0f + exp_poly(-x)); }

}  // namespace

MTP_HOT void vec_exp(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = exp_poly(x[i]);
}

MTP_HOT void vec_silu_mul(float* g, const float* u, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) g[i] = silu(g[i]) * u[i];
}

MTP_HOT void vec_silu(float* x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) x[i] = silu(x[i]);
}

MTP_HOT void vec_mul_silu(float* o, const float* z, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] *= silu(z[i]);
}

MTP_HOT void vec_mul_sigmoid(float* o, const float* z, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] *= 1.0f / (1.0f + exp_poly(-z[i]));
}

}  // namespace mtp
