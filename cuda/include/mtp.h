/*
 * mtp.h — THE C ABI of libmtp, the native engine behind mtp-cli.
 *
 * The TypeScript side (src/native/abi.ts mirrors this file with koffi) parses and validates the GGUF
 * file, then hands the library the hyper-parameters, the per-layer schedule and a tensor manifest
 * (role, layer, ggml type, dims, file offset, bytes). The library maps the file, re-checks every
 * range against the file size and every shape against the hyper-parameters, and executes: it never
 * looks a tensor up by name. Forward math: ../shared/docs/qwen35-mtp-spec.md §3.
 *
 * Error handling: every fallible call returns an mtp_status and fills the caller-owned mtp_error
 * (set err->size = sizeof(mtp_error) before the call; a NULL err is allowed). The library never
 * aborts or exits, and no C++ exception crosses this boundary. There is no thread-local "last
 * error": koffi's async calls run on worker threads, where it would be invisible to JS.
 *
 * Thread safety: an mtp_model is immutable after mtp_model_load and may be shared by any number of
 * sessions on any threads. An mtp_session is NOT thread-safe: at most one call per session may run
 * at a time (different sessions may run concurrently). A session must be freed before its model.
 * mtp_abi_version, mtp_abi_get_layout and mtp_dequantize are thread-safe.
 *
 * Structs: fixed-width fields, a leading `size` set by the caller to sizeof(struct) (checked, so a
 * stale binding fails loudly instead of reading garbage). test/native/abi-layout.test.ts compares
 * every size and field offset with the koffi mirror through mtp_abi_get_layout.
 */
#ifndef MTP_H
#define MTP_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define MTP_API __declspec(dllexport)
#else
#define MTP_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of this header; the TS side refuses any other value. */
#define MTP_ABI_VERSION 4u

typedef enum mtp_status {
    MTP_STATUS_OK = 0,
    MTP_STATUS_INVALID_ARGUMENT = 1, /* a bad value from the caller (token id, positions, sizes, NULL) */
    MTP_STATUS_IO = 2,               /* the model file cannot be opened, stat'ed or mapped */
    MTP_STATUS_BAD_MODEL = 3,        /* manifest/hparams inconsistent with the file or with each other */
    MTP_STATUS_UNSUPPORTED = 4,      /* valid but not implemented: weight type, architecture, backend */
    MTP_STATUS_OUT_OF_MEMORY = 5,
    MTP_STATUS_CONTEXT_FULL = 6,     /* the batch does not fit in the session's n_ctx */
    MTP_STATUS_INTERNAL = 7          /* a bug: an unexpected C++ exception caught at the boundary */
} mtp_status;

#define MTP_ERROR_MESSAGE_BYTES 512

typedef struct mtp_error {
    uint32_t size;   /* = sizeof(mtp_error) */
    int32_t status;  /* mtp_status of the failed call; MTP_STATUS_OK after a successful one */
    char message[MTP_ERROR_MESSAGE_BYTES]; /* NUL-terminated, "where: expected X, got Y" */
} mtp_error;

typedef enum mtp_backend {
    MTP_BACKEND_CPU = 0,
    MTP_BACKEND_CUDA = 1 /* one NVIDIA GPU (the current device); present when mtp_abi_get_backends() reports it */
} mtp_backend;

typedef enum mtp_arch {
    MTP_ARCH_QWEN35 = 0,
    MTP_ARCH_QWEN35MOE = 1 /* every FFN a routed MoE + shared expert (n_expert > 0); CPU backend only for now */
} mtp_arch;

typedef enum mtp_layer_kind {
    MTP_LAYER_KIND_GDN = 0,      /* Gated DeltaNet (recurrent) */
    MTP_LAYER_KIND_ATTENTION = 1 /* gated full attention */
} mtp_layer_kind;

/* Mirrors TensorRole in src/arch/ModelDescription.ts (global roles, then BlockTensor in names.ts order). */
typedef enum mtp_tensor_role {
    MTP_ROLE_TOKEN_EMBD = 0,
    MTP_ROLE_OUTPUT_NORM = 1,
    MTP_ROLE_OUTPUT = 2,
    MTP_ROLE_ATTN_NORM = 3,
    MTP_ROLE_POST_ATTENTION_NORM = 4,
    MTP_ROLE_ATTN_Q = 5,
    MTP_ROLE_ATTN_K = 6,
    MTP_ROLE_ATTN_V = 7,
    MTP_ROLE_ATTN_OUTPUT = 8,
    MTP_ROLE_ATTN_Q_NORM = 9,
    MTP_ROLE_ATTN_K_NORM = 10,
    MTP_ROLE_ATTN_QKV = 11,
    MTP_ROLE_ATTN_GATE = 12,
    MTP_ROLE_SSM_CONV1D = 13,
    MTP_ROLE_SSM_DT_BIAS = 14,
    MTP_ROLE_SSM_A = 15,
    MTP_ROLE_SSM_BETA = 16,
    MTP_ROLE_SSM_ALPHA = 17,
    MTP_ROLE_SSM_NORM = 18,
    MTP_ROLE_SSM_OUT = 19,
    MTP_ROLE_FFN_GATE = 20,
    MTP_ROLE_FFN_UP = 21,
    MTP_ROLE_FFN_DOWN = 22,
    MTP_ROLE_FFN_GATE_INP = 23,
    MTP_ROLE_FFN_GATE_EXPS = 24,
    MTP_ROLE_FFN_UP_EXPS = 25,
    MTP_ROLE_FFN_DOWN_EXPS = 26,
    MTP_ROLE_FFN_GATE_UP_EXPS = 27,
    MTP_ROLE_FFN_GATE_INP_SHEXP = 28,
    MTP_ROLE_FFN_GATE_SHEXP = 29,
    MTP_ROLE_FFN_UP_SHEXP = 30,
    MTP_ROLE_FFN_DOWN_SHEXP = 31,
    MTP_ROLE_NEXTN_EH_PROJ = 32,
    MTP_ROLE_NEXTN_ENORM = 33,
    MTP_ROLE_NEXTN_HNORM = 34,
    MTP_ROLE_NEXTN_SHARED_HEAD_NORM = 35,
    MTP_ROLE_NEXTN_SHARED_HEAD_HEAD = 36,
    MTP_ROLE_NEXTN_EMBED_TOKENS = 37,
    MTP_ROLE_COUNT = 38
} mtp_tensor_role;

/* ggml type ids of the weight types the engine executes (GGUF §7.1). */
typedef enum mtp_ggml_type {
    MTP_GGML_TYPE_F32 = 0,
    MTP_GGML_TYPE_F16 = 1,
    MTP_GGML_TYPE_Q4_0 = 2, /* Q4_1, Q5_1: CPU backend only for now */
    MTP_GGML_TYPE_Q4_1 = 3,
    MTP_GGML_TYPE_Q5_0 = 6,
    MTP_GGML_TYPE_Q5_1 = 7,
    MTP_GGML_TYPE_Q8_0 = 8,
    MTP_GGML_TYPE_Q2_K = 10,
    MTP_GGML_TYPE_Q3_K = 11,
    MTP_GGML_TYPE_Q4_K = 12,
    MTP_GGML_TYPE_Q5_K = 13,
    MTP_GGML_TYPE_Q6_K = 14,
    MTP_GGML_TYPE_IQ2_XXS = 16,
    MTP_GGML_TYPE_IQ2_XS = 17,
    MTP_GGML_TYPE_IQ3_XXS = 18,
    MTP_GGML_TYPE_IQ4_NL = 20,
    MTP_GGML_TYPE_IQ3_S = 21,
    MTP_GGML_TYPE_IQ2_S = 22,
    MTP_GGML_TYPE_IQ4_XS = 23,
    MTP_GGML_TYPE_BF16 = 30,
    MTP_GGML_TYPE_MXFP4 = 39
} mtp_ggml_type;

/* Hyper-parameters (symbols of spec §0). */
typedef struct mtp_hparams {
    uint32_t size;               /* = sizeof(mtp_hparams) */
    uint32_t arch;               /* mtp_arch */
    uint32_t n_embd;             /* E */
    uint32_t n_vocab;            /* V */
    uint32_t n_layer;            /* L: trunk blocks */
    uint32_t n_mtp;              /* N_mtp: NextN blocks after the trunk (0 or 1) */
    uint32_t n_ff;               /* F: dense FFN width */
    uint32_t n_head;             /* H */
    uint32_t n_head_kv;          /* H_kv */
    uint32_t head_dim;           /* D */
    uint32_t rope_n_dims;        /* R: rotated dims per head */
    uint32_t rope_sections[4];   /* IMROPE sections */
    uint32_t ssm_conv_kernel;    /* Kc */
    uint32_t ssm_n_key_heads;    /* Hk */
    uint32_t ssm_n_value_heads;  /* Hv */
    uint32_t ssm_key_head_dim;   /* Dk */
    uint32_t ssm_value_head_dim; /* Dv */
    uint32_t ssm_conv_channels;  /* Cc = 2·Hk·Dk + Hv·Dv */
    float rms_eps;
    float rope_freq_base;
    float rope_freq_scale;
    float rope_attn_factor;
    uint32_t n_expert;           /* X: routed experts (qwen35moe; 0 for qwen35) */
    uint32_t n_expert_used;      /* k: experts per token */
    uint32_t n_ff_exp;           /* Fe: an expert's FFN width */
    uint32_t n_ff_shexp;         /* Fs: the shared expert's FFN width */
} mtp_hparams;

/* One manifest entry: a tensor the engine uses, located in the file. */
typedef struct mtp_tensor_info {
    uint32_t size;        /* = sizeof(mtp_tensor_info) */
    uint32_t role;        /* mtp_tensor_role */
    int32_t layer;        /* block index, -1 for global tensors */
    uint32_t type;        /* ggml type id */
    uint32_t n_dims;      /* 1..4 */
    uint32_t reserved;    /* 0 */
    char name[64];        /* GGUF tensor name, NUL-terminated, for messages only (never looked up) */
    uint64_t ne[4];       /* ggml order (ne[0] contiguous); unused dims = 1 */
    uint64_t file_offset; /* absolute byte offset of the data */
    uint64_t n_bytes;
} mtp_tensor_info;

typedef struct mtp_model_params {
    uint32_t size;    /* = sizeof(mtp_model_params) */
    uint32_t backend; /* mtp_backend */
} mtp_model_params;

typedef struct mtp_session_params {
    uint32_t size;      /* = sizeof(mtp_session_params) */
    uint32_t n_ctx;     /* KV cache capacity in positions (> 0) */
    uint32_t n_threads; /* worker threads for this session; 0 = hardware concurrency */
    uint32_t n_draft_max; /* longest draft speculative decoding may use (sizes the rollback snapshots); 0..16 */
} mtp_session_params;

/* Speculative / plain generation (see mtp_session_generate_begin). */
typedef struct mtp_generate_params {
    uint32_t size;        /* = sizeof(mtp_generate_params) */
    uint32_t draft_max;   /* K: tokens drafted by the MTP head per step; 0 = plain decoding */
    int32_t n_predict;    /* tokens to generate; < 0: until end of generation or context full */
    int32_t top_k;        /* <= 0: off */
    float temperature;    /* <= 0: greedy */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    uint32_t reserved;    /* 0 */
    uint64_t seed;
} mtp_generate_params;

typedef enum mtp_stop_reason {
    MTP_STOP_NONE = 0,              /* still generating */
    MTP_STOP_END_OF_GENERATION = 1, /* an end-of-generation token was emitted (it is the last token) */
    MTP_STOP_BUDGET = 2,            /* n_predict tokens were emitted */
    MTP_STOP_CONTEXT_FULL = 3       /* every position of the context is used */
} mtp_stop_reason;

typedef struct mtp_generate_stats {
    uint32_t size;        /* = sizeof(mtp_generate_stats) */
    uint32_t stop_reason; /* mtp_stop_reason */
    int64_t n_steps;      /* trunk passes after the prompt */
    int64_t n_drafted;    /* draft tokens verified */
    int64_t n_accepted;   /* draft tokens accepted */
    int64_t n_generated;  /* tokens emitted so far */
} mtp_generate_stats;

typedef struct mtp_model mtp_model;
typedef struct mtp_session mtp_session;

/* Struct ids for mtp_abi_get_layout. */
typedef enum mtp_abi_struct {
    MTP_ABI_STRUCT_ERROR = 0,
    MTP_ABI_STRUCT_HPARAMS = 1,
    MTP_ABI_STRUCT_TENSOR_INFO = 2,
    MTP_ABI_STRUCT_MODEL_PARAMS = 3,
    MTP_ABI_STRUCT_SESSION_PARAMS = 4,
    MTP_ABI_STRUCT_GENERATE_PARAMS = 5,
    MTP_ABI_STRUCT_GENERATE_STATS = 6
} mtp_abi_struct;

/* MTP_ABI_VERSION of the built library. */
MTP_API uint32_t mtp_abi_version(void);

/*
 * Layout of a public struct: out[0] = sizeof, out[1 + i] = offsetof of field i in declaration order.
 * Returns the number of values written (0 for an unknown id or a too small `capacity`).
 */
MTP_API uint32_t mtp_abi_get_layout(uint32_t struct_id, uint64_t* out, uint32_t capacity);

/* Backends compiled into this library, as a bit set of (1 << mtp_backend). */
MTP_API uint32_t mtp_abi_get_backends(void);

/*
 * The current CUDA device's free and total memory in bytes (cudaMemGetInfo), to see what a model
 * and its sessions really take there. MTP_STATUS_UNSUPPORTED without the CUDA backend or a device.
 */
MTP_API mtp_status mtp_abi_get_device_memory(uint64_t* free_bytes, uint64_t* total_bytes, mtp_error* err);

/*
 * Device memory the library's CUDA models and sessions hold now: the sum of their allocations
 * (weights, KV caches, recurrent states and snapshots, scratch). The free memory above also loses
 * what the CUDA driver keeps for itself (loaded kernels, CUDA graphs, allocation granularity).
 * 0 without the CUDA backend.
 */
MTP_API uint64_t mtp_abi_get_allocated_device_bytes(void);

/*
 * Dequantizes `n_elements` values of ggml type `type` from `src` (n_src_bytes long, exactly the
 * bytes of n_elements values) into dst (n_elements floats). Types: the mtp_ggml_type values.
 */
MTP_API mtp_status mtp_dequantize(uint32_t type, const void* src, uint64_t n_src_bytes, float* dst,
                                  uint64_t n_elements, mtp_error* err);

/*
 * Maps `path` read-only and builds a model from the manifest. `layer_kinds` has hp->n_layer entries
 * (mtp_layer_kind). Every tensor the trunk needs must be present exactly once; the MTP block's
 * tensors (layer n_layer) are validated and kept for the MTP head. Unsupported weight types are
 * refused naming the tensor (role and layer) and the type.
 */
MTP_API mtp_status mtp_model_load(const char* path, const mtp_model_params* params, const mtp_hparams* hp,
                                  const uint8_t* layer_kinds, const mtp_tensor_info* tensors,
                                  uint32_t n_tensors, mtp_model** out_model, mtp_error* err);
MTP_API void mtp_model_free(mtp_model* model);

/* A session: KV cache (F16) for the attention layers and conv + recurrent state for GDN layers. */
MTP_API mtp_status mtp_session_create(mtp_model* model, const mtp_session_params* params,
                                      mtp_session** out_session, mtp_error* err);
MTP_API void mtp_session_free(mtp_session* session);
/* Forgets every evaluated token (n_past = 0, recurrent states zeroed). */
MTP_API mtp_status mtp_session_reset(mtp_session* session, mtp_error* err);
/* Number of positions evaluated so far. */
MTP_API uint32_t mtp_session_get_n_past(const mtp_session* session);

/*
 * Evaluates n_tokens tokens of one sequence, causally. positions[i] must be n_past + i (the
 * recurrent layers advance one token at a time; rollback is a later ABI addition).
 * logit_rows (n_logit_rows indices into the batch, each < n_tokens) selects the rows whose logits are
 * written to logits, shaped (n_logit_rows, n_vocab); with logits NULL they are computed and dropped
 * (a verify step's LM head without the copy to the host: what a benchmark of the step times). hidden, if not NULL, receives h_final =
 * RMSNorm(h; output_norm) of every row, shaped (n_tokens, n_embd) (the MTP head's input).
 * On failure the session is unchanged except after MTP_STATUS_INTERNAL/OUT_OF_MEMORY, which poison
 * it (every later eval says so until mtp_session_reset).
 */
MTP_API mtp_status mtp_session_eval(mtp_session* session, const int32_t* tokens, const int32_t* positions,
                                    uint32_t n_tokens, const uint32_t* logit_rows, uint32_t n_logit_rows,
                                    float* logits, float* hidden, mtp_error* err);

/*
 * Rolls the session back into its last mtp_session_eval batch: keeps the first n_keep tokens
 * (1 <= n_keep <= batch size). The recurrent state is restored from the snapshot taken after token
 * n_keep − 1 during that batch, so a batch to be rolled back must have at most n_draft_max + 1 tokens.
 */
MTP_API mtp_status mtp_session_keep(mtp_session* session, uint32_t n_keep, mtp_error* err);

/*
 * Starts generation on a reset session: evaluates the prompt (n_prompt >= 1 tokens; they must fit
 * n_ctx) and prepares the decode loop — plain decoding, or MTP self-speculative decoding when
 * params->draft_max > 0 (needs a model with an MTP head and draft_max <= the session's n_draft_max).
 * Greedy speculative output is token-identical to plain greedy output; sampled speculative output
 * has exactly the target's distribution (speculative rejection sampling). eog_tokens (n_eog ids)
 * end generation; the end-of-generation token itself is emitted.
 */
MTP_API mtp_status mtp_session_generate_begin(mtp_session* session, const mtp_generate_params* params,
                                              const int32_t* prompt, uint32_t n_prompt, const int32_t* eog_tokens,
                                              uint32_t n_eog, mtp_error* err);
/*
 * Runs the loop until `capacity` tokens are ready or generation stops; writes them to out and their
 * count to *n_out (0 once generation has stopped and everything was handed out). stats, if not NULL,
 * receives the running statistics. The whole draft → verify → accept → roll back cycle runs here:
 * no per-token calls cross the ABI.
 */
MTP_API mtp_status mtp_session_generate_next(mtp_session* session, int32_t* out, uint32_t capacity, uint32_t* n_out,
                                             mtp_generate_stats* stats, mtp_error* err);

#ifdef __cplusplus
}
#endif

#endif /* MTP_H */
