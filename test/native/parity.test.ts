// Parity with llama.cpp (node-llama-cpp 3.22.1's CPU prebuilt, the oracle recorded by
// scripts/make-oracle.mjs in test/fixtures/tiny-code-oracle.json and tiny-moe-oracle.json) on
// tiny-code's 16 prompts, for tiny-code (qwen35) and the MoE fixture (qwen35moe):
//  - teacher-forced over the 128 positions that predict llama.cpp's greedy continuation: our top-1
//    agrees at >= 99.5 % of positions, and the probability we give llama.cpp's top token differs from
//    llama.cpp's by <= 0.01 on average;
//  - free-running greedy 128 tokens identical on >= 15 of 16 prompts for bf16 (the issue's target).
//    The issue sets no greedy target for q8_0; measured 13/16 (the divergences start at near-ties,
//    where llama.cpp's own prefill and decode kernels sum in different orders), so q8_0 is held to
//    a regression floor of 12/16, which also keeps a free-running check in CI without the bf16 file.
// Numerics mirrored from llama.cpp's CPU backend (spec §3.11): activations quantized to Q8_0 with
// the x86 AVX rule for Q8_0 weights (Q8_K for K-quants), rounded to BF16 for BF16 weights; F16 KV
// cache; q rounded to F16 before q·K and softmax weights rounded to F16 before they weight V (the
// oracle runs with flash attention off); RMS norms accumulated in double; the fused GDN recurrence's
// operation order. Not mirrored: the SIMD summation order inside dot products (float rounding only).
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeModel } from "../../src/arch/describeModel.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { FIXTURES, ROOT, TINY_BF16, TINY_Q8 } from "../helpers/fixtures.js";
import { argmax, probability } from "../helpers/logits.js";
import { NativeModel, type NativeSession } from "../../src/native/NativeModel.js";

interface OraclePrompt {
  prompt: number;
  promptTokens: number[];
  greedy: number[];
  pTop: number[];
}
interface Oracle {
  nodeLlamaCpp: string;
  llamaCpp: string;
  models: Record<string, OraclePrompt[]>;
}

const readOracle = (file: string) => JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as Oracle;
const DENSE_ORACLE = readOracle("tiny-code-oracle.json");
const MOE_ORACLE = readOracle("tiny-moe-oracle.json");
const BF16 = TINY_BF16;
const Q8_0 = TINY_Q8;



function parity(path: string, oracleKey: string, minIdenticalGreedy: number, oracle = DENSE_ORACLE, minAgreement = 0.995) {
  let model: NativeModel;
  let session: NativeSession;
  let V = 0;
  beforeAll(() => {
    model = NativeModel.load(path, describeModel(parseGguf(path)));
    session = model.createSession({ nCtx: 1024, nThreads: 2 });
    V = model.description.hparams.nVocab;
  });
  afterAll(() => model?.free());
  const prompts = oracle.models[oracleKey]!;

  it(`teacher-forced: top-1 agreement >= ${100 * minAgreement} % and mean |p_top diff| <= 0.01 (llama.cpp ${oracle.llamaCpp})`, async () => {
    let agree = 0;
    let positions = 0;
    let sumDiff = 0;
    for (const p of prompts) {
      const nP = p.promptTokens.length;
      const tokens = [...p.promptTokens, ...p.greedy.slice(0, -1)];
      const rows = p.greedy.map((_, i) => nP - 1 + i);
      session.reset();
      await yieldToEventLoop(); // long native calls: let vitest's worker RPC breathe between prompts
      const { logits } = session.eval(tokens, { logitRows: rows });
      p.greedy.forEach((tok, i) => {
        if (argmax(logits, i * V, V) === tok) agree++;
        sumDiff += Math.abs(probability(logits, i * V, V, tok) - p.pTop[i]!);
        positions++;
      });
    }
    const agreement = agree / positions;
    const meanDiff = sumDiff / positions;
    console.log(`${oracleKey}: top-1 agreement ${(100 * agreement).toFixed(2)} % of ${positions}, mean |p_top diff| ${meanDiff.toExponential(2)}`);
    expect(positions).toBe(16 * 128);
    expect(agreement).toBeGreaterThanOrEqual(minAgreement);
    expect(meanDiff).toBeLessThanOrEqual(0.01);
  });

  it(`free-running greedy 128 tokens identical on >= ${minIdenticalGreedy} of 16 prompts`, async () => {
    let identical = 0;
    const firstDivergence: number[] = [];
    for (const p of prompts) {
      await yieldToEventLoop();
      session.reset();
      let { logits } = session.eval(p.promptTokens);
      const ours: number[] = [];
      for (let i = 0; i < p.greedy.length; i++) {
        const tok = argmax(logits, 0, V);
        ours.push(tok);
        if (i + 1 < p.greedy.length) ({ logits } = session.eval([tok]));
      }
      const diverge = ours.findIndex((t, i) => t !== p.greedy[i]);
      firstDivergence.push(diverge);
      if (diverge < 0) identical++;
    }
    console.log(`${oracleKey}: greedy identical on ${identical}/16 prompts (first divergence per prompt: ${firstDivergence.join(" ")})`);
    expect(prompts.length).toBe(16);
    expect(identical).toBeGreaterThanOrEqual(minIdenticalGreedy);
  });
}

describe("parity with llama.cpp: tiny-code q8_0", () => {
  parity(Q8_0, "tiny-code-q8_0.gguf", 12);
});

const bf16Title = `parity with llama.cpp: tiny-code bf16${existsSync(BF16) ? "" : ` (skipped: ${BF16} is absent)`}`;
describe.skipIf(!existsSync(BF16))(bf16Title, () => {
  parity(BF16, "tiny-code-bf16.gguf", 15);
});

// The MoE fixture (bf16): routing, experts and the shared expert; the issue sets top-1 >= 99.5 %.
describe("parity with llama.cpp: tiny-moe bf16 (qwen35moe)", () => {
  parity(join(FIXTURES, "tiny-moe-bf16.gguf"), "tiny-moe-bf16.gguf", 14, MOE_ORACLE); // measured 15/16
});

// Files made with llama-quantize from tiny-code bf16, with an importance matrix (issue 10: top-1
// >= 99 %): scripts/make-quant-fixtures.mjs writes them to .cache/quant and llama.cpp's oracle for
// them, with their sha256, to test/fixtures/tiny-code-quant-oracle.json. Skipped, visibly, where the
// files are absent (a clone without ../shared cannot make them).
const QUANT_ORACLE = readOracle("tiny-code-quant-oracle.json") as Oracle & { files: Record<string, string> };
for (const [file, sha] of Object.entries(QUANT_ORACLE.files)) {
  const path = join(ROOT, ".cache/quant", file);
  const ok = existsSync(path) && createHash("sha256").update(readFileSync(path)).digest("hex") === sha;
  const why = existsSync(path) ? "its sha256 differs from the oracle's" : `${path} is absent: node scripts/make-quant-fixtures.mjs`;
  describe.skipIf(!ok)(`parity with llama.cpp: ${file} (llama-quantize)${ok ? "" : ` (skipped: ${why})`}`, () => {
    parity(path, file, 0, QUANT_ORACLE, 0.99);
  });
}
