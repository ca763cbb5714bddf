// See weights.h. The expected shapes mirror src/arch/qwen35.ts (spec §2).
#include "weights.h"

#include <cstring>

#include "../../cpu/ggml-quants.h"
#include "failure.h"

namespace mtp {

namespace {

struct Expect {
    bool used;      // the role belongs to this block kind
    bool required;
    bool vector;    // read element-wise (kept as F32), not through a matmul
    int64_t ne[4];
};

Expect expect(const mtp_hparams& h, mtp_tensor_role role, bool global, bool mtp_block, bool attention) {
    const int64_t E = h.n_embd, V = h.n_vocab, H = h.n_head, Hkv = h.n_head_kv, D = h.head_dim;
    const int64_t Kc = h.ssm_conv_kernel, Hv = h.ssm_n_value_heads, Dv = h.ssm_value_head_dim;
    const int64_t Cc = h.ssm_conv_channels, F = h.n_ff;
    const int64_t X = h.n_expert, Fe = h.n_ff_exp, Fs = h.n_ff_shexp;
    const bool moe = h.arch == MTP_ARCH_QWEN35MOE;
    auto m = [](int64_t a, int64_t b) { return Expect{true, true, false, {a, b, 1, 1}}; };
    auto v = [](int64_t a) { return Expect{true, true, true, {a, 1, 1, 1}}; };
    const Expect none{false, false, false, {1, 1, 1, 1}};
    if (global) {
        switch (role) {
            case MTP_ROLE_TOKEN_EMBD: return m(E, V);
            case MTP_ROLE_OUTPUT_NORM: return v(E);
            case MTP_ROLE_OUTPUT: { Expect e = m(E, V); e.required = false; return e; }
            default: return none;
        }
    }
    switch (role) {
        case MTP_ROLE_ATTN_NORM: case MTP_ROLE_POST_ATTENTION_NORM: return v(E);
        default: break;
    }
    if (!moe) {
        switch (role) {
            case MTP_ROLE_FFN_GATE: case MTP_ROLE_FFN_UP: return m(E, F);
            case MTP_ROLE_FFN_DOWN: return m(F, E);
            default: break;
        }
    } else {
        // Experts stacked along ne[2]: expert e is rows [e·Fe, (e+1)·Fe) (gate, up) or [e·E, (e+1)·E)
        // (down) of the tensor read as a matrix.
        switch (role) {
            case MTP_ROLE_FFN_GATE_INP: return m(E, X);
            case MTP_ROLE_FFN_GATE_EXPS: case MTP_ROLE_FFN_UP_EXPS: return Expect{true, true, false, {E, Fe, X, 1}};
            case MTP_ROLE_FFN_DOWN_EXPS: return Expect{true, true, false, {Fe, E, X, 1}};
            case MTP_ROLE_FFN_GATE_INP_SHEXP: return m(E, 1);  // a matmul of one output: the shared expert's gate logit
            case MTP_ROLE_FFN_GATE_SHEXP: case MTP_ROLE_FFN_UP_SHEXP: return m(E, Fs);
            case MTP_ROLE_FFN_DOWN_SHEXP: return m(Fs, E);
            default: break;
        }
    }
    if (attention) {
        switch (role) {
            case MTP_ROLE_ATTN_Q: return m(E, 2 * H * D);
            case MTP_ROLE_ATTN_K: case MTP_ROLE_ATTN_V: return m(E, Hkv * D);
            case MTP_ROLE_ATTN_OUTPUT: return m(H * D, E);
            case MTP_ROLE_ATTN_Q_NORM: case MTP_ROLE_ATTN_K_NORM: return v(D);
            default: break;
        }
    } else {
        switch (role) {
            case MTP_ROLE_ATTN_QKV: return m(E, Cc);
            case MTP_ROLE_ATTN_GATE: return m(E, Hv * Dv);
            case MTP_ROLE_SSM_CONV1D: { Expect e = m(Kc, Cc); e.vector = true; return e; }
            case MTP_ROLE_SSM_DT_BIAS: case MTP_ROLE_SSM_A: return v(Hv);
            case MTP_ROLE_SSM_BETA: case MTP_ROLE_SSM_ALPHA: return m(E, Hv);
            case MTP_ROLE_SSM_NORM: return v(Dv);
            case MTP_ROLE_SSM_OUT: return m(Hv * Dv, E);
            default: break;
        }
    }
    if (mtp_block) {
        switch (role) {
            case MTP_ROLE_NEXTN_EH_PROJ: return m(2 * E, E);
            case MTP_ROLE_NEXTN_ENORM: case MTP_ROLE_NEXTN_HNORM: return v(E);
            case MTP_ROLE_NEXTN_SHARED_HEAD_NORM: { Expect e = v(E); e.required = false; return e; }
            case MTP_ROLE_NEXTN_SHARED_HEAD_HEAD: case MTP_ROLE_NEXTN_EMBED_TOKENS: {
                Expect e = m(E, V);
                e.required = false;
                return e;
            }
            default: break;
        }
    }
    return none;
}

// mtp_tensor_role names for messages about tensors that are absent (present ones carry their GGUF name).
const char* const kRoleNames[MTP_ROLE_COUNT] = {
    "TOKEN_EMBD", "OUTPUT_NORM", "OUTPUT", "ATTN_NORM", "POST_ATTENTION_NORM", "ATTN_Q", "ATTN_K", "ATTN_V",
    "ATTN_OUTPUT", "ATTN_Q_NORM", "ATTN_K_NORM", "ATTN_QKV", "ATTN_GATE", "SSM_CONV1D", "SSM_DT_BIAS", "SSM_A",
    "SSM_BETA", "SSM_ALPHA", "SSM_NORM", "SSM_OUT", "FFN_GATE", "FFN_UP", "FFN_DOWN", "FFN_GATE_INP",
    "FFN_GATE_EXPS", "FFN_UP_EXPS", "FFN_DOWN_EXPS", "FFN_GATE_UP_EXPS", "FFN_GATE_INP_SHEXP", "FFN_GATE_SHEXP",
    "FFN_UP_SHEXP", "FFN_DOWN_SHEXP", "NEXTN_EH_PROJ", "NEXTN_ENORM", "NEXTN_HNORM", "NEXTN_SHARED_HEAD_NORM",
    "NEXTN_SHARED_HEAD_HEAD", "NEXTN_EMBED_TOKENS"};

std::string shape_str(const int64_t* ne) {
    std::string s = "[" + std::to_string(ne[0]);
    int last = 3;
    while (last > 0 && ne[last] == 1) last--;
    for (int i = 1; i <= last; i++) s += ", " + std::to_string(ne[i]);
    return s + "]";
}

void check_hparams(const mtp_hparams& h) {
    if (h.arch > MTP_ARCH_QWEN35MOE) fail(MTP_STATUS_INVALID_ARGUMENT, "hparams.arch: expected 0 (qwen35) or 1 (qwen35moe), got %u", h.arch);
    const bool moe = h.arch == MTP_ARCH_QWEN35MOE;
    if (moe) {
        const struct { const char* name; uint32_t v; } experts[] = {
            {"n_expert", h.n_expert}, {"n_expert_used", h.n_expert_used}, {"n_ff_exp", h.n_ff_exp}, {"n_ff_shexp", h.n_ff_shexp}};
        for (const auto& p : experts) {
            if (p.v == 0 || p.v > (1u << 24)) fail(MTP_STATUS_BAD_MODEL, "hparams.%s: expected 1..2^24 for qwen35moe, got %u", p.name, p.v);
        }
        if (h.n_expert_used > h.n_expert) {
            fail(MTP_STATUS_BAD_MODEL, "hparams.n_expert_used: expected 1..n_expert %u, got %u", h.n_expert, h.n_expert_used);
        }
    } else if (h.n_ff == 0 || h.n_ff > (1u << 24)) {
        fail(MTP_STATUS_BAD_MODEL, "hparams.n_ff: expected 1..2^24, got %u", h.n_ff);
    }
    const struct { const char* name; uint32_t v; } positive[] = {
        {"n_embd", h.n_embd}, {"n_vocab", h.n_vocab}, {"n_layer", h.n_layer},
        {"n_head", h.n_head}, {"n_head_kv", h.n_head_kv}, {"head_dim", h.head_dim},
        {"ssm_conv_kernel", h.ssm_conv_kernel}, {"ssm_n_key_heads", h.ssm_n_key_heads},
        {"ssm_n_value_heads", h.ssm_n_value_heads}, {"ssm_key_head_dim", h.ssm_key_head_dim},
    };
    for (const auto& p : positive) {
        if (p.v == 0 || p.v > (1u << 24)) fail(MTP_STATUS_BAD_MODEL, "hparams.%s: expected 1..2^24, got %u", p.name, p.v);
    }
    if (h.n_mtp > 1) fail(MTP_STATUS_BAD_MODEL, "hparams.n_mtp: expected 0 or 1, got %u", h.n_mtp);
    if (h.n_head % h.n_head_kv) fail(MTP_STATUS_BAD_MODEL, "hparams.n_head_kv: expected a divisor of n_head %u, got %u", h.n_head, h.n_head_kv);
    if (h.ssm_n_value_heads % h.ssm_n_key_heads) {
        fail(MTP_STATUS_BAD_MODEL, "hparams.ssm_n_key_heads: expected a divisor of ssm_n_value_heads %u, got %u", h.ssm_n_value_heads, h.ssm_n_key_heads);
    }
    if (h.ssm_value_head_dim != h.ssm_key_head_dim) {
        fail(MTP_STATUS_BAD_MODEL, "hparams.ssm_value_head_dim: expected %u (= ssm_key_head_dim), got %u", h.ssm_key_head_dim, h.ssm_value_head_dim);
    }
    const uint64_t cc = 2ull * h.ssm_n_key_heads * h.ssm_key_head_dim + 1ull * h.ssm_n_value_heads * h.ssm_value_head_dim;
    if (h.ssm_conv_channels != cc) fail(MTP_STATUS_BAD_MODEL, "hparams.ssm_conv_channels: expected %llu, got %u", (unsigned long long)cc, h.ssm_conv_channels);
    if (h.rope_n_dims % 2 || h.rope_n_dims > h.head_dim) {
        fail(MTP_STATUS_BAD_MODEL, "hparams.rope_n_dims: expected an even number <= head_dim %u, got %u", h.head_dim, h.rope_n_dims);
    }
    if (!(h.rms_eps > 0.0f) || !(h.rope_freq_base > 0.0f) || !(h.rope_freq_scale > 0.0f)) {
        fail(MTP_STATUS_BAD_MODEL, "hparams: expected positive rms_eps, rope_freq_base and rope_freq_scale, got %g, %g, %g",
             h.rms_eps, h.rope_freq_base, h.rope_freq_scale);
    }
}

}  // namespace

std::unique_ptr<ModelWeights> load_weights(const char* path, const mtp_hparams* hp, const uint8_t* layer_kinds,
                                           const mtp_tensor_info* tensors, uint32_t n_tensors) {
    if (!path || !hp || !layer_kinds || (!tensors && n_tensors)) fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_model_load: NULL argument");
    if (hp->size != sizeof(mtp_hparams)) {
        fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_hparams.size: expected %zu, got %u (binding out of date?)", sizeof(mtp_hparams), hp->size);
    }
    check_hparams(*hp);
    auto w = std::make_unique<ModelWeights>();
    w->hp = *hp;
    w->layer_kinds.assign(layer_kinds, layer_kinds + hp->n_layer);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        if (layer_kinds[il] > MTP_LAYER_KIND_ATTENTION) fail(MTP_STATUS_BAD_MODEL, "layer_kinds[%u]: expected 0 or 1, got %u", il, layer_kinds[il]);
    }
    const uint32_t n_blocks = hp->n_layer + hp->n_mtp;
    w->layers.resize(n_blocks);
    w->file = std::make_unique<MappedFile>(path);
    const uint64_t file_size = w->file->size();

    for (uint32_t i = 0; i < n_tensors; i++) {
        const mtp_tensor_info& t = tensors[i];
        if (t.size != sizeof(mtp_tensor_info)) {
            fail(MTP_STATUS_INVALID_ARGUMENT, "tensors[%u].size: expected %zu, got %u", i, sizeof(mtp_tensor_info), t.size);
        }
        char name[sizeof t.name + 1];
        std::memcpy(name, t.name, sizeof t.name);
        name[sizeof t.name] = 0;
        if (t.role >= MTP_ROLE_COUNT) fail(MTP_STATUS_BAD_MODEL, "tensor '%s': unknown role %u", name, t.role);
        const bool global = t.layer < 0;
        if (t.layer < -1 || t.layer >= static_cast<int32_t>(n_blocks)) {
            fail(MTP_STATUS_BAD_MODEL, "tensor '%s': expected layer -1..%u, got %d", name, n_blocks - 1, t.layer);
        }
        const bool mtp_block = !global && static_cast<uint32_t>(t.layer) >= hp->n_layer;
        const bool attention = mtp_block || (!global && layer_kinds[t.layer] == MTP_LAYER_KIND_ATTENTION);
        const Expect ex = expect(*hp, static_cast<mtp_tensor_role>(t.role), global, mtp_block, attention);
        if (t.role == MTP_ROLE_FFN_GATE_UP_EXPS) {
            fail(MTP_STATUS_UNSUPPORTED, "tensor '%s': merged gate/up expert matrices (ffn_gate_up_exps) are not supported yet", name);
        }
        if (!ex.used) {
            fail(MTP_STATUS_BAD_MODEL, "tensor '%s': role MTP_ROLE_%s is not part of layer %d of a %s model", name, kRoleNames[t.role], t.layer,
                 hp->arch == MTP_ARCH_QWEN35MOE ? "qwen35moe" : "qwen35");
        }

        const TypeTraits* tt = type_traits(t.type);
        if (!tt) fail(MTP_STATUS_UNSUPPORTED, "tensor '%s': type %s (id %u) is not supported by the engine (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_NL, IQ4_XS, MXFP4)", name,
                            type_name(t.type), t.type);
        if (t.n_dims < 1 || t.n_dims > 4) fail(MTP_STATUS_BAD_MODEL, "tensor '%s': expected 1..4 dims, got %u", name, t.n_dims);
        int64_t ne[4];
        for (int d = 0; d < 4; d++) {
            if (t.ne[d] == 0 || t.ne[d] > (1ull << 32) || (d >= static_cast<int>(t.n_dims) && t.ne[d] != 1)) {
                fail(MTP_STATUS_BAD_MODEL, "tensor '%s': bad ne[%d] = %llu", name, d, (unsigned long long)t.ne[d]);
            }
            ne[d] = static_cast<int64_t>(t.ne[d]);
        }
        if (std::memcmp(ne, ex.ne, sizeof ne) != 0) {
            fail(MTP_STATUS_BAD_MODEL, "tensor '%s': expected shape %s, got %s", name, shape_str(ex.ne).c_str(), shape_str(ne).c_str());
        }
        if (ne[0] % tt->block_elems) {
            fail(MTP_STATUS_BAD_MODEL, "tensor '%s': type %s needs ne[0] to be a multiple of %d, got %lld", name, tt->name, tt->block_elems, (long long)ne[0]);
        }
        const uint64_t row_bytes = static_cast<uint64_t>(ne[0] / tt->block_elems) * tt->block_bytes;
        const uint64_t n_bytes = row_bytes * static_cast<uint64_t>(ne[1] * ne[2] * ne[3]);
        if (t.n_bytes != n_bytes) {
            fail(MTP_STATUS_BAD_MODEL, "tensor '%s': expected %llu bytes for %s %s, got %llu", name, (unsigned long long)n_bytes,
                 tt->name, shape_str(ne).c_str(), (unsigned long long)t.n_bytes);
        }
        if (t.file_offset > file_size || n_bytes > file_size - t.file_offset) {
            fail(MTP_STATUS_BAD_MODEL, "tensor '%s': bytes [%llu, %llu) run past the end of the file (%llu bytes)", name,
                 (unsigned long long)t.file_offset, (unsigned long long)(t.file_offset + n_bytes), (unsigned long long)file_size);
        }

        Tensor& dst = global ? (t.role == MTP_ROLE_TOKEN_EMBD ? w->token_embd : t.role == MTP_ROLE_OUTPUT ? w->output : w->output_norm)
                             : w->layers[t.layer].by_role[t.role];
        if (dst.present) fail(MTP_STATUS_BAD_MODEL, "tensor '%s': role MTP_ROLE_%s of layer %d appears twice in the manifest", name, kRoleNames[t.role], t.layer);
        dst.present = true;
        dst.type = t.type;
        std::memcpy(dst.ne, ne, sizeof ne);
        dst.data = w->file->data() + t.file_offset;
        dst.row_bytes = row_bytes;
        dst.name = name;
        if (ex.vector) {
            w->vector_storage.emplace_back(static_cast<size_t>(ne[0] * ne[1]));
            dequantize_row(t.type, dst.data, w->vector_storage.back().data(), ne[0] * ne[1]);
            dst.f32 = w->vector_storage.back().data();
        }
    }

    // Every required tensor present.
    auto require = [&](const Tensor& t, mtp_tensor_role role, int layer, const Expect& ex) {
        if (ex.used && ex.required && !t.present) fail(MTP_STATUS_BAD_MODEL, "manifest: required tensor MTP_ROLE_%s of layer %d is missing", kRoleNames[role], layer);
    };
    for (int r = 0; r < MTP_ROLE_COUNT; r++) {
        const auto role = static_cast<mtp_tensor_role>(r);
        const Tensor& g = role == MTP_ROLE_TOKEN_EMBD ? w->token_embd : role == MTP_ROLE_OUTPUT ? w->output : w->output_norm;
        if (role <= MTP_ROLE_OUTPUT) require(g, role, -1, expect(*hp, role, true, false, false));
        for (uint32_t il = 0; il < n_blocks; il++) {
            const bool mtp_block = il >= hp->n_layer;
            require(w->layers[il].by_role[r], role, static_cast<int>(il),
                    expect(*hp, role, false, mtp_block, mtp_block || layer_kinds[il] == MTP_LAYER_KIND_ATTENTION));
        }
    }
    return w;
}

}  // namespace mtp
