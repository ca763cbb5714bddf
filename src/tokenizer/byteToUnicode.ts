/**
 * The GPT-2 byte-level alphabet (openai/gpt-2 encoder.py `bytes_to_unicode`, llama.cpp
 * src/unicode.cpp `unicode_byte_to_utf8_map`): every byte 0..255 is one printable code point, so
 * a byte string can be stored as text in the vocabulary. Printable Latin-1 bytes (`!`..`~`,
 * `¡`..`¬`, `®`..`ÿ`) map to themselves; the other 68 bytes map, in byte order, to U+0100.. .
 * Byte-level BPE vocabularies (`tokenizer.ggml.model = "gpt2"`) spell every token in this
 * alphabet: a space is `Ġ` (U+0120), a newline `Ċ` (U+010A).
 */

function buildTable(): string[] {
  const table: string[] = new Array<string>(256);
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : next++);
  }
  return table;
}

/** byteToUnicode[b] is the one-character string that stands for byte b. */
export const byteToUnicode: readonly string[] = buildTable();

/** The inverse: code point → byte, for the 256 code points of the alphabet only. */
export const unicodeToByte: ReadonlyMap<number, number> = new Map(byteToUnicode.map((ch, b) => [ch.codePointAt(0)!, b]));
