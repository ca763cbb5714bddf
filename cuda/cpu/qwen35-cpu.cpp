// The qwen35 trunk on the CPU (spec §3), mirroring the numerics of llama.cpp's CPU backend (§3.11):
// activations converted to the weight's vec-dot type inside every matmul (ggml-quants.cpp), RMS norms
// accumulated in double, K/V stored as F16, q rounded to F16 before q·K and softmax weights rounded to
// F16 before they weight V (the non-flash-attention path; rows longer than kAttnChunk positions in
// chunks, attention-order.h), and the fused Gated DeltaNet recurrence's
// operation order (decay, delta = (v − Sᵀk)·β, rank-1 update as FMA, output scaled by 1/sqrt(Dk)), and
// the summation order of llama.cpp's BF16 dot product (ggml-quants.cpp).
//
// Every token row is computed by the same code whatever the batch size, so one batch, chunks and
// token-by-token evaluation give identical logits.
#include "qwen35-cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "../src/runtime/failure.h"
#include "attention-core.h"
#include "ggml-quants.h"
#include "hot.h"
#include "vec-math.h"

#ifdef MTP_PROFILE
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
namespace {
struct ProfTable {
    std::map<std::string, std::pair<double, long>> m;
    ~ProfTable() {
        for (auto& [k, v] : m) std::fprintf(stderr, "PROF %-40s %10.1f ms %8ld calls %8.2f us/call\n", k.c_str(), v.first * 1e3, v.second, v.first * 1e6 / v.second);
    }
};
ProfTable g_prof;
struct ProfScope {
    std::string key;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    ProfScope(std::string k, uint32_t n) : key(std::move(k) + "/n" + std::to_string(n)) {}
    ~ProfScope() {
        auto& e = g_prof.m[key];
        e.first += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        e.second++;
    }
};
std::string prof_name(const std::string& n) {
    if (n.rfind("blk.8.", 0) == 0) return "mtp " + n.substr(6);
    if (n.rfind("blk.", 0) == 0) return "mm " + n.substr(n.find('.', 4) + 1);
    return "mm " + n;
}
}  // namespace
#define PROF_CAT2(a, b) a##b
#define PROF_CAT(a, b) PROF_CAT2(a, b)
#define PROF(name, n) ProfScope PROF_CAT(prof_scope_, __LINE__)(name, n)
#else
#define PROF(name, n)
#endif

namespace mtp {

namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
float softplus(float x) { return x > 20.0f ? x : std::log(1.0f + std::exp(x)); }

// y (n) = x / rms(x) · w (w may be nullptr); the sum of squares in double as ggml's CPU rms_norm.
// The sum of squares is accumulated in double (as ggml's CPU rms_norm) in vector lanes, added at the
// end: in double the order changes nothing a float result can see, and a sequential double sum
// costs an add latency per element (a norm per layer and row adds up).
MTP_HOT double sum_squares(const float* x, int64_t n) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; i++) sum += static_cast<double>(x[i] * x[i]);
    return sum;
}

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    const double sum = sum_squares(x, n);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
}

// One causal depthwise conv step: y[c] = Σ_i window_c[i] · kernel_c[i] over the Kc-1 past inputs
// (state (Kc-1, Cc), oldest first) and the current one x, summed in that order; the loops run
// across channels so they vectorize. kernel (Kc, Cc), transposed from the file's (Cc, Kc).
// Here for nc channels whose state and kernel rows are `stride` floats apart.
MTP_HOT void conv_step(const float* state, const float* x, const float* kernel, size_t stride, uint32_t nc, uint32_t Kc,
                       float* y) {
    for (uint32_t c = 0; c < nc; c++) y[c] = 0.0f;
    for (uint32_t i = 0; i + 1 < Kc; i++) {
        const float* st = state + i * stride;
        const float* ki = kernel + i * stride;
        for (uint32_t c = 0; c < nc; c++) y[c] += st[c] * ki[c];
    }
    const float* kl = kernel + (Kc - 1) * stride;
    for (uint32_t c = 0; c < nc; c++) y[c] += x[c] * kl[c];
}

// In-place L2 norm as llama.cpp builds it for GDN q/k: rms_norm with eps/n, then × 1/sqrt(n).
void l2_norm(float* x, int64_t n, float eps) {
    const float fn = static_cast<float>(n);
    rms_norm(x, nullptr, x, n, eps / fn);
    const float s = 1.0f / std::sqrt(fn);
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

// cos/sin (R/2 each) of the IMROPE angles for a text token at position pos (§3.4): the four
// position streams are [pos, pos, pos, 0]; each pair's sector picks one.
void rope_angles(const mtp_hparams& hp, int64_t pos, float* cos_out, float* sin_out) {
    const uint32_t n_pairs = hp.rope_n_dims / 2;
    const float theta_scale = std::pow(hp.rope_freq_base, -2.0f / static_cast<float>(hp.rope_n_dims));
    const uint32_t* s = hp.rope_sections;
    const uint32_t sect_dims = s[0] + s[1] + s[2] + s[3];
    float theta[4] = {static_cast<float>(pos), static_cast<float>(pos), static_cast<float>(pos), 0.0f};
    for (uint32_t i = 0; i < n_pairs; i++) {
        const uint32_t sector = sect_dims ? i % sect_dims : 0;
        int stream = 3;
        if (sector % 3 == 1 && sector < 3 * s[1]) stream = 1;
        else if (sector % 3 == 2 && sector < 3 * s[2]) stream = 2;
        else if (sector % 3 == 0 && sector < 3 * s[0]) stream = 0;
        const float angle = hp.rope_freq_scale * theta[stream];
        cos_out[i] = std::cos(angle) * hp.rope_attn_factor;
        sin_out[i] = std::sin(angle) * hp.rope_attn_factor;
        for (float& t : theta) t *= theta_scale;  // ggml builds p·s^i by repeated multiplication
    }
}

// NeoX pairing on the first R dims: dim i rotates with dim i + R/2.
void rope_apply(float* x, const float* c, const float* s, uint32_t n_dims) {
    const uint32_t half = n_dims / 2;
    for (uint32_t i = 0; i < half; i++) {
        const float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c[i] - x1 * s[i];
        x[i + half] = x0 * s[i] + x1 * c[i];
    }
}


// ---- The Gated DeltaNet core (attention's: attention-core.cpp). The states are laid out so that
// the independent results (columns of a GDN state) are adjacent in memory: the vector loops run
// across them, and each result is computed with the portable loop's operations in its order —
// bitwise the same whatever the instruction set.

// Columns [c0, c0 + W) of one Gated DeltaNet token step on a head state stored transposed, ST (Dk, Dv)
// with ST[r·Dv + c] = S[r][c] (spec §3.7): decay, delta = (v − Sᵀk)·β, rank-1 update as an FMA (as
// ggml_vec_mad_f32 is on SIMD CPUs), output (Sᵀq)/sqrt(Dk). Column c depends on column c only, and
// its sums run over r in order. Reads ST_in, writes ST (the same, or the next snapshot plane).
template <uint32_t W>
__attribute__((always_inline)) inline void gdn_columns(const float* ST_in, float* ST, const float* q, const float* k,
                                                       const float* v, float decay, float b, uint32_t Dv, uint32_t Dk,
                                                       float scale, uint32_t c0, float* ot, float* delta_out) {
    float acc[W] = {};
    for (uint32_t r = 0; r < Dk; r++) {
        const float* in = ST_in + static_cast<size_t>(r) * Dv + c0;
        float* out = ST + static_cast<size_t>(r) * Dv + c0;
        for (uint32_t i = 0; i < W; i++) {
            const float s = in[i] * decay;
            out[i] = s;
            acc[i] += s * k[r];
        }
    }
    float delta[W], o[W] = {};
    for (uint32_t i = 0; i < W; i++) delta[i] = (v[c0 + i] - acc[i]) * b;
    if (delta_out) {
        for (uint32_t i = 0; i < W; i++) delta_out[c0 + i] = delta[i];
    }
    for (uint32_t r = 0; r < Dk; r++) {
        float* row = ST + static_cast<size_t>(r) * Dv + c0;
        for (uint32_t i = 0; i < W; i++) {
            const float s = std::fma(k[r], delta[i], row[i]);
            row[i] = s;
            o[i] += s * q[r];
        }
    }
    for (uint32_t i = 0; i < W; i++) ot[c0 + i] = o[i] * scale;
}

// A whole head, 8 columns at a time (the vectorized loops of the x86-64-v3 clone), then single ones.
// delta_out (Dv, may be null) receives the step's delta, for gdn_replay.
MTP_HOT void gdn_step(const float* ST_in, float* ST, const float* q, const float* k, const float* v, float decay, float b,
                      uint32_t Dv, uint32_t Dk, float scale, float* ot, float* delta_out) {
    uint32_t c0 = 0;
    for (; c0 + 8 <= Dv; c0 += 8) gdn_columns<8>(ST_in, ST, q, k, v, decay, b, Dv, Dk, scale, c0, ot, delta_out);
    for (; c0 < Dv; c0++) gdn_columns<1>(ST_in, ST, q, k, v, decay, b, Dv, Dk, scale, c0, ot, delta_out);
}

// The state update of a gdn_step replayed from its key, delta and decay: ST = fma(k, delta, ST_in · decay)
// with the step's operations, so the result is bitwise the state the step produced.
MTP_HOT void gdn_replay(const float* ST_in, float* ST, const float* k, const float* delta, float decay, uint32_t Dv,
                        uint32_t Dk) {
    for (uint32_t r = 0; r < Dk; r++) {
        const float* in = ST_in + static_cast<size_t>(r) * Dv;
        float* out = ST + static_cast<size_t>(r) * Dv;
        for (uint32_t c = 0; c < Dv; c++) out[c] = std::fma(k[r], delta[c], in[c] * decay);
    }
}

#ifdef MTP_CORE_AVX2
// gdn_step for heads with Dv % 64 == 0: 64 columns per block in eight registers, so eight
// independent sums are in flight (16 columns would wait on one add's latency per key index).
MTP_AVX2 void gdn_step_avx2(const float* ST_in, float* ST, const float* q, const float* k, const float* v, float decay,
                            float b, uint32_t Dv, uint32_t Dk, float scale, float* ot, float* delta_out) {
    const __m256 dec = _mm256_set1_ps(decay);
    for (uint32_t c0 = 0; c0 < Dv; c0 += 64) {
        __m256 acc[8];
        for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
        for (uint32_t r = 0; r < Dk; r++) {
            const float* in = ST_in + static_cast<size_t>(r) * Dv + c0;
            float* out = ST + static_cast<size_t>(r) * Dv + c0;
            const __m256 kr = _mm256_set1_ps(k[r]);
            for (int i = 0; i < 8; i++) {
                const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(in + 8 * i), dec);
                _mm256_storeu_ps(out + 8 * i, s);
                acc[i] = _mm256_add_ps(acc[i], _mm256_mul_ps(s, kr));
            }
        }
        __m256 delta[8], o[8];
        const __m256 bb = _mm256_set1_ps(b);
        for (int i = 0; i < 8; i++) {
            delta[i] = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(v + c0 + 8 * i), acc[i]), bb);
            o[i] = _mm256_setzero_ps();
            if (delta_out) _mm256_storeu_ps(delta_out + c0 + 8 * i, delta[i]);
        }
        for (uint32_t r = 0; r < Dk; r++) {
            float* row = ST + static_cast<size_t>(r) * Dv + c0;
            const __m256 kr = _mm256_set1_ps(k[r]), qr = _mm256_set1_ps(q[r]);
            for (int i = 0; i < 8; i++) {
                const __m256 s = _mm256_fmadd_ps(kr, delta[i], _mm256_loadu_ps(row + 8 * i));
                _mm256_storeu_ps(row + 8 * i, s);
                o[i] = _mm256_add_ps(o[i], _mm256_mul_ps(s, qr));
            }
        }
        const __m256 sc = _mm256_set1_ps(scale);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(ot + c0 + 8 * i, _mm256_mul_ps(o[i], sc));
    }
}

#endif

}  // namespace

CpuSession::CpuSession(const ModelWeights& w, const PackedWeights& packed, uint32_t n_ctx, uint32_t n_draft_max,
                       int n_threads)
    : w_(w), packed_(packed), hp_(w.hp), n_ctx_(n_ctx), pool_(n_threads), n_planes_(n_draft_max + 1) {
    const size_t kv = static_cast<size_t>(n_ctx) * hp_.n_head_kv * hp_.head_dim;
    const size_t conv = static_cast<size_t>(hp_.ssm_conv_channels) * (hp_.ssm_conv_kernel - 1);
    const size_t ssm = static_cast<size_t>(hp_.ssm_n_value_heads) * hp_.ssm_value_head_dim * hp_.ssm_key_head_dim;
    for (uint32_t il = 0; il < hp_.n_layer; il++) {
        if (w.layer_kinds[il] == MTP_LAYER_KIND_ATTENTION) {
            slot_.push_back(static_cast<int>(k_cache_.size()));
            k_cache_.emplace_back(kv);
            v_cache_.emplace_back(kv);
        } else {
            slot_.push_back(static_cast<int>(conv_planes_.size()));
            conv_planes_.emplace_back(conv * n_planes_, 0.0f);
            const float* kernel = w.layers[il][MTP_ROLE_SSM_CONV1D].f32;  // (Cc, Kc)
            std::vector<float> kernel_t(static_cast<size_t>(hp_.ssm_conv_channels) * hp_.ssm_conv_kernel);
            for (uint32_t c = 0; c < hp_.ssm_conv_channels; c++) {
                for (uint32_t i = 0; i < hp_.ssm_conv_kernel; i++) kernel_t[i * hp_.ssm_conv_channels + c] = kernel[c * hp_.ssm_conv_kernel + i];
            }
            conv_kernel_t_.push_back(std::move(kernel_t));
            ssm_planes_.emplace_back(ssm * (n_planes_ > 1 ? 2 : 1), 0.0f);
            GdnReplay r;
            r.k.resize(static_cast<size_t>(n_planes_) * hp_.ssm_n_key_heads * hp_.ssm_key_head_dim);
            r.delta.resize(static_cast<size_t>(n_planes_) * hp_.ssm_n_value_heads * hp_.ssm_value_head_dim);
            r.decay.resize(static_cast<size_t>(n_planes_) * hp_.ssm_n_value_heads);
            replay_.push_back(std::move(r));
        }
    }
    if (hp_.n_mtp > 0) {
        mtp_k_.resize(kv);
        mtp_v_.resize(kv);
    }
}

void CpuSession::reset() {
    n_past_ = 0;  // KV entries past n_past are never read
    mtp_n_past_ = 0;
    batch_start_ = batch_n_ = 0;
    live_ = batch_live_ = ssm_live_ = ssm_batch_live_ = 0;  // the other planes are written before they are read
    for (auto& s : conv_planes_) std::fill(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(s.size() / n_planes_), 0.0f);
    const size_t ssm_plane = static_cast<size_t>(hp_.ssm_n_value_heads) * hp_.ssm_key_head_dim * hp_.ssm_value_head_dim;
    for (auto& s : ssm_planes_) std::fill(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(ssm_plane), 0.0f);
}

void CpuSession::matmul(const Tensor& w, const float* x, uint32_t n, float* y) {
    const MatmulOut out{&w, y};
    matmuls(&out, 1, x, n);
}

void CpuSession::matmuls(const MatmulOut* outs, int count, const float* x, uint32_t n) {
    PROF(count == 1 ? prof_name(outs[0].w->name) : "mm fused " + prof_name(outs[0].w->name), n);
    // The activation converted once per weight type; every weight has the same input width.
    const int64_t n_in = outs[0].w->ne[0];
    constexpr int64_t kTile = 16;  // a packed Q8_0 group; a multiple of the row-major kernels' 8 and 4
    int64_t tile_end[kMaxFused];  // cumulative 8-row tiles, in order of outs
    size_t act_at[kMaxFused];
    int64_t n_tiles = 0;
    size_t act_total = 0;
    for (int i = 0; i < count; i++) {
        const Tensor& w = *outs[i].w;
        n_tiles += (w.ne[1] + kTile - 1) / kTile;
        tile_end[i] = n_tiles;
        int same = -1;
        for (int j = 0; j < i && same < 0; j++) same = outs[j].w->type == w.type ? j : -1;
        if (same >= 0) {
            act_at[i] = act_at[same];
        } else {
            act_at[i] = act_total;
            act_total += activation_row_bytes(w.type, n_in) * n;
        }
    }
    act_.resize(act_total);
    for (int i = 0; i < count; i++) {
        bool done = false;
        for (int j = 0; j < i; j++) done = done || act_at[j] == act_at[i];
        if (done) continue;
        const size_t bytes = activation_row_bytes(outs[i].w->type, n_in);
        for (uint32_t t = 0; t < n; t++) quantize_activation_row(outs[i].w->type, x + t * n_in, act_.data() + act_at[i] + t * bytes, n_in);
    }
    // The packed Q8_0 kernel's per-block extras, once for all its calls (one Q8_0 activation at most:
    // every weight here has the same input width).
    const int64_t nb = n_in / QK8_0;
    size_t q8_at = 0;
    bool q8_packed = false;
    for (int i = 0; i < count && !q8_packed; i++) {
        q8_packed = packed_.find(*outs[i].w) != nullptr;
        q8_at = act_at[i];
    }
    if (q8_packed) {
        act_dx_.resize(static_cast<size_t>(n) * nb);
        act_corr_.resize(static_cast<size_t>(n) * nb);
        prepare_packed_activation(act_.data() + q8_at, activation_row_bytes(8, n_in), static_cast<int>(n), nb,
                                  act_dx_.data(), act_corr_.data());
    }
    // Row ranges in multiples of 16 (the multi-row kernels' tiles); at most 8 activation rows per
    // pass, so a pass's partial sums stay in registers.
    pool_.parallel_for(n_tiles, [&](int64_t i0, int64_t i1) {
        int64_t first = 0;
        for (int i = 0; i < count; i++) {
            const int64_t lo = std::max(i0, first), hi = std::min(i1, tile_end[i]);
            first = tile_end[i];
            if (lo >= hi) continue;
            const Tensor& w = *outs[i].w;
            const int64_t n_out = w.ne[1], base = tile_end[i] - (n_out + kTile - 1) / kTile;
            const int64_t r0 = (lo - base) * kTile, r1 = std::min<int64_t>((hi - base) * kTile, n_out);
            const size_t bytes = activation_row_bytes(w.type, n_in);
            const uint8_t* act = act_.data() + act_at[i];
            const PackedQ8_0* p = packed_.find(w);
            // Rows of full packed groups, then the rest in the file's layout.
            const int64_t r_packed = p ? std::min(r1, p->n_groups * kTile) : r0;
            for (uint32_t t0 = 0; t0 < n; t0 += 8) {
                const uint32_t na = std::min<uint32_t>(8, n - t0);
                float* y = outs[i].y + static_cast<size_t>(t0) * n_out;
                if (r_packed > r0) {
                    packed_q8_0_rows(*p, r0 / kTile, r_packed / kTile, act + t0 * bytes, bytes, static_cast<int>(na),
                                     act_dx_.data() + t0 * nb, act_corr_.data() + t0 * nb, y, static_cast<size_t>(n_out));
                }
                if (r1 > r_packed) {
                    vec_dot_rows(w.type, w.row(r_packed), w.row_bytes, r1 - r_packed, act + t0 * bytes, bytes,
                                 static_cast<int>(na), n_in, y + r_packed, static_cast<size_t>(n_out));
                }
            }
        }
    });
}

void CpuSession::attention(const LayerWeights& L, const float* a, uint32_t n, uint32_t n_past, uint16_t* kc,
                           uint16_t* vc, float* out) {
    const uint32_t H = hp_.n_head, Hkv = hp_.n_head_kv, D = hp_.head_dim, R = hp_.rope_n_dims;
    const uint32_t group = H / Hkv;
    std::vector<float> qg(static_cast<size_t>(n) * 2 * H * D);  // (n, H, [q | gate]) per head
    std::vector<float> k(static_cast<size_t>(n) * Hkv * D);     // (n, Hkv, D)
    std::vector<float> v(static_cast<size_t>(n) * Hkv * D);     // (n, Hkv, D)
    const MatmulOut qkv_outs[] = {{&L[MTP_ROLE_ATTN_Q], qg.data()}, {&L[MTP_ROLE_ATTN_K], k.data()}, {&L[MTP_ROLE_ATTN_V], v.data()}};
    matmuls(qkv_outs, 3, a, n);

    std::vector<float> q(static_cast<size_t>(n) * H * D);  // (n, H, D) normed + rotated queries
    std::vector<float> cs(R / 2), sn(R / 2);
    for (uint32_t t = 0; t < n; t++) {
        const int64_t pos = static_cast<int64_t>(n_past) + t;
        rope_angles(hp_, pos, cs.data(), sn.data());
        for (uint32_t h = 0; h < H; h++) {
            float* qh = &q[(static_cast<size_t>(t) * H + h) * D];
            rms_norm(&qg[(static_cast<size_t>(t) * H + h) * 2 * D], L[MTP_ROLE_ATTN_Q_NORM].f32, qh, D, hp_.rms_eps);
            rope_apply(qh, cs.data(), sn.data(), R);
        }
        for (uint32_t j = 0; j < Hkv; j++) {
            float* kj = &k[(static_cast<size_t>(t) * Hkv + j) * D];
            rms_norm(kj, L[MTP_ROLE_ATTN_K_NORM].f32, kj, D, hp_.rms_eps);
            rope_apply(kj, cs.data(), sn.data(), R);
        }
        for (size_t e = 0; e < static_cast<size_t>(Hkv) * D; e++) {  // e = j·D + d
            kc[e * n_ctx_ + pos] = f32_to_f16(k[static_cast<size_t>(t) * Hkv * D + e]);
            vc[static_cast<size_t>(pos) * Hkv * D + e] = f32_to_f16(v[static_cast<size_t>(t) * Hkv * D + e]);
        }
    }

    std::vector<float> o(static_cast<size_t>(n) * H * D);  // (n, H, D) gated attention output
    {
    PROF("attn core", n);
    // One item per (token, KV head): its `group` query heads share the keys and values.
    pool_.parallel_for(static_cast<int64_t>(n) * Hkv, [&](int64_t i0, int64_t i1) {
        AttnWork work(group, D, n_past + n);
        for (int64_t item = i0; item < i1; item++) {
            const uint32_t t = static_cast<uint32_t>(item / Hkv), j = static_cast<uint32_t>(item % Hkv);
            const size_t head0 = static_cast<size_t>(t) * H + static_cast<size_t>(j) * group;  // (t, first head of the group)
            attend_group(work, &q[head0 * D], &qg[head0 * 2 * D + D], 2 * D, kc + static_cast<size_t>(j) * D * n_ctx_, n_ctx_,
                         vc + static_cast<size_t>(j) * D, static_cast<size_t>(Hkv) * D, D, n_past + t + 1, &o[head0 * D]);
        }
    });
    }
    matmul(L[MTP_ROLE_ATTN_OUTPUT], o.data(), n, out);
}

void CpuSession::gated_delta_net(int il, const float* a, uint32_t n, float* out) {
    const LayerWeights& L = w_.layers[il];
    const uint32_t Hk = hp_.ssm_n_key_heads, Hv = hp_.ssm_n_value_heads, Dk = hp_.ssm_key_head_dim;
    const uint32_t Dv = hp_.ssm_value_head_dim, Cc = hp_.ssm_conv_channels, Kc = hp_.ssm_conv_kernel;
    std::vector<float> qkv(static_cast<size_t>(n) * Cc);    // (n, Cc) raw conv input
    std::vector<float> z(static_cast<size_t>(n) * Hv * Dv); // (n, Hv, Dv) output gate
    std::vector<float> beta(static_cast<size_t>(n) * Hv);   // (n, Hv)
    std::vector<float> gamma(static_cast<size_t>(n) * Hv);  // (n, Hv) log decay
    const MatmulOut in_outs[] = {{&L[MTP_ROLE_ATTN_QKV], qkv.data()}, {&L[MTP_ROLE_ATTN_GATE], z.data()},
                                 {&L[MTP_ROLE_SSM_BETA], beta.data()}, {&L[MTP_ROLE_SSM_ALPHA], gamma.data()}};
    matmuls(in_outs, 4, a, n);
    for (uint32_t t = 0; t < n; t++) {
        for (uint32_t j = 0; j < Hv; j++) {
            float& b = beta[t * Hv + j];
            b = sigmoid(b);
            float& g = gamma[t * Hv + j];  // ssm_a already holds -exp(A_log)
            g = softplus(g + L[MTP_ROLE_SSM_DT_BIAS].f32[j]) * L[MTP_ROLE_SSM_A].f32[j];
        }
    }

    // Depthwise causal conv over the raw channels, then SiLU: y (n, Cc) = [q | k | v].
    std::vector<float> o(static_cast<size_t>(n) * Hv * Dv);  // (n, Hv, Dv)
    {
    PROF("gdn core", n);
    std::vector<float> y(static_cast<size_t>(n) * Cc);
    const float* kernel = conv_kernel_t_[slot_[il]].data();  // (Kc, Cc)
    // Token t reads the state planes plane_in(t) and writes plane_out(t) (see state_plane_out).
    const size_t conv_plane = static_cast<size_t>(Cc) * (Kc - 1);
    float* conv_planes = conv_planes_[slot_[il]].data();  // (n_planes, Kc-1, Cc)
    // In units of one key head's channels (the first 2·Hk units are the q and k heads, L2-normed
    // here), spread over the threads: channels are independent.
    const uint32_t unit = Cc % Dk == 0 ? Dk : Cc;
    pool_.parallel_for(Cc / unit, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; u++) {
            const size_t c0 = static_cast<size_t>(u) * unit;
            for (uint32_t t = 0; t < n; t++) {
                const float* conv_in = conv_planes + state_plane_in(n, t) * conv_plane + c0;
                float* conv_out = conv_planes + state_plane_out(n, t) * conv_plane + c0;
                const float* xt = &qkv[static_cast<size_t>(t) * Cc + c0];
                float* yt = &y[static_cast<size_t>(t) * Cc + c0];
                conv_step(conv_in, xt, kernel + c0, Cc, unit, Kc, yt);
                vec_silu(yt, unit);
                for (uint32_t i = 0; i + 1 < Kc; i++) {  // shift the window; forward copies are safe in place
                    const float* src = i + 2 < Kc ? conv_in + (i + 1) * static_cast<size_t>(Cc) : xt;
                    std::copy(src, src + unit, conv_out + i * static_cast<size_t>(Cc));
                }
                if (unit == Dk && u < 2 * Hk) l2_norm(yt, Dk, hp_.rms_eps);
            }
        }
    });
    if (unit != Dk) {
        for (uint32_t t = 0; t < n; t++) {
            for (uint32_t i = 0; i < 2 * Hk; i++) l2_norm(&y[static_cast<size_t>(t) * Cc + i * Dk], Dk, hp_.rms_eps);
        }
    }

    // Recurrence per value head j (uses key head j mod Hk: tiled broadcast), then the gated norm.
    // A batch that may be rolled back reads the live state plane and writes the other one (token 0),
    // then updates that in place (it stays in cache), recording each token's key, delta and decay:
    // keep(n) replays n tokens from the untouched plane (gdn_replay) instead of the batch storing a
    // whole state per token.
    const bool record = n > 1 && n <= n_planes_;
    const size_t ssm_plane = static_cast<size_t>(Hv) * Dv * Dk;
    float* ssm_in = ssm_planes_[slot_[il]].data() + ssm_live_ * ssm_plane;    // (Hv, Dk, Dv)
    float* ssm_out = ssm_planes_[slot_[il]].data() + (record ? 1 - ssm_live_ : ssm_live_) * ssm_plane;
    GdnReplay& replay = replay_[slot_[il]];
    if (record) {
        for (uint32_t t = 0; t < n; t++) {
            const float* kt = &y[static_cast<size_t>(t) * Cc + Hk * Dk];
            std::copy(kt, kt + Hk * Dk, &replay.k[static_cast<size_t>(t) * Hk * Dk]);
            for (uint32_t j = 0; j < Hv; j++) replay.decay[t * Hv + j] = std::exp(gamma[t * Hv + j]);
        }
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dk));
#ifdef MTP_CORE_AVX2
    const bool fast = core_avx2() && Dv % 64 == 0;
#endif
    pool_.parallel_for(Hv, [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; j++) {
            const uint32_t i = static_cast<uint32_t>(j % Hk);
            const size_t head = static_cast<size_t>(j) * Dk * Dv;
            for (uint32_t t = 0; t < n; t++) {
                const float* yt = &y[static_cast<size_t>(t) * Cc];
                const float* q = yt + i * Dk;
                const float* k = yt + Hk * Dk + i * Dk;
                const float* v = yt + 2 * Hk * Dk + j * Dv;
                float* ot = &o[(static_cast<size_t>(t) * Hv + j) * Dv];
                const float* S_in = (t == 0 ? ssm_in : ssm_out) + head;
                float* S_out = ssm_out + head;
                float* delta = record ? &replay.delta[(static_cast<size_t>(t) * Hv + j) * Dv] : nullptr;
                const float decay = std::exp(gamma[t * Hv + j]), b = beta[t * Hv + j];
#ifdef MTP_CORE_AVX2
                if (fast) {
                    gdn_step_avx2(S_in, S_out, q, k, v, decay, b, Dv, Dk, scale, ot, delta);
                } else
#endif
                gdn_step(S_in, S_out, q, k, v, decay, b, Dv, Dk, scale, ot, delta);
                rms_norm(ot, L[MTP_ROLE_SSM_NORM].f32, ot, Dv, hp_.rms_eps);
                vec_mul_silu(ot, &z[(static_cast<size_t>(t) * Hv + j) * Dv], Dv);
            }
        }
    });
    }
    matmul(L[MTP_ROLE_SSM_OUT], o.data(), n, out);
}

void CpuSession::ffn(const LayerWeights& L, const float* a, uint32_t n, float* out) {
    if (hp_.arch == MTP_ARCH_QWEN35MOE) {
        moe_ffn(L, a, n, out);
        return;
    }
    const size_t F = hp_.n_ff;
    std::vector<float> gate(n * F), up(n * F);  // (n, F)
    const MatmulOut gate_up[] = {{&L[MTP_ROLE_FFN_GATE], gate.data()}, {&L[MTP_ROLE_FFN_UP], up.data()}};
    matmuls(gate_up, 2, a, n);
    vec_silu_mul(gate.data(), up.data(), static_cast<int64_t>(n * F));
    matmul(L[MTP_ROLE_FFN_DOWN], gate.data(), n, out);
}

namespace {

// Rows [first, first + count) of a stacked expert tensor read as a matrix: one expert's matrix.
Tensor expert_rows(const Tensor& t, int64_t first, int64_t count) {
    Tensor v = t;
    v.data = t.row(first);
    v.ne[1] = count;
    v.ne[2] = 1;
    return v;
}

}  // namespace

// MoE FFN (spec §3.9), token by token (each token has its own experts, so a row's arithmetic does
// not depend on its batch): softmax router over all experts, the top k renormalized, their SwiGLU
// FFNs added in top-k order, plus the shared expert scaled by σ(its gate logit) — llama.cpp's
// build_moe_ffn for qwen35moe: ggml_soft_max, argsort, get_rows, sum_rows, clamp, div, mul_mat_id.
void CpuSession::moe_ffn(const LayerWeights& L, const float* a, uint32_t n, float* out) {
    const size_t E = hp_.n_embd, X = hp_.n_expert, k = hp_.n_expert_used, Fe = hp_.n_ff_exp, Fs = hp_.n_ff_shexp;
    std::vector<float> router(n * X), shexp_gate(n);  // (n, X) logits, (n) the shared expert's gate logit
    const MatmulOut route[] = {{&L[MTP_ROLE_FFN_GATE_INP], router.data()}};
    matmuls(route, 1, a, n);
    matmul(L[MTP_ROLE_FFN_GATE_INP_SHEXP], a, n, shexp_gate.data());
    // The shared expert over the whole batch: out = FFN_shexp(a).
    {
        std::vector<float> g(n * Fs), u(n * Fs);  // (n, Fs)
        const MatmulOut gate_up[] = {{&L[MTP_ROLE_FFN_GATE_SHEXP], g.data()}, {&L[MTP_ROLE_FFN_UP_SHEXP], u.data()}};
        matmuls(gate_up, 2, a, n);
        vec_silu_mul(g.data(), u.data(), static_cast<int64_t>(n * Fs));
        matmul(L[MTP_ROLE_FFN_DOWN_SHEXP], g.data(), n, out);
    }
    std::vector<float> p(X), g(Fe), u(Fe), y(E), moe(E);
    std::vector<uint32_t> order(X);
    for (uint32_t t = 0; t < n; t++) {
        // softmax over all experts (the sum in double, as ggml_vec_soft_max_f32)
        const float* r = &router[t * X];
        const float mx = *std::max_element(r, r + X);
        double sum = 0.0;
        for (size_t e = 0; e < X; e++) {
            p[e] = std::exp(r[e] - mx);
            sum += static_cast<double>(p[e]);
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (size_t e = 0; e < X; e++) p[e] *= inv;
        // the k most probable, in descending order (ties: the lower index first)
        for (uint32_t e = 0; e < X; e++) order[e] = e;
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                          [&](uint32_t x, uint32_t y2) { return p[x] > p[y2] || (p[x] == p[y2] && x < y2); });
        double wsum = 0.0;
        for (size_t j = 0; j < k; j++) wsum += static_cast<double>(p[order[j]]);
        const float denom = std::max(static_cast<float>(wsum), 6.103515625e-5f);
        const float* at = a + t * E;
        for (size_t j = 0; j < k; j++) {
            const int64_t e = order[j];
            const Tensor ge = expert_rows(L[MTP_ROLE_FFN_GATE_EXPS], e * static_cast<int64_t>(Fe), static_cast<int64_t>(Fe));
            const Tensor ue = expert_rows(L[MTP_ROLE_FFN_UP_EXPS], e * static_cast<int64_t>(Fe), static_cast<int64_t>(Fe));
            const Tensor de = expert_rows(L[MTP_ROLE_FFN_DOWN_EXPS], e * static_cast<int64_t>(E), static_cast<int64_t>(E));
            const MatmulOut gate_up[] = {{&ge, g.data()}, {&ue, u.data()}};
            matmuls(gate_up, 2, at, 1);
            vec_silu_mul(g.data(), u.data(), static_cast<int64_t>(Fe));
            matmul(de, g.data(), 1, y.data());
            const float w = p[static_cast<size_t>(e)] / denom;
            for (size_t i = 0; i < E; i++) moe[i] = j == 0 ? y[i] * w : moe[i] + y[i] * w;
        }
        const float c = sigmoid(shexp_gate[t]);
        float* ot = out + t * E;
        for (size_t i = 0; i < E; i++) ot[i] = moe[i] + ot[i] * c;
    }
}

void CpuSession::eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows,
                      float* logits, float* hidden) {
    PROF("TOTAL trunk eval", n);
    const FlushDenormals ftz;
    const size_t E = hp_.n_embd;
    std::vector<float> x(n * E), a(n * E), m(n * E);  // (n, E): residual stream, normed input, block output
    for (uint32_t t = 0; t < n; t++) {
        dequantize_row(w_.token_embd.type, w_.token_embd.row(tokens[t]), &x[t * E], static_cast<int64_t>(E));
    }
    for (uint32_t il = 0; il < hp_.n_layer; il++) {
        const LayerWeights& L = w_.layers[il];
        for (uint32_t t = 0; t < n; t++) rms_norm(&x[t * E], L[MTP_ROLE_ATTN_NORM].f32, &a[t * E], E, hp_.rms_eps);
        if (w_.layer_kinds[il] == MTP_LAYER_KIND_ATTENTION) {
            attention(L, a.data(), n, n_past_, k_cache_[slot_[il]].data(), v_cache_[slot_[il]].data(), m.data());
        } else {
            gated_delta_net(static_cast<int>(il), a.data(), n, m.data());
        }
        for (size_t i = 0; i < n * E; i++) x[i] += m[i];
        for (uint32_t t = 0; t < n; t++) rms_norm(&x[t * E], L[MTP_ROLE_POST_ATTENTION_NORM].f32, &a[t * E], E, hp_.rms_eps);
        ffn(L, a.data(), n, m.data());
        for (size_t i = 0; i < n * E; i++) x[i] += m[i];
    }
    // h_final (n, E) into a; the LM head reads the requested rows only.
    for (uint32_t t = 0; t < n; t++) rms_norm(&x[t * E], w_.output_norm.f32, &a[t * E], E, hp_.rms_eps);
    if (hidden) std::memcpy(hidden, a.data(), n * E * sizeof(float));
    if (n_logit_rows) {
        std::vector<float> rows(n_logit_rows * E);  // (n_logit_rows, E)
        for (uint32_t r = 0; r < n_logit_rows; r++) std::memcpy(&rows[r * E], &a[logit_rows[r] * E], E * sizeof(float));
        std::vector<float> dropped(logits ? 0 : static_cast<size_t>(n_logit_rows) * hp_.n_vocab);
        matmul(w_.lm_head(), rows.data(), n_logit_rows, logits ? logits : dropped.data());
    }
    batch_start_ = n_past_;
    batch_n_ = n;
    n_past_ += n;
    batch_live_ = live_;
    live_ = state_plane_out(n, n - 1);
    ssm_batch_live_ = ssm_live_;
    if (n > 1 && n <= n_planes_) ssm_live_ = 1 - ssm_live_;
}

void CpuSession::keep(uint32_t n_keep) {
    if (n_keep < 1 || n_keep > batch_n_) {
        fail(MTP_STATUS_INVALID_ARGUMENT, "keep: expected 1..%u (the last batch), got %u", batch_n_, n_keep);
    }
    if (n_keep < batch_n_) {
        if (batch_n_ > n_planes_) {
            fail(MTP_STATUS_INVALID_ARGUMENT, "keep: a batch of %u tokens cannot be rolled back (state planes for %u)", batch_n_, n_planes_);
        }
        live_ = (batch_live_ + n_keep - 1) % n_planes_;  // the conv plane token n_keep − 1 wrote: no copy
        // The recurrent state: n_keep tokens replayed from the plane the batch started from.
        const uint32_t Hk = hp_.ssm_n_key_heads, Hv = hp_.ssm_n_value_heads, Dk = hp_.ssm_key_head_dim;
        const uint32_t Dv = hp_.ssm_value_head_dim;
        const size_t ssm_plane = static_cast<size_t>(Hv) * Dk * Dv;
        const int64_t n_items = static_cast<int64_t>(ssm_planes_.size()) * Hv;  // (GDN layer, value head)
        const FlushDenormals ftz;
        pool_.parallel_for(n_items, [&](int64_t i0, int64_t i1) {
            for (int64_t item = i0; item < i1; item++) {
                const size_t g = static_cast<size_t>(item / Hv), j = static_cast<size_t>(item % Hv);
                const GdnReplay& r = replay_[g];
                const float* from = ssm_planes_[g].data() + ssm_batch_live_ * ssm_plane + j * Dk * Dv;
                float* to = ssm_planes_[g].data() + ssm_live_ * ssm_plane + j * Dk * Dv;
                for (uint32_t t = 0; t < n_keep; t++) {
                    gdn_replay(t == 0 ? from : to, to, &r.k[(static_cast<size_t>(t) * Hk + j % Hk) * Dk],
                               &r.delta[(static_cast<size_t>(t) * Hv + j) * Dv], r.decay[t * Hv + j], Dv, Dk);
                }
            }
        });
    }
    n_past_ = batch_start_ + n_keep;  // KV entries past n_past are never read
    batch_n_ = n_keep;
}

void CpuSession::trunk_eval(const int32_t* tokens, int32_t n, int32_t logits_from, float* logits, float* hidden) {
    std::vector<uint32_t> rows;
    for (int32_t r = logits_from; r < n; r++) rows.push_back(static_cast<uint32_t>(r));
    eval(tokens, static_cast<uint32_t>(n), rows.data(), static_cast<uint32_t>(rows.size()), logits, hidden);
}

// The MTP head (spec §4.2): e = enorm(Emb[x]), hn = hnorm(h), u = eh_proj·[e; hn], one gated attention
// block over the head's own KV cache plus its FFN, h' = shared_head_norm(t), logits = head·h'.
void CpuSession::mtp_eval(const int32_t* tokens, const float* hidden_in, int32_t n_rows, float* logits_last,
                          float* hidden_last) {
    if (hp_.n_mtp == 0) fail(MTP_STATUS_UNSUPPORTED, "mtp_eval: the model has no MTP head");
    const uint32_t n = static_cast<uint32_t>(n_rows);
    PROF("TOTAL mtp eval", n);
    const FlushDenormals ftz;
    if (n == 0 || mtp_n_past_ + n > n_ctx_) {
        fail(MTP_STATUS_CONTEXT_FULL, "mtp_eval: %u rows at position %u overflow the context of %u", n, mtp_n_past_, n_ctx_);
    }
    const LayerWeights& L = w_.layers[hp_.n_layer];
    const Tensor& emb = L[MTP_ROLE_NEXTN_EMBED_TOKENS].present ? L[MTP_ROLE_NEXTN_EMBED_TOKENS] : w_.token_embd;
    const Tensor& out_norm = L[MTP_ROLE_NEXTN_SHARED_HEAD_NORM].present ? L[MTP_ROLE_NEXTN_SHARED_HEAD_NORM] : w_.output_norm;
    const Tensor& head = L[MTP_ROLE_NEXTN_SHARED_HEAD_HEAD].present ? L[MTP_ROLE_NEXTN_SHARED_HEAD_HEAD] : w_.lm_head();
    const size_t E = hp_.n_embd;
    std::vector<float> c(n * 2 * E), e(E);               // (n, 2E): [enorm(embedding) | hnorm(hidden)]
    std::vector<float> x(n * E), a(n * E), m(n * E);     // (n, E): residual stream, normed input, block output
    for (uint32_t t = 0; t < n; t++) {
        if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= hp_.n_vocab) {
            fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_eval: tokens[%u]: expected a token id in [0, %u), got %d", t, hp_.n_vocab, tokens[t]);
        }
        dequantize_row(emb.type, emb.row(tokens[t]), e.data(), static_cast<int64_t>(E));
        rms_norm(e.data(), L[MTP_ROLE_NEXTN_ENORM].f32, &c[t * 2 * E], E, hp_.rms_eps);
        rms_norm(hidden_in + t * E, L[MTP_ROLE_NEXTN_HNORM].f32, &c[t * 2 * E + E], E, hp_.rms_eps);
    }
    matmul(L[MTP_ROLE_NEXTN_EH_PROJ], c.data(), n, x.data());
    for (uint32_t t = 0; t < n; t++) rms_norm(&x[t * E], L[MTP_ROLE_ATTN_NORM].f32, &a[t * E], E, hp_.rms_eps);
    attention(L, a.data(), n, mtp_n_past_, mtp_k_.data(), mtp_v_.data(), m.data());
    for (size_t i = 0; i < n * E; i++) x[i] += m[i];
    for (uint32_t t = 0; t < n; t++) rms_norm(&x[t * E], L[MTP_ROLE_POST_ATTENTION_NORM].f32, &a[t * E], E, hp_.rms_eps);
    ffn(L, a.data(), n, m.data());
    for (size_t i = 0; i < n * E; i++) x[i] += m[i];
    // Only the last row's output is needed: the chain feeds h' forward, the logits give the draft.
    rms_norm(&x[(n - 1) * E], out_norm.f32, hidden_last, E, hp_.rms_eps);
    matmul(head, hidden_last, 1, logits_last);
    mtp_n_past_ += n;
}

void CpuSession::mtp_truncate(int32_t n_pos) {
    if (n_pos < 0) fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_truncate: expected >= 0, got %d", n_pos);
    mtp_n_past_ = std::min(mtp_n_past_, static_cast<uint32_t>(n_pos));  // entries past it are never read
}

}  // namespace mtp
