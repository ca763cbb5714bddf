/**
 * Token ids equal llama.cpp's (node-llama-cpp 3.22.1's CPU build, vocab_only) for:
 * - the real tiny-code model (pre qwen35): all of heldout.txt, the 16 prompts, ChatML prompts,
 *   and 20,000 seeded strings dense in the characters where pre-tokenizers go wrong;
 * - the real Qwen3 vocabulary (151,936 ids) under both pre-tokenizers, on 250 KB of mixed text;
 * - 40 seeded random hand-made vocabularies that stress BPE itself: merges whose results are not
 *   tokens, duplicated merges, missing byte tokens, pieces long enough for the heap path.
 * node-llama-cpp tokenizes with add_special = false, so ours runs with addSpecial: false.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { writeQwen3VocabGguf, writeVocabGguf } from "../../scripts/tokenizerGguf.mjs";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { byteToUnicode } from "../../src/tokenizer/byteToUnicode.js";
import { formatChat } from "../../src/tokenizer/formatChat.js";
import { Tokenizer, TokenType } from "../../src/tokenizer/Tokenizer.js";
import { FIXTURES, tempDir, TINY_Q8 } from "../helpers/fixtures.js";
import { llamaTokenize, loadLlamaVocab } from "../helpers/llamaCpp.js";
import { HELDOUT, mixedText, unicodeVersionDependent } from "../helpers/mixedText.js";

const dir = tempDir("mtp-tok-parity-");
const PROMPTS = JSON.parse(readFileSync(join(FIXTURES, "tokenizer/prompts.json"), "utf8")) as string[];

/** Characters where a pre-tokenizer's classes, contractions or whitespace rules show. */
const TRICKY = [
  ..."\x85\ufeff\u00a0\u3000\u2028\u200d\u200b\r\n\t\v\f \x1c\x1f'sStTdDmMlLeEvVrR\u0301\u0300\u0903\u093f\u0e31",
  ..."é你好。，１２３²½٣ⅣABCxyz0123!?.,;:()[]{}<>|_-+=*&^%$#@~`\"\\/😀🏽🇯🇵\ufe0f\u20e3ſKİ\u{1D400}\u{E0001}\u{10FFFF}\uE000\u0000\u001b",
  "<|im_start|>", "<|im_end|>", "<|endoftext|>",
];

function expectSameIds(ours: number[], ref: number[], what: string): void {
  if (ours.length === ref.length && ours.every((t, i) => t === ref[i])) return;
  const at = ours.findIndex((t, i) => t !== ref[i]);
  expect.fail(`${what}: ids differ at ${at < 0 ? Math.min(ours.length, ref.length) : at} of ${ref.length} ` +
    `(ours ${JSON.stringify(ours.slice(Math.max(0, at - 3), at + 5))}, llama.cpp ${JSON.stringify(ref.slice(Math.max(0, at - 3), at + 5))})`);
}

describe("tiny-code (pre qwen35, 8192 tokens)", () => {
  const tok = Tokenizer.fromGguf(parseGguf(TINY_Q8));
  let llama: Awaited<ReturnType<typeof loadLlamaVocab>>;
  beforeAll(async () => {
    llama = await loadLlamaVocab(TINY_Q8);
  });

  it("all of heldout.txt", () => {
    const ref = llamaTokenize(llama, HELDOUT, false);
    expect(ref.length).toBeGreaterThan(150_000);
    expectSameIds(tok.encode(HELDOUT, { addSpecial: false }), ref, "heldout.txt");
  });

  it("the 16 prompts, with and without special parsing", () => {
    expect(PROMPTS).toHaveLength(16);
    for (const [i, p] of PROMPTS.entries()) {
      for (const parseSpecial of [false, true]) {
        expectSameIds(tok.encode(p, { addSpecial: false, parseSpecial }), llamaTokenize(llama, p, parseSpecial), `prompt ${i}`);
      }
    }
  });

  it("ChatML prompts: control tokens are single ids only with special parsing", () => {
    const prompt = formatChat([{ role: "user", content: PROMPTS[0]! }, { role: "assistant", content: "x<|im_end|>" }, { role: "user", content: "more" }], { system: "Be terse." });
    const special = tok.encode(prompt, { addSpecial: false, parseSpecial: true });
    expectSameIds(special, llamaTokenize(llama, prompt, true), "chat, parse_special");
    expectSameIds(tok.encode(prompt, { addSpecial: false }), llamaTokenize(llama, prompt, false), "chat, no parse_special");
    expect(special.filter((t) => t === 1)).toHaveLength(5); // <|im_start|>: system + 3 turns + the generation prompt
  });

  it("20,000 seeded strings dense in tricky characters", () => {
    const stable = (s: string) => [...s].map((c) => (unicodeVersionDependent(c.codePointAt(0)!) ? "?" : c)).join("");
    const strings = fc.sample(
      fc.array(fc.oneof(fc.constantFrom(...TRICKY), fc.string({ unit: "binary", maxLength: 1 })), { maxLength: 30 }).map((a) => stable(a.join(""))),
      { seed: 7, numRuns: 20_000 },
    );
    for (const s of strings) {
      for (const parseSpecial of [false, true]) {
        expectSameIds(tok.encode(s, { addSpecial: false, parseSpecial }), llamaTokenize(llama, s, parseSpecial), JSON.stringify(s));
      }
    }
  });
});

describe("the Qwen3 vocabulary (151,936 ids)", () => {
  const text = mixedText(11, 250_000, unicodeVersionDependent);
  for (const pre of ["qwen2", "qwen35"] as const) {
    it(`pre ${pre}: 250 KB of mixed text, with and without special parsing`, async () => {
      const path = join(dir, `qwen3-${pre}.gguf`);
      writeQwen3VocabGguf(path, { pre, archFrom: TINY_Q8 });
      const tok = Tokenizer.fromGguf(parseGguf(path));
      const llama = await loadLlamaVocab(path);
      expect(Buffer.byteLength(text)).toBeGreaterThanOrEqual(250_000);
      for (const parseSpecial of [false, true]) {
        expectSameIds(tok.encode(text, { addSpecial: false, parseSpecial }), llamaTokenize(llama, text, parseSpecial), `mixed text, parse_special ${parseSpecial}`);
      }
      await llama.dispose();
    });
  }
});

describe("hand-made vocabularies", () => {
  const ALPHABET = [..."abcde \n"];
  const spell = (s: string) => [...Buffer.from(s)].map((b) => byteToUnicode[b]!).join("");

  /** A random BPE vocabulary over ALPHABET: every byte token but sometimes one, 20–120 merges. */
  const vocabulary = fc.record({
    missingByte: fc.option(fc.constantFrom(..."ce"), { nil: undefined }),
    steps: fc.array(fc.record({ left: fc.nat(), right: fc.nat(), inVocab: fc.double({ min: 0, max: 1, noNaN: true }), repeat: fc.boolean() }), { minLength: 20, maxLength: 120 }),
  }).map(({ missingByte, steps }) => {
    const tokens = byteToUnicode.filter((c) => c !== missingByte);
    const symbols = ALPHABET.map(spell);
    const merges: string[] = [];
    for (const s of steps) {
      const l = symbols[s.left % symbols.length]!;
      const r = symbols[s.right % symbols.length]!;
      merges.push(`${l} ${r}`);
      // a merge listed twice keeps its first rank
      if (s.repeat && merges.length > 2) merges.push(merges[s.left % (merges.length - 1)]!);
      if (!symbols.includes(l + r)) symbols.push(l + r);
      // a result that is not a token: BPE still builds it, then falls back to its ASCII bytes
      if (s.inVocab < 0.7 && !tokens.includes(l + r)) tokens.push(l + r);
    }
    return { tokens, merges };
  });

  it("40 random vocabularies × 100 random texts", async () => {
    const vocabs = fc.sample(vocabulary, { seed: 3, numRuns: 40 });
    const texts = fc.sample(fc.array(fc.constantFrom(...ALPHABET, "aaaa", "abab", "é", "a".repeat(70), "abcab".repeat(20)), { maxLength: 80 }).map((a) => a.join("")), { seed: 4, numRuns: 100 });
    for (const [v, { tokens, merges }] of vocabs.entries()) {
      const path = join(dir, `vocab-${v}.gguf`);
      writeVocabGguf(path, { pre: v % 2 ? "qwen2" : "qwen35", tokens, types: tokens.map(() => TokenType.normal), merges, archFrom: TINY_Q8 });
      const tok = Tokenizer.fromGguf(parseGguf(path));
      const llama = await loadLlamaVocab(path);
      for (const t of texts) expectSameIds(tok.encode(t, { addSpecial: false }), llamaTokenize(llama, t, false), `vocabulary ${v}, ${JSON.stringify(t)}`);
      await llama.dispose();
    }
  });

  it("special tokens: user-defined always matched, control only when parsing special, longest first", async () => {
    const specials: [string, number][] = [
      ["<u>", TokenType.userDefined],
      ["<u><u>", TokenType.userDefined],
      ["<c>", TokenType.control],
      ["<u><c>", TokenType.control],
      ["<|im_end|>", TokenType.userDefined], // made control at load, as its text ends a turn
      ["<|fim_prefix|>", TokenType.normal], // made control at load, as a FIM role
      ["<x>", TokenType.unused],
    ];
    const tokens = [...byteToUnicode, ...specials.map(([t]) => t)];
    const types = [...byteToUnicode.map(() => TokenType.normal), ...specials.map(([, t]) => t)];
    const path = join(dir, "specials.gguf");
    writeVocabGguf(path, { pre: "qwen35", tokens, types, merges: [], archFrom: TINY_Q8 });
    const tok = Tokenizer.fromGguf(parseGguf(path));
    const llama = await loadLlamaVocab(path);
    const texts = ["<u><u><u>", "a<u><c>b", "<c><u>", "x<|im_end|>y", "<|fim_prefix|><x>", "<u<u>>", "<u><c><u><c>"];
    for (const t of texts) {
      for (const parseSpecial of [false, true]) {
        expectSameIds(tok.encode(t, { addSpecial: false, parseSpecial }), llamaTokenize(llama, t, parseSpecial), `${JSON.stringify(t)} parse_special ${parseSpecial}`);
      }
    }
    const id = (t: string) => tokens.indexOf(t);
    expect(tok.encode("a<u><c>b", { addSpecial: false })).toEqual([id("a"), id("<u>"), ...tok.encode("<c>", { addSpecial: false }), id("b")]);
    expect(tok.encode("a<u><c>b", { addSpecial: false, parseSpecial: true })).toEqual([id("a"), id("<u><c>"), id("b")]);
    await llama.dispose();
  });
});
