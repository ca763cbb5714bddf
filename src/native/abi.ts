/**
 * The koffi mirror of cuda/include/mtp.h: struct types, enums and function prototypes. This
 * directory is the only place that imports koffi. Keep it in lockstep with mtp.h; the layouts are
 * checked against the library in test/native/abi-layout.test.ts (mtp_abi_get_layout).
 */
import koffi from "koffi";
import type { TensorRole } from "../arch/ModelDescription.js";

/** Must equal MTP_ABI_VERSION of the loaded library. */
export const MTP_ABI_VERSION = 4;

export const MtpStatus = {
  OK: 0,
  INVALID_ARGUMENT: 1,
  IO: 2,
  BAD_MODEL: 3,
  UNSUPPORTED: 4,
  OUT_OF_MEMORY: 5,
  CONTEXT_FULL: 6,
  INTERNAL: 7,
} as const;

export const MTP_STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MtpStatus).map(([name, value]) => [value, name]),
);

export const MtpBackend = { CPU: 0, CUDA: 1 } as const;
export const MtpArch = { qwen35: 0, qwen35moe: 1 } as const;
export const MtpLayerKind = { gdn: 0, attention: 1 } as const;

/** mtp_tensor_role: the TS roles in mtp.h order (global roles, then BlockTensor of names.ts). */
export const MTP_TENSOR_ROLE: Record<TensorRole, number> = {
  tokenEmbd: 0,
  outputNorm: 1,
  output: 2,
  attnNorm: 3,
  postAttentionNorm: 4,
  attnQ: 5,
  attnK: 6,
  attnV: 7,
  attnOutput: 8,
  attnQNorm: 9,
  attnKNorm: 10,
  attnQkv: 11,
  attnGate: 12,
  ssmConv1d: 13,
  ssmDtBias: 14,
  ssmA: 15,
  ssmBeta: 16,
  ssmAlpha: 17,
  ssmNorm: 18,
  ssmOut: 19,
  ffnGate: 20,
  ffnUp: 21,
  ffnDown: 22,
  ffnGateInp: 23,
  ffnGateExps: 24,
  ffnUpExps: 25,
  ffnDownExps: 26,
  ffnGateUpExps: 27,
  ffnGateInpShexp: 28,
  ffnGateShexp: 29,
  ffnUpShexp: 30,
  ffnDownShexp: 31,
  nextnEhProj: 32,
  nextnEnorm: 33,
  nextnHnorm: 34,
  nextnSharedHeadNorm: 35,
  nextnSharedHeadHead: 36,
  nextnEmbedTokens: 37,
};

export const MTP_ERROR_MESSAGE_BYTES = 512;
export const MTP_TENSOR_NAME_BYTES = 64;

export const mtp_error = koffi.struct("mtp_error", {
  size: "uint32_t",
  status: "int32_t",
  message: koffi.array("char", MTP_ERROR_MESSAGE_BYTES),
});

export const mtp_hparams = koffi.struct("mtp_hparams", {
  size: "uint32_t",
  arch: "uint32_t",
  n_embd: "uint32_t",
  n_vocab: "uint32_t",
  n_layer: "uint32_t",
  n_mtp: "uint32_t",
  n_ff: "uint32_t",
  n_head: "uint32_t",
  n_head_kv: "uint32_t",
  head_dim: "uint32_t",
  rope_n_dims: "uint32_t",
  rope_sections: koffi.array("uint32_t", 4),
  ssm_conv_kernel: "uint32_t",
  ssm_n_key_heads: "uint32_t",
  ssm_n_value_heads: "uint32_t",
  ssm_key_head_dim: "uint32_t",
  ssm_value_head_dim: "uint32_t",
  ssm_conv_channels: "uint32_t",
  rms_eps: "float",
  rope_freq_base: "float",
  rope_freq_scale: "float",
  rope_attn_factor: "float",
  n_expert: "uint32_t",
  n_expert_used: "uint32_t",
  n_ff_exp: "uint32_t",
  n_ff_shexp: "uint32_t",
});

export const mtp_tensor_info = koffi.struct("mtp_tensor_info", {
  size: "uint32_t",
  role: "uint32_t",
  layer: "int32_t",
  type: "uint32_t",
  n_dims: "uint32_t",
  reserved: "uint32_t",
  name: koffi.array("char", MTP_TENSOR_NAME_BYTES),
  ne: koffi.array("uint64_t", 4),
  file_offset: "uint64_t",
  n_bytes: "uint64_t",
});

export const mtp_model_params = koffi.struct("mtp_model_params", {
  size: "uint32_t",
  backend: "uint32_t",
});

export const mtp_session_params = koffi.struct("mtp_session_params", {
  size: "uint32_t",
  n_ctx: "uint32_t",
  n_threads: "uint32_t",
  n_draft_max: "uint32_t",
});

export const mtp_generate_params = koffi.struct("mtp_generate_params", {
  size: "uint32_t",
  draft_max: "uint32_t",
  n_predict: "int32_t",
  top_k: "int32_t",
  temperature: "float",
  top_p: "float",
  min_p: "float",
  reserved: "uint32_t",
  seed: "uint64_t",
});

export const mtp_generate_stats = koffi.struct("mtp_generate_stats", {
  size: "uint32_t",
  stop_reason: "uint32_t",
  n_steps: "int64_t",
  n_drafted: "int64_t",
  n_accepted: "int64_t",
  n_generated: "int64_t",
});

/** mtp_stop_reason */
export const MTP_STOP_REASONS = ["none", "end-of-generation", "budget", "context-full"] as const;
export type StopReason = (typeof MTP_STOP_REASONS)[number];

/** mtp_abi_struct ids → the koffi mirror, for the layout check. */
export const ABI_STRUCTS: ReadonlyArray<[id: number, type: koffi.IKoffiCType]> = [
  [0, mtp_error],
  [1, mtp_hparams],
  [2, mtp_tensor_info],
  [3, mtp_model_params],
  [4, mtp_session_params],
  [5, mtp_generate_params],
  [6, mtp_generate_stats],
];

const mtp_model = koffi.opaque("mtp_model");
const mtp_session = koffi.opaque("mtp_session");
export const mtp_model_ptr = koffi.pointer(mtp_model);
export const mtp_session_ptr = koffi.pointer(mtp_session);

/** JS shape of mtp_error (koffi copies it in and out). */
export interface MtpErrorStruct {
  size: number;
  status: number;
  message: string;
}

export function newMtpError(): MtpErrorStruct {
  return { size: koffi.sizeof(mtp_error), status: 0, message: "" };
}

type SessionEvalArgs = [
  session: unknown,
  tokens: Int32Array,
  positions: Int32Array,
  nTokens: number,
  logitRows: Uint32Array | null,
  nLogitRows: number,
  logits: Float32Array | null,
  hidden: Float32Array | null,
  err: MtpErrorStruct,
];
type GenerateNextArgs = [session: unknown, out: Int32Array, capacity: number, nOut: number[], stats: object, err: MtpErrorStruct];
/** Completion callback of koffi's `.async` calls. */
export type AsyncDone = (error: unknown, status: number) => void;

/** The library's functions, typed loosely as koffi returns them; wrappers live in NativeModel.ts. */
export interface MtpFunctions {
  mtp_abi_version(): number;
  mtp_abi_get_layout(structId: number, out: BigUint64Array, capacity: number): number;
  mtp_abi_get_backends(): number;
  mtp_abi_get_device_memory(freeBytes: [number | bigint], totalBytes: [number | bigint], err: MtpErrorStruct): number;
  mtp_abi_get_allocated_device_bytes(): number | bigint;
  mtp_dequantize(type: number, src: Uint8Array, nSrcBytes: number, dst: Float32Array, nElements: number, err: MtpErrorStruct): number;
  mtp_model_load(
    path: string,
    params: object,
    hp: object,
    layerKinds: Uint8Array,
    tensors: object[],
    nTensors: number,
    outModel: unknown[],
    err: MtpErrorStruct,
  ): number;
  mtp_model_free(model: unknown): void;
  mtp_session_create(model: unknown, params: object, outSession: unknown[], err: MtpErrorStruct): number;
  mtp_session_free(session: unknown): void;
  mtp_session_reset(session: unknown, err: MtpErrorStruct): number;
  mtp_session_get_n_past(session: unknown): number;
  mtp_session_eval(...args: SessionEvalArgs): number;
  mtp_session_keep(session: unknown, nKeep: number, err: MtpErrorStruct): number;
  mtp_session_generate_begin(
    session: unknown,
    params: object,
    prompt: Int32Array,
    nPrompt: number,
    eog: Int32Array | null,
    nEog: number,
    err: MtpErrorStruct,
  ): number;
  mtp_session_generate_next(...args: GenerateNextArgs): number;
  /** mtp_session_generate_next on a koffi worker thread; `done` receives its status. */
  mtp_session_generate_next_async(...args: [...GenerateNextArgs, AsyncDone]): void;
  /** mtp_session_eval on a koffi worker thread; `done` receives its status. */
  mtp_session_eval_async(...args: [...SessionEvalArgs, AsyncDone]): void;
}

/** Binds every function of mtp.h from a loaded library. */
export function bindMtpFunctions(lib: koffi.IKoffiLib): MtpFunctions {
  const sessionEval = lib.func(
    "int32_t mtp_session_eval(mtp_session* session, const int32_t* tokens, const int32_t* positions, uint32_t n_tokens, const uint32_t* logit_rows, uint32_t n_logit_rows, float* logits, float* hidden, _Inout_ mtp_error* err)",
  );
  const generateNext = lib.func(
    "int32_t mtp_session_generate_next(mtp_session* session, int32_t* out, uint32_t capacity, _Out_ uint32_t* n_out, _Inout_ mtp_generate_stats* stats, _Inout_ mtp_error* err)",
  );
  return {
    mtp_abi_version: lib.func("uint32_t mtp_abi_version(void)"),
    mtp_abi_get_layout: lib.func("uint32_t mtp_abi_get_layout(uint32_t struct_id, uint64_t* out, uint32_t capacity)"),
    mtp_abi_get_backends: lib.func("uint32_t mtp_abi_get_backends(void)"),
    mtp_abi_get_device_memory: lib.func("int32_t mtp_abi_get_device_memory(_Out_ uint64_t* free_bytes, _Out_ uint64_t* total_bytes, _Inout_ mtp_error* err)"),
    mtp_abi_get_allocated_device_bytes: lib.func("uint64_t mtp_abi_get_allocated_device_bytes(void)"),
    mtp_dequantize: lib.func(
      "int32_t mtp_dequantize(uint32_t type, const void* src, uint64_t n_src_bytes, float* dst, uint64_t n_elements, _Inout_ mtp_error* err)",
    ),
    mtp_model_load: lib.func(
      "int32_t mtp_model_load(const char* path, const mtp_model_params* params, const mtp_hparams* hp, const uint8_t* layer_kinds, const mtp_tensor_info* tensors, uint32_t n_tensors, _Out_ mtp_model** out_model, _Inout_ mtp_error* err)",
    ),
    mtp_model_free: lib.func("void mtp_model_free(mtp_model* model)"),
    mtp_session_create: lib.func(
      "int32_t mtp_session_create(mtp_model* model, const mtp_session_params* params, _Out_ mtp_session** out_session, _Inout_ mtp_error* err)",
    ),
    mtp_session_free: lib.func("void mtp_session_free(mtp_session* session)"),
    mtp_session_reset: lib.func("int32_t mtp_session_reset(mtp_session* session, _Inout_ mtp_error* err)"),
    mtp_session_get_n_past: lib.func("uint32_t mtp_session_get_n_past(const mtp_session* session)"),
    mtp_session_eval: sessionEval,
    mtp_session_keep: lib.func("int32_t mtp_session_keep(mtp_session* session, uint32_t n_keep, _Inout_ mtp_error* err)"),
    mtp_session_generate_begin: lib.func(
      "int32_t mtp_session_generate_begin(mtp_session* session, const mtp_generate_params* params, const int32_t* prompt, uint32_t n_prompt, const int32_t* eog_tokens, uint32_t n_eog, _Inout_ mtp_error* err)",
    ),
    mtp_session_generate_next: generateNext,
    mtp_session_generate_next_async: generateNext.async,
    mtp_session_eval_async: sessionEval.async,
  } as MtpFunctions;
}
