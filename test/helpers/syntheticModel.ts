/**
 * Synthetic qwen35 / qwen35moe GGUF models written with the project's own writer: correct names,
 * shapes and metadata (../shared/docs/qwen35-mtp-spec.md §1–§2), seeded random F32 weights. Small
 * enough for CI; used to test the model description, and later the engine, without a real file.
 */
import { GgufValueType } from "../../src/gguf/types.js";
import { kv, type GgufWriteKv, type GgufWriteSpec, type GgufWriteTensor } from "../../src/gguf/writeGguf.js";

export interface SyntheticOptions {
  arch: "qwen35" | "qwen35moe";
  nEmbd: number;
  nLayer: number;
  /** NextN/MTP blocks after the trunk (0 or 1). */
  nMtp: number;
  nVocab: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  ropeDims: number;
  /** GDN */
  convKernel: number;
  nKeyHeads: number;
  nValueHeads: number;
  ssmHeadDim: number;
  fullAttentionInterval: number;
  /** Write attention.recurrent_layers (else the interval rule applies). */
  writeRecurrentLayers: boolean;
  moe?: { nExpert: number; nExpertUsed: number; expertFf: number; sharedFf: number };
  tiedEmbeddings: boolean;
  seed: number;
}

export const TINY_DENSE: SyntheticOptions = {
  arch: "qwen35",
  nEmbd: 64,
  nLayer: 4,
  nMtp: 1,
  nVocab: 256,
  nHead: 4,
  nHeadKv: 2,
  headDim: 16,
  nFf: 128,
  ropeDims: 8,
  convKernel: 4,
  nKeyHeads: 2,
  nValueHeads: 4,
  ssmHeadDim: 16,
  fullAttentionInterval: 4,
  writeRecurrentLayers: true,
  tiedEmbeddings: false,
  seed: 1,
};

export const TINY_MOE: SyntheticOptions = {
  ...TINY_DENSE,
  arch: "qwen35moe",
  nEmbd: 128,
  nFf: 0,
  moe: { nExpert: 16, nExpertUsed: 4, expertFf: 64, sharedFf: 128 },
  seed: 2,
};

/** Deterministic xorshift32 PRNG → uniform floats in [-scale, scale). */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (scale: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return ((s / 4294967296) * 2 - 1) * scale;
  };
}

export function syntheticModel(o: SyntheticOptions): GgufWriteSpec {
  const rand = rng(o.seed);
  const A = o.arch;
  const E = o.nEmbd;
  const nBlocks = o.nLayer + o.nMtp;
  const isGdn = (il: number) => il < o.nLayer && (il + 1) % o.fullAttentionInterval !== 0;
  const tensors: GgufWriteTensor[] = [];
  const f32 = (name: string, ne: number[], fill?: number) => {
    const n = ne.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = fill ?? rand(0.5);
    tensors.push({ name, type: 0, ne, data: new Uint8Array(data.buffer) });
  };

  const Dv = o.ssmHeadDim;
  const Cc = 2 * o.nKeyHeads * o.ssmHeadDim + o.nValueHeads * Dv;
  f32("token_embd.weight", [E, o.nVocab]);
  f32("output_norm.weight", [E], 1);
  if (!o.tiedEmbeddings) f32("output.weight", [E, o.nVocab]);
  for (let il = 0; il < nBlocks; il++) {
    const p = `blk.${il}.`;
    f32(p + "attn_norm.weight", [E], 1);
    f32(p + "post_attention_norm.weight", [E], 1);
    if (isGdn(il)) {
      f32(p + "attn_qkv.weight", [E, Cc]);
      f32(p + "attn_gate.weight", [E, o.nValueHeads * Dv]);
      f32(p + "ssm_conv1d.weight", [o.convKernel, Cc]);
      f32(p + "ssm_dt.bias", [o.nValueHeads]);
      f32(p + "ssm_a", [o.nValueHeads], -1);
      f32(p + "ssm_beta.weight", [E, o.nValueHeads]);
      f32(p + "ssm_alpha.weight", [E, o.nValueHeads]);
      f32(p + "ssm_norm.weight", [Dv], 1);
      f32(p + "ssm_out.weight", [o.nValueHeads * Dv, E]);
    } else {
      f32(p + "attn_q.weight", [E, 2 * o.nHead * o.headDim]);
      f32(p + "attn_k.weight", [E, o.nHeadKv * o.headDim]);
      f32(p + "attn_v.weight", [E, o.nHeadKv * o.headDim]);
      f32(p + "attn_output.weight", [o.nHead * o.headDim, E]);
      f32(p + "attn_q_norm.weight", [o.headDim], 1);
      f32(p + "attn_k_norm.weight", [o.headDim], 1);
    }
    if (o.moe) {
      const { nExpert: X, expertFf: Fe, sharedFf: Fs } = o.moe;
      f32(p + "ffn_gate_inp.weight", [E, X]);
      f32(p + "ffn_gate_exps.weight", [E, Fe, X]);
      f32(p + "ffn_up_exps.weight", [E, Fe, X]);
      f32(p + "ffn_down_exps.weight", [Fe, E, X]);
      f32(p + "ffn_gate_inp_shexp.weight", [E]);
      f32(p + "ffn_gate_shexp.weight", [E, Fs]);
      f32(p + "ffn_up_shexp.weight", [E, Fs]);
      f32(p + "ffn_down_shexp.weight", [Fs, E]);
    } else {
      f32(p + "ffn_gate.weight", [E, o.nFf]);
      f32(p + "ffn_up.weight", [E, o.nFf]);
      f32(p + "ffn_down.weight", [o.nFf, E]);
    }
    if (il >= o.nLayer) {
      f32(p + "nextn.eh_proj.weight", [2 * E, E]);
      f32(p + "nextn.enorm.weight", [E], 1);
      f32(p + "nextn.hnorm.weight", [E], 1);
      f32(p + "nextn.shared_head_norm.weight", [E], 1);
    }
  }

  const meta: GgufWriteKv[] = [
    kv.str("general.architecture", A),
    kv.str("general.name", `synthetic ${A}`),
    kv.u32(`${A}.context_length`, 2048),
    kv.u32(`${A}.embedding_length`, E),
    kv.u32(`${A}.block_count`, nBlocks),
    kv.u32(`${A}.feed_forward_length`, o.nFf),
    kv.u32(`${A}.attention.head_count`, o.nHead),
    kv.u32(`${A}.attention.head_count_kv`, o.nHeadKv),
    kv.u32(`${A}.attention.key_length`, o.headDim),
    kv.u32(`${A}.attention.value_length`, o.headDim),
    kv.f32(`${A}.attention.layer_norm_rms_epsilon`, 1e-6),
    kv.f32(`${A}.rope.freq_base`, 1e7),
    kv.u32(`${A}.rope.dimension_count`, o.ropeDims),
    kv.arr(`${A}.rope.dimension_sections`, GgufValueType.INT32, [11, 11, 10, 0]),
    kv.u32(`${A}.full_attention_interval`, o.fullAttentionInterval),
    kv.u32(`${A}.ssm.conv_kernel`, o.convKernel),
    kv.u32(`${A}.ssm.state_size`, o.ssmHeadDim),
    kv.u32(`${A}.ssm.group_count`, o.nKeyHeads),
    kv.u32(`${A}.ssm.time_step_rank`, o.nValueHeads),
    kv.u32(`${A}.ssm.inner_size`, o.nValueHeads * Dv),
    kv.str("tokenizer.ggml.model", "gpt2"),
    kv.str("tokenizer.ggml.pre", "qwen35"),
    kv.arr("tokenizer.ggml.tokens", GgufValueType.STRING, Array.from({ length: o.nVocab }, (_, i) => `[t${i}]`)),
    kv.arr("tokenizer.ggml.token_type", GgufValueType.INT32, Array.from({ length: o.nVocab }, () => 1)),
    kv.arr("tokenizer.ggml.merges", GgufValueType.STRING, []),
    kv.u32("tokenizer.ggml.eos_token_id", 0),
  ];
  if (o.nMtp) meta.push(kv.u32(`${A}.nextn_predict_layers`, o.nMtp));
  if (o.writeRecurrentLayers) {
    meta.push(kv.arr(`${A}.attention.recurrent_layers`, GgufValueType.BOOL, Array.from({ length: nBlocks }, (_, il) => isGdn(il))));
  }
  if (o.moe) {
    meta.push(
      kv.u32(`${A}.expert_count`, o.moe.nExpert),
      kv.u32(`${A}.expert_used_count`, o.moe.nExpertUsed),
      kv.u32(`${A}.expert_feed_forward_length`, o.moe.expertFf),
      kv.u32(`${A}.expert_shared_feed_forward_length`, o.moe.sharedFf),
    );
  }
  return { kv: meta, tensors };
}
