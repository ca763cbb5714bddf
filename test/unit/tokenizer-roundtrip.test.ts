/**
 * Round trips and decoding (fast-check properties) on tiny-code (pre qwen35) and the Qwen3
 * vocabulary (pre qwen2): decode(encode(s)) == s for any well-formed string; any id sequence
 * decodes without throwing, invalid UTF-8 as U+FFFD; the streaming detokenizer emits exactly the
 * text of the whole sequence, never a broken character, and ends a turn on an end-of-generation token.
 */
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { writeQwen3VocabGguf } from "../../scripts/tokenizerGguf.mjs";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { byteToUnicode } from "../../src/tokenizer/byteToUnicode.js";
import { StreamingDetokenizer } from "../../src/tokenizer/StreamingDetokenizer.js";
import { Tokenizer } from "../../src/tokenizer/Tokenizer.js";
import { tempDir, TINY_Q8 } from "../helpers/fixtures.js";
import { mixedText } from "../helpers/mixedText.js";

const qwen3Path = join(tempDir("mtp-tok-rt-"), "qwen3.gguf");
writeQwen3VocabGguf(qwen3Path, { pre: "qwen2" });
const TOKENIZERS = [
  ["tiny-code", Tokenizer.fromGguf(parseGguf(TINY_Q8))],
  ["qwen3", Tokenizer.fromGguf(parseGguf(qwen3Path))],
] as const;

/** Any string of valid code points (no lone surrogates), short or long, plus specials and mixed text. */
const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.array(fc.constantFrom("<|im_start|>", "<|im_end|>", "<think>", "\r\n", "   ", "é", "e\u0301", "👨‍👩‍👧", "'LL", "42"), { maxLength: 20 }).map((a) => a.join("")),
  fc.nat(1000).map((seed) => mixedText(seed, 2000)),
);
const hasLoneSurrogate = (s: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/** Concatenated bytes of ids, decoded the WHATWG way (maximal invalid subparts → U+FFFD). */
function referenceDecode(tok: Tokenizer, ids: number[], special: boolean): string {
  return new TextDecoder().decode(Buffer.concat(ids.map((id) => tok.tokenBytes(id, special))));
}

for (const [name, tok] of TOKENIZERS) {
  describe(name, () => {
    /** The token whose text is byte b's one-character spelling. */
    const byteToken = (b: number) => {
      const id = [...Array(tok.nVocab).keys()].find((i) => tok.tokenText(i) === byteToUnicode[b]);
      expect(id, `byte ${b}`).toBeDefined();
      return id!;
    };

    it("decode(encode(s)) == s, with and without special tokens", () => {
      fc.assert(
        fc.property(text, (s) => {
          expect(tok.decode(tok.encode(s, { addSpecial: false }))).toBe(s);
          expect(tok.decode(tok.encode(s, { addSpecial: false, parseSpecial: true }), { special: true })).toBe(s);
        }),
        { seed: 5, numRuns: 1500 },
      );
    });

    it("a leading U+FEFF is text, not a byte order mark to drop", () => {
      const ids = tok.encode("\ufeffx", { addSpecial: false });
      expect(tok.decode(ids)).toBe("\ufeffx");
      const stream = new StreamingDetokenizer(tok);
      expect(ids.map((id) => stream.push(id)).join("") + stream.flush()).toBe("\ufeffx");
    });

    it("lone UTF-16 surrogates are encoded as U+FFFD", () => {
      const ids = tok.encode("a\uD800b\uDC00", { addSpecial: false });
      expect(ids).toEqual(tok.encode("a\uFFFDb\uFFFD", { addSpecial: false }));
      expect(tok.decode(ids)).toBe("a\uFFFDb\uFFFD");
    });

    it("invalid byte sequences decode to U+FFFD, never throw", () => {
      const c3 = byteToken(0xc3); // lead byte of a 2-byte character
      const e4 = byteToken(0xe4); // lead byte of a 3-byte character
      const bd = byteToken(0xbd); // a continuation byte
      const a = byteToken(0x61);
      expect(tok.decode([c3])).toBe("\uFFFD");
      expect(tok.decode([bd, a])).toBe("\uFFFDa");
      expect(tok.decode([e4, bd, a])).toBe("\uFFFDa"); // one U+FFFD for the maximal invalid subpart
      expect(tok.decode([c3, c3, byteToken(0xa9)])).toBe("\uFFFDé");
      fc.assert(
        fc.property(fc.array(fc.nat(tok.nVocab - 1), { maxLength: 60 }), fc.boolean(), (ids, special) => {
          const s = tok.decode(ids, { special });
          expect(s).toBe(referenceDecode(tok, ids, special));
          expect(hasLoneSurrogate(s)).toBe(false);
        }),
        { seed: 6, numRuns: 2000 },
      );
    });

    it("streaming emits the same text, holding back incomplete characters", () => {
      fc.assert(
        fc.property(text, (s) => {
          const ids = tok.encode(s, { addSpecial: false });
          const stream = new StreamingDetokenizer(tok);
          const chunks = ids.map((id) => stream.push(id));
          chunks.push(stream.flush());
          expect(chunks.join("")).toBe(s);
          // a chunk never shows a replacement character the text does not have
          if (!s.includes("\uFFFD")) expect(chunks.some((c) => c.includes("\uFFFD"))).toBe(false);
        }),
        { seed: 8, numRuns: 500 },
      );
      // "你" is E4 BD A0: nothing comes out until the third byte
      const stream = new StreamingDetokenizer(tok);
      expect([0xe4, 0xbd, 0xa0].map((b) => stream.push(byteToken(b)))).toEqual(["", "", "你"]);
    });

    it("streaming any id sequence: text of each turn, a turn ending at an end-of-generation token", () => {
      const eog = tok.eogIds;
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.nat(tok.nVocab - 1), fc.constantFrom(...eog)), { maxLength: 60 }), fc.boolean(), (ids, special) => {
          const stream = new StreamingDetokenizer(tok, { special });
          let got = "";
          let want = "";
          let turn: number[] = [];
          for (const id of ids) {
            got += stream.push(id);
            turn.push(id);
            expect(stream.ended).toBe(tok.isEog(id));
            if (tok.isEog(id)) {
              want += referenceDecode(tok, turn, special);
              turn = [];
            }
          }
          got += stream.flush();
          want += referenceDecode(tok, turn, special);
          expect(got).toBe(want);
        }),
        { seed: 9, numRuns: 1000 },
      );
    });

    it("special tokens print only when asked; <|im_end|> ends the turn, flushing a partial character", () => {
      const [imStart, imEnd] = tok.encode("<|im_start|><|im_end|>", { addSpecial: false, parseSpecial: true });
      expect(tok.isControl(imStart!)).toBe(true);
      expect(tok.isEog(imEnd!)).toBe(true);
      expect(tok.isEog(imStart!)).toBe(false);
      const hello = tok.encode("hi", { addSpecial: false });
      const plain = new StreamingDetokenizer(tok);
      expect([imStart!, ...hello, imEnd!].map((id) => plain.push(id)).join("")).toBe("hi");
      expect(plain.ended).toBe(true);
      const shown = new StreamingDetokenizer(tok, { special: true });
      expect([imStart!, ...hello, imEnd!].map((id) => shown.push(id)).join("")).toBe("<|im_start|>hi<|im_end|>");
      const cut = new StreamingDetokenizer(tok);
      expect([byteToken(0xe4), imEnd!].map((id) => cut.push(id))).toEqual(["", "\uFFFD"]);
      expect(cut.push(byteToken(0x61))).toBe("a");
      expect(cut.ended).toBe(false);
    });
  });
}
