/**
 * The pre-tokenizer regexes of the byte-level BPE vocabularies mtp-cli supports, keyed by
 * `tokenizer.ggml.pre` (../shared/docs/qwen35-mtp-spec.md §6.2; llama.cpp src/llama-vocab.cpp
 * LLAMA_VOCAB_PRE_TYPE_QWEN2 / _QWEN35). Text is cut into the pieces these regexes match, and BPE
 * runs inside each piece only.
 *
 * The patterns are the Hugging Face ones with the case-insensitive contraction group spelled out
 * (as llama.cpp does), written as JS `u` regexes. One deliberate change: `\s` / `\S` are replaced
 * by the Unicode White_Space set that llama.cpp (src/unicode-data.cpp) and Rust/Python regex use.
 * JS `\s` differs from it: it also matches U+FEFF and misses U+0085 (NEL).
 *
 * The letter/mark/digit classes come from the JS engine's Unicode tables (Node 20.20: Unicode 17),
 * llama.cpp's from its own (Unicode 15.1). They agree on every code point except the ~9,000 that
 * Unicode 16 and 17 assigned as letters, marks or digits (new scripts, CJK Extension J), which
 * llama.cpp still treats as unassigned; test/helpers/mixedText.ts lists them.
 */
import { ModelDescriptionError } from "../errors.js";
import { KEY_TOKENIZER_PRE } from "../gguf/names.js";

/** White_Space: \t \n \v \f \r, space, NEL, NBSP, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
const WS = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const WHITESPACE_TAIL = `[${WS}]*[\\r\\n]+|[${WS}]+(?![^${WS}])|[${WS}]+`;

const PATTERNS: Readonly<Record<string, string>> = {
  // Qwen2 / Qwen2.5 / Qwen3: letters are \p{L}+; a digit is always its own piece.
  qwen2: `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|${WHITESPACE_TAIL}`,
  // Qwen3.5 / Qwen3.6: letter runs also take combining marks, so "é" spelled e + U+0301 stays one piece.
  qwen35: `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^${WS}\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|${WHITESPACE_TAIL}`,
};

const SUPPORTED: readonly string[] = Object.keys(PATTERNS);

/** A fresh global regex for `pre` (callers own its lastIndex); an unknown name is a ModelDescriptionError. */
export function preTokenizerRegex(pre: string): RegExp {
  const source = PATTERNS[pre];
  if (source === undefined) {
    throw new ModelDescriptionError(
      `${KEY_TOKENIZER_PRE}: expected one of ${SUPPORTED.map((p) => JSON.stringify(p)).join(", ")}, got ${JSON.stringify(pre)}`,
    );
  }
  return new RegExp(source, "gu");
}
