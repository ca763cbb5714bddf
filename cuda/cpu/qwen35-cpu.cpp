// The qwen35 trunk on the CPU (spec §3), mirroring the numerics of llama.cpp's CPU backend (§3.11):
// activations converted to the weight's vec-dot type inside every matmul (ggml-quants.cpp), RMS norms
// accumulated in double, K/V stored as F16, q rounded to F16 before q·K and softmax weights rounded to
// F16 before they weight V (the non-flash-attention path), and the fused Gated DeltaNet recurrence's
// operation order (decay, delta = (v − Sᵀk)·β, rank-1 update as FMA, output scaled by 1/sqrt(Dk)), and
// the summation order of llama.cpp's BF16 dot product (ggml-quants.cpp).
//
// Every token row is computed by the same code whatever the batch size, so one batch, chunks and
// token-by-token evaluation give identical logits.
#include "qwen35-cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../src/runtime/failure.h"
#include "ggml-quants.h"

namespace mtp {

namespace {

float silu(float x) { return x / (1.0f + std::exp(-x)); }
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
float softplus(float x) { return x > 20.0f ? x : std::log(1.0f + std::exp(x)); }

// y (n) = x / rms(x) · w (w may be nullptr); the sum of squares in double as ggml's CPU rms_norm.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
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

}  // namespace

CpuSession::CpuSession(const ModelWeights& w, uint32_t n_ctx, uint32_t n_draft_max, int n_threads)
    : w_(w), hp_(w.hp), n_ctx_(n_ctx), pool_(n_threads), n_snap_(n_draft_max + 1) {
    const size_t kv = static_cast<size_t>(n_ctx) * hp_.n_head_kv * hp_.head_dim;
    const size_t conv = static_cast<size_t>(hp_.ssm_conv_channels) * (hp_.ssm_conv_kernel - 1);
    const size_t ssm = static_cast<size_t>(hp_.ssm_n_value_heads) * hp_.ssm_value_head_dim * hp_.ssm_key_head_dim;
    for (uint32_t il = 0; il < hp_.n_layer; il++) {
        if (w.layer_kinds[il] == MTP_LAYER_KIND_ATTENTION) {
            slot_.push_back(static_cast<int>(k_cache_.size()));
            k_cache_.emplace_back(kv);
            v_cache_.emplace_back(kv);
        } else {
            slot_.push_back(static_cast<int>(conv_state_.size()));
            conv_state_.emplace_back(conv, 0.0f);
            ssm_state_.emplace_back(ssm, 0.0f);
            if (n_snap_ > 1) {
                conv_snap_.emplace_back(conv * n_snap_, 0.0f);
                ssm_snap_.emplace_back(ssm * n_snap_, 0.0f);
            }
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
    for (auto& s : conv_state_) std::fill(s.begin(), s.end(), 0.0f);
    for (auto& s : ssm_state_) std::fill(s.begin(), s.end(), 0.0f);
}

void CpuSession::matmul(const Tensor& w, const float* x, uint32_t n, float* y) {
    const int64_t n_in = w.ne[0], n_out = w.ne[1];
    const size_t act_bytes = activation_row_bytes(w.type, n_in);
    act_.resize(act_bytes * n);
    for (uint32_t t = 0; t < n; t++) quantize_activation_row(w.type, x + t * n_in, act_.data() + t * act_bytes, n_in);
    const uint8_t* act = act_.data();
    pool_.parallel_for(n_out, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t* row = w.row(r);
            for (uint32_t t = 0; t < n; t++) y[t * n_out + r] = vec_dot(w.type, row, act + t * act_bytes, n_in);
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
    matmul(L[MTP_ROLE_ATTN_Q], a, n, qg.data());
    matmul(L[MTP_ROLE_ATTN_K], a, n, k.data());
    matmul(L[MTP_ROLE_ATTN_V], a, n, v.data());

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
        const size_t at = static_cast<size_t>(pos) * Hkv * D;
        for (size_t e = 0; e < static_cast<size_t>(Hkv) * D; e++) {
            kc[at + e] = f32_to_f16(k[static_cast<size_t>(t) * Hkv * D + e]);
            vc[at + e] = f32_to_f16(v[static_cast<size_t>(t) * Hkv * D + e]);
        }
    }

    std::vector<float> o(static_cast<size_t>(n) * H * D);  // (n, H, D) gated attention output
    const float kq_scale = 1.0f / std::sqrt(static_cast<float>(D));
    pool_.parallel_for(static_cast<int64_t>(n) * H, [&](int64_t i0, int64_t i1) {
        std::vector<float> q16(D), w(n_past + n);  // w: (n_kv) scores, then softmax weights
        for (int64_t item = i0; item < i1; item++) {
            const uint32_t t = static_cast<uint32_t>(item / H), h = static_cast<uint32_t>(item % H), j = h / group;
            const uint32_t n_kv = n_past + t + 1;  // causal: positions 0..pos
            const float* qh = &q[(static_cast<size_t>(t) * H + h) * D];
            for (uint32_t d = 0; d < D; d++) q16[d] = round_to_f16(qh[d]);
            float max = -INFINITY;
            for (uint32_t p = 0; p < n_kv; p++) {
                const uint16_t* kp = kc + (static_cast<size_t>(p) * Hkv + j) * D;
                float dot = 0.0f;
                for (uint32_t d = 0; d < D; d++) dot += q16[d] * f16_to_f32(kp[d]);
                w[p] = dot * kq_scale;
                max = std::max(max, w[p]);
            }
            double sum = 0.0;
            for (uint32_t p = 0; p < n_kv; p++) {
                w[p] = std::exp(w[p] - max);
                sum += w[p];
            }
            const float inv = static_cast<float>(1.0 / sum);
            for (uint32_t p = 0; p < n_kv; p++) w[p] = round_to_f16(w[p] * inv);
            float* oh = &o[(static_cast<size_t>(t) * H + h) * D];
            const float* gate = &qg[(static_cast<size_t>(t) * H + h) * 2 * D + D];
            std::fill(oh, oh + D, 0.0f);
            for (uint32_t p = 0; p < n_kv; p++) {  // each oh[d] still sums over p in order
                const uint16_t* vp = vc + (static_cast<size_t>(p) * Hkv + j) * D;
                for (uint32_t d = 0; d < D; d++) oh[d] += w[p] * f16_to_f32(vp[d]);
            }
            for (uint32_t d = 0; d < D; d++) oh[d] *= sigmoid(gate[d]);
        }
    });
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
    matmul(L[MTP_ROLE_ATTN_QKV], a, n, qkv.data());
    matmul(L[MTP_ROLE_ATTN_GATE], a, n, z.data());
    matmul(L[MTP_ROLE_SSM_BETA], a, n, beta.data());
    matmul(L[MTP_ROLE_SSM_ALPHA], a, n, gamma.data());
    for (uint32_t t = 0; t < n; t++) {
        for (uint32_t j = 0; j < Hv; j++) {
            float& b = beta[t * Hv + j];
            b = sigmoid(b);
            float& g = gamma[t * Hv + j];  // ssm_a already holds -exp(A_log)
            g = softplus(g + L[MTP_ROLE_SSM_DT_BIAS].f32[j]) * L[MTP_ROLE_SSM_A].f32[j];
        }
    }

    // Depthwise causal conv over the raw channels, then SiLU: y (n, Cc) = [q | k | v].
    std::vector<float> y(static_cast<size_t>(n) * Cc);
    float* conv_state = conv_state_[slot_[il]].data();  // (Cc, Kc-1)
    // A batch that may be rolled back (a verify batch) records the state after each token.
    const bool record = n > 1 && n <= n_snap_;
    const size_t conv_plane = static_cast<size_t>(Cc) * (Kc - 1);
    float* conv_snap = record ? conv_snap_[slot_[il]].data() : nullptr;  // (n_snap, Cc, Kc-1)
    pool_.parallel_for(Cc, [&](int64_t c0, int64_t c1) {
        std::vector<float> window(Kc);  // the Kc-1 past inputs, then the current one
        for (int64_t c = c0; c < c1; c++) {
            float* st = conv_state + c * (Kc - 1);
            const float* kernel = L[MTP_ROLE_SSM_CONV1D].f32 + c * Kc;
            for (uint32_t t = 0; t < n; t++) {
                std::copy(st, st + Kc - 1, window.begin());
                window[Kc - 1] = qkv[static_cast<size_t>(t) * Cc + c];
                float sum = 0.0f;
                for (uint32_t i = 0; i < Kc; i++) sum += window[i] * kernel[i];
                y[static_cast<size_t>(t) * Cc + c] = silu(sum);
                std::copy(window.begin() + 1, window.end(), st);
                if (record) std::copy(st, st + Kc - 1, conv_snap + t * conv_plane + c * (Kc - 1));
            }
        }
    });
    for (uint32_t t = 0; t < n; t++) {
        for (uint32_t i = 0; i < 2 * Hk; i++) l2_norm(&y[static_cast<size_t>(t) * Cc + i * Dk], Dk, hp_.rms_eps);
    }

    // Recurrence per value head j (uses key head j mod Hk: tiled broadcast), then the gated norm.
    std::vector<float> o(static_cast<size_t>(n) * Hv * Dv);  // (n, Hv, Dv)
    float* ssm_state = ssm_state_[slot_[il]].data();
    const size_t ssm_plane = static_cast<size_t>(Hv) * Dv * Dk;
    float* ssm_snap = record ? ssm_snap_[slot_[il]].data() : nullptr;  // (n_snap, Hv, Dv, Dk)
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dk));
    pool_.parallel_for(Hv, [&](int64_t j0, int64_t j1) {
        std::vector<float> delta(Dv);
        for (int64_t j = j0; j < j1; j++) {
            float* S = ssm_state + static_cast<size_t>(j) * Dv * Dk;  // (Dv, Dk): row b = column b of S_j
            const uint32_t i = static_cast<uint32_t>(j % Hk);
            for (uint32_t t = 0; t < n; t++) {
                const float* yt = &y[static_cast<size_t>(t) * Cc];
                const float* q = yt + i * Dk;
                const float* k = yt + Hk * Dk + i * Dk;
                const float* v = yt + 2 * Hk * Dk + j * Dv;
                const float decay = std::exp(gamma[t * Hv + j]), b = beta[t * Hv + j];
                for (size_t e = 0; e < static_cast<size_t>(Dv) * Dk; e++) S[e] *= decay;
                for (uint32_t c = 0; c < Dv; c++) {
                    float sum = 0.0f;
                    for (uint32_t r = 0; r < Dk; r++) sum += S[c * Dk + r] * k[r];
                    delta[c] = (v[c] - sum) * b;
                }
                float* ot = &o[(static_cast<size_t>(t) * Hv + j) * Dv];
                // The rank-1 update is a fused multiply-add, as ggml_vec_mad_f32 is on SIMD CPUs.
                for (uint32_t c = 0; c < Dv; c++) {
                    for (uint32_t r = 0; r < Dk; r++) S[c * Dk + r] = std::fma(k[r], delta[c], S[c * Dk + r]);
                    float sum = 0.0f;
                    for (uint32_t r = 0; r < Dk; r++) sum += S[c * Dk + r] * q[r];
                    ot[c] = sum * scale;
                }
                if (record) std::copy(S, S + static_cast<size_t>(Dv) * Dk, ssm_snap + t * ssm_plane + static_cast<size_t>(j) * Dv * Dk);
                rms_norm(ot, L[MTP_ROLE_SSM_NORM].f32, ot, Dv, hp_.rms_eps);
                const float* zt = &z[(static_cast<size_t>(t) * Hv + j) * Dv];
                for (uint32_t c = 0; c < Dv; c++) ot[c] *= silu(zt[c]);
            }
        }
    });
    matmul(L[MTP_ROLE_SSM_OUT], o.data(), n, out);
}

void CpuSession::ffn(const LayerWeights& L, const float* a, uint32_t n, float* out) {
    const size_t F = hp_.n_ff;
    std::vector<float> gate(n * F), up(n * F);  // (n, F)
    matmul(L[MTP_ROLE_FFN_GATE], a, n, gate.data());
    matmul(L[MTP_ROLE_FFN_UP], a, n, up.data());
    for (size_t i = 0; i < n * F; i++) gate[i] = silu(gate[i]) * up[i];
    matmul(L[MTP_ROLE_FFN_DOWN], gate.data(), n, out);
}

void CpuSession::eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows,
                      float* logits, float* hidden) {
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
        matmul(w_.lm_head(), rows.data(), n_logit_rows, logits);
    }
    batch_start_ = n_past_;
    batch_n_ = n;
    n_past_ += n;
}

void CpuSession::keep(uint32_t n_keep) {
    if (n_keep < 1 || n_keep > batch_n_) {
        fail(MTP_STATUS_INVALID_ARGUMENT, "keep: expected 1..%u (the last batch), got %u", batch_n_, n_keep);
    }
    if (n_keep < batch_n_) {
        if (batch_n_ > n_snap_) {
            fail(MTP_STATUS_INVALID_ARGUMENT, "keep: a batch of %u tokens cannot be rolled back (snapshots for %u)", batch_n_, n_snap_);
        }
        const size_t conv_plane = conv_state_.empty() ? 0 : conv_state_[0].size();
        const size_t ssm_plane = ssm_state_.empty() ? 0 : ssm_state_[0].size();
        for (size_t g = 0; g < conv_state_.size(); g++) {
            const float* c = conv_snap_[g].data() + (n_keep - 1) * conv_plane;
            const float* s = ssm_snap_[g].data() + (n_keep - 1) * ssm_plane;
            std::copy(c, c + conv_plane, conv_state_[g].begin());
            std::copy(s, s + ssm_plane, ssm_state_[g].begin());
        }
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
