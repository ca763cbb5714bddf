// One batch, chunks, or token by token must give the same logits and h_final (the issue allows
// 1e-5 relative; the CPU backend computes every row with the same code whatever the batch, so it is
// held to bit-exact equality here) — the basis for speculative verification. The thread count must
// not change the numbers either.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeModel } from "../../src/arch/describeModel.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { FIXTURES, TINY_Q8 } from "../helpers/fixtures.js";
import { NativeModel } from "../../src/native/NativeModel.js";

const PATH = TINY_Q8;
const oracle = JSON.parse(readFileSync(join(FIXTURES, "tiny-code-oracle.json"), "utf8")) as {
  models: Record<string, Array<{ promptTokens: number[]; greedy: number[] }>>;
};
const first = oracle.models["tiny-code-q8_0.gguf"]![0]!;
const tokens = [...first.promptTokens, ...first.greedy].slice(0, 96);
const allRows = tokens.map((_, i) => i);

/** Evaluates `tokens` split at the given chunk sizes; returns all rows' logits and hidden states. */
function run(model: NativeModel, chunks: number[], nThreads: number) {
  const session = model.createSession({ nCtx: 128, nThreads });
  const V = model.description.hparams.nVocab;
  const E = model.description.hparams.nEmbd;
  const logits = new Float32Array(tokens.length * V);
  const hidden = new Float32Array(tokens.length * E);
  let at = 0;
  for (const size of chunks) {
    const part = tokens.slice(at, at + size);
    const r = session.eval(part, { logitRows: part.map((_, i) => i), hidden: true });
    logits.set(r.logits, at * V);
    hidden.set(r.hidden!, at * E);
    at += size;
  }
  expect(at).toBe(tokens.length);
  expect(session.nPast).toBe(tokens.length);
  session.free();
  return { logits, hidden };
}

describe("batch consistency (tiny-code q8_0, 96 tokens)", () => {
  let model: NativeModel;
  let reference: { logits: Float32Array; hidden: Float32Array };
  beforeAll(() => {
    model = NativeModel.load(PATH, describeModel(parseGguf(PATH)));
    reference = run(model, [tokens.length], 2);
  });
  afterAll(() => model?.free());

  it("returns finite logits for every requested row", () => {
    expect(reference.logits.every(Number.isFinite)).toBe(true);
    expect(allRows.length).toBe(96);
  });

  it("chunks of 7, 13, 50 and 26 tokens give the same logits and hidden states as one batch", () => {
    const chunked = run(model, [7, 13, 50, 26], 2);
    expect(chunked.logits).toEqual(reference.logits);
    expect(chunked.hidden).toEqual(reference.hidden);
  });

  it("token-by-token evaluation gives the same logits and hidden states as one batch", () => {
    const single = run(model, tokens.map(() => 1), 2);
    expect(single.logits).toEqual(reference.logits);
    expect(single.hidden).toEqual(reference.hidden);
  });

  it("1 thread gives the same numbers as 2 threads", () => {
    const one = run(model, [40, 56], 1);
    expect(one.logits).toEqual(reference.logits);
  });

  it("evalAsync (worker thread) gives the same numbers; the session refuses other calls meanwhile", async () => {
    const session = model.createSession({ nCtx: 128, nThreads: 2 });
    const pending = session.evalAsync(tokens, { logitRows: allRows, hidden: true });
    expect(() => session.eval([1])).toThrow(/busy with an evalAsync call/);
    const r = await pending;
    expect(r.logits).toEqual(reference.logits);
    expect(r.hidden).toEqual(reference.hidden);
    expect(session.nPast).toBe(tokens.length);
    await expect(session.evalAsync([8192])).rejects.toThrow(/tokens\[0\]: expected a token id in \[0, 8192\)/);
    session.free();
  });

  it("reset() gives a fresh sequence: the same logits again", () => {
    const session = model.createSession({ nCtx: 128, nThreads: 2 });
    const first = session.eval(tokens.slice(0, 20)).logits;
    session.reset();
    expect(session.nPast).toBe(0);
    expect(session.eval(tokens.slice(0, 20)).logits).toEqual(first);
    session.free();
  });
});
