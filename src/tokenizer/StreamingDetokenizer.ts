/**
 * Turns generated token ids into text as they arrive. A token can end in the middle of a UTF-8
 * character (byte-level BPE splits multi-byte characters freely), so incomplete trailing bytes are
 * held back until the token that completes them; bytes that can never form a character come out
 * as U+FFFD (WHATWG decoding, one per maximal invalid subpart), never as an exception.
 *
 * Special tokens: control tokens are printed only with `special: true`. An end-of-generation token
 * (Tokenizer.isEog: `<|im_end|>`, `<|endoftext|>`, …) ends the turn: bytes still held back are
 * flushed (as U+FFFD) and `ended` becomes true; the next token starts a new turn.
 */
import type { Tokenizer } from "./Tokenizer.js";

export class StreamingDetokenizer {
  // ignoreBOM: a U+FEFF the model generates is text, not a byte order mark to drop
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  private turnEnded = false;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly opts: { special?: boolean } = {},
  ) {}

  /** Has the last pushed token ended the turn? */
  get ended(): boolean {
    return this.turnEnded;
  }

  /** The text that `id` completes; may be "" while a character is still incomplete. */
  push(id: number): string {
    const text = this.decoder.decode(this.tokenizer.tokenBytes(id, this.opts.special ?? false), { stream: true });
    this.turnEnded = this.tokenizer.isEog(id);
    return this.turnEnded ? text + this.flush() : text;
  }

  /** Ends the stream: held-back bytes of an incomplete character become U+FFFD. */
  flush(): string {
    return this.decoder.decode();
  }
}
