// The K-quant, F16 and low-bit matmul paths against llama.cpp. tiny-code q8_0 is re-encoded in this test
// twice. First:
// the ffn_down / ssm_out matrices (the trunk's only ones whose rows are a multiple of 256) become
// Q4_K, Q5_K and Q6_K by layer, attn_gate and token_embd become F16, the rest stays Q8_0. Both
// engines then run the same file (llama.cpp through node-llama-cpp's CPU prebuilt, 2 threads, flash
// attention off) teacher-forced over two prompts + their greedy continuations from the committed
// oracle, with the acceptance metrics: top-1 agreement >= 99.5 % and mean |p_top diff| <= 0.01.
// The quantizers (test/helpers/reencode.ts) are simple ones written from the block layouts (spec §7);
// what is tested is that both engines read and multiply the same blocks the same way (Q8_K
// activations for K-quants, F16 activations for F16). For scale: the unmodified q8_0 file scores 99.77 % / 2.7e-3 on the same
// 435 positions (llama.cpp's batched kernels sum in other orders than its single-row ones).
// Second, the low-bit types (issue 10's bar, top-1 >= 99 %): ffn_down / ssm_out become Q2_K, Q3_K
// and IQ4_XS by layer, the 384-wide GDN input matrices Q4_0, Q5_0, IQ4_NL and MXFP4, the FFN gate /
// up matrices Q4_1 and Q5_1.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeModel } from "../../src/arch/describeModel.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { dequantize } from "../../src/native/dequantize.js";
import { FIXTURES, TINY_Q8, tempDir } from "../helpers/fixtures.js";
import { F16, IQ4_NL, IQ4_XS, kquantMix, MXFP4, Q2_K, Q3_K, Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K, Q8_0, reencode } from "../helpers/reencode.js";
import { NativeModel } from "../../src/native/NativeModel.js";

const SOURCE = TINY_Q8;

// llama.cpp's AVX2 CPU variants multiply batches of 8+ rows of the grid-based IQ types (IQ4_XS here)
// by an "IQ panel" GEMM that sums in another order than its vec_dot path — the path its own
// single-token decode takes, and the one every non-AVX2 variant runs. The prebuilt picks its variant
// by the CPU, so without this the oracle changed with the machine: on an AVX2-only AMD EPYC the
// low-bit agreement read 98.85 % (panel) against 99.08 % (vec_dot) and 99.54 % (the non-AVX2
// variant; 2026-12-02). GGML_NO_IQ_PANEL is llama.cpp's own switch for that A/B (ggml-cpu/iqp.cpp),
// read at its first IQ matmul; this file's worker is a child process, so llama.cpp sees it.
process.env.GGML_NO_IQ_PANEL = "1";

const oracle = JSON.parse(readFileSync(join(FIXTURES, "tiny-code-oracle.json"), "utf8")) as {
  models: Record<string, Array<{ promptTokens: number[]; greedy: number[] }>>;
};
const sequences = oracle.models["tiny-code-q8_0.gguf"]!.slice(0, 2).map((p) => [...p.promptTokens, ...p.greedy]);

function softmaxTop(logits: Float32Array | number[], off: number, n: number, tok: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[off + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[off + i]! - max);
  return Math.exp(logits[off + tok]! - max) / sum;
}

/** Teacher-forced over the oracle's first two sequences: both engines on `path`. */
async function againstLlama(path: string): Promise<{ agreement: number; meanDiff: number; positions: number }> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const peerModel = await llama.loadModel({ modelPath: path });
  const model = NativeModel.load(path, describeModel(parseGguf(path)));
  const V = model.description.hparams.nVocab;
  let agree = 0, positions = 0, sumDiff = 0;
  try {
    for (const tokens of sequences) {
      const context = await peerModel.createContext({ contextSize: 512, threads: 2, flashAttention: false, sequences: 1 });
      const peer = await context.getSequence().controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { logits: true } }]));
      await context.dispose();
      const session = model.createSession({ nCtx: 512, nThreads: 2 });
      const ours = session.eval(tokens, { logitRows: tokens.map((_, i) => i) }).logits;
      session.free();
      for (let i = 0; i < tokens.length; i++) {
        const peerLogits = peer[i]!.next.logits!;
        const [top] = peerLogits.entries().next().value as [Token, number];
        const row = new Float32Array(V);
        for (const [t, l] of peerLogits) row[t] = l;
        let ourTop = 0;
        for (let t = 1; t < V; t++) if (ours[i * V + t]! > ours[i * V + ourTop]!) ourTop = t;
        if (ourTop === top) agree++;
        sumDiff += Math.abs(softmaxTop(ours, i * V, V, top) - softmaxTop(row, 0, V, top));
        positions++;
      }
    }
  } finally {
    model.free();
    await peerModel.dispose();
  }
  return { agreement: agree / positions, meanDiff: sumDiff / positions, positions };
}

describe("K-quant and F16 weights: parity with llama.cpp on a re-encoded tiny-code", () => {
  let dir = "";
  let path = "";
  let counts = new Map<number, number>();
  beforeAll(() => {
    dir = tempDir("mtp-kquant-");
    path = join(dir, "tiny-code-mixed.gguf");
    counts = reencode(path, kquantMix);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it("the re-encoded file round-trips: each K-quant tensor dequantizes close to its source", () => {
    expect(counts.get(Q4_K)).toBe(3 + 2); // ffn_down of blocks 0, 3, 6; ssm_out of GDN layers 0, 6
    expect(counts.get(Q5_K)).toBe(3 + 2); // ffn_down 1, 4, 7; ssm_out 1, 4
    expect(counts.get(Q6_K)).toBe(3 + 2); // ffn_down 2, 5, 8 (the MTP block); ssm_out 2, 5
    expect(counts.get(F16)).toBe(6 + 1); // attn_gate of the 6 GDN layers, token_embd
    const src = parseGguf(SOURCE);
    const mixed = parseGguf(path);
    const srcBytes = readFileSync(SOURCE);
    const mixedBytes = readFileSync(path);
    for (const name of ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight", "blk.2.ffn_down.weight"]) {
      const a = src.tensorByName.get(name)!;
      const b = mixed.tensorByName.get(name)!;
      const x = dequantize(a.type, new Uint8Array(srcBytes.buffer, srcBytes.byteOffset + a.fileOffset, a.nBytes), a.nElements);
      const y = dequantize(b.type, new Uint8Array(mixedBytes.buffer, mixedBytes.byteOffset + b.fileOffset, b.nBytes), b.nElements);
      let err = 0, norm = 0;
      for (let i = 0; i < x.length; i++) {
        err += (x[i]! - y[i]!) ** 2;
        norm += x[i]! ** 2;
      }
      expect(Math.sqrt(err / norm)).toBeLessThan(b.type === Q4_K ? 0.12 : 0.06);
    }
  });

  it("teacher-forced top-1 agreement >= 99.5 % and mean |p_top diff| <= 0.01 against llama.cpp", async () => {
    const r = await againstLlama(path);
    console.log(`K-quant/F16 tiny-code: top-1 agreement ${(100 * r.agreement).toFixed(2)} % of ${r.positions}, mean |p_top diff| ${r.meanDiff.toExponential(2)}`);
    expect(r.agreement).toBeGreaterThanOrEqual(0.995);
    expect(r.meanDiff).toBeLessThanOrEqual(0.01);
  });
});

/** The low-bit re-encoding: 256-wide rows by layer, the 384-wide GDN inputs and FFN gate / up. */
function lowBitType(name: string, type: number): number {
  if (type !== Q8_0) return type;
  const m = /^blk\.(\d+)\.(ffn_down|ssm_out|attn_qkv|ffn_gate|ffn_up)\.weight$/.exec(name);
  if (!m) return type;
  const il = Number(m[1]);
  if (m[2] === "ffn_down" || m[2] === "ssm_out") return [Q2_K, Q3_K, IQ4_XS][il % 3]!;
  if (m[2] === "attn_qkv") return [Q4_0, Q5_0, IQ4_NL, MXFP4][(il < 3 ? il : il - 1) % 4]!; // GDN layers 0-2, 4-6
  return m[2] === "ffn_gate" ? Q4_1 : Q5_1;
}

describe("low-bit weights (Q4_0 … Q5_1, Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4): parity with llama.cpp on a re-encoded tiny-code", () => {
  let dir = "";
  let path = "";
  let counts = new Map<number, number>();
  beforeAll(() => {
    dir = tempDir("mtp-lowbit-");
    path = join(dir, "tiny-code-lowbit.gguf");
    counts = reencode(path, lowBitType);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("every low-bit type is in the file, and dequantizes close to its source", () => {
    for (const t of [Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4]) expect(counts.get(t), `type ${t}`).toBeGreaterThan(0);
    const src = parseGguf(SOURCE);
    const file = parseGguf(path);
    const srcBytes = readFileSync(SOURCE);
    const bytes = readFileSync(path);
    for (const t of file.tensors.filter((x) => x.type !== Q8_0 && x.type !== 0)) {
      const a = src.tensorByName.get(t.name)!;
      const x = dequantize(a.type, new Uint8Array(srcBytes.buffer, srcBytes.byteOffset + a.fileOffset, a.nBytes), a.nElements);
      const y = dequantize(t.type, new Uint8Array(bytes.buffer, bytes.byteOffset + t.fileOffset, t.nBytes), t.nElements);
      let err = 0, norm = 0;
      for (let i = 0; i < x.length; i++) {
        err += (x[i]! - y[i]!) ** 2;
        norm += x[i]! ** 2;
      }
      // 2-bit values carry the most error; every format stays far from noise (relative error 1)
      expect(Math.sqrt(err / norm), t.name).toBeLessThan(t.type === Q2_K ? 0.45 : 0.25);
    }
  });

  it("teacher-forced top-1 agreement >= 99 % and mean |p_top diff| <= 0.01 against llama.cpp (issue 10's bar)", async () => {
    const r = await againstLlama(path);
    console.log(`low-bit tiny-code: top-1 agreement ${(100 * r.agreement).toFixed(2)} % of ${r.positions}, mean |p_top diff| ${r.meanDiff.toExponential(2)}`);
    expect(r.agreement).toBeGreaterThanOrEqual(0.99);
    expect(r.meanDiff).toBeLessThanOrEqual(0.01);
  });
});
