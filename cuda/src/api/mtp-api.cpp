// The C entry points of mtp.h. Each one validates its arguments, runs the backend inside a
// try/catch, and turns every failure (mtp::Failure, std::bad_alloc, anything else) into a status and
// a message in the caller's mtp_error: no exception and no abort ever leaves the library.
#include <cstddef>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>

#include "../../cpu/ggml-quants.h"
#include "../../cpu/qwen35-cpu.h"
#include "../runtime/failure.h"
#include "../runtime/speculative.h"
#include "../runtime/weights.h"
#include "mtp.h"
#ifdef MTP_WITH_CUDA
#include "../models/qwen35-cuda.h"
#endif

namespace {

// What the entry points need from a session, whichever backend runs it (CpuSession and CudaSession
// have the same methods; this adapter keeps the CPU backend's code untouched).
class SessionBackend {
public:
    virtual ~SessionBackend() = default;
    virtual mtp::DecodeBackend& decode() = 0;
    virtual uint32_t n_past() const = 0;
    virtual uint32_t n_draft_max() const = 0;
    virtual void reset() = 0;
    virtual void eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits,
                      float* hidden) = 0;
    virtual void keep(uint32_t n_keep) = 0;
};

template <typename Session>
class SessionOf final : public SessionBackend {
public:
    explicit SessionOf(std::unique_ptr<Session> s) : s_(std::move(s)) {}
    mtp::DecodeBackend& decode() override { return *s_; }
    uint32_t n_past() const override { return s_->n_past(); }
    uint32_t n_draft_max() const override { return s_->n_draft_max(); }
    void reset() override { s_->reset(); }
    void eval(const int32_t* tokens, uint32_t n, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits,
              float* hidden) override {
        s_->eval(tokens, n, logit_rows, n_logit_rows, logits, hidden);
    }
    void keep(uint32_t n_keep) override { s_->keep(n_keep); }

private:
    std::unique_ptr<Session> s_;
};

}  // namespace

struct mtp_model {
    mtp_backend backend = MTP_BACKEND_CPU;
    std::unique_ptr<mtp::ModelWeights> weights;
    std::unique_ptr<mtp::PackedWeights> cpu_packed;  // made by the first CPU session
#ifdef MTP_WITH_CUDA
    std::unique_ptr<mtp::CudaWeights> cuda;  // uploaded by the first CUDA session
#endif
};

struct mtp_session {
    std::unique_ptr<SessionBackend> backend;
    std::unique_ptr<mtp::SpeculativeDecoder> decoder;  // between generate_begin and the next reset/eval
    bool poisoned = false;  // a failure left the state undefined; only reset clears it (not a CUDA fault)
};

namespace {

void set_error(mtp_error* err, mtp_status status, const char* message) {
    if (!err || err->size != sizeof(mtp_error)) return;  // nowhere safe to write
    err->status = status;
    std::snprintf(err->message, sizeof err->message, "%s", message);
}

// Runs fn, mapping exceptions to statuses. fn returns nothing; success clears err.
template <typename Fn>
mtp_status guarded(mtp_error* err, Fn&& fn) {
    try {
        fn();
        set_error(err, MTP_STATUS_OK, "");
        return MTP_STATUS_OK;
    } catch (const mtp::Failure& f) {
        set_error(err, f.status, f.what());
        return f.status;
    } catch (const std::bad_alloc&) {
        set_error(err, MTP_STATUS_OUT_OF_MEMORY, "out of memory");
        return MTP_STATUS_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_error(err, MTP_STATUS_INTERNAL, e.what());
        return MTP_STATUS_INTERNAL;
    } catch (...) {
        set_error(err, MTP_STATUS_INTERNAL, "unknown C++ exception");
        return MTP_STATUS_INTERNAL;
    }
}

template <typename T>
void check_size(const T* p, const char* what) {
    if (!p) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "%s: expected a pointer, got NULL", what);
    if (p->size != sizeof(T)) {
        mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "%s.size: expected %zu, got %u (binding out of date?)", what, sizeof(T), p->size);
    }
}

#define LAYOUT(T, ...)                                                   \
    do {                                                                 \
        const uint64_t values[] = {sizeof(T), __VA_ARGS__};              \
        const uint32_t n = sizeof values / sizeof values[0];             \
        if (capacity < n) return 0;                                      \
        std::memcpy(out, values, sizeof values);                         \
        return n;                                                        \
    } while (0)

}  // namespace

extern "C" {

MTP_API uint32_t mtp_abi_version(void) { return MTP_ABI_VERSION; }

MTP_API uint32_t mtp_abi_get_backends(void) {
    uint32_t backends = 1u << MTP_BACKEND_CPU;
#ifdef MTP_WITH_CUDA
    if (mtp::cuda_device_available(nullptr)) backends |= 1u << MTP_BACKEND_CUDA;
#endif
    return backends;
}

MTP_API mtp_status mtp_abi_get_device_memory(uint64_t* free_bytes, uint64_t* total_bytes, mtp_error* err) {
    return guarded(err, [&] {
        if (!free_bytes || !total_bytes) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_abi_get_device_memory: NULL output");
#ifdef MTP_WITH_CUDA
        mtp::cuda_device_memory(free_bytes, total_bytes);
#else
        mtp::fail(MTP_STATUS_UNSUPPORTED, "device memory: this library has no CUDA backend");
#endif
    });
}

MTP_API uint64_t mtp_abi_get_allocated_device_bytes(void) {
#ifdef MTP_WITH_CUDA
    return mtp::cuda_allocated_bytes();
#else
    return 0;
#endif
}

MTP_API uint32_t mtp_abi_get_layout(uint32_t struct_id, uint64_t* out, uint32_t capacity) {
    if (!out) return 0;
    switch (struct_id) {
        case MTP_ABI_STRUCT_ERROR:
            LAYOUT(mtp_error, offsetof(mtp_error, size), offsetof(mtp_error, status), offsetof(mtp_error, message));
        case MTP_ABI_STRUCT_HPARAMS:
            LAYOUT(mtp_hparams, offsetof(mtp_hparams, size), offsetof(mtp_hparams, arch), offsetof(mtp_hparams, n_embd),
                   offsetof(mtp_hparams, n_vocab), offsetof(mtp_hparams, n_layer), offsetof(mtp_hparams, n_mtp),
                   offsetof(mtp_hparams, n_ff), offsetof(mtp_hparams, n_head), offsetof(mtp_hparams, n_head_kv),
                   offsetof(mtp_hparams, head_dim), offsetof(mtp_hparams, rope_n_dims),
                   offsetof(mtp_hparams, rope_sections), offsetof(mtp_hparams, ssm_conv_kernel),
                   offsetof(mtp_hparams, ssm_n_key_heads), offsetof(mtp_hparams, ssm_n_value_heads),
                   offsetof(mtp_hparams, ssm_key_head_dim), offsetof(mtp_hparams, ssm_value_head_dim),
                   offsetof(mtp_hparams, ssm_conv_channels), offsetof(mtp_hparams, rms_eps),
                   offsetof(mtp_hparams, rope_freq_base), offsetof(mtp_hparams, rope_freq_scale),
                   offsetof(mtp_hparams, rope_attn_factor), offsetof(mtp_hparams, n_expert),
                   offsetof(mtp_hparams, n_expert_used), offsetof(mtp_hparams, n_ff_exp), offsetof(mtp_hparams, n_ff_shexp));
        case MTP_ABI_STRUCT_TENSOR_INFO:
            LAYOUT(mtp_tensor_info, offsetof(mtp_tensor_info, size), offsetof(mtp_tensor_info, role),
                   offsetof(mtp_tensor_info, layer), offsetof(mtp_tensor_info, type), offsetof(mtp_tensor_info, n_dims),
                   offsetof(mtp_tensor_info, reserved), offsetof(mtp_tensor_info, name), offsetof(mtp_tensor_info, ne),
                   offsetof(mtp_tensor_info, file_offset), offsetof(mtp_tensor_info, n_bytes));
        case MTP_ABI_STRUCT_MODEL_PARAMS:
            LAYOUT(mtp_model_params, offsetof(mtp_model_params, size), offsetof(mtp_model_params, backend));
        case MTP_ABI_STRUCT_SESSION_PARAMS:
            LAYOUT(mtp_session_params, offsetof(mtp_session_params, size), offsetof(mtp_session_params, n_ctx),
                   offsetof(mtp_session_params, n_threads), offsetof(mtp_session_params, n_draft_max));
        case MTP_ABI_STRUCT_GENERATE_PARAMS:
            LAYOUT(mtp_generate_params, offsetof(mtp_generate_params, size), offsetof(mtp_generate_params, draft_max),
                   offsetof(mtp_generate_params, n_predict), offsetof(mtp_generate_params, top_k),
                   offsetof(mtp_generate_params, temperature), offsetof(mtp_generate_params, top_p),
                   offsetof(mtp_generate_params, min_p), offsetof(mtp_generate_params, reserved),
                   offsetof(mtp_generate_params, seed));
        case MTP_ABI_STRUCT_GENERATE_STATS:
            LAYOUT(mtp_generate_stats, offsetof(mtp_generate_stats, size), offsetof(mtp_generate_stats, stop_reason),
                   offsetof(mtp_generate_stats, n_steps), offsetof(mtp_generate_stats, n_drafted),
                   offsetof(mtp_generate_stats, n_accepted), offsetof(mtp_generate_stats, n_generated));
        default: return 0;
    }
}

MTP_API mtp_status mtp_dequantize(uint32_t type, const void* src, uint64_t n_src_bytes, float* dst,
                                  uint64_t n_elements, mtp_error* err) {
    return guarded(err, [&] {
        const mtp::TypeTraits* tt = mtp::type_traits(type);
        if (!tt) mtp::fail(MTP_STATUS_UNSUPPORTED, "mtp_dequantize: type %s (id %u) is not supported", mtp::type_name(type), type);
        if (n_elements % tt->block_elems) {
            mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_dequantize: %s needs a multiple of %d elements, got %llu", tt->name,
                      tt->block_elems, (unsigned long long)n_elements);
        }
        const uint64_t need = n_elements / tt->block_elems * tt->block_bytes;
        if (n_src_bytes != need) {
            mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_dequantize: expected %llu source bytes for %llu %s values, got %llu",
                      (unsigned long long)need, (unsigned long long)n_elements, tt->name, (unsigned long long)n_src_bytes);
        }
        if (n_elements && (!src || !dst)) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_dequantize: NULL buffer");
        mtp::dequantize_row(type, src, dst, static_cast<int64_t>(n_elements));
    });
}

MTP_API mtp_status mtp_model_load(const char* path, const mtp_model_params* params, const mtp_hparams* hp,
                                  const uint8_t* layer_kinds, const mtp_tensor_info* tensors, uint32_t n_tensors,
                                  mtp_model** out_model, mtp_error* err) {
    if (out_model) *out_model = nullptr;
    return guarded(err, [&] {
        check_size(params, "mtp_model_params");
        if (!out_model) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_model_load: out_model is NULL");
        if (params->backend == MTP_BACKEND_CUDA) {
#ifdef MTP_WITH_CUDA
            std::string why;
            if (!mtp::cuda_device_available(&why)) mtp::fail(MTP_STATUS_UNSUPPORTED, "backend CUDA: %s", why.c_str());
            for (uint32_t i = 0; tensors && i < n_tensors; i++) {
                const uint32_t ty = tensors[i].type;
                if (!mtp::cuda_supports_type(ty)) {
                    char name[sizeof tensors[i].name + 1];
                    std::memcpy(name, tensors[i].name, sizeof tensors[i].name);
                    name[sizeof tensors[i].name] = 0;
                    mtp::fail(MTP_STATUS_UNSUPPORTED, "backend CUDA: tensor '%s': type %s runs on the CPU backend only for now", name,
                              mtp::type_name(ty));
                }
            }
#else
            mtp::fail(MTP_STATUS_UNSUPPORTED, "backend CUDA: not built into this library (built without nvcc or with MTP_CUDA=0)");
#endif
        } else if (params->backend != MTP_BACKEND_CPU) {
            mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_model_params.backend: unknown value %u", params->backend);
        }
        auto model = std::make_unique<mtp_model>();
        model->backend = static_cast<mtp_backend>(params->backend);
        model->weights = mtp::load_weights(path, hp, layer_kinds, tensors, n_tensors);
        *out_model = model.release();
    });
}

MTP_API void mtp_model_free(mtp_model* model) { delete model; }

MTP_API mtp_status mtp_session_create(mtp_model* model, const mtp_session_params* params, mtp_session** out_session,
                                      mtp_error* err) {
    if (out_session) *out_session = nullptr;
    return guarded(err, [&] {
        check_size(params, "mtp_session_params");
        if (!model || !out_session) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_create: NULL model or out_session");
        if (params->n_ctx == 0 || params->n_ctx > (1u << 24)) {
            mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_params.n_ctx: expected 1..2^24, got %u", params->n_ctx);
        }
        if (params->n_threads > 1024) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_params.n_threads: expected 0..1024, got %u", params->n_threads);
        if (params->n_draft_max > 16) {
            mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_params.n_draft_max: expected 0..16, got %u", params->n_draft_max);
        }
        const int n_threads = params->n_threads ? static_cast<int>(params->n_threads)
                                                : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        auto session = std::make_unique<mtp_session>();
#ifdef MTP_WITH_CUDA
        if (model->backend == MTP_BACKEND_CUDA) {
            if (!model->cuda) model->cuda = std::make_unique<mtp::CudaWeights>(*model->weights);
            session->backend = std::make_unique<SessionOf<mtp::CudaSession>>(std::make_unique<mtp::CudaSession>(
                *model->weights, *model->cuda, params->n_ctx, params->n_draft_max));
        }
#endif
        if (model->backend == MTP_BACKEND_CPU) {
            if (!model->cpu_packed) model->cpu_packed = std::make_unique<mtp::PackedWeights>(*model->weights);
            session->backend = std::make_unique<SessionOf<mtp::CpuSession>>(std::make_unique<mtp::CpuSession>(
                *model->weights, *model->cpu_packed, params->n_ctx, params->n_draft_max, n_threads));
        }
        *out_session = session.release();
    });
}

MTP_API void mtp_session_free(mtp_session* session) { delete session; }

MTP_API mtp_status mtp_session_reset(mtp_session* session, mtp_error* err) {
    return guarded(err, [&] {
        if (!session) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_reset: session is NULL");
        session->decoder.reset();
        session->backend->reset();
        session->poisoned = false;
    });
}

MTP_API uint32_t mtp_session_get_n_past(const mtp_session* session) { return session ? session->backend->n_past() : 0; }

MTP_API mtp_status mtp_session_eval(mtp_session* session, const int32_t* tokens, const int32_t* positions,
                                    uint32_t n_tokens, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits,
                                    float* hidden, mtp_error* err) {
    const mtp_status status = guarded(err, [&] {
        if (!session) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_eval: session is NULL");
        if (session->poisoned) {
            mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_eval: the session failed earlier and must be reset");
        }
        SessionBackend& s = *session->backend;
        const mtp::DecodeBackend& d = s.decode();
        if (n_tokens == 0 || !tokens || !positions) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_eval: expected at least 1 token");
        if (n_logit_rows && !logit_rows) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_eval: NULL logit_rows");
        if (static_cast<uint64_t>(s.n_past()) + n_tokens > static_cast<uint64_t>(d.n_ctx())) {
            mtp::fail(MTP_STATUS_CONTEXT_FULL, "mtp_session_eval: %u tokens at position %u overflow the context of %d positions",
                      n_tokens, s.n_past(), d.n_ctx());
        }
        for (uint32_t i = 0; i < n_tokens; i++) {
            if (positions[i] != static_cast<int64_t>(s.n_past()) + i) {
                mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "positions[%u]: expected %u (n_past + i), got %d", i, s.n_past() + i, positions[i]);
            }
        }
        for (uint32_t r = 0; r < n_logit_rows; r++) {
            if (logit_rows[r] >= n_tokens) {
                mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "logit_rows[%u]: expected < n_tokens %u, got %u", r, n_tokens, logit_rows[r]);
            }
        }
        for (uint32_t i = 0; i < n_tokens; i++) {
            if (tokens[i] < 0 || tokens[i] >= d.n_vocab()) {
                mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "tokens[%u]: expected a token id in [0, %d), got %d", i, d.n_vocab(), tokens[i]);
            }
        }
        session->decoder.reset();  // direct evaluation ends any generation in progress
        try {
            s.eval(tokens, n_tokens, logit_rows, n_logit_rows, logits, hidden);
        } catch (...) {
            session->poisoned = true;
            throw;
        }
    });
    return status;
}

MTP_API mtp_status mtp_session_keep(mtp_session* session, uint32_t n_keep, mtp_error* err) {
    return guarded(err, [&] {
        if (!session) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_keep: session is NULL");
        if (session->poisoned) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_keep: the session failed earlier and must be reset");
        session->decoder.reset();
        session->backend->keep(n_keep);
    });
}

MTP_API mtp_status mtp_session_generate_begin(mtp_session* session, const mtp_generate_params* params,
                                              const int32_t* prompt, uint32_t n_prompt, const int32_t* eog_tokens,
                                              uint32_t n_eog, mtp_error* err) {
    return guarded(err, [&] {
        check_size(params, "mtp_generate_params");
        if (!session) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_generate_begin: session is NULL");
        SessionBackend& sb = *session->backend;
        mtp::DecodeBackend& s = sb.decode();
        if (n_prompt == 0 || !prompt) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_generate_begin: expected at least 1 prompt token");
        if (n_eog && !eog_tokens) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_generate_begin: eog_tokens is NULL");
        for (uint32_t i = 0; i < n_prompt; i++) {
            if (prompt[i] < 0 || prompt[i] >= s.n_vocab()) {
                mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "prompt[%u]: expected a token id in [0, %d), got %d", i, s.n_vocab(), prompt[i]);
            }
        }
        if (params->draft_max > sb.n_draft_max()) {
            mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "draft length %u: the session was created for at most %u (n_draft_max)",
                      params->draft_max, sb.n_draft_max());
        }
        if (n_prompt > static_cast<uint32_t>(s.n_ctx())) {
            mtp::fail(MTP_STATUS_CONTEXT_FULL, "prompt: %u tokens do not fit the context of %d positions", n_prompt, s.n_ctx());
        }
        mtp::GenerateParams gp;
        gp.draft_max = static_cast<int32_t>(params->draft_max);
        gp.n_predict = params->n_predict;
        gp.seed = params->seed;
        gp.sampler = mtp::SamplerParams{params->temperature, params->top_k, params->top_p, params->min_p};
        gp.eog_tokens.assign(eog_tokens, eog_tokens + n_eog);
        session->decoder.reset();
        sb.reset();
        session->poisoned = false;
        try {
            auto decoder = std::make_unique<mtp::SpeculativeDecoder>(s, gp);
            decoder->prompt(prompt, static_cast<int32_t>(n_prompt));
            session->decoder = std::move(decoder);
        } catch (...) {
            session->poisoned = true;
            throw;
        }
    });
}

MTP_API mtp_status mtp_session_generate_next(mtp_session* session, int32_t* out, uint32_t capacity, uint32_t* n_out,
                                             mtp_generate_stats* stats, mtp_error* err) {
    if (n_out) *n_out = 0;
    return guarded(err, [&] {
        if (!session || !out || !n_out) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_generate_next: NULL argument");
        if (stats) check_size(stats, "mtp_generate_stats");
        if (session->poisoned) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_generate_next: the session failed earlier and must be reset");
        if (!session->decoder) mtp::fail(MTP_STATUS_INVALID_ARGUMENT, "mtp_session_generate_next: no generation in progress (call mtp_session_generate_begin)");
        mtp::SpeculativeDecoder& d = *session->decoder;
        try {
            *n_out = static_cast<uint32_t>(d.next(out, static_cast<int32_t>(std::min<uint32_t>(capacity, 1u << 20))));
        } catch (...) {
            session->poisoned = true;
            throw;
        }
        if (stats) {
            const mtp::GenerateStats& g = d.stats();
            stats->stop_reason = static_cast<uint32_t>(d.stop_reason());
            stats->n_steps = g.n_steps;
            stats->n_drafted = g.n_drafted;
            stats->n_accepted = g.n_accepted;
            stats->n_generated = g.n_generated;
        }
    });
}

}  // extern "C"
