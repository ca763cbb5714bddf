// See attention-core.h.
#include "attention-core.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "ggml-quants.h"
#include "hot.h"
#include "vec-math.h"

namespace mtp {

namespace {

// Σ x in double, in vector lanes (the softmax denominator).
MTP_HOT double sum_f64(const float* x, int64_t n) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; i++) sum += static_cast<double>(x[i]);
    return sum;
}

// Scores w[p] = (q16 · K_p) · kq_scale for p < n_kv over one KV head's transposed keys kt (D, n_ctx)
// (F16): each w[p] sums its D products in order.
void attn_scores(const float* q16, const uint16_t* kt, size_t n_ctx, uint32_t D, uint32_t n_kv, float kq_scale, float* w) {
    for (uint32_t p = 0; p < n_kv; p++) w[p] = 0.0f;
    for (uint32_t d = 0; d < D; d++) {
        const uint16_t* kd = kt + d * n_ctx;
        for (uint32_t p = 0; p < n_kv; p++) w[p] += q16[d] * f16_to_f32(kd[p]);
    }
    for (uint32_t p = 0; p < n_kv; p++) w[p] *= kq_scale;
}

// oh[d] = Σ_p w[p] · V_p[d], p in order from 0 (V_p at vc + p·vstride).
void attn_weighted_v(const float* w, const uint16_t* vc, size_t vstride, uint32_t D, uint32_t n_kv, float* oh) {
    std::fill(oh, oh + D, 0.0f);
    for (uint32_t p = 0; p < n_kv; p++) {
        const uint16_t* vp = vc + p * vstride;
        for (uint32_t d = 0; d < D; d++) oh[d] += w[p] * f16_to_f32(vp[d]);
    }
}

#ifdef MTP_CORE_AVX2
// x[i] = round_to_f16(x[i] · scale) (round to nearest even, as f32_to_f16).
MTP_AVX2 void scale_round_f16_avx2(float* x, float scale, uint32_t n) {
    uint32_t i = 0;
    const __m256 s = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) x[i] = round_to_f16(x[i] * scale);
}

// attn_scores for the G query heads that share one KV head (q16 (G, D), w rows w_stride apart):
// each F16 key is loaded and converted once for all G heads.
template <int G>
MTP_AVX2 void attn_scores_group_avx2(const float* q16, const uint16_t* kt, size_t n_ctx, uint32_t D, uint32_t n_kv,
                                     float kq_scale, float* w, size_t w_stride) {
    const __m256 s = _mm256_set1_ps(kq_scale);
    for (uint32_t p = 0; p < n_kv; p += 16) {
        if (p + 16 > n_ctx) {  // a last partial chunk at the end of the cache: the portable loop
            for (int g = 0; g < G; g++) attn_scores(q16 + g * D, kt + p, n_ctx, D, n_kv - p, kq_scale, w + g * w_stride + p);
            break;
        }
        __m256 acc[G][2];
        for (int g = 0; g < G; g++) acc[g][0] = acc[g][1] = _mm256_setzero_ps();
        for (uint32_t d = 0; d < D; d++) {
            const uint16_t* kd = kt + d * n_ctx + p;  // entries past n_kv are read, not used
            const __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kd)));
            const __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kd + 8)));
            for (int g = 0; g < G; g++) {
                const __m256 qd = _mm256_set1_ps(q16[g * D + d]);
                acc[g][0] = _mm256_add_ps(acc[g][0], _mm256_mul_ps(qd, k0));
                acc[g][1] = _mm256_add_ps(acc[g][1], _mm256_mul_ps(qd, k1));
            }
        }
        for (int g = 0; g < G; g++) {
            float chunk[16];
            _mm256_storeu_ps(chunk, _mm256_mul_ps(acc[g][0], s));
            _mm256_storeu_ps(chunk + 8, _mm256_mul_ps(acc[g][1], s));
            std::copy(chunk, chunk + std::min<uint32_t>(16, n_kv - p), w + g * w_stride + p);
        }
    }
}

// attn_weighted_v for G heads sharing one KV head (weights w rows w_stride apart, outputs o rows D
// apart): each F16 value row is loaded and converted once for all G heads; C·8 dims per pass so the
// G·C sums stay in registers.
template <int G, int C>
MTP_AVX2 void attn_weighted_v_group_avx2(const float* w, size_t w_stride, const uint16_t* vc, size_t vstride, uint32_t D,
                                         uint32_t n_kv, float* o) {
    for (uint32_t d0 = 0; d0 < D; d0 += 8 * C) {
        __m256 acc[G][C];
        for (int g = 0; g < G; g++) {
            for (int c = 0; c < C; c++) acc[g][c] = _mm256_setzero_ps();
        }
        for (uint32_t p = 0; p < n_kv; p++) {
            __m256 v[C];
            for (int c = 0; c < C; c++) {
                v[c] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vc + p * vstride + d0 + 8 * c)));
            }
            for (int g = 0; g < G; g++) {
                const __m256 wp = _mm256_set1_ps(w[g * w_stride + p]);
                for (int c = 0; c < C; c++) acc[g][c] = _mm256_add_ps(acc[g][c], _mm256_mul_ps(wp, v[c]));
            }
        }
        for (int g = 0; g < G; g++) {
            for (int c = 0; c < C; c++) _mm256_storeu_ps(o + g * D + d0 + 8 * c, acc[g][c]);
        }
    }
}

// The grouped kernels for a group size G <= 8 (D % 16 == 0); false for other shapes.
bool attn_group_avx2(int G, const float* q16, const uint16_t* kt, size_t n_ctx, const uint16_t* vc, size_t vstride,
                     uint32_t D, uint32_t n_kv, float kq_scale, float* w, size_t w_stride, bool values, float* o) {
    if (D % 16 != 0) return false;
    switch (G) {
#define MTP_ATTN_GROUP(g, c)                                                                         \
    case g:                                                                                          \
        if (values) attn_weighted_v_group_avx2<g, c>(w, w_stride, vc, vstride, D, n_kv, o);          \
        else attn_scores_group_avx2<g>(q16, kt, n_ctx, D, n_kv, kq_scale, w, w_stride);              \
        return true;
        MTP_ATTN_GROUP(1, 2) MTP_ATTN_GROUP(2, 2) MTP_ATTN_GROUP(3, 2) MTP_ATTN_GROUP(4, 2)
        MTP_ATTN_GROUP(5, 2) MTP_ATTN_GROUP(6, 2) MTP_ATTN_GROUP(7, 1) MTP_ATTN_GROUP(8, 1)
#undef MTP_ATTN_GROUP
        default: return false;
    }
}
#endif

}  // namespace

AttnWork::AttnWork(uint32_t group_, uint32_t D, size_t max_kv)
    : group(group_), w_stride(max_kv), q16(static_cast<size_t>(group_) * D), w(group_ * max_kv) {
    const size_t chunks = (max_kv + kAttnChunk - 1) / kAttnChunk;
    m.resize(group_ * chunks);
    alpha.resize(group_ * chunks);
    oc.resize(static_cast<size_t>(group_) * D);
    l.resize(group_ * chunks);
    total.resize(group_);
}

void attend_group(AttnWork& work, const float* q, const float* gate, size_t gate_stride, const uint16_t* kt, size_t n_ctx,
                  const uint16_t* vc, size_t vstride, uint32_t D, uint32_t n_kv, float* o) {
    const uint32_t group = work.group;
    const size_t w_stride = work.w_stride;
    float* w = work.w.data();
    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(D));
    std::copy(q, q + static_cast<size_t>(group) * D, work.q16.begin());
    bool grouped = false;
#ifdef MTP_CORE_AVX2
    const bool fast = core_avx2() && D % 8 == 0;
    if (fast) {
        scale_round_f16_avx2(work.q16.data(), 1.0f, group * D);
        grouped = attn_group_avx2(static_cast<int>(group), work.q16.data(), kt, n_ctx, vc, vstride, D, n_kv, kq_scale, w, w_stride, false, o);
    } else
#endif
    for (float& x : work.q16) x = round_to_f16(x);
    for (uint32_t g = 0; !grouped && g < group; g++) attn_scores(&work.q16[g * D], kt, n_ctx, D, n_kv, kq_scale, w + g * w_stride);
    // dst (group, D) = Σ_p w_p · V_p over positions [p0, p1) for every head of the group.
    auto weighted_v = [&](uint32_t p0, uint32_t p1, float* dst) {
#ifdef MTP_CORE_AVX2
        if (grouped) {
            attn_group_avx2(static_cast<int>(group), nullptr, nullptr, 0, vc + p0 * vstride, vstride, D, p1 - p0, 0.0f, w + p0, w_stride, true, dst);
            return;
        }
#endif
        for (uint32_t g = 0; g < group; g++) attn_weighted_v(w + g * w_stride + p0, vc + p0 * vstride, vstride, D, p1 - p0, dst + g * D);
    };
    if (n_kv <= static_cast<uint32_t>(kAttnChunk)) {
        for (uint32_t g = 0; g < group; g++) {
            float* wg = w + g * w_stride;
            float max = -INFINITY;
            for (uint32_t p = 0; p < n_kv; p++) max = std::max(max, wg[p]);
            for (uint32_t p = 0; p < n_kv; p++) wg[p] -= max;
            vec_exp(wg, wg, n_kv);
            const float inv = static_cast<float>(1.0 / sum_f64(wg, n_kv));
#ifdef MTP_CORE_AVX2
            if (fast) {
                scale_round_f16_avx2(wg, inv, n_kv);
            } else
#endif
            for (uint32_t p = 0; p < n_kv; p++) wg[p] = round_to_f16(wg[p] * inv);
        }
        weighted_v(0, n_kv, o);
    } else {
        const uint32_t n_chunks = (n_kv + kAttnChunk - 1) / kAttnChunk;
        auto chunk_end = [&](uint32_t c) { return std::min<uint32_t>(n_kv, (c + 1) * kAttnChunk); };
        for (uint32_t g = 0; g < group; g++) {
            float* mg = &work.m[g * n_chunks];
            double* lg = &work.l[g * n_chunks];
            for (uint32_t c = 0; c < n_chunks; c++) {
                const uint32_t p0 = c * kAttnChunk, len = chunk_end(c) - p0;
                float* wc = w + g * w_stride + p0;
                float max = -INFINITY;
                for (uint32_t p = 0; p < len; p++) max = std::max(max, wc[p]);
                for (uint32_t p = 0; p < len; p++) wc[p] -= max;
                vec_exp(wc, wc, len);
                mg[c] = max;
                lg[c] = sum_f64(wc, len);
            }
            const float M = *std::max_element(mg, mg + n_chunks);
            float* ag = &work.alpha[g * n_chunks];
            for (uint32_t c = 0; c < n_chunks; c++) ag[c] = mg[c] - M;
            vec_exp(ag, ag, n_chunks);
            work.total[g] = 0.0;
            for (uint32_t c = 0; c < n_chunks; c++) work.total[g] += static_cast<double>(ag[c]) * lg[c];
        }
        std::fill(o, o + static_cast<size_t>(group) * D, 0.0f);
        for (uint32_t c = 0; c < n_chunks; c++) {
            weighted_v(c * kAttnChunk, chunk_end(c), work.oc.data());
            for (uint32_t g = 0; g < group; g++) {
                const float a = work.alpha[g * n_chunks + c];
                for (uint32_t d = 0; d < D; d++) o[g * D + d] += a * work.oc[g * D + d];
            }
        }
        for (uint32_t g = 0; g < group; g++) {
            const float inv = static_cast<float>(1.0 / work.total[g]);
            for (uint32_t d = 0; d < D; d++) o[g * D + d] *= inv;
        }
    }
    for (uint32_t g = 0; g < group; g++) vec_mul_sigmoid(o + g * D, gate + g * gate_stride, D);
}

}  // namespace mtp
