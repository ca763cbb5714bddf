/**
 * The tokenizer of a Qwen3.5/Qwen3.6 GGUF, built from its metadata alone and matching llama.cpp
 * token for token (src/llama-vocab.cpp, src/unicode.cpp; ../shared/docs/qwen35-mtp-spec.md §6).
 *
 * Encoding: (1) special-token partition — control, user-defined and unknown tokens, longest text
 * first, are cut out of the text as whole strings and emitted as their ids; user-defined ones
 * always, control/unknown ones only with `parseSpecial`; (2) the `tokenizer.ggml.pre` regex splits
 * each remaining fragment into pieces; (3) byte-level BPE per piece (BytePairEncoder); (4) BOS/EOS
 * per `add_bos_token` / `add_eos_token` when `addSpecial`.
 *
 * Decoding follows llama.cpp's token_to_piece for BPE vocabularies: normal tokens are mapped back
 * from the GPT-2 byte alphabet, user-defined tokens are their text, control/unknown tokens are
 * their text only when special tokens are asked for, and every other type is empty.
 *
 * Token attributes mirror llama.cpp's load-time rewriting: tokens whose text marks the end of a
 * turn or a FIM role (`<|im_end|>`, `<|endoftext|>`, `<|fim_pad|>`, …) become control tokens even
 * when the file says otherwise, which changes how they are matched. The end-of-generation set is
 * built the same way. Not mirrored: the gpt-oss / Gemma 4 / PaddleOCR special cases, and
 * llama.cpp's fallback BOS/EOS id 11 for files without those keys (such a file simply has none).
 * Stricter than llama.cpp, with a ModelDescriptionError naming the key: duplicate token texts
 * (llama.cpp aborts), special-token ids outside the vocabulary and merges without a space (it
 * ignores them).
 */
import { ModelDescriptionError } from "../errors.js";
import { GgufMetadata } from "../gguf/GgufMetadata.js";
import * as N from "../gguf/names.js";
import { GgufValueType, type GgufFile } from "../gguf/types.js";
import { BytePairEncoder } from "./BytePairEncoder.js";
import { unicodeToByte } from "./byteToUnicode.js";
import { preTokenizerRegex } from "./preTokenizerRegex.js";

/** `tokenizer.ggml.token_type` values (gguf-py TokenType). */
export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** llama.cpp's llama_token_attr bits; a token can carry several after load-time rewriting. */
const ATTR_UNKNOWN = 1 << 0;
const ATTR_UNUSED = 1 << 1;
const ATTR_NORMAL = 1 << 2;
const ATTR_CONTROL = 1 << 3;
const ATTR_USER_DEFINED = 1 << 4;
const ATTR_BYTE = 1 << 5;
const ATTR_OF_TYPE: Readonly<Record<number, number>> = {
  [TokenType.normal]: ATTR_NORMAL,
  [TokenType.unknown]: ATTR_UNKNOWN,
  [TokenType.control]: ATTR_CONTROL,
  [TokenType.userDefined]: ATTR_USER_DEFINED,
  [TokenType.unused]: ATTR_UNUSED,
  [TokenType.byte]: ATTR_BYTE,
};

/**
 * Token texts llama.cpp treats as end of generation (llama_vocab::impl::load); they become control
 * tokens. Its EOT/EOM detection lists are subsets of this one, so they need no table of their own.
 */
const EOG_TEXTS = new Set([
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
  "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
  "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
]);

/**
 * FIM roles detected by token text when the file has no id for them; the detected token is made a
 * control token. Pad, repo and file-separator tokens also end generation (a code model that emits
 * `<|file_sep|>` has finished the file). llama.cpp takes the first candidate its hash map yields;
 * we take the first in list order (a vocabulary has at most one of them in practice).
 */
const FIM_ROLES: readonly { key: string; texts: readonly string[]; eog: boolean }[] = [
  { key: N.KEY_TOKENIZER_FIM_PRE_ID, texts: ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"], eog: false },
  { key: N.KEY_TOKENIZER_FIM_SUF_ID, texts: ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"], eog: false },
  { key: N.KEY_TOKENIZER_FIM_MID_ID, texts: ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"], eog: false },
  { key: N.KEY_TOKENIZER_FIM_PAD_ID, texts: ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"], eog: true },
  { key: N.KEY_TOKENIZER_FIM_REP_ID, texts: ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"], eog: true },
  { key: N.KEY_TOKENIZER_FIM_SEP_ID, texts: ["<|file_sep|>"], eog: true },
];

const EMPTY = new Uint8Array(0);
const utf8Encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export interface EncodeOptions {
  /** Match control tokens (`<|im_start|>`, …) in the text, as llama.cpp's parse_special. Default false. */
  parseSpecial?: boolean;
  /** Add BOS/EOS where the file's add_bos_token/add_eos_token ask for them. Default true. */
  addSpecial?: boolean;
}

export class Tokenizer {
  readonly nVocab: number;
  /** `tokenizer.ggml.pre` */
  readonly pre: string;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly chatTemplate: string | undefined;
  /** End-of-generation token ids, ascending. */
  readonly eogIds: readonly number[];

  private readonly texts: string[];
  private readonly attrs: Uint8Array; // (nVocab) ATTR_* bits
  private readonly eog: ReadonlySet<number>;
  /** Ids of control / user-defined / unknown tokens, longest UTF-8 text first (ties: lower id first). */
  private readonly specialOrder: readonly number[];
  private readonly bpe: BytePairEncoder;
  private readonly splitter: RegExp;
  private readonly pieceCache: (Uint8Array | undefined)[];

  static fromGguf(file: GgufFile): Tokenizer {
    return new Tokenizer(new GgufMetadata(file.kv));
  }

  constructor(meta: GgufMetadata) {
    const model = meta.string(N.KEY_TOKENIZER_MODEL);
    if (model !== "gpt2") {
      throw new ModelDescriptionError(`${N.KEY_TOKENIZER_MODEL}: expected "gpt2" (byte-level BPE), got ${JSON.stringify(model)}`);
    }
    this.pre = meta.string(N.KEY_TOKENIZER_PRE);
    this.splitter = preTokenizerRegex(this.pre);

    const raw = meta.array(N.KEY_TOKENIZER_TOKENS, GgufValueType.STRING) as readonly string[];
    const n = raw.length;
    if (n === 0) throw new ModelDescriptionError(`${N.KEY_TOKENIZER_TOKENS}: expected at least one token, got an empty array`);
    this.nVocab = n;
    this.texts = new Array<string>(n);
    this.attrs = new Uint8Array(n).fill(ATTR_NORMAL);
    const types = meta.has(N.KEY_TOKENIZER_TOKEN_TYPE) ? meta.intArray(N.KEY_TOKENIZER_TOKEN_TYPE) : undefined;
    if (types && types.length < n) {
      throw new ModelDescriptionError(`${N.KEY_TOKENIZER_TOKEN_TYPE}: expected ${n} entries (one per token), got ${types.length}`);
    }
    const tokenToId = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      // llama.cpp renames empty tokens, then asserts that texts are unique (a crash); here that is a clean error
      const text = raw[i] === "" ? `[EMPTY_${i}]` : raw[i]!;
      this.texts[i] = text;
      tokenToId.set(text, i);
      if (tokenToId.size === i) {
        const twin = this.texts.indexOf(text);
        throw new ModelDescriptionError(`${N.KEY_TOKENIZER_TOKENS}[${i}]: expected a text no other token has, got ${JSON.stringify(text)} (also token ${twin})`);
      }
      if (types) this.attrs[i] = ATTR_OF_TYPE[types[i]!] ?? 0;
    }

    const id = (key: string): number | undefined => {
      const v = meta.optUint(key);
      if (v !== undefined && v >= n) throw new ModelDescriptionError(`${key}: expected a token id below ${n}, got ${v}`);
      return v;
    };
    this.bosId = id(N.KEY_TOKENIZER_BOS_ID);
    this.eosId = id(N.KEY_TOKENIZER_EOS_ID);
    this.addBos = meta.bool(N.KEY_TOKENIZER_ADD_BOS, false);
    this.addEos = meta.bool(N.KEY_TOKENIZER_ADD_EOS, false);
    if (this.addBos && this.bosId === undefined) {
      throw new ModelDescriptionError(`${N.KEY_TOKENIZER_BOS_ID}: expected a token id because ${N.KEY_TOKENIZER_ADD_BOS} is true, got none`);
    }
    if (this.addEos && this.eosId === undefined) {
      throw new ModelDescriptionError(`${N.KEY_TOKENIZER_EOS_ID}: expected a token id because ${N.KEY_TOKENIZER_ADD_EOS} is true, got none`);
    }
    this.chatTemplate = meta.optString(N.KEY_TOKENIZER_CHAT_TEMPLATE);

    const eog = new Set<number>();
    for (const role of FIM_ROLES) {
      let fim = id(role.key);
      if (fim === undefined) {
        const text = role.texts.find((t) => tokenToId.has(t));
        if (text !== undefined) {
          fim = tokenToId.get(text)!;
          this.attrs[fim]! |= ATTR_CONTROL;
        }
      }
      if (fim !== undefined && role.eog) eog.add(fim);
    }
    for (const text of EOG_TEXTS) {
      const tid = tokenToId.get(text);
      if (tid !== undefined) {
        eog.add(tid);
        this.attrs[tid]! |= ATTR_CONTROL;
      }
    }
    for (const extra of [this.eosId, id(N.KEY_TOKENIZER_EOT_ID), id(N.KEY_TOKENIZER_EOM_ID)]) {
      if (extra !== undefined) eog.add(extra);
    }
    this.eog = eog;
    this.eogIds = [...eog].sort((a, b) => a - b);

    const special: { id: number; bytes: number }[] = [];
    for (let i = 0; i < n; i++) {
      if (this.attrs[i]! & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) special.push({ id: i, bytes: Buffer.byteLength(this.texts[i]!) });
    }
    this.specialOrder = special.sort((a, b) => b.bytes - a.bytes || a.id - b.id).map((s) => s.id);

    this.bpe = new BytePairEncoder(tokenToId, this.texts, meta.array(N.KEY_TOKENIZER_MERGES, GgufValueType.STRING) as readonly string[]);
    this.pieceCache = new Array<Uint8Array | undefined>(n);
  }

  /** Token ids of `text`. Lone UTF-16 surrogates are encoded as U+FFFD, as UTF-8 conversion does. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((opts.addSpecial ?? true) && this.addBos) out.push(this.bosId!);
    for (const fragment of this.partition(text.replace(LONE_SURROGATE, "\uFFFD"), opts.parseSpecial ?? false)) {
      if (typeof fragment === "number") out.push(fragment);
      else this.encodeFragment(fragment, out);
    }
    if ((opts.addSpecial ?? true) && this.addEos) out.push(this.eosId!);
    return out;
  }

  /**
   * Step 1: for each special token in turn (longest first), every occurrence in every remaining
   * text fragment becomes its id. Returns text fragments (strings) and token ids, in order.
   */
  private partition(text: string, parseSpecial: boolean): (string | number)[] {
    let fragments: (string | number)[] = text === "" ? [] : [text];
    for (const sid of this.specialOrder) {
      if (!parseSpecial && this.attrs[sid]! & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
      const t = this.texts[sid]!;
      // any occurrence in a fragment is an occurrence in the whole text: one scan rules most out
      if (!text.includes(t)) continue;
      const next: (string | number)[] = [];
      for (const f of fragments) {
        if (typeof f === "number") {
          next.push(f);
          continue;
        }
        let from = 0;
        for (let at = f.indexOf(t); at >= 0; at = f.indexOf(t, from)) {
          if (at > from) next.push(f.slice(from, at));
          next.push(sid);
          from = at + t.length;
        }
        if (from < f.length) next.push(from === 0 ? f : f.slice(from));
      }
      fragments = next;
    }
    return fragments;
  }

  /** Steps 2–3: regex pieces, then BPE. Text between matches (never produced by these regexes) would be a piece too, as in llama.cpp. */
  private encodeFragment(fragment: string, out: number[]): void {
    const re = this.splitter;
    re.lastIndex = 0;
    let last = 0;
    for (let m = re.exec(fragment); m !== null; m = re.exec(fragment)) {
      if (m.index > last) this.bpe.encodePiece(fragment.slice(last, m.index), out);
      this.bpe.encodePiece(m[0], out);
      last = re.lastIndex;
    }
    if (last < fragment.length) this.bpe.encodePiece(fragment.slice(last), out);
  }

  /** The bytes token `id` stands for; control and unknown tokens are empty unless `special`. */
  tokenBytes(id: number, special = false): Uint8Array {
    const attr = this.attr(id);
    if (!special && attr & (ATTR_CONTROL | ATTR_UNKNOWN)) return EMPTY;
    let bytes = this.pieceCache[id];
    if (bytes === undefined) {
      bytes = this.piece(id, attr);
      this.pieceCache[id] = bytes;
    }
    return bytes;
  }

  private piece(id: number, attr: number): Uint8Array {
    const text = this.texts[id]!;
    if (attr & (ATTR_CONTROL | ATTR_UNKNOWN | ATTR_USER_DEFINED)) return utf8Encoder.encode(text);
    if (!(attr & ATTR_NORMAL)) return EMPTY; // unused, byte and undefined tokens print nothing
    const out: number[] = [];
    for (const ch of text) {
      const b = unicodeToByte.get(ch.codePointAt(0)!);
      // outside the byte alphabet (a malformed vocabulary): keep the character itself
      if (b === undefined) out.push(...utf8Encoder.encode(ch));
      else out.push(b);
    }
    return Uint8Array.from(out);
  }

  /** Text of `ids` with invalid UTF-8 rendered as U+FFFD (and a leading U+FEFF kept: it is text). */
  decode(ids: readonly number[], opts: { special?: boolean } = {}): string {
    const parts = ids.map((id) => this.tokenBytes(id, opts.special ?? false));
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(Buffer.concat(parts));
  }

  /** Does generating `id` end the turn (`<|im_end|>`, `<|endoftext|>`, EOS, FIM pad/repo/file-sep)? */
  isEog(id: number): boolean {
    return this.eog.has(id);
  }

  /** Is `id` a control token (printed only when special tokens are asked for)? */
  isControl(id: number): boolean {
    return (this.attr(id) & ATTR_CONTROL) !== 0;
  }

  /** The token's text as stored in the file (byte-level spelling for normal tokens). */
  tokenText(id: number): string {
    return this.texts[this.checked(id)]!;
  }

  private attr(id: number): number {
    return this.attrs[this.checked(id)]!;
  }

  private checked(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.nVocab) {
      throw new RangeError(`token id: expected an integer in 0..${this.nVocab - 1}, got ${id}`);
    }
    return id;
  }
}
