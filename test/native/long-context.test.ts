// Rows that attend more than kAttnChunk = 512 positions, which both backends sum in chunks of 512
// positions (cuda/cpu/attention-order.h), on the CPU backend:
//  - parity with llama.cpp (node-llama-cpp 3.22.1's CPU prebuilt, flash attention off; the oracle
//    recorded by scripts/make-long-oracle.mjs in test/fixtures/tiny-code-long-oracle.json):
//    teacher-forced over two 1200-token passages of tiny-code's held-out text, at the 689 rows of
//    each from 511 on, top-1 agreement >= 99.5 % and mean |p_top diff| <= 0.01 — the bar the short
//    rows meet (test/native/parity.test.ts);
//  - a row's logits do not depend on its batch when a batch straddles the chunk boundary: one batch,
//    chunks and token by token give bit-identical logits;
//  - greedy MTP decoding across the boundary (a 480-token prompt, 128 tokens) is token-identical to
//    plain greedy decoding.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openModel, type OpenedModel } from "../../src/engine/openModel.js";
import type { GenerateOptions, NativeSession } from "../../src/native/NativeModel.js";
import { FIXTURES, TINY_BF16, TINY_Q8 } from "../helpers/fixtures.js";
import { argmax, probability } from "../helpers/logits.js";

interface LongOracle {
  llamaCpp: string;
  settings: { nTokens: number; firstRow: number };
  passages: number[][];
  models: Record<string, Array<{ top: number[]; pTop: number[] }>>;
}
const ORACLE = JSON.parse(readFileSync(join(FIXTURES, "tiny-code-long-oracle.json"), "utf8")) as LongOracle;
const { firstRow, nTokens } = ORACLE.settings;
const LONG = 600_000;



function parity(label: string, path: string, file: string) {
  describe.skipIf(!existsSync(path))(`long rows, parity with llama.cpp: ${label}${existsSync(path) ? "" : ` (skipped: ${path} is absent)`}`, () => {
    let m: OpenedModel;
    beforeAll(() => {
      m = openModel(path, "cpu");
    });
    afterAll(() => m?.native.free());

    it(`teacher-forced over 2 × ${nTokens} tokens, rows ${firstRow}…: top-1 >= 99.5 %, mean |p_top diff| <= 0.01 (llama.cpp ${ORACLE.llamaCpp})`, () => {
      const V = m.description.hparams.nVocab;
      const session = m.native.createSession({ nCtx: 2048, nThreads: 2 });
      let agree = 0;
      let positions = 0;
      let sumDiff = 0;
      ORACLE.passages.forEach((tokens, i) => {
        const ref = ORACLE.models[file]![i]!;
        const rows = ref.top.map((_, j) => firstRow + j);
        session.reset();
        const { logits } = session.eval(tokens, { logitRows: rows });
        ref.top.forEach((tok, j) => {
          if (argmax(logits, j * V, V) === tok) agree++;
          sumDiff += Math.abs(probability(logits, j * V, V, tok) - ref.pTop[j]!);
          positions++;
        });
      });
      session.free();
      const agreement = agree / positions;
      console.log(`${file} long rows: top-1 agreement ${(100 * agreement).toFixed(2)} % of ${positions}, mean |p_top diff| ${(sumDiff / positions).toExponential(2)}`);
      expect(positions).toBe(2 * (nTokens - firstRow));
      expect(agreement).toBeGreaterThanOrEqual(0.995);
      expect(sumDiff / positions).toBeLessThanOrEqual(0.01);
    }, LONG);
  });
}

parity("tiny-code q8_0", TINY_Q8, "tiny-code-q8_0.gguf");
parity("tiny-code bf16", TINY_BF16, "tiny-code-bf16.gguf");

describe("long rows: batch independence and greedy MTP across the 512-position chunk boundary (tiny-code q8_0, CPU)", () => {
  let m: OpenedModel;
  let session: NativeSession;
  const tokens = ORACLE.passages[1]!.slice(0, 540);
  beforeAll(() => {
    m = openModel(TINY_Q8, "cpu");
    session = m.native.createSession({ nCtx: 1024, nThreads: 2, nDraftMax: 4 });
  });
  afterAll(() => m?.native.free());

  /** Logits of rows 500 … 539 after evaluating the first 500 tokens, then the rest in `chunks`. */
  function tail(chunks: number[]) {
    const V = m.description.hparams.nVocab;
    session.reset();
    session.eval(tokens.slice(0, 500), { logitRows: [] });
    const logits = new Float32Array(40 * V);
    let at = 500;
    for (const size of chunks) {
      const part = tokens.slice(at, at + size);
      logits.set(session.eval(part, { logitRows: part.map((_, i) => i) }).logits, (at - 500) * V);
      at += size;
    }
    expect(at).toBe(540);
    return logits;
  }

  it("rows 500 … 539 in one batch, in chunks of 5, 8 (straddling position 512), 17 and 10, and one by one: identical logits", () => {
    const one = tail([40]);
    expect(one.every(Number.isFinite)).toBe(true);
    expect(tail([5, 8, 17, 10])).toEqual(one);
    expect(tail(Array.from({ length: 40 }, () => 1))).toEqual(one);
  }, LONG);

  it("greedy K = 1..4 from a 480-token prompt (128 tokens, crossing position 512) is token-identical to K = 0", async () => {
    const prompt = ORACLE.passages[0]!.slice(0, 480);
    const run = async (draftMax: number) => {
      const o: GenerateOptions = { draftMax, nPredict: 128, temperature: 0, topK: 40, topP: 0.95, minP: 0.05, seed: 0, eogTokens: [] };
      session.generateBegin(prompt, o);
      const out: number[] = [];
      for (;;) {
        const c = await session.generateNextAsync(128);
        if (c.tokens.length === 0) return out;
        out.push(...c.tokens);
      }
    };
    const plain = await run(0);
    expect(plain.length).toBe(128);
    for (let k = 1; k <= 4; k++) expect(await run(k), `K=${k}`).toEqual(plain);
  }, LONG);
});
