/**
 * What a validated GGUF model is: hyper-parameters, the per-layer schedule (Gated DeltaNet vs
 * gated full attention), the NextN/MTP tail, and every tensor the engine will use with its role,
 * layer, type, shape and file location (the "manifest" the native side executes without any name
 * lookups). Produced by the per-architecture files (qwen35.ts, qwen35moe.ts) via describeModel().
 */
import type { BlockTensorRole } from "../gguf/names.js";

export type ArchName = "qwen35" | "qwen35moe";

/** "gdn" = Gated DeltaNet (linear attention, recurrent state); "attention" = gated full attention. */
export type LayerKind = "gdn" | "attention";

export interface GdnHParams {
  /** Kc: causal conv kernel length. */
  convKernel: number;
  /** Hk: key/query heads. */
  nKeyHeads: number;
  /** Hv: value heads. */
  nValueHeads: number;
  /** Dk: key head dim (= ssm.state_size). */
  keyHeadDim: number;
  /** Dv: value head dim = ssm.inner_size / Hv (must equal Dk). */
  valueHeadDim: number;
  /** Cc = 2·Hk·Dk + Hv·Dv conv channels. */
  convChannels: number;
}

export interface MoeHParams {
  /** X: experts. */
  nExpert: number;
  /** k: experts routed per token. */
  nExpertUsed: number;
  /** Fe: expert FFN width. */
  expertFfnLength: number;
  /** Fs: shared-expert FFN width. */
  sharedExpertFfnLength: number;
  /** true when gate and up projections are stored merged as ffn_gate_up_exps. */
  mergedGateUp: boolean;
}

export interface RopeHParams {
  freqBase: number;
  /** R: rotated dims per head (the first R of D). */
  nDims: number;
  /** IMROPE sections, exactly 4. */
  sections: [number, number, number, number];
  /** Multiplies cos/sin (rope.scaling.attn_factor); 1 when absent. */
  attnFactor: number;
  /** freq_scale = 1/factor for linear scaling; 1 when absent. */
  freqScale: number;
}

export interface HParams {
  arch: ArchName;
  contextLength: number;
  /** E */
  nEmbd: number;
  /** V (rows of token_embd). */
  nVocab: number;
  /** L_all = trunk + MTP blocks. */
  nBlockAll: number;
  /** L = trunk blocks. */
  nLayer: number;
  /** N_mtp */
  nMtp: number;
  /** F: dense FFN width (0 for MoE files that do not write it). */
  nFf: number;
  /** H */
  nHead: number;
  /** H_kv */
  nHeadKv: number;
  /** D */
  headDim: number;
  rmsEps: number;
  rope: RopeHParams;
  fullAttentionInterval: number;
  gdn: GdnHParams;
  moe?: MoeHParams;
}

/** Global tensor roles; block tensors use BlockTensorRole. */
export type GlobalTensorRole = "tokenEmbd" | "outputNorm" | "output";
export type TensorRole = GlobalTensorRole | BlockTensorRole;

export interface ManifestTensor {
  role: TensorRole;
  /** Block index, or -1 for global tensors. */
  layer: number;
  name: string;
  /** ggml type id */
  type: number;
  ne: number[];
  fileOffset: number;
  nBytes: number;
}

export interface MtpHead {
  /** Block index of the (single) NextN block. */
  layer: number;
  /** Which tensors the head uses for its embedding, output norm and LM head (own or fallback). */
  embedTokens: string;
  sharedHeadNorm: string;
  sharedHeadHead: string;
  /** Human-readable notes on the fallbacks that apply. */
  fallbacks: string[];
}

export interface UnsupportedTensor {
  name: string;
  type: number;
  reason: string;
}

export interface ModelDescription {
  hparams: HParams;
  /** Kind of each trunk layer 0..L-1. */
  layerKinds: LayerKind[];
  /** null when the file has no NextN tail: valid, but speculation is unavailable. */
  mtp: MtpHead | null;
  /** The tensor the trunk LM head reads: output.weight, or token_embd.weight when tied. */
  lmHead: string;
  /** Every tensor the engine uses, in file order. */
  manifest: ManifestTensor[];
  /** Tensors in the file that the engine does not use (reported, not fatal). */
  unusedTensors: string[];
  /** Tensors whose storage type the engine cannot execute yet (fatal at load, reported by inspect). */
  unsupportedTensors: UnsupportedTensor[];
  /** All elements of all tensors in the file. */
  nParams: number;
}

/**
 * Weight storage types the engine executes (the CPU backend). Files with other types are described
 * and inspected, but loading them for inference is refused naming the tensor.
 */
export const ENGINE_WEIGHT_TYPES: ReadonlySet<number> = new Set([
  0, // F32
  1, // F16
  30, // BF16
  8, // Q8_0
  2, // Q4_0
  3, // Q4_1
  6, // Q5_0
  7, // Q5_1
  10, // Q2_K
  11, // Q3_K
  12, // Q4_K
  13, // Q5_K
  14, // Q6_K
  16, // IQ2_XXS
  17, // IQ2_XS
  22, // IQ2_S
  18, // IQ3_XXS
  21, // IQ3_S
  20, // IQ4_NL
  23, // IQ4_XS
  39, // MXFP4
]);

/**
 * The subset the CUDA backend's kernels execute (cuda/src/kernels/matvec.cuh, matvec-lowbit.cuh;
 * cuda_supports_type in cuda/src/models/qwen35-cuda.cu): all but Q4_1 and Q5_1.
 */
export const CUDA_WEIGHT_TYPES: ReadonlySet<number> = new Set([0, 1, 30, 8, 12, 13, 14, 2, 6, 10, 11, 16, 17, 22, 18, 21, 20, 23, 39]);
