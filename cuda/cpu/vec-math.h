// Element-wise math of the CPU forward on whole rows: exp, SiLU and sigmoid with one exp of our own
// (range reduction by ln 2 and a degree-6 polynomial, within 2 ulp of expf), written so the compiler
// vectorizes it (hot.h) — std::exp in these loops cost more than the matrix products of a decode
// step. Every element is computed by the same operations in every version and batch size.
#pragma once

#include <cstdint>

namespace mtp {

// y[i] = exp(x[i]) (x == y allowed) for |x| < 2.9e6; below −87.3 it gives ~1e-38 instead of 0, above
// 88.7 ~2e38 instead of infinity.
void vec_exp(const float* x, float* y, int64_t n);
// g[i] = silu(g[i]) · u[i]  (SwiGLU)
void vec_silu_mul(float* g, const float* u, int64_t n);
// x[i] = silu(x[i])
void vec_silu(float* x, int64_t n);
// o[i] *= silu(z[i])  (Gated DeltaNet output gate)
void vec_mul_silu(float* o, const float* z, int64_t n);
// o[i] *= sigmoid(z[i])  (gated attention output gate)
void vec_mul_sigmoid(float* o, const float* z, int64_t n);

}  // namespace mtp
