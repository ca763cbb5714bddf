/**
 * What a model and one session take on the GPU, as the CUDA backend allocates them
 * (cuda/src/models/qwen35-cuda.cu: CudaWeights, CudaSession; test/gpu checks the total against the
 * device's free memory before and after):
 *  - weights as uploaded: the repacked types' blocks with their scale (an f16 d, MXFP4's E8M0
 *    byte) moved out as a float — Q8_0 36 bytes per block instead of the file's 34, Q6_K 212
 *    instead of 210, Q4_0 / IQ4_NL 20 (18), Q5_0 24 (22), MXFP4 20 (17), Q3_K / IQ3_S 112 (110), IQ2_XXS 68 (66),
 *    IQ2_XS 76 (74), IQ2_S 84 (82), IQ3_XXS 100 (98) — every other tensor as in the file;
 *  - the F16 KV cache of every full-attention layer for the context, and of the MTP block for one
 *    position more (a greedy step computes MTP rows one position past the trunk's), whatever K is;
 *  - the F32 Gated DeltaNet state (conv window + recurrent matrix) of every GDN layer: the live state
 *    and n_max + 1 snapshot planes for rollback (../shared/docs/qwen35-mtp-spec.md §3.7, §5.6);
 *  - scratch for one chunk of 128 rows (activations), attention's (every row's scores and chunk
 *    results over the context) and logits for 8-row pieces, and the MTP input rows of a
 *    prompt as long as the context.
 * The CPU backend keeps the weights memory-mapped and fewer state planes (docs/native-engine.md).
 */
import { ggmlTypeInfo } from "../gguf/ggmlTypes.js";
import type { ModelDescription } from "./ModelDescription.js";

export interface MemoryEstimateOptions {
  /** Context length in tokens. */
  ctx: number;
  /** Draft length K the session is sized for (0 = no speculation). */
  draftMax: number;
}

export interface MemoryEstimate {
  ctx: number;
  draftMax: number;
  weightBytes: number;
  kvCacheBytes: number;
  gdnStateBytes: number;
  scratchBytes: number;
  totalBytes: number;
  notes: string[];
}

const KV_BYTES_PER_ELEM = 2; // F16, like llama.cpp's default cache type
const F32 = 4;
/**
 * The repacked types (repack_matrix in cuda/src/kernels/matvec.cu), ggml type id → bytes of the block's
 * scale field, which moves out of the block as a float (the block sizes: src/gguf/ggmlTypes.ts):
 * Q8_0, Q6_K, Q4_0, Q5_0, IQ4_NL, Q3_K and the IQ grid types an f16 d, MXFP4 an E8M0 byte.
 */
const REPACKED_SCALE_BYTES: ReadonlyMap<number, number> = new Map([
  [8, 2], // Q8_0
  [14, 2], // Q6_K
  [2, 2], // Q4_0
  [6, 2], // Q5_0
  [20, 2], // IQ4_NL
  [39, 1], // MXFP4
  [11, 2], // Q3_K
  [16, 2], // IQ2_XXS
  [17, 2], // IQ2_XS
  [22, 2], // IQ2_S
  [18, 2], // IQ3_XXS
  [21, 2], // IQ3_S
]);
/** Bytes on the device of a tensor of `nBytes` in the file (the repacked layouts above). */
function uploadedBytes(type: number, nBytes: number): number {
  const scale = REPACKED_SCALE_BYTES.get(type);
  const block = ggmlTypeInfo(type)?.blockBytes;
  if (scale === undefined || block === undefined) return nBytes;
  return (nBytes / block) * (block - scale + F32);
}
/** Activation rows per chunk (kChunkRows in cuda/src/models/qwen35-cuda.cu). */
const CHUNK_ROWS = 128;
/** Rows of the attention and logits scratch (kMaxRows in cuda/src/kernels/matvec.cuh). */
const PIECE_ROWS = 8;
/** Positions per chunk of a long attention row (kAttnChunk in cuda/cpu/attention-order.h). */
const ATTN_CHUNK = 512;

/** Dim groups of an attention head (kGroups in cuda/src/kernels/attention.cu: 256 dims / 64). */
const ATTN_GROUPS = 4;

/**
 * attention_scratch_bytes (cuda/src/kernels/attention.cu) over `positions`: per row and head a score
 * per position and an arrival count per dim group, and per chunk of the cache a sum (double) and max
 * per dim group and the weighted V.
 */
function attentionScratchBytes(nHead: number, headDim: number, positions: number): number {
  const chunks = Math.ceil(positions / ATTN_CHUNK);
  return PIECE_ROWS * nHead * (chunks * (ATTN_GROUPS * (8 + F32) + headDim * F32) + positions * F32 + ATTN_GROUPS * 4);
}

/** Candidates per row the device finds for sampling with top-k (kMaxTopLogits in cuda/src/kernels/top-logits.cuh). */
const MAX_TOP_LOGITS = 64;

/** The sampling candidates of 8 rows and the top-logits scratch (one 64-bit key per slice of 4096 logits and candidate). */
function topLogitsBytes(nVocab: number): number {
  const slices = Math.ceil(nVocab / 4096);
  return slices * MAX_TOP_LOGITS <= 4096 ? PIECE_ROWS * MAX_TOP_LOGITS * (8 + slices * 8) : 0;
}

/** The greedy argmax's scratch: a (value, index) pair per slice of 4096 logits and row (argmax_scratch_bytes in cuda/src/kernels/argmax.cu). */
function argmaxScratchBytes(nVocab: number): number {
  return PIECE_ROWS * Math.ceil(nVocab / 4096) * 8;
}

export function estimateMemory(desc: ModelDescription, opts: MemoryEstimateOptions): MemoryEstimate {
  const hp = desc.hparams;
  const weightBytes = desc.manifest.reduce((s, t) => s + uploadedBytes(t.type, t.nBytes), 0);
  const nAttn = desc.layerKinds.filter((k) => k === "attention").length;
  const nMtp = desc.mtp ? hp.nMtp : 0;
  const nGdn = desc.layerKinds.filter((k) => k === "gdn").length;
  const kvRow = 2 * hp.nHeadKv * hp.headDim * KV_BYTES_PER_ELEM; // K and V of one position
  const kvCacheBytes = nAttn * opts.ctx * kvRow + nMtp * (opts.ctx + 1) * kvRow;
  const g = hp.gdn;
  const perLayerState = (g.convKernel - 1) * g.convChannels + g.keyHeadDim * g.valueHeadDim * g.nValueHeads;
  const planes = 2 + opts.draftMax;
  const gdnStateBytes = nGdn * perLayerState * F32 * planes;

  const E = hp.nEmbd;
  const HD = hp.nHead * hp.headDim;
  const kvD = hp.nHeadKv * hp.headDim;
  const vD = g.nValueHeads * g.valueHeadDim;
  // an activation buffer: floats, their int8 copy and a scale per 32
  const act = (k: number, n = CHUNK_ROWS) => n * (k * F32 + k + (Math.floor(k / 32) + 1) * F32);
  const rows = (k: number, n = CHUNK_ROWS) => n * k * F32;
  // The FFN buffers serve the dense FFN, or a MoE model's shared expert; a MoE model adds the
  // router, the shared expert's output and gate, and per (token, expert) pair the weights, ids, two
  // ints of the grouping by expert and the gate/up/SwiGLU/down rows.
  const moe = hp.moe;
  const F = moe ? moe.sharedExpertFfnLength : hp.nFf;
  const pairs = moe ? CHUNK_ROWS * moe.nExpertUsed : 0;
  const moeBytes = moe
    ? rows(moe.nExpert) + rows(1) + rows(E) + pairs * 4 * 4 + 8 + 2 * rows(moe.expertFfnLength, pairs) + rows(E, pairs) +
      act(moe.expertFfnLength, pairs)
    : 0;
  const scratchBytes =
    rows(E) + [E, 2 * E, HD, vD, F, E, E].reduce((s, k) => s + act(k), 0) +
    rows(2 * HD) + 2 * rows(kvD) + CHUNK_ROWS * HD * 2 + attentionScratchBytes(hp.nHead, hp.headDim, opts.ctx + 1) +
    2 * rows(g.convChannels) + rows(vD) + 2 * rows(g.nValueHeads) + 2 * rows(F) + PIECE_ROWS * hp.nVocab * F32 + argmaxScratchBytes(hp.nVocab) + topLogitsBytes(hp.nVocab) +
    moeBytes +
    (2 + opts.ctx) * 4 + (desc.mtp ? opts.ctx * E * F32 : 0);
  return {
    ctx: opts.ctx,
    draftMax: opts.draftMax,
    weightBytes,
    kvCacheBytes,
    gdnStateBytes,
    scratchBytes,
    totalBytes: weightBytes + kvCacheBytes + gdnStateBytes + scratchBytes,
    notes: [
      "as the CUDA backend allocates it (repacked: a block's scale as a float, e.g. Q8_0 36 bytes per 32 values, Q6_K 212 per 256)",
      `KV cache F16 for ${nAttn} attention layer(s)${nMtp ? ` and the MTP block (ctx + 1 positions)` : ""}`,
      `GDN state F32 for ${nGdn} layer(s) × ${planes} plane(s) (the state + 1 + draft length ${opts.draftMax} snapshots)`,
      "scratch: one chunk of 128 rows, attention's (every row's scores, the chunks' results), logits and sampling candidates for 8 rows, a context-long prompt's MTP input",
    ],
  };
}
