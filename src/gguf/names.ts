/**
 * THE table of GGUF metadata keys and tensor names used by mtp-cli. Every other file refers to
 * names through this module, verbatim as llama.cpp writes them (src/llama-arch.cpp,
 * gguf-py/gguf/constants.py; ../shared/docs/qwen35-mtp-spec.md §1.2, §2, §6.1).
 */

// ---- general.* ----
export const KEY_GENERAL_ARCHITECTURE = "general.architecture";
export const KEY_GENERAL_ALIGNMENT = "general.alignment";
export const KEY_GENERAL_NAME = "general.name";
export const KEY_GENERAL_FILE_TYPE = "general.file_type";
export const KEY_GENERAL_QUANT_VERSION = "general.quantization_version";
export const KEY_GENERAL_SIZE_LABEL = "general.size_label";
export const KEY_GENERAL_LICENSE = "general.license";

// ---- {arch}.* hyper-parameters (spec §1.2); prefix with the architecture name ----
export const ArchKey = {
  contextLength: "context_length",
  embeddingLength: "embedding_length",
  blockCount: "block_count",
  nextnPredictLayers: "nextn_predict_layers",
  feedForwardLength: "feed_forward_length",
  headCount: "attention.head_count",
  headCountKv: "attention.head_count_kv",
  keyLength: "attention.key_length",
  valueLength: "attention.value_length",
  rmsEps: "attention.layer_norm_rms_epsilon",
  recurrentLayers: "attention.recurrent_layers",
  ropeFreqBase: "rope.freq_base",
  ropeDimensionCount: "rope.dimension_count",
  ropeDimensionSections: "rope.dimension_sections",
  ropeScalingType: "rope.scaling.type",
  ropeScalingFactor: "rope.scaling.factor",
  ropeScalingAttnFactor: "rope.scaling.attn_factor",
  fullAttentionInterval: "full_attention_interval",
  ssmConvKernel: "ssm.conv_kernel",
  ssmInnerSize: "ssm.inner_size",
  ssmStateSize: "ssm.state_size",
  ssmTimeStepRank: "ssm.time_step_rank",
  ssmGroupCount: "ssm.group_count",
  expertCount: "expert_count",
  expertUsedCount: "expert_used_count",
  expertFeedForwardLength: "expert_feed_forward_length",
  expertSharedFeedForwardLength: "expert_shared_feed_forward_length",
  expertGroupCount: "expert_group_count",
  expertGroupUsedCount: "expert_group_used_count",
} as const;

export function archKey(arch: string, key: (typeof ArchKey)[keyof typeof ArchKey]): string {
  return `${arch}.${key}`;
}

// ---- tokenizer.* (spec §6.1) ----
export const KEY_TOKENIZER_MODEL = "tokenizer.ggml.model";
export const KEY_TOKENIZER_PRE = "tokenizer.ggml.pre";
export const KEY_TOKENIZER_TOKENS = "tokenizer.ggml.tokens";
export const KEY_TOKENIZER_TOKEN_TYPE = "tokenizer.ggml.token_type";
export const KEY_TOKENIZER_MERGES = "tokenizer.ggml.merges";
export const KEY_TOKENIZER_BOS_ID = "tokenizer.ggml.bos_token_id";
export const KEY_TOKENIZER_EOS_ID = "tokenizer.ggml.eos_token_id";
export const KEY_TOKENIZER_PAD_ID = "tokenizer.ggml.padding_token_id";
export const KEY_TOKENIZER_EOT_ID = "tokenizer.ggml.eot_token_id";
export const KEY_TOKENIZER_EOM_ID = "tokenizer.ggml.eom_token_id";
export const KEY_TOKENIZER_FIM_PRE_ID = "tokenizer.ggml.fim_pre_token_id";
export const KEY_TOKENIZER_FIM_SUF_ID = "tokenizer.ggml.fim_suf_token_id";
export const KEY_TOKENIZER_FIM_MID_ID = "tokenizer.ggml.fim_mid_token_id";
export const KEY_TOKENIZER_FIM_PAD_ID = "tokenizer.ggml.fim_pad_token_id";
export const KEY_TOKENIZER_FIM_REP_ID = "tokenizer.ggml.fim_rep_token_id";
export const KEY_TOKENIZER_FIM_SEP_ID = "tokenizer.ggml.fim_sep_token_id";
export const KEY_TOKENIZER_ADD_BOS = "tokenizer.ggml.add_bos_token";
export const KEY_TOKENIZER_ADD_EOS = "tokenizer.ggml.add_eos_token";
export const KEY_TOKENIZER_CHAT_TEMPLATE = "tokenizer.chat_template";

// ---- tensor names (spec §2) ----
export const TENSOR_TOKEN_EMBD = "token_embd.weight";
export const TENSOR_OUTPUT_NORM = "output_norm.weight";
export const TENSOR_OUTPUT = "output.weight";

/** Per-block tensor name suffixes; the full name is `blk.${il}.${suffix}`. */
export const BlockTensor = {
  attnNorm: "attn_norm.weight",
  postAttentionNorm: "post_attention_norm.weight",
  // gated full attention (§2.3)
  attnQ: "attn_q.weight",
  attnK: "attn_k.weight",
  attnV: "attn_v.weight",
  attnOutput: "attn_output.weight",
  attnQNorm: "attn_q_norm.weight",
  attnKNorm: "attn_k_norm.weight",
  // Gated DeltaNet (§2.4)
  attnQkv: "attn_qkv.weight",
  attnGate: "attn_gate.weight",
  ssmConv1d: "ssm_conv1d.weight",
  ssmDtBias: "ssm_dt.bias",
  ssmA: "ssm_a",
  ssmBeta: "ssm_beta.weight",
  ssmAlpha: "ssm_alpha.weight",
  ssmNorm: "ssm_norm.weight",
  ssmOut: "ssm_out.weight",
  // dense FFN (§2.5)
  ffnGate: "ffn_gate.weight",
  ffnUp: "ffn_up.weight",
  ffnDown: "ffn_down.weight",
  // MoE FFN (§2.6)
  ffnGateInp: "ffn_gate_inp.weight",
  ffnGateExps: "ffn_gate_exps.weight",
  ffnUpExps: "ffn_up_exps.weight",
  ffnDownExps: "ffn_down_exps.weight",
  ffnGateUpExps: "ffn_gate_up_exps.weight",
  ffnGateInpShexp: "ffn_gate_inp_shexp.weight",
  ffnGateShexp: "ffn_gate_shexp.weight",
  ffnUpShexp: "ffn_up_shexp.weight",
  ffnDownShexp: "ffn_down_shexp.weight",
  // NextN / MTP block extras (§2.7)
  nextnEhProj: "nextn.eh_proj.weight",
  nextnEnorm: "nextn.enorm.weight",
  nextnHnorm: "nextn.hnorm.weight",
  nextnSharedHeadNorm: "nextn.shared_head_norm.weight",
  nextnSharedHeadHead: "nextn.shared_head_head.weight",
  nextnEmbedTokens: "nextn.embed_tokens.weight",
} as const;

export type BlockTensorRole = keyof typeof BlockTensor;

export function blockTensorName(il: number, role: BlockTensorRole): string {
  return `blk.${il}.${BlockTensor[role]}`;
}
