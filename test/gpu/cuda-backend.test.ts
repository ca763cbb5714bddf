/**
 * The CUDA backend against the CPU backend and against itself, on tiny-code and its 16 held-out
 * prompts (run by `npm run test:gpu`; skipped, visibly, where libmtp reports no CUDA backend):
 *  (a) teacher-forced over every prompt position: CUDA's top-1 equals the CPU's at >= 99.5 % of the
 *      positions and the logits' NMSE (Σ (cuda − cpu)² / Σ cpu²) is <= 1e-4 — q8_0, a K-quant
 *      re-encoding, the MoE fixture (qwen35moe, bf16), bf16 where ../shared has it, and the
 *      llama-quantize files of .cache/quant whose types CUDA runs (the low-bit kernels);
 *  (b) greedy MTP K = 1..4 is token-identical to K = 0 on CUDA (192 tokens per prompt; q8_0, the
 *      K-quant re-encoding, the MoE fixture, and the IQ2_XXS and MXFP4 MoE files of .cache/quant);
 *  (c) CUDA graphs and the eager path (MTP_CUDA_GRAPHS=0) give identical tokens;
 *  (d) rollback: after keep(n) the next logits equal, bitwise, a fresh session's fed the kept
 *      tokens; one batch and token-by-token evaluation give bitwise the same logits (row invariance);
 *  (e) greedy steps run on the device as one graph (greedy_step) give the tokens, drafted and
 *      acceptance of the loop's composed steps (MTP_CUDA_GREEDY_STEP=0), K = 0..4;
 *  (f) inspect-gguf's memory estimate is within 10 % of what a model and a session allocate on the
 *      device (mtp_abi_get_allocated_device_bytes), and the device's free memory (cudaMemGetInfo)
 *      fell by that plus no more than the driver's own few MiB;
 *  (g) rows attending more than 512 positions (summed in 512-position chunks, cuda/cpu/attention-order.h),
 *      tiny-code q8_0: (a) over two 1200-token passages (test/fixtures/tiny-code-long-oracle.json),
 *      (d)'s row invariance for rows 500 … 539, and (b) from 480- and 1100-token prompts;
 *  (h) sampled decoding with K = 0 and 1 gives the CPU backend's tokens for the same seed (q8_0: the
 *      trunk's rows and the MTP head's first row agree to the bit, and the sampling candidates come
 *      from the device). Not K > 1: a chained draft row reads the head's own output h', whose last
 *      bits differ between the backends, so a draw near a boundary may go the other way (measured
 *      on the device with top-k off too: 1 of 6 prompts at K = 3 parted after 42 tokens).
 *  (i) the device-run sampled step (the draft chain sampled on the device, one round trip a step)
 *      gives the composed sampled step's tokens, drafted and accepted counts, K = 0..4.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeModel } from "../../src/arch/describeModel.js";
import { estimateMemory } from "../../src/arch/memoryEstimate.js";
import { CUDA_WEIGHT_TYPES } from "../../src/arch/ModelDescription.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { openModel, type OpenedModel } from "../../src/engine/openModel.js";
import { MtpBackend } from "../../src/native/abi.js";
import { loadNativeLibrary } from "../../src/native/loadNativeLibrary.js";
import { allocatedDeviceBytes, deviceMemory, type GenerateOptions, type NativeSession } from "../../src/native/NativeModel.js";
import { FIXTURES, ROOT, TINY_BF16, TINY_Q8, tempDir } from "../helpers/fixtures.js";
import { argmax } from "../helpers/logits.js";
import { kquantMix, reencode } from "../helpers/reencode.js";
import { expectRollbackMatchesFresh } from "../helpers/rollback.js";

const hasCuda = (loadNativeLibrary().backends & (1 << MtpBackend.CUDA)) !== 0;
const skipNote = hasCuda ? "" : " (skipped: libmtp reports no CUDA backend — built without nvcc, or no GPU/driver here)";
const PROMPTS = JSON.parse(readFileSync(join(FIXTURES, "tokenizer/prompts.json"), "utf8")) as string[];
const N_PREDICT = 192;
const LONG = 600_000;


function greedy(m: OpenedModel, draftMax: number): GenerateOptions {
  return { draftMax, nPredict: N_PREDICT, temperature: 0, topK: 40, topP: 0.95, minP: 0.05, seed: 0, eogTokens: m.tokenizer.eogIds };
}

/** All tokens of one greedy generation, its stats and the seconds spent after the prompt. */
function generate(session: NativeSession, prompt: number[], o: GenerateOptions) {
  session.generateBegin(prompt, o);
  const t0 = performance.now();
  const tokens: number[] = [];
  for (;;) {
    const c = session.generateNext(N_PREDICT);
    if (c.tokens.length === 0) return { tokens, stats: c.stats, seconds: (performance.now() - t0) / 1000 };
    tokens.push(...c.tokens);
  }
}

/** Greedy MTP K = 1..4 gives K = 0's tokens on every prompt; logs each K's speed and acceptance. */
function expectGreedyInvariant(m: OpenedModel, prompts: string[]): void {
  const session = m.native.createSession({ nCtx: 1024, nDraftMax: 4 });
  // Per K: tokens, decode seconds (after the prompt), drafted, accepted — for the log.
  const totals = [0, 1, 2, 3, 4].map(() => ({ tokens: 0, seconds: 0, drafted: 0, accepted: 0 }));
  const timed = (prompt: number[], k: number) => {
    const r = generate(session, prompt, greedy(m, k));
    const t = totals[k]!;
    t.seconds += r.seconds;
    t.tokens += r.tokens.length;
    t.drafted += r.stats.nDrafted;
    t.accepted += r.stats.nAccepted;
    return r;
  };
  for (const [p, text] of prompts.entries()) {
    const prompt = m.tokenizer.encode(text, { parseSpecial: true });
    const plain = timed(prompt, 0);
    expect(plain.tokens.length, `prompt ${p}`).toBeGreaterThan(0);
    for (let k = 1; k <= 4; k++) {
      const spec = timed(prompt, k);
      expect(spec.tokens, `prompt ${p}, K=${k}`).toEqual(plain.tokens);
      expect(spec.stats.nAccepted).toBeLessThanOrEqual(spec.stats.nDrafted);
    }
  }
  const lines = totals.map(
    (t, k) =>
      `K=${k}: ${(t.tokens / t.seconds).toFixed(0)} tok/s, ${((1e6 * t.seconds) / t.tokens).toFixed(0)} us/token` +
      (k ? `, accepted ${t.accepted}/${t.drafted}` : ""),
  );
  console.log(`${basename(m.path)}: CUDA greedy speculative == plain on ${prompts.length} prompts × ${N_PREDICT} tokens:\n  ${lines.join("\n  ")}`);
  session.free();
}

/**
 * (e), (i): a session whose steps run on the device and one made with `env`=0 (the loop's composed
 * steps) give the same tokens, drafted, accepted and step counts on 8 prompts for K = 0..4; logs
 * both's µs/token.
 */
function expectStepMatchesComposed(m: OpenedModel, env: string, label: string, options: (k: number) => GenerateOptions): void {
  const fused = m.native.createSession({ nCtx: 1024, nDraftMax: 4 });
  process.env[env] = "0";
  let composed: NativeSession;
  try {
    composed = m.native.createSession({ nCtx: 1024, nDraftMax: 4 });
  } finally {
    delete process.env[env];
  }
  const secs = { fused: [0, 0, 0, 0, 0], composed: [0, 0, 0, 0, 0] };
  let tokens = 0;
  for (const text of PROMPTS.slice(0, 8)) {
    const prompt = m.tokenizer.encode(text, { parseSpecial: true });
    for (let k = 0; k <= 4; k++) {
      const a = generate(fused, prompt, options(k));
      const b = generate(composed, prompt, options(k));
      expect(a.tokens, `K=${k}`).toEqual(b.tokens);
      expect([a.stats.nDrafted, a.stats.nAccepted, a.stats.nSteps], `K=${k}`).toEqual([b.stats.nDrafted, b.stats.nAccepted, b.stats.nSteps]);
      secs.fused[k]! += a.seconds;
      secs.composed[k]! += b.seconds;
      if (k === 0) tokens += a.tokens.length;
    }
  }
  const us = (s: number) => ((1e6 * s) / tokens).toFixed(0);
  console.log(`${label}, 8 prompts × ${N_PREDICT} tokens, µs/token:\n  ` +
    [0, 1, 2, 3, 4].map((k) => `K=${k}: ${us(secs.fused[k]!)} vs ${us(secs.composed[k]!)}`).join("\n  "));
  fused.free();
  composed.free();
}

/**
 * (a): every sequence teacher-forced through both backends (rows from `firstRow` on): CUDA's top-1
 * equals the CPU's at >= 99.5 % of the rows and the logits' NMSE is <= 1e-4.
 */
function expectCudaMatchesCpu(label: string, cpu: OpenedModel, cuda: OpenedModel, sequences: number[][], firstRow: number, nCtx: number) {
  const V = cpu.description.hparams.nVocab;
  const sc = cpu.native.createSession({ nCtx });
  const sg = cuda.native.createSession({ nCtx });
  let agree = 0;
  let positions = 0;
  let num = 0;
  let den = 0;
  for (const tokens of sequences) {
    const rows = tokens.map((_, i) => i).slice(firstRow);
    sc.reset();
    sg.reset();
    const a = sc.eval(tokens, { logitRows: rows }).logits;
    const b = sg.eval(tokens, { logitRows: rows }).logits;
    for (let r = 0; r < rows.length; r++) {
      if (argmax(a, r * V, V) === argmax(b, r * V, V)) agree++;
      positions++;
    }
    for (let i = 0; i < a.length; i++) {
      num += (b[i]! - a[i]!) ** 2;
      den += a[i]! ** 2;
    }
  }
  sc.free();
  sg.free();
  const agreement = agree / positions;
  const nmse = num / den;
  console.log(`${label}: CUDA vs CPU top-1 agreement ${(100 * agreement).toFixed(2)} % of ${positions} positions, NMSE ${nmse.toExponential(2)}`);
  expect(agreement).toBeGreaterThanOrEqual(0.995);
  expect(nmse).toBeLessThanOrEqual(1e-4);
}

function parity(label: string, path: string) {
  describe.skipIf(!hasCuda || !existsSync(path))(`CUDA vs CPU, ${label}${skipNote || (existsSync(path) ? "" : " (skipped: model file absent)")}`, () => {
    let cpu: OpenedModel;
    let cuda: OpenedModel;
    beforeAll(() => {
      cpu = openModel(path, "cpu");
      cuda = openModel(path, "cuda");
    });
    afterAll(() => {
      cpu?.native.free();
      cuda?.native.free();
    });

    it("(a) teacher-forced over the 16 prompts: top-1 agreement >= 99.5 %, logits NMSE <= 1e-4", () => {
      const sequences = PROMPTS.map((text) => cpu.tokenizer.encode(text, { parseSpecial: true }));
      expectCudaMatchesCpu(label, cpu, cuda, sequences, 0, 1024);
    }, LONG);
  });
}

parity("tiny-code q8_0", TINY_Q8);
parity("tiny-code bf16", TINY_BF16);

// tiny-code with its ffn_down / ssm_out matrices re-encoded as Q4_K, Q5_K and Q6_K
// (test/helpers/reencode.ts): the K-quant kernels at model level.
const KQUANT = hasCuda ? join(tempDir("mtp-gpu-kquant-"), "tiny-code-kquant.gguf") : "";
if (KQUANT) reencode(KQUANT, kquantMix);
parity("tiny-code K-quant mix", KQUANT);

// The MoE fixture: routing, the experts' and the shared expert's FFNs in the trunk and the MTP block.
const TINY_MOE = join(FIXTURES, "tiny-moe-bf16.gguf");
parity("tiny-moe bf16 (qwen35moe)", TINY_MOE);

/** (b) on the first 4 prompts of the model at `path`, opened for the test alone. */
function greedyInvariantOn4(label: string, path: string) {
  describe.skipIf(!hasCuda)(`CUDA decoding invariants, ${label}${skipNote}`, () => {
    it("(b) greedy K = 1..4 is token-identical to K = 0 on 4 prompts", () => {
      const m = openModel(path, "cuda");
      try {
        expectGreedyInvariant(m, PROMPTS.slice(0, 4));
      } finally {
        m.native.free();
      }
    }, LONG);
  });
}

greedyInvariantOn4("tiny-moe bf16 (qwen35moe)", TINY_MOE);
greedyInvariantOn4("tiny-code K-quant mix", KQUANT);

// The llama-quantize files of scripts/make-quant-fixtures.mjs (.cache/quant; skipped where absent)
// whose every tensor type CUDA runs: the low-bit kernels (Q2_K, Q3_K, Q4_0, Q5_0, IQ2_*, IQ3_*,
// IQ4_NL, IQ4_XS, MXFP4) at model level. Files with Q4_1 / Q5_1 tensors stay on the CPU backend.
const QUANT_DIR = join(ROOT, ".cache/quant");
const QUANT_FILES = [
  "tiny-code-IQ2_XXS.gguf", "tiny-code-IQ2_XS.gguf", "tiny-code-IQ2_M.gguf", "tiny-code-IQ3_XXS.gguf", "tiny-code-IQ3_S.gguf",
  "tiny-code-IQ4_XS.gguf", "tiny-code-Q4_K_M.gguf", "tiny-moe-MXFP4_MOE.gguf",
];
for (const file of QUANT_FILES) {
  const path = join(QUANT_DIR, file);
  const runs = existsSync(path) && describeModel(parseGguf(path)).manifest.every((t) => CUDA_WEIGHT_TYPES.has(t.type));
  parity(file, runs ? path : "");
}
for (const file of ["tiny-code-IQ2_XXS.gguf", "tiny-moe-MXFP4_MOE.gguf"]) {
  const path = join(QUANT_DIR, file);
  if (existsSync(path)) greedyInvariantOn4(file, path);
}

describe.skipIf(!hasCuda)(`CUDA decoding invariants, tiny-code q8_0${skipNote}`, () => {
  let m: OpenedModel;
  beforeAll(() => {
    m = openModel(TINY_Q8, "cuda");
  });
  afterAll(() => m?.native.free());

  it("(b) greedy K = 1..4 is token-identical to K = 0 on all 16 prompts", () => expectGreedyInvariant(m, PROMPTS), LONG);

  it("(h) sampled decoding (T 0.8, top-k 40, K = 0 and 1) gives the CPU backend's tokens for the same seed", () => {
    // The candidates come from the device (kernels/top-logits.cu) and the trunk's and the MTP head's
    // first row's logits are the CPU's bit for bit on this file, so the same seed draws the same
    // tokens (K > 1 chains rows on h', see the header).
    const cpu = openModel(TINY_Q8, "cpu");
    const sc = cpu.native.createSession({ nCtx: 1024, nDraftMax: 3 });
    const sg = m.native.createSession({ nCtx: 1024, nDraftMax: 3 });
    for (const text of PROMPTS.slice(0, 4)) {
      const prompt = m.tokenizer.encode(text, { parseSpecial: true });
      for (const k of [0, 1]) {
        const o = { ...greedy(m, k), temperature: 0.8, nPredict: 64, seed: 7 };
        expect(generate(sg, prompt, o).tokens, `K=${k}`).toEqual(generate(sc, prompt, o).tokens);
      }
    }
    sc.free();
    sg.free();
    cpu.native.free();
  }, LONG);

  it("(c) CUDA graphs and the eager path give identical tokens (K = 0 and K = 3)", () => {
    const graphs = m.native.createSession({ nCtx: 1024, nDraftMax: 3 });
    process.env.MTP_CUDA_GRAPHS = "0";
    let eager: NativeSession;
    try {
      eager = m.native.createSession({ nCtx: 1024, nDraftMax: 3 });
    } finally {
      delete process.env.MTP_CUDA_GRAPHS;
    }
    for (const text of PROMPTS.slice(0, 4)) {
      const prompt = m.tokenizer.encode(text, { parseSpecial: true });
      for (const k of [0, 3]) {
        expect(generate(eager, prompt, greedy(m, k)).tokens, `K=${k}`).toEqual(generate(graphs, prompt, greedy(m, k)).tokens);
      }
    }
    graphs.free();
    eager.free();
  }, LONG);

  it("(e) the device-run greedy step equals the composed one: tokens, drafted, accepted (K = 0..4)", () =>
    expectStepMatchesComposed(m, "MTP_CUDA_GREEDY_STEP", "greedy_step vs composed steps", (k) => greedy(m, k)), LONG);

  it("(i) the device-run sampled step equals the composed one: tokens, drafted, accepted (T 0.8, top-k 40, K = 0..4)", () =>
    // The same candidates either way; the draft chain's distributions and draws come from the
    // device's chain (kernels/sample.cu) in one, the host's in the other.
    expectStepMatchesComposed(m, "MTP_CUDA_SAMPLED_STEP", "sampled_step vs composed steps (T 0.8)", (k) => ({
      ...greedy(m, k),
      temperature: 0.8,
      seed: 11,
    })), LONG);

  it("(d) rollback: the next logits after keep(n) equal a fresh session's, bitwise, for every cut point", () => expectRollbackMatchesFresh(m));

  it("(d) row invariance: one batch and token-by-token evaluation give bitwise the same logits and h_final", () => {
    const tokens = m.tokenizer.encode(PROMPTS[1]!, { parseSpecial: true }).slice(0, 40);
    const all = tokens.map((_, i) => i);
    const s = m.native.createSession({ nCtx: 128 });
    const one = s.eval(tokens, { logitRows: all, hidden: true });
    s.reset();
    const V = m.description.hparams.nVocab;
    const E = m.description.hparams.nEmbd;
    for (const [i, t] of tokens.entries()) {
      const r = s.eval([t], { hidden: true });
      expect(Buffer.from(r.logits.buffer).equals(Buffer.from(one.logits.buffer, i * V * 4, V * 4)), `logits row ${i}`).toBe(true);
      expect(Buffer.from(r.hidden!.buffer).equals(Buffer.from(one.hidden!.buffer, i * E * 4, E * 4)), `hidden row ${i}`).toBe(true);
    }
    s.free();
  });
});

describe.skipIf(!hasCuda)(`CUDA long rows, tiny-code q8_0${skipNote}`, () => {
  const passages = (JSON.parse(readFileSync(join(FIXTURES, "tiny-code-long-oracle.json"), "utf8")) as { passages: number[][] }).passages;
  let cpu: OpenedModel;
  let m: OpenedModel;
  beforeAll(() => {
    cpu = openModel(TINY_Q8, "cpu");
    m = openModel(TINY_Q8, "cuda");
  });
  afterAll(() => {
    cpu?.native.free();
    m?.native.free();
  });

  it("(g) teacher-forced over 2 × 1200 tokens: top-1 agreement with the CPU >= 99.5 %, logits NMSE <= 1e-4", () => {
    expectCudaMatchesCpu("long rows", cpu, m, passages, 400, 2048);
  }, LONG);

  it("(g) rows 500 … 539 in one batch and one by one: bitwise the same logits", () => {
    const V = m.description.hparams.nVocab;
    const tokens = passages[1]!.slice(0, 540);
    const s = m.native.createSession({ nCtx: 1024 });
    s.eval(tokens.slice(0, 500), { logitRows: [] });
    const rest = tokens.slice(500);
    const batch = s.eval(rest, { logitRows: rest.map((_, i) => i) }).logits;
    s.reset();
    s.eval(tokens.slice(0, 500), { logitRows: [] });
    for (const [i, t] of rest.entries()) {
      const r = s.eval([t]).logits;
      expect(Buffer.from(r.buffer).equals(Buffer.from(batch.buffer, i * V * 4, V * 4)), `logits row ${500 + i}`).toBe(true);
    }
    s.free();
  }, LONG);

  it("(g) greedy K = 1..4 is token-identical to K = 0 from 480- and 1100-token prompts (128 tokens)", () => {
    const s = m.native.createSession({ nCtx: 2048, nDraftMax: 4 });
    for (const prompt of [passages[0]!.slice(0, 480), passages[1]!.slice(0, 1100)]) {
      const o = { ...greedy(m, 0), nPredict: 128, eogTokens: [] };
      const plain = generate(s, prompt, o).tokens;
      expect(plain.length).toBe(128);
      for (let k = 1; k <= 4; k++) expect(generate(s, prompt, { ...o, draftMax: k }).tokens, `K=${k}, ${prompt.length}-token prompt`).toEqual(plain);
    }
    s.free();
  }, LONG);
});

describe.skipIf(!hasCuda)(`CUDA memory, tiny-code q8_0${skipNote}`, () => {
  it("(f) the memory estimate is within 10 % of what a model and a session allocate on the device", () => {
    const ctx = 4096;
    const k = 3;
    const before = deviceMemory().free;
    const allocatedBefore = allocatedDeviceBytes();
    const m = openModel(TINY_Q8, "cuda");
    const s = m.native.createSession({ nCtx: ctx, nDraftMax: k });
    // A prompt that nearly fills the context, so the MTP input rows take what the estimate counts.
    const unit = m.tokenizer.encode(PROMPTS.join("\n"), { parseSpecial: true });
    const prompt: number[] = [];
    while (prompt.length < ctx - 200) prompt.push(...unit);
    generate(s, prompt.slice(0, ctx - 200), { ...greedy(m, k), nPredict: 64 });
    const allocated = allocatedDeviceBytes() - allocatedBefore;
    const used = before - deviceMemory().free;
    const est = estimateMemory(m.description, { ctx, draftMax: k });
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    console.log(`device memory: model + session allocated ${mib(allocated)} MiB (the device's free memory fell by ${mib(used)} MiB, ` +
      `the rest the driver's: kernels, graphs, granularity); estimate ${mib(est.totalBytes)} MiB ` +
      `(weights ${mib(est.weightBytes)}, KV ${mib(est.kvCacheBytes)}, GDN ${mib(est.gdnStateBytes)}, scratch ${mib(est.scratchBytes)})`);
    expect(Math.abs(est.totalBytes - allocated) / allocated).toBeLessThanOrEqual(0.1);
    // Nothing allocated outside the arenas the count covers (a cuBLAS workspace, say) beyond driver noise.
    expect(used).toBeGreaterThanOrEqual(allocated);
    expect(used - allocated).toBeLessThan(16 * 2 ** 20);
    s.free();
    m.native.free();
  }, LONG);
});
