/**
 * The `qwen35` architecture (Qwen3.5 / Qwen3.6 dense, e.g. Qwen3.6-27B) and the machinery its MoE
 * sibling reuses (qwen35moe.ts swaps the FFN). Declarative: hyper-parameters from metadata
 * (../shared/docs/qwen35-mtp-spec.md §1.2), the layer schedule (§1.3), and the tensors every block
 * kind must have with their exact ggml shapes (§2), validated against the file.
 *
 * Blocks 0..L-1 are the trunk (Gated DeltaNet or gated full attention per layer); blocks
 * L..L_all-1 are NextN/MTP blocks (always full attention, never run in the main pass).
 */
import { ModelDescriptionError } from "../errors.js";
import { GgufMetadata } from "../gguf/GgufMetadata.js";
import { GgmlType, ggmlTypeName } from "../gguf/ggmlTypes.js";
import {
  ArchKey,
  archKey,
  blockTensorName,
  type BlockTensorRole,
  TENSOR_OUTPUT,
  TENSOR_OUTPUT_NORM,
  TENSOR_TOKEN_EMBD,
} from "../gguf/names.js";
import { GgufValueType, isGgufArray, type GgufFile, type GgufTensorInfo } from "../gguf/types.js";
import {
  ENGINE_WEIGHT_TYPES,
  type ArchName,
  type HParams,
  type LayerKind,
  type ManifestTensor,
  type ModelDescription,
  type MoeHParams,
  type MtpHead,
  type TensorRole,
  type UnsupportedTensor,
} from "./ModelDescription.js";

/** A tensor the architecture expects: its role, block, ggml shape, and whether it may be absent. */
export interface TensorExpectation {
  role: TensorRole;
  layer: number;
  ne: number[];
  /** Another accepted shape (e.g. [E] stored as [E, 1]). */
  altNe?: number[];
  required: boolean;
  /** "float": kept F32/F16/BF16 by every converter (norms, GDN vectors, conv kernel, router); "weight": any storage type. */
  storage: "float" | "weight";
}

/** The part that differs between qwen35 and qwen35moe. */
export interface FfnFlavour {
  arch: ArchName;
  /** Reads the FFN hyper-parameters (MoE only) from metadata and the file. */
  readHParams(meta: GgufMetadata, file: GgufFile, nBlockAll: number): MoeHParams | undefined;
  /** FFN tensors of block `il` (trunk or MTP). */
  tensors(hp: HParams, il: number): TensorExpectation[];
}

const FLOAT_STORAGE = new Set<number>([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);
/** Types that are never valid storage for a weight matrix. */
const NON_WEIGHT_TYPES = new Set<number>([9 /* Q8_1 */, 15 /* Q8_K */, 24, 25, 26, 27 /* I8..I64 */, 28 /* F64 */]);

export const w = (role: TensorRole, layer: number, ne: number[], required = true): TensorExpectation => ({
  role,
  layer,
  ne,
  required,
  storage: "weight",
});
export const f = (role: TensorRole, layer: number, ne: number[], required = true, altNe?: number[]): TensorExpectation => ({
  role,
  layer,
  ne,
  required,
  storage: "float",
  ...(altNe ? { altNe } : {}),
});

export const denseFfn: FfnFlavour = {
  arch: "qwen35",
  readHParams: () => undefined,
  tensors: (hp, il) => [
    w("ffnGate", il, [hp.nEmbd, hp.nFf]),
    w("ffnUp", il, [hp.nEmbd, hp.nFf]),
    w("ffnDown", il, [hp.nFf, hp.nEmbd]),
  ],
};

function positive(key: string, v: number): number {
  if (!(v > 0)) throw new ModelDescriptionError(`${key}: expected a positive value, got ${v}`);
  return v;
}

function readHParams(file: GgufFile, meta: GgufMetadata, ffn: FfnFlavour): HParams {
  const arch = ffn.arch;
  const k = (key: (typeof ArchKey)[keyof typeof ArchKey]) => archKey(arch, key);

  const nEmbd = positive(k(ArchKey.embeddingLength), meta.uint(k(ArchKey.embeddingLength)));
  const nBlockAll = positive(k(ArchKey.blockCount), meta.uint(k(ArchKey.blockCount), undefined, 65536));
  const nMtp = meta.uint(k(ArchKey.nextnPredictLayers), 0);
  if (nMtp >= nBlockAll) {
    throw new ModelDescriptionError(`${k(ArchKey.nextnPredictLayers)}: expected less than block_count ${nBlockAll}, got ${nMtp}`);
  }
  if (nMtp > 1) {
    throw new ModelDescriptionError(`${k(ArchKey.nextnPredictLayers)}: only 1 NextN/MTP block is supported (as in llama.cpp), got ${nMtp}`);
  }
  const nHead = positive(k(ArchKey.headCount), meta.uintOrArray(k(ArchKey.headCount), nBlockAll, 0).value);
  const nHeadKv = positive(k(ArchKey.headCountKv), meta.uintOrArray(k(ArchKey.headCountKv), nBlockAll, nHead).value);
  if (nHead % nHeadKv !== 0) {
    throw new ModelDescriptionError(`${k(ArchKey.headCountKv)}: expected a divisor of head_count ${nHead}, got ${nHeadKv}`);
  }
  const headDim = positive(k(ArchKey.keyLength), meta.uint(k(ArchKey.keyLength), Math.floor(nEmbd / nHead)));
  const valueLength = meta.uint(k(ArchKey.valueLength), Math.floor(nEmbd / nHead));
  if (valueLength !== headDim) {
    throw new ModelDescriptionError(`${k(ArchKey.valueLength)}: expected ${headDim} (= key_length), got ${valueLength}`);
  }

  const ropeDims = meta.uint(k(ArchKey.ropeDimensionCount), headDim);
  if (ropeDims > headDim || ropeDims % 2 !== 0) {
    throw new ModelDescriptionError(`${k(ArchKey.ropeDimensionCount)}: expected an even number <= ${headDim}, got ${ropeDims}`);
  }
  const sectionsKey = k(ArchKey.ropeDimensionSections);
  let sections: [number, number, number, number];
  const secKv = file.kv.get(sectionsKey);
  if (!secKv) throw new ModelDescriptionError(`${sectionsKey}: required metadata key is missing`);
  if (isGgufArray(secKv.value)) {
    const s = meta.intArray(sectionsKey);
    if (s.length !== 4) throw new ModelDescriptionError(`${sectionsKey}: expected exactly 4 entries, got ${s.length}`);
    sections = [s[0]!, s[1]!, s[2]!, s[3]!];
  } else {
    const v = meta.uint(sectionsKey);
    sections = [v, v, v, v];
  }
  const scalingType = meta.optString(k(ArchKey.ropeScalingType));
  let freqScale = 1;
  if (scalingType !== undefined && scalingType !== "none") {
    if (scalingType !== "linear") {
      throw new ModelDescriptionError(`${k(ArchKey.ropeScalingType)}: expected "none" or "linear", got ${JSON.stringify(scalingType)}`);
    }
    const factor = meta.float(k(ArchKey.ropeScalingFactor), 0);
    freqScale = factor > 0 ? 1 / factor : 1;
  }

  const Kc = positive(k(ArchKey.ssmConvKernel), meta.uint(k(ArchKey.ssmConvKernel)));
  const innerSize = positive(k(ArchKey.ssmInnerSize), meta.uint(k(ArchKey.ssmInnerSize)));
  const Dk = positive(k(ArchKey.ssmStateSize), meta.uint(k(ArchKey.ssmStateSize)));
  const Hv = positive(k(ArchKey.ssmTimeStepRank), meta.uint(k(ArchKey.ssmTimeStepRank)));
  const Hk = positive(k(ArchKey.ssmGroupCount), meta.uint(k(ArchKey.ssmGroupCount)));
  if (innerSize % Hv !== 0 || innerSize / Hv !== Dk) {
    throw new ModelDescriptionError(
      `${k(ArchKey.ssmInnerSize)}: expected time_step_rank × state_size = ${Hv * Dk} (value head dim must equal key head dim), got ${innerSize}`,
    );
  }
  if (Hv % Hk !== 0) {
    throw new ModelDescriptionError(`${k(ArchKey.ssmGroupCount)}: expected a divisor of time_step_rank ${Hv}, got ${Hk}`);
  }

  const embd = file.tensorByName.get(TENSOR_TOKEN_EMBD);
  if (!embd) throw new ModelDescriptionError(`tensor '${TENSOR_TOKEN_EMBD}': required tensor is missing`);
  if (embd.ne.length !== 2) {
    throw new ModelDescriptionError(`tensor '${TENSOR_TOKEN_EMBD}': expected 2 dimensions [${nEmbd}, n_vocab], got [${embd.ne.join(", ")}]`);
  }
  const nVocab = embd.ne[1]!;

  const hp: HParams = {
    arch,
    contextLength: meta.uint(k(ArchKey.contextLength)),
    nEmbd,
    nVocab,
    nBlockAll,
    nLayer: nBlockAll - nMtp,
    nMtp,
    nFf: meta.uintOrArray(k(ArchKey.feedForwardLength), nBlockAll, 0).value,
    nHead,
    nHeadKv,
    headDim,
    rmsEps: meta.float(k(ArchKey.rmsEps)),
    rope: {
      freqBase: meta.float(k(ArchKey.ropeFreqBase), 10000),
      nDims: ropeDims,
      sections,
      attnFactor: meta.float(k(ArchKey.ropeScalingAttnFactor), 1),
      freqScale,
    },
    fullAttentionInterval: meta.uint(k(ArchKey.fullAttentionInterval), 4),
    gdn: {
      convKernel: Kc,
      nKeyHeads: Hk,
      nValueHeads: Hv,
      keyHeadDim: Dk,
      valueHeadDim: Dk,
      convChannels: 2 * Hk * Dk + innerSize,
    },
  };
  const moe = ffn.readHParams(meta, file, nBlockAll);
  if (moe) hp.moe = moe;
  return hp;
}

/** Layer typing (§1.3): `attention.recurrent_layers` if present, else the interval rule. */
function layerKinds(hp: HParams, meta: GgufMetadata): LayerKind[] {
  const key = archKey(hp.arch, ArchKey.recurrentLayers);
  if (meta.has(key)) {
    const flags = meta.array(key, GgufValueType.BOOL) as boolean[];
    if (flags.length !== hp.nBlockAll) {
      throw new ModelDescriptionError(`${key}: expected ${hp.nBlockAll} entries (block_count), got ${flags.length}`);
    }
    for (let il = hp.nLayer; il < hp.nBlockAll; il++) {
      if (flags[il]) throw new ModelDescriptionError(`${key}[${il}]: expected false (block ${il} is the MTP block), got true`);
    }
    return flags.slice(0, hp.nLayer).map((g) => (g ? "gdn" : "attention"));
  }
  const interval = hp.fullAttentionInterval;
  if (interval === 0) throw new ModelDescriptionError(`${archKey(hp.arch, ArchKey.fullAttentionInterval)}: expected > 0, got 0`);
  return Array.from({ length: hp.nLayer }, (_, il) => ((il + 1) % interval !== 0 ? "gdn" : "attention"));
}

function attentionTensors(hp: HParams, il: number): TensorExpectation[] {
  const { nEmbd: E, nHead: H, nHeadKv: Hkv, headDim: D } = hp;
  return [
    w("attnQ", il, [E, 2 * H * D]),
    w("attnK", il, [E, Hkv * D]),
    w("attnV", il, [E, Hkv * D]),
    w("attnOutput", il, [H * D, E]),
    f("attnQNorm", il, [D]),
    f("attnKNorm", il, [D]),
  ];
}

function gdnTensors(hp: HParams, il: number): TensorExpectation[] {
  const E = hp.nEmbd;
  const { convKernel: Kc, nValueHeads: Hv, valueHeadDim: Dv, convChannels: Cc } = hp.gdn;
  return [
    w("attnQkv", il, [E, Cc]),
    w("attnGate", il, [E, Hv * Dv]),
    f("ssmConv1d", il, [Kc, Cc]),
    f("ssmDtBias", il, [Hv]),
    f("ssmA", il, [Hv]),
    w("ssmBeta", il, [E, Hv]),
    w("ssmAlpha", il, [E, Hv]),
    f("ssmNorm", il, [Dv]),
    w("ssmOut", il, [Hv * Dv, E]),
  ];
}

function expectations(hp: HParams, kinds: LayerKind[], ffn: FfnFlavour): TensorExpectation[] {
  const E = hp.nEmbd;
  const V = hp.nVocab;
  const out: TensorExpectation[] = [
    w("tokenEmbd", -1, [E, V]),
    f("outputNorm", -1, [E]),
    w("output", -1, [E, V], false),
  ];
  for (let il = 0; il < hp.nBlockAll; il++) {
    const isMtp = il >= hp.nLayer;
    out.push(f("attnNorm", il, [E]), f("postAttentionNorm", il, [E]));
    out.push(...(isMtp || kinds[il] === "attention" ? attentionTensors(hp, il) : gdnTensors(hp, il)));
    out.push(...ffn.tensors(hp, il));
    if (isMtp) {
      out.push(
        w("nextnEhProj", il, [2 * E, E]),
        f("nextnEnorm", il, [E]),
        f("nextnHnorm", il, [E]),
        f("nextnSharedHeadNorm", il, [E], false),
        w("nextnSharedHeadHead", il, [E, V], false),
        w("nextnEmbedTokens", il, [E, V], false),
      );
    }
  }
  return out;
}

const GLOBAL_NAMES: Record<string, string> = {
  tokenEmbd: TENSOR_TOKEN_EMBD,
  outputNorm: TENSOR_OUTPUT_NORM,
  output: TENSOR_OUTPUT,
};

export function tensorNameOf(role: TensorRole, layer: number): string {
  return layer < 0 ? GLOBAL_NAMES[role]! : blockTensorName(layer, role as BlockTensorRole);
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const shapeStr = (ne: readonly number[]) => `[${ne.join(", ")}]`;

/** Tensors that would change the math if present but that mtp-cli does not implement. */
const REFUSED_EXTRA = /^blk\.\d+\.(attn_(q|k|v|qkv|output|gate)|ffn_\w+|ssm_(out|alpha|beta)|nextn\.\w+)\.(bias|scale)$|^output\.scale$/;

/** Validates a qwen35-family file and describes it. */
export function describeQwen35Family(file: GgufFile, ffn: FfnFlavour): ModelDescription {
  const meta = new GgufMetadata(file.kv);
  const hp = readHParams(file, meta, ffn);
  const kinds = layerKinds(hp, meta);

  const manifest: ManifestTensor[] = [];
  const unsupportedTensors: UnsupportedTensor[] = [];
  for (const ex of expectations(hp, kinds, ffn)) {
    const name = tensorNameOf(ex.role, ex.layer);
    const t: GgufTensorInfo | undefined = file.tensorByName.get(name);
    if (!t) {
      if (!ex.required) continue;
      const what = ex.layer < 0 ? "" : ex.layer >= hp.nLayer ? ` (block ${ex.layer} is the MTP block)` : ` (layer ${ex.layer} is ${kinds[ex.layer] === "gdn" ? "Gated DeltaNet" : "gated attention"})`;
      throw new ModelDescriptionError(`tensor '${name}': required tensor is missing${what}`);
    }
    if (!sameShape(t.ne, ex.ne) && !(ex.altNe && sameShape(t.ne, ex.altNe))) {
      throw new ModelDescriptionError(`tensor '${name}': expected shape ${shapeStr(ex.ne)}, got ${shapeStr(t.ne)}`);
    }
    if (ex.storage === "float" && !FLOAT_STORAGE.has(t.type)) {
      throw new ModelDescriptionError(`tensor '${name}': expected type F32, F16 or BF16, got ${ggmlTypeName(t.type)}`);
    }
    if (NON_WEIGHT_TYPES.has(t.type)) {
      throw new ModelDescriptionError(`tensor '${name}': type ${ggmlTypeName(t.type)} is not a weight storage type`);
    }
    if (!ENGINE_WEIGHT_TYPES.has(t.type)) {
      unsupportedTensors.push({ name, type: t.type, reason: `type ${ggmlTypeName(t.type)} is not supported by the engine yet` });
    }
    manifest.push({ role: ex.role, layer: ex.layer, name, type: t.type, ne: [...t.ne], fileOffset: t.fileOffset, nBytes: t.nBytes });
  }

  const used = new Set(manifest.map((m) => m.name));
  const unusedTensors: string[] = [];
  for (const t of file.tensors) {
    if (used.has(t.name)) continue;
    if (REFUSED_EXTRA.test(t.name)) {
      throw new ModelDescriptionError(`tensor '${t.name}': projection biases / scale tensors are not supported by mtp-cli`);
    }
    unusedTensors.push(t.name);
  }
  manifest.sort((a, b) => a.fileOffset - b.fileOffset);

  let mtp: MtpHead | null = null;
  const lmHead = used.has(TENSOR_OUTPUT) ? TENSOR_OUTPUT : TENSOR_TOKEN_EMBD;
  if (hp.nMtp > 0) {
    const il = hp.nLayer;
    const own = (role: BlockTensorRole) => (used.has(blockTensorName(il, role)) ? blockTensorName(il, role) : undefined);
    const fallbacks: string[] = [];
    const pick = (role: BlockTensorRole, fallback: string) => {
      const name = own(role);
      if (name) return name;
      fallbacks.push(`${blockTensorName(il, role)} → ${fallback}`);
      return fallback;
    };
    mtp = {
      layer: il,
      embedTokens: pick("nextnEmbedTokens", TENSOR_TOKEN_EMBD),
      sharedHeadNorm: pick("nextnSharedHeadNorm", TENSOR_OUTPUT_NORM),
      sharedHeadHead: pick("nextnSharedHeadHead", lmHead),
      fallbacks,
    };
  }

  const nParams = file.tensors.reduce((s, t) => s + t.nElements, 0);
  return { hparams: hp, layerKinds: kinds, mtp, lmHead, manifest, unusedTensors, unsupportedTensors, nParams };
}

export function describeQwen35(file: GgufFile): ModelDescription {
  return describeQwen35Family(file, denseFfn);
}
