/**
 * The qwen35 / qwen35moe model description: hyper-parameters, layer schedule, MTP tail and its
 * fallbacks, tensor validation, on the real tiny-code files and on synthetic models written by
 * the project's writer (including a MoE model with experts, shared expert and a MoE MTP block).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeModel } from "../../src/arch/describeModel.js";
import { estimateMemory } from "../../src/arch/memoryEstimate.js";
import { ModelDescriptionError } from "../../src/errors.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { GgufValueType } from "../../src/gguf/types.js";
import { kv, writeGguf, type GgufWriteSpec } from "../../src/gguf/writeGguf.js";
import { FIXTURES, materializeBf16Header, tempDir, TINY_Q8 } from "../helpers/fixtures.js";
import { syntheticModel, TINY_DENSE, TINY_MOE, type SyntheticOptions } from "../helpers/syntheticModel.js";

const dir = tempDir("mtp-arch-");
let n = 0;
function describeSpec(spec: GgufWriteSpec) {
  const path = join(dir, `m${n++}.gguf`);
  writeGguf(path, spec);
  return describeModel(parseGguf(path));
}
const describeOpts = (o: Partial<SyntheticOptions>) => describeSpec(syntheticModel({ ...TINY_DENSE, ...o }));

function modify(spec: GgufWriteSpec, f: (s: GgufWriteSpec) => void): GgufWriteSpec {
  const copy = { ...spec, kv: [...spec.kv], tensors: [...spec.tensors] };
  f(copy);
  return copy;
}

function expectDescriptionError(spec: GgufWriteSpec, pattern: RegExp) {
  let err: unknown;
  try {
    describeSpec(spec);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelDescriptionError);
  expect((err as Error).message).toMatch(pattern);
}

describe("tiny-code (real trained qwen35 with MTP)", () => {
  for (const [label, path] of [
    ["q8_0", TINY_Q8],
    ["bf16", materializeBf16Header()],
  ] as const) {
    it(label, () => {
      const d = describeModel(parseGguf(path));
      const hp = d.hparams;
      expect(hp.arch).toBe("qwen35");
      expect([hp.nLayer, hp.nMtp, hp.nBlockAll, hp.nVocab, hp.nEmbd]).toEqual([8, 1, 9, 8192, 384]);
      expect(d.layerKinds.map((k) => (k === "gdn" ? "G" : "A")).join("")).toBe("GGGAGGGA");
      expect([hp.nHead, hp.nHeadKv, hp.headDim, hp.rope.nDims]).toEqual([6, 2, 64, 16]);
      expect(hp.gdn).toEqual({ convKernel: 4, nKeyHeads: 4, nValueHeads: 8, keyHeadDim: 64, valueHeadDim: 64, convChannels: 1024 });
      expect(hp.rope.sections).toEqual([11, 11, 10, 0]);
      expect(d.nParams).toBe(23614560);
      expect(d.mtp).toEqual({
        layer: 8,
        embedTokens: "token_embd.weight",
        sharedHeadNorm: "blk.8.nextn.shared_head_norm.weight",
        sharedHeadHead: "output.weight",
        fallbacks: ["blk.8.nextn.embed_tokens.weight → token_embd.weight", "blk.8.nextn.shared_head_head.weight → output.weight"],
      });
      expect(d.lmHead).toBe("output.weight");
      expect(d.manifest.length).toBe(124);
      expect(d.unusedTensors).toEqual([]);
      expect(d.unsupportedTensors).toEqual([]);
      expect(d.manifest.filter((m) => m.layer === 8).map((m) => m.role)).toContain("nextnEhProj");
    });
  }
});

describe("synthetic dense qwen35", () => {
  it("derives the schedule from full_attention_interval when recurrent_layers is absent", () => {
    const d = describeOpts({ nLayer: 8, writeRecurrentLayers: false });
    expect(d.layerKinds.join(",")).toBe("gdn,gdn,gdn,attention,gdn,gdn,gdn,attention");
    expect(d.mtp?.layer).toBe(8);
  });

  it("a model without an MTP tail is valid, speculation unavailable", () => {
    const d = describeOpts({ nMtp: 0 });
    expect(d.mtp).toBeNull();
    expect(d.hparams.nLayer).toBe(4);
    const mem = estimateMemory(d, { ctx: 1024, draftMax: 0 });
    expect(mem.kvCacheBytes).toBe(1 * 1024 * 2 * 2 * 16 * 2); // 1 attention layer, F16 K+V, no MTP block
  });

  it("tied embeddings: LM head and MTP head fall back to token_embd", () => {
    const d = describeOpts({ tiedEmbeddings: true });
    expect(d.lmHead).toBe("token_embd.weight");
    expect(d.mtp?.sharedHeadHead).toBe("token_embd.weight");
  });

  it("memory estimate: KV of the attention layers (+ the MTP block's, one position more), GDN state × (2 + K) planes, Q8_0 repacked", () => {
    const d = describeOpts({});
    const m = estimateMemory(d, { ctx: 100, draftMax: 3 });
    expect(m.kvCacheBytes).toBe(1 * 100 * 2 * 2 * 16 * 2 + 1 * 101 * 2 * 2 * 16 * 2);
    const perGdn = (4 - 1) * (2 * 2 * 16 + 4 * 16) + 16 * 16 * 4;
    expect(m.gdnStateBytes).toBe(3 * perGdn * 4 * (2 + 3));
    expect(m.weightBytes).toBe(d.manifest.reduce((s, t) => s + t.nBytes, 0)); // no Q8_0 here
    const real = describeModel(parseGguf(TINY_Q8));
    const q8 = real.manifest.filter((t) => t.type === 8);
    expect(q8.length).toBeGreaterThan(0);
    expect(estimateMemory(real, { ctx: 16, draftMax: 0 }).weightBytes).toBe(
      real.manifest.reduce((s, t) => s + t.nBytes, 0) + q8.reduce((s, t) => s + (t.nBytes / 34) * 2, 0),
    );
    expect(m.scratchBytes).toBeGreaterThan(8 * d.hparams.nVocab * 4); // at least the logits of a chunk
    expect(m.totalBytes).toBe(m.weightBytes + m.kvCacheBytes + m.gdnStateBytes + m.scratchBytes);
  });
});

describe("synthetic qwen35moe (experts + shared expert + MoE MTP block)", () => {
  const spec = syntheticModel(TINY_MOE);
  it("is a few MB and described correctly", () => {
    const d = describeSpec(spec);
    expect(d.hparams.arch).toBe("qwen35moe");
    expect(d.hparams.moe).toEqual({ nExpert: 16, nExpertUsed: 4, expertFfnLength: 64, sharedExpertFfnLength: 128, mergedGateUp: false });
    expect(d.layerKinds.join(",")).toBe("gdn,gdn,gdn,attention");
    const mtpRoles = d.manifest.filter((m) => m.layer === 4).map((m) => m.role);
    for (const role of ["ffnGateInp", "ffnGateExps", "ffnUpExps", "ffnDownExps", "ffnGateInpShexp", "ffnUpShexp", "nextnEhProj"]) {
      expect(mtpRoles).toContain(role);
    }
    expect(d.manifest.find((m) => m.name === "blk.0.ffn_down_exps.weight")?.ne).toEqual([64, 128, 16]);
    const bytes = spec.tensors.reduce((s, t) => s + t.data.byteLength, 0);
    expect(bytes).toBeGreaterThan(1 << 20);
    expect(bytes).toBeLessThan(16 << 20);
  });

  it("accepts merged gate_up experts and a [E, 1] shared-expert gate", () => {
    const merged = modify(spec, (s) => {
      s.tensors = s.tensors.flatMap((t) => {
        if (t.name.endsWith("ffn_up_exps.weight")) return [];
        if (t.name.endsWith("ffn_gate_exps.weight")) {
          const data = new Uint8Array(t.data.byteLength * 2);
          return [{ ...t, name: t.name.replace("ffn_gate_exps", "ffn_gate_up_exps"), ne: [128, 128, 16], data }];
        }
        if (t.name.endsWith("ffn_gate_inp_shexp.weight")) return [{ ...t, ne: [128, 1] }];
        return [t];
      });
    });
    const d = describeSpec(merged);
    expect(d.hparams.moe?.mergedGateUp).toBe(true);
    expect(d.manifest.some((m) => m.role === "ffnGateUpExps" && m.layer === 4)).toBe(true);
  });

  it("a MoE file without expert_count is an error naming the key", () => {
    expectDescriptionError(
      modify(spec, (s) => (s.kv = s.kv.filter((e) => e.key !== "qwen35moe.expert_count"))),
      /qwen35moe\.expert_count: expected a positive expert count/,
    );
  });
});

describe("description errors name the key or tensor, expected and actual", () => {
  const base = syntheticModel(TINY_DENSE);
  const setKv = (key: string, entry: (typeof base.kv)[number] | null) =>
    modify(base, (s) => {
      s.kv = s.kv.filter((e) => e.key !== key);
      if (entry) s.kv.push(entry);
    });

  it("unknown architecture", () => {
    expectDescriptionError(setKv("general.architecture", kv.str("general.architecture", "llama")), /general\.architecture: expected one of "qwen35", "qwen35moe", got "llama"/);
  });
  it("missing required key", () => {
    expectDescriptionError(setKv("qwen35.ssm.conv_kernel", null), /qwen35\.ssm\.conv_kernel: required metadata key is missing/);
  });
  it("key of the wrong type", () => {
    expectDescriptionError(setKv("qwen35.embedding_length", kv.str("qwen35.embedding_length", "64")), /qwen35\.embedding_length: expected an unsigned integer, got string "64"/);
  });
  it("rope sections must have 4 entries", () => {
    expectDescriptionError(
      setKv("qwen35.rope.dimension_sections", kv.arr("qwen35.rope.dimension_sections", GgufValueType.INT32, [1, 2, 3])),
      /rope\.dimension_sections: expected exactly 4 entries, got 3/,
    );
  });
  it("recurrent_layers of the wrong length", () => {
    expectDescriptionError(
      setKv("qwen35.attention.recurrent_layers", kv.arr("qwen35.attention.recurrent_layers", GgufValueType.BOOL, [true, false])),
      /recurrent_layers: expected 5 entries \(block_count\), got 2/,
    );
  });
  it("value head dim must equal key head dim", () => {
    expectDescriptionError(setKv("qwen35.ssm.inner_size", kv.u32("qwen35.ssm.inner_size", 80)), /ssm\.inner_size: expected time_step_rank × state_size = 64/);
  });
  it("missing tensor", () => {
    expectDescriptionError(
      modify(base, (s) => (s.tensors = s.tensors.filter((t) => t.name !== "blk.1.ssm_a"))),
      /tensor 'blk\.1\.ssm_a': required tensor is missing \(layer 1 is Gated DeltaNet\)/,
    );
  });
  it("missing MTP tensor", () => {
    expectDescriptionError(
      modify(base, (s) => (s.tensors = s.tensors.filter((t) => t.name !== "blk.4.nextn.eh_proj.weight"))),
      /tensor 'blk\.4\.nextn\.eh_proj\.weight': required tensor is missing \(block 4 is the MTP block\)/,
    );
  });
  it("wrong shape", () => {
    expectDescriptionError(
      modify(base, (s) => {
        s.tensors = s.tensors.map((t) => (t.name === "blk.3.attn_q.weight" ? { ...t, ne: [64, 64], data: t.data.subarray(0, 64 * 64 * 4) } : t));
      }),
      /tensor 'blk\.3\.attn_q\.weight': expected shape \[64, 128\], got \[64, 64\]/,
    );
  });
  it("a norm stored quantized", () => {
    expectDescriptionError(
      modify(base, (s) => {
        s.tensors = s.tensors.map((t) => (t.name === "output_norm.weight" ? { ...t, type: 8, ne: [64], data: new Uint8Array(68) } : t));
      }),
      /tensor 'output_norm\.weight': expected type F32, F16 or BF16, got Q8_0/,
    );
  });
  it("an integer type as weight storage", () => {
    expectDescriptionError(
      modify(base, (s) => {
        s.tensors = s.tensors.map((t) => (t.name === "blk.0.ffn_up.weight" ? { ...t, type: 26 } : t));
      }),
      /tensor 'blk\.0\.ffn_up\.weight': type I32 is not a weight storage type/,
    );
  });
  it("projection biases are refused rather than ignored", () => {
    expectDescriptionError(
      modify(base, (s) => s.tensors.push({ name: "blk.3.attn_q.bias", type: 0, ne: [128], data: new Uint8Array(512) })),
      /tensor 'blk\.3\.attn_q\.bias': projection biases \/ scale tensors are not supported/,
    );
  });
  it("more than one MTP block", () => {
    expectDescriptionError(setKv("qwen35.nextn_predict_layers", kv.u32("qwen35.nextn_predict_layers", 2)), /only 1 NextN\/MTP block is supported .*got 2/);
  });

  it("types the engine cannot run yet are reported per tensor, not fatal", () => {
    const d = describeSpec(
      modify(base, (s) => {
        // NVFP4 (id 40): 36 bytes per 64 values; ffn_up is (64, 128) here
        s.tensors = s.tensors.map((t) => (t.name === "blk.0.ffn_up.weight" ? { ...t, type: 40, data: new Uint8Array(((64 * 128) / 64) * 36) } : t));
      }),
    );
    expect(d.unsupportedTensors).toEqual([{ name: "blk.0.ffn_up.weight", type: 40, reason: "type NVFP4 is not supported by the engine yet" }]);
  });

  it("extra tensors are reported as unused", () => {
    const d = describeSpec(modify(base, (s) => s.tensors.push({ name: "rope_freqs.weight", type: 0, ne: [8], data: new Uint8Array(32) })));
    expect(d.unusedTensors).toEqual(["rope_freqs.weight"]);
  });
});

describe("tiny-moe (real qwen35moe written by llama.cpp's official converter)", () => {
  it("expert, shared-expert and MoE MTP tensors are found with their shapes", () => {
    const d = describeModel(parseGguf(join(FIXTURES, "tiny-moe-bf16.gguf")));
    expect(d.hparams.arch).toBe("qwen35moe");
    expect(d.hparams.moe).toEqual({ nExpert: 16, nExpertUsed: 4, expertFfnLength: 64, sharedExpertFfnLength: 128, mergedGateUp: false });
    expect(d.layerKinds.join(",")).toBe("gdn,gdn,gdn,attention");
    expect(d.mtp?.layer).toBe(4);
    expect(d.unusedTensors).toEqual([]);
    expect(d.nParams).toBe(3639928);
    const byName = new Map(d.manifest.map((m) => [m.name, m]));
    expect(byName.get("blk.4.ffn_gate_exps.weight")?.ne).toEqual([128, 64, 16]);
    expect(byName.get("blk.4.ffn_down_exps.weight")?.ne).toEqual([64, 128, 16]);
    expect(byName.get("blk.0.ffn_gate_inp.weight")?.ne).toEqual([128, 16]);
    expect(byName.get("blk.4.ffn_gate_inp_shexp.weight")?.ne).toEqual([128, 1]); // the converter writes [E, 1]
    expect(byName.get("blk.4.nextn.eh_proj.weight")?.ne).toEqual([256, 128]);
  });
});
