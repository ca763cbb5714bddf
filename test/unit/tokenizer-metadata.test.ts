/**
 * What the tokenizer reads from GGUF metadata and how it refuses what it cannot use: the model
 * and pre-tokenizer names, malformed tokens/types/merges/ids as ModelDescriptionError (exit code
 * 2) naming the key; add_bos/add_eos; token attributes and the end-of-generation set as llama.cpp
 * derives them (checked against its load log for the Qwen3 vocabulary).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeQwen3VocabGguf } from "../../scripts/tokenizerGguf.mjs";
import { ModelDescriptionError } from "../../src/errors.js";
import * as N from "../../src/gguf/names.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { GgufValueType } from "../../src/gguf/types.js";
import { kv, writeGguf, type GgufWriteKv } from "../../src/gguf/writeGguf.js";
import { byteToUnicode, unicodeToByte } from "../../src/tokenizer/byteToUnicode.js";
import { preTokenizerRegex } from "../../src/tokenizer/preTokenizerRegex.js";
import { Tokenizer, TokenType } from "../../src/tokenizer/Tokenizer.js";
import { tempDir, TINY_Q8 } from "../helpers/fixtures.js";

const dir = tempDir("mtp-tok-meta-");
const BYTES = [...byteToUnicode];
let n = 0;

/** A small valid tokenizer (256 byte tokens + "ab" + <|im_end|>), with entries replaced or removed. */
function load(change: Record<string, GgufWriteKv | null> = {}): Tokenizer {
  const tokens = [...BYTES, "ab", "<|im_end|>"];
  const base: GgufWriteKv[] = [
    kv.str(N.KEY_TOKENIZER_MODEL, "gpt2"),
    kv.str(N.KEY_TOKENIZER_PRE, "qwen35"),
    kv.arr(N.KEY_TOKENIZER_TOKENS, GgufValueType.STRING, tokens),
    kv.arr(N.KEY_TOKENIZER_TOKEN_TYPE, GgufValueType.INT32, tokens.map((_, i) => (i === 257 ? TokenType.control : TokenType.normal))),
    kv.arr(N.KEY_TOKENIZER_MERGES, GgufValueType.STRING, ["a b"]),
    kv.u32(N.KEY_TOKENIZER_EOS_ID, 257),
  ];
  const entries = base.filter((e) => !(e.key in change)).concat(Object.values(change).filter((e): e is GgufWriteKv => e !== null));
  const path = join(dir, `t${n++}.gguf`);
  writeGguf(path, { kv: entries, tensors: [] });
  return Tokenizer.fromGguf(parseGguf(path));
}

function expectError(change: Record<string, GgufWriteKv | null>, message: RegExp): void {
  let err: unknown;
  try {
    load(change);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelDescriptionError);
  expect((err as ModelDescriptionError).exitCode).toBe(2);
  expect((err as Error).message).toMatch(message);
}

describe("refusing what it cannot use", () => {
  it("an unsupported tokenizer model", () => {
    expectError({ [N.KEY_TOKENIZER_MODEL]: kv.str(N.KEY_TOKENIZER_MODEL, "llama") }, /^tokenizer\.ggml\.model: expected "gpt2" \(byte-level BPE\), got "llama"$/);
  });

  it("an unsupported or missing pre-tokenizer", () => {
    expectError({ [N.KEY_TOKENIZER_PRE]: kv.str(N.KEY_TOKENIZER_PRE, "llama3") }, /^tokenizer\.ggml\.pre: expected one of "qwen2", "qwen35", got "llama3"$/);
    expectError({ [N.KEY_TOKENIZER_PRE]: null }, /^tokenizer\.ggml\.pre: required metadata key is missing$/);
  });

  it("missing or malformed tokens, types and merges", () => {
    expectError({ [N.KEY_TOKENIZER_TOKENS]: null }, /^tokenizer\.ggml\.tokens: required/);
    expectError({ [N.KEY_TOKENIZER_TOKENS]: kv.arr(N.KEY_TOKENIZER_TOKENS, GgufValueType.INT32, [1, 2]) }, /^tokenizer\.ggml\.tokens: expected an array of string/);
    expectError({ [N.KEY_TOKENIZER_TOKENS]: kv.arr(N.KEY_TOKENIZER_TOKENS, GgufValueType.STRING, [...BYTES, "ab", "a"]) }, /^tokenizer\.ggml\.tokens\[257\]: expected a text no other token has, got "a" \(also token 97\)$/);
    expectError({ [N.KEY_TOKENIZER_TOKEN_TYPE]: kv.arr(N.KEY_TOKENIZER_TOKEN_TYPE, GgufValueType.INT32, [1, 1]) }, /^tokenizer\.ggml\.token_type: expected 258 entries \(one per token\), got 2$/);
    expectError({ [N.KEY_TOKENIZER_MERGES]: null }, /^tokenizer\.ggml\.merges: required/);
    expectError({ [N.KEY_TOKENIZER_MERGES]: kv.arr(N.KEY_TOKENIZER_MERGES, GgufValueType.STRING, ["a b", "ab"]) }, /^tokenizer\.ggml\.merges\[1\]: expected "left right", got "ab"$/);
  });

  it("token ids outside the vocabulary, BOS/EOS asked for but missing", () => {
    expectError({ [N.KEY_TOKENIZER_EOS_ID]: kv.u32(N.KEY_TOKENIZER_EOS_ID, 258) }, /^tokenizer\.ggml\.eos_token_id: expected a token id below 258, got 258$/);
    expectError({ [N.KEY_TOKENIZER_ADD_BOS]: kv.bool(N.KEY_TOKENIZER_ADD_BOS, true) }, /^tokenizer\.ggml\.bos_token_id: expected a token id because tokenizer\.ggml\.add_bos_token is true, got none$/);
    expectError({ [N.KEY_TOKENIZER_ADD_EOS]: kv.u32(N.KEY_TOKENIZER_ADD_EOS, 1) }, /^tokenizer\.ggml\.add_eos_token: expected a bool, got u32 1$/);
  });

  it("a token id outside the vocabulary when decoding", () => {
    const tok = load();
    expect(() => tok.tokenBytes(258)).toThrow(RangeError);
    expect(() => tok.decode([-1])).toThrow(/token id: expected an integer in 0\.\.257, got -1/);
  });
});

describe("reading what it can use", () => {
  it("BPE with the file's merges; add_bos/add_eos only with addSpecial", () => {
    const plain = load();
    expect(plain.encode("abc")).toEqual([256, "c".charCodeAt(0)]);
    const both = load({
      [N.KEY_TOKENIZER_BOS_ID]: kv.u32(N.KEY_TOKENIZER_BOS_ID, 256),
      [N.KEY_TOKENIZER_ADD_BOS]: kv.bool(N.KEY_TOKENIZER_ADD_BOS, true),
      [N.KEY_TOKENIZER_ADD_EOS]: kv.bool(N.KEY_TOKENIZER_ADD_EOS, true),
    });
    expect(both.encode("abc")).toEqual([256, 256, 99, 257]);
    expect(both.encode("abc", { addSpecial: false })).toEqual([256, 99]);
    expect(both.encode("")).toEqual([256, 257]);
  });

  it("without token types every token is normal, except texts llama.cpp treats as control", () => {
    const tok = load({ [N.KEY_TOKENIZER_TOKEN_TYPE]: null });
    expect(tok.isControl(256)).toBe(false);
    expect(tok.isControl(257)).toBe(true); // "<|im_end|>" ends a turn whatever the file says
    expect(tok.encode("x<|im_end|>", { parseSpecial: true })).toEqual([120, 257]);
    expect(tok.eogIds).toEqual([257]);
  });

  it("the GPT-2 byte alphabet is a bijection of 256 printable characters", () => {
    expect(new Set(byteToUnicode).size).toBe(256);
    expect(byteToUnicode[0x20]).toBe("Ġ");
    expect(byteToUnicode[0x0a]).toBe("Ċ");
    expect(byteToUnicode[0x41]).toBe("A");
    for (let b = 0; b < 256; b++) expect(unicodeToByte.get(byteToUnicode[b]!.codePointAt(0)!)).toBe(b);
  });

  it("pre-tokenizer pieces: qwen35 keeps combining marks in letter runs, qwen2 does not", () => {
    const split = (pre: string, s: string) => s.match(preTokenizerRegex(pre));
    expect(split("qwen35", "cafe\u0301 don'T  x\r\n\r\n 123\u00a0\u0085y")).toEqual(["cafe\u0301", " don", "'T", " ", " x", "\r\n\r\n", " ", "1", "2", "3", "\u00a0", "\u0085y"]);
    expect(split("qwen2", "cafe\u0301 x")).toEqual(["cafe", "\u0301", " x"]);
    // U+FEFF is not White_Space (JS \s says it is): it is punctuation-like, not a space
    expect(split("qwen35", "a \ufeffb")).toEqual(["a", " \ufeff", "b"]);
  });
});

describe("the Qwen3 vocabulary", () => {
  const path = join(dir, "qwen3.gguf");
  writeQwen3VocabGguf(path, { pre: "qwen2" });
  const tok = Tokenizer.fromGguf(parseGguf(path));

  it("end-of-generation set as llama.cpp logs it: </s>, <|endoftext|>, <|im_end|>, <|fim_pad|>, <|repo_name|>, <|file_sep|>", () => {
    expect(tok.eogIds).toEqual([128247, 151643, 151645, 151662, 151663, 151664]);
    expect(tok.eogIds.map((id) => tok.tokenText(id))).toEqual(["</s>", "<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]);
    expect(tok.isControl(128247)).toBe(true); // a normal token in the file
  });

  it("token pieces: user-defined always, control only with special, unused never", () => {
    const think = tok.encode("<think>", { addSpecial: false });
    expect(think).toEqual([151667]);
    expect(Buffer.from(tok.tokenBytes(151667)).toString()).toBe("<think>");
    expect(tok.tokenBytes(151644)).toHaveLength(0);
    expect(Buffer.from(tok.tokenBytes(151644, true)).toString()).toBe("<|im_start|>");
    expect(tok.tokenText(151669)).toBe("[PAD151669]");
    expect(tok.tokenBytes(151669, true)).toHaveLength(0);
    const ni = tok.encode("你", { addSpecial: false });
    expect(ni).toHaveLength(1);
    expect(tok.tokenText(ni[0]!)).toBe("ä½ł"); // the GPT-2 spelling of E4 BD A0
    expect(Buffer.from(tok.tokenBytes(ni[0]!)).toString()).toBe("你");
    expect(tok.chatTemplate).toContain("<|im_start|>");
  });

  it("tiny-code: no chat template, EOG = <|endoftext|> (also EOS) and <|im_end|>", () => {
    const tiny = Tokenizer.fromGguf(parseGguf(TINY_Q8));
    expect(tiny.pre).toBe("qwen35");
    expect(tiny.nVocab).toBe(8192);
    expect(tiny.chatTemplate).toBeUndefined();
    expect(tiny.eogIds).toEqual([0, 2]);
    expect([tiny.bosId, tiny.eosId, tiny.addBos, tiny.addEos]).toEqual([0, 0, false, false]);
  });
});
