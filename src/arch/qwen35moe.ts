/**
 * The `qwen35moe` architecture (Qwen3.5/3.6 MoE, e.g. Qwen3.6-35B-A3B): qwen35 with every FFN —
 * trunk and MTP block — replaced by a routed mixture of experts plus a sigmoid-gated shared expert
 * (../shared/docs/qwen35-mtp-spec.md §1.2, §2.6, §3.9).
 */
import { ModelDescriptionError } from "../errors.js";
import type { GgufMetadata } from "../gguf/GgufMetadata.js";
import { ArchKey, archKey, blockTensorName } from "../gguf/names.js";
import type { GgufFile } from "../gguf/types.js";
import type { HParams, ModelDescription, MoeHParams } from "./ModelDescription.js";
import { describeQwen35Family, f, w, type FfnFlavour, type TensorExpectation } from "./qwen35.js";

const ARCH = "qwen35moe";

export const moeFfn: FfnFlavour = {
  arch: ARCH,
  readHParams(meta: GgufMetadata, file: GgufFile, nBlockAll: number): MoeHParams {
    const k = (key: (typeof ArchKey)[keyof typeof ArchKey]) => archKey(ARCH, key);
    const nExpert = meta.uint(k(ArchKey.expertCount), 0);
    const nExpertUsed = meta.uintOrArray(k(ArchKey.expertUsedCount), nBlockAll, 0).value;
    if (nExpert === 0) throw new ModelDescriptionError(`${k(ArchKey.expertCount)}: expected a positive expert count, got 0 or missing`);
    if (nExpertUsed === 0 || nExpertUsed > nExpert) {
      throw new ModelDescriptionError(`${k(ArchKey.expertUsedCount)}: expected 1..${nExpert}, got ${nExpertUsed}`);
    }
    if (meta.uint(k(ArchKey.expertGroupCount), 0) > 1) {
      throw new ModelDescriptionError(`${k(ArchKey.expertGroupCount)}: expert-group routing is not supported`);
    }
    const nFf = meta.uintOrArray(k(ArchKey.feedForwardLength), nBlockAll, 0).value;
    const fe = meta.uintOrArray(k(ArchKey.expertFeedForwardLength), nBlockAll, 0).value || Math.floor(nFf / nExpertUsed);
    const fs = meta.uint(k(ArchKey.expertSharedFeedForwardLength), 0) || nFf;
    if (fe === 0) throw new ModelDescriptionError(`${k(ArchKey.expertFeedForwardLength)}: expected a positive width, got 0 or missing`);
    if (fs === 0) {
      throw new ModelDescriptionError(`${k(ArchKey.expertSharedFeedForwardLength)}: expected a positive width, got 0 or missing`);
    }
    return {
      nExpert,
      nExpertUsed,
      expertFfnLength: fe,
      sharedExpertFfnLength: fs,
      mergedGateUp: file.tensorByName.has(blockTensorName(0, "ffnGateUpExps")),
    };
  },
  tensors(hp: HParams, il: number): TensorExpectation[] {
    const moe = hp.moe!;
    const E = hp.nEmbd;
    const { nExpert: X, expertFfnLength: Fe, sharedExpertFfnLength: Fs } = moe;
    return [
      f("ffnGateInp", il, [E, X]),
      ...(moe.mergedGateUp
        ? [w("ffnGateUpExps", il, [E, 2 * Fe, X])]
        : [w("ffnGateExps", il, [E, Fe, X]), w("ffnUpExps", il, [E, Fe, X])]),
      w("ffnDownExps", il, [Fe, E, X]),
      f("ffnGateInpShexp", il, [E], true, [E, 1]),
      w("ffnGateShexp", il, [E, Fs]),
      w("ffnUpShexp", il, [E, Fs]),
      w("ffnDownShexp", il, [Fs, E]),
    ];
  },
};

export function describeQwen35Moe(file: GgufFile): ModelDescription {
  return describeQwen35Family(file, moeFfn);
}
