/**
 * Memory a session needs beyond the weights: the F16 KV cache of every full-attention layer (trunk
 * and MTP block) and the F32 Gated DeltaNet state (conv window + recurrent matrix) of every GDN
 * layer, times the snapshot planes speculative verification keeps for rollback
 * (../shared/docs/qwen35-mtp-spec.md §3.7, §5.6: n_max + 1 planes). Compute scratch is not included.
 */
import type { ModelDescription } from "./ModelDescription.js";

export interface MemoryEstimateOptions {
  /** Context length in tokens. */
  ctx: number;
  /** Draft length K the session is sized for (0 = no speculation, no snapshot planes). */
  draftMax: number;
}

export interface MemoryEstimate {
  ctx: number;
  draftMax: number;
  weightBytes: number;
  kvCacheBytes: number;
  gdnStateBytes: number;
  totalBytes: number;
  notes: string[];
}

const KV_BYTES_PER_ELEM = 2; // F16, like llama.cpp's default cache type
const STATE_BYTES_PER_ELEM = 4; // F32

export function estimateMemory(desc: ModelDescription, opts: MemoryEstimateOptions): MemoryEstimate {
  const hp = desc.hparams;
  const weightBytes = desc.manifest.reduce((s, t) => s + t.nBytes, 0);
  const nAttn = desc.layerKinds.filter((k) => k === "attention").length + (desc.mtp && opts.draftMax > 0 ? hp.nMtp : 0);
  const nGdn = desc.layerKinds.filter((k) => k === "gdn").length;
  const kvCacheBytes = nAttn * opts.ctx * 2 * hp.nHeadKv * hp.headDim * KV_BYTES_PER_ELEM;
  const g = hp.gdn;
  const perLayerState = (g.convKernel - 1) * g.convChannels + g.keyHeadDim * g.valueHeadDim * g.nValueHeads;
  const planes = 1 + opts.draftMax;
  const gdnStateBytes = nGdn * perLayerState * STATE_BYTES_PER_ELEM * planes;
  return {
    ctx: opts.ctx,
    draftMax: opts.draftMax,
    weightBytes,
    kvCacheBytes,
    gdnStateBytes,
    totalBytes: weightBytes + kvCacheBytes + gdnStateBytes,
    notes: [
      `KV cache F16 for ${nAttn} attention layer(s)${desc.mtp && opts.draftMax > 0 ? " incl. the MTP block" : ""}`,
      `GDN state F32 for ${nGdn} layer(s) × ${planes} plane(s) (1 + draft length ${opts.draftMax} for rollback)`,
      "compute scratch not included",
    ],
  };
}
