/**
 * Byte-level BPE over one pre-tokenized piece, as llama.cpp's llm_tokenizer_bpe_session does it
 * (src/llama-vocab.cpp; ../shared/docs/qwen35-mtp-spec.md §6.3 steps 3–4): the piece's UTF-8
 * bytes become one symbol each (spelled in the GPT-2 alphabet), then the adjacent pair with the
 * lowest merge rank is merged, leftmost first on equal ranks, until no adjacent pair has a rank.
 *
 * Symbols are integers, not strings. BPE compares symbols by text only, so every distinct text
 * gets one id: vocabulary texts use their token id (texts are unique), and texts that occur only
 * inside merges get ids from nVocab up. A merge
 * is then a lookup of an (int, int) pair in an open-addressing hash table built once at load. The
 * symbol a merge produces is looked up the first time the merge fires, not at load: most of a
 * 248k-merge table is never used by a given text, and load time is what a CLI user waits for.
 *
 * Short pieces (almost all of them) use a rank scan over an array; long ones (CJK runs, long
 * whitespace, minified code) use a binary heap with lazy invalidation, which is what llama.cpp
 * does for every piece. Both pick the same pair at every step. Results are cached per piece text.
 */
import { ModelDescriptionError } from "../errors.js";
import { KEY_TOKENIZER_MERGES } from "../gguf/names.js";
import { byteToUnicode } from "./byteToUnicode.js";

/** Pieces with more UTF-8 bytes than this use the heap: the scan is O(n²), the heap O(n log n) with more overhead. */
const HEAP_THRESHOLD = 64;
/** The piece cache is dropped and restarted when it holds this many entries. */
const CACHE_LIMIT = 1 << 17;

/**
 * (left, right) symbol pair → merge rank and merged symbol. Open addressing with linear probing in
 * typed arrays: no per-merge object, and an int-pair key needs no string or boxed-number hashing.
 */
class PairTable {
  private readonly mask: number;
  private readonly left: Int32Array; // (capacity) -1 = empty slot
  private readonly right: Int32Array; // (capacity)
  private readonly rankOf: Int32Array; // (capacity)
  /** (capacity) the merged symbol, -1 until first needed */
  readonly mergedOf: Int32Array;

  constructor(expected: number) {
    let capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    this.mask = capacity - 1;
    this.left = new Int32Array(capacity).fill(-1);
    this.right = new Int32Array(capacity);
    this.rankOf = new Int32Array(capacity);
    this.mergedOf = new Int32Array(capacity).fill(-1);
  }

  private slot(l: number, r: number): number {
    let h = Math.imul(l, 0x9e3779b1) ^ Math.imul(r + 0x632be5ab, 0x85ebca77);
    h ^= h >>> 15;
    let s = h & this.mask;
    while (this.left[s] !== -1 && (this.left[s] !== l || this.right[s] !== r)) s = (s + 1) & this.mask;
    return s;
  }

  /** Inserts unless the pair is already there: a merge listed twice keeps its first (lowest) rank. */
  add(l: number, r: number, rank: number): void {
    const s = this.slot(l, r);
    if (this.left[s] !== -1) return;
    this.left[s] = l;
    this.right[s] = r;
    this.rankOf[s] = rank;
  }

  /** The slot of the pair, or -1 when the pair has no merge. */
  find(l: number, r: number): number {
    const s = this.slot(l, r);
    return this.left[s] === -1 ? -1 : s;
  }

  rank(slot: number): number {
    return this.rankOf[slot]!;
  }

  matches(slot: number, l: number, r: number): boolean {
    return this.left[slot] === l && this.right[slot] === r;
  }
}

export class BytePairEncoder {
  private readonly pairs: PairTable;
  /** (256) the symbol of each byte's one-character GPT-2 spelling. */
  private readonly byteSymbol = new Int32Array(256);
  /** Texts of the symbols that are not vocabulary tokens, indexed by id - nVocab. */
  private readonly extraText: string[] = [];
  private readonly extraId = new Map<string, number>();
  private readonly cache = new Map<string, readonly number[]>();
  // scratch buffers, grown on demand: (bytes of the piece), (symbols), (per position)
  private bytes = new Uint8Array(256);
  private syms = new Int32Array(256);
  private pairRank = new Int32Array(256);
  private next = new Int32Array(256);
  private prev = new Int32Array(256);
  // heap entries (rank, left position, pair slot): at most n - 1 initial + 2 per merge < 3n
  private hRank = new Int32Array(768);
  private hLeft = new Int32Array(768);
  private hSlot = new Int32Array(768);

  /**
   * @param tokenToId text → id of every token, texts[id] its inverse
   * @param merges `tokenizer.ggml.merges`, "left right" split at the first space after position 0
   */
  constructor(
    private readonly tokenToId: ReadonlyMap<string, number>,
    private readonly texts: readonly string[],
    merges: readonly string[],
  ) {
    for (let b = 0; b < 256; b++) this.byteSymbol[b] = this.symbol(byteToUnicode[b]!);
    this.pairs = new PairTable(merges.length);
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank]!;
      const cut = m.indexOf(" ", 1);
      if (cut < 0) {
        throw new ModelDescriptionError(`${KEY_TOKENIZER_MERGES}[${rank}]: expected "left right", got ${JSON.stringify(m)}`);
      }
      this.pairs.add(this.symbol(m.slice(0, cut)), this.symbol(m.slice(cut + 1)), rank);
    }
  }

  private get nVocab(): number {
    return this.texts.length;
  }

  /** The one id of a symbol text: its token id, or an id from nVocab up for texts outside the vocabulary. */
  private symbol(text: string): number {
    const id = this.tokenToId.get(text) ?? this.extraId.get(text);
    if (id !== undefined) return id;
    const fresh = this.nVocab + this.extraText.length;
    this.extraText.push(text);
    this.extraId.set(text, fresh);
    return fresh;
  }

  private symbolText(sym: number): string {
    return sym < this.nVocab ? this.texts[sym]! : this.extraText[sym - this.nVocab]!;
  }

  /** The symbol merge `slot` produces, resolved on first use. */
  private merged(slot: number, l: number, r: number): number {
    let m = this.pairs.mergedOf[slot]!;
    if (m < 0) {
      m = this.symbol(this.symbolText(l) + this.symbolText(r));
      this.pairs.mergedOf[slot] = m;
    }
    return m;
  }

  /** Appends the token ids of one pre-tokenized piece (raw text, not yet byte-mapped) to `out`. */
  encodePiece(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.encodeUncached(piece);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }

  private encodeUncached(piece: string): number[] {
    const n = this.utf8(piece);
    if (this.syms.length < n) {
      this.syms = new Int32Array(n * 2);
      this.pairRank = new Int32Array(n * 2);
      this.next = new Int32Array(n * 2);
      this.prev = new Int32Array(n * 2);
      this.hRank = new Int32Array(n * 6);
      this.hLeft = new Int32Array(n * 6);
      this.hSlot = new Int32Array(n * 6);
    }
    const syms = this.syms;
    for (let i = 0; i < n; i++) syms[i] = this.byteSymbol[this.bytes[i]!]!;
    const count = n > HEAP_THRESHOLD ? this.mergeWithHeap(n) : this.mergeWithScan(n);
    const out: number[] = [];
    for (let i = 0; i < count; i++) this.emitSymbol(syms[i]!, out);
    return out;
  }

  /** Writes the UTF-8 bytes of `s` (well-formed) into this.bytes; returns the byte count. */
  private utf8(s: string): number {
    if (this.bytes.length < s.length * 3) this.bytes = new Uint8Array(s.length * 6);
    const b = this.bytes;
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        b[n++] = c;
      } else if (c < 0x800) {
        b[n++] = 0xc0 | (c >> 6);
        b[n++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c < 0xdc00) {
        // a high surrogate: callers hand in well-formed text, so a low surrogate follows
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        b[n++] = 0xf0 | (c >> 18);
        b[n++] = 0x80 | ((c >> 12) & 0x3f);
        b[n++] = 0x80 | ((c >> 6) & 0x3f);
        b[n++] = 0x80 | (c & 0x3f);
      } else {
        b[n++] = 0xe0 | (c >> 12);
        b[n++] = 0x80 | ((c >> 6) & 0x3f);
        b[n++] = 0x80 | (c & 0x3f);
      }
    }
    return n;
  }

  /** The rank of the pair (l, r), or MAX when it has no merge. */
  private rankOf(l: number, r: number): number {
    const s = this.pairs.find(l, r);
    return s < 0 ? 0x7fffffff : this.pairs.rank(s);
  }

  /** Rank scan over syms[0..n): pairRank[i] is the rank of (syms[i], syms[i+1]). Returns the new length. */
  private mergeWithScan(n: number): number {
    const syms = this.syms;
    const pr = this.pairRank;
    for (let i = 0; i + 1 < n; i++) pr[i] = this.rankOf(syms[i]!, syms[i + 1]!);
    while (n > 1) {
      let best = 0x7fffffff;
      let at = -1;
      for (let i = 0; i + 1 < n; i++) {
        if (pr[i]! < best) {
          best = pr[i]!;
          at = i;
        }
      }
      if (at < 0) break;
      syms[at] = this.merged(this.pairs.find(syms[at]!, syms[at + 1]!), syms[at]!, syms[at + 1]!);
      syms.copyWithin(at + 1, at + 2, n);
      pr.copyWithin(at + 1, at + 2, n - 1);
      n--;
      if (at > 0) pr[at - 1] = this.rankOf(syms[at - 1]!, syms[at]!);
      if (at + 1 < n) pr[at] = this.rankOf(syms[at]!, syms[at + 1]!);
    }
    return n;
  }

  /**
   * llama.cpp's algorithm: a doubly linked list of symbols and a min-heap of candidate pairs keyed
   * by (rank, left position). A popped pair is stale when either side has changed since it was
   * pushed; it is then skipped. Compacts the survivors to syms[0..k) and returns k.
   */
  private mergeWithHeap(n: number): number {
    const syms = this.syms; // (n) symbol per position; -1 once merged into its left neighbour
    const { next, prev, hRank, hLeft, hSlot } = this;
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    let size = 0;
    const less = (a: number, b: number) => hRank[a]! < hRank[b]! || (hRank[a] === hRank[b] && hLeft[a]! < hLeft[b]!);
    const swap = (a: number, b: number) => {
      const r = hRank[a]!, l = hLeft[a]!, s = hSlot[a]!;
      hRank[a] = hRank[b]!; hLeft[a] = hLeft[b]!; hSlot[a] = hSlot[b]!;
      hRank[b] = r; hLeft[b] = l; hSlot[b] = s;
    };
    const push = (left: number) => {
      if (left < 0) return;
      const right = next[left]!;
      if (right < 0) return;
      const slot = this.pairs.find(syms[left]!, syms[right]!);
      if (slot < 0) return;
      let i = size++;
      hRank[i] = this.pairs.rank(slot);
      hLeft[i] = left;
      hSlot[i] = slot;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!less(i, parent)) break;
        swap(i, parent);
        i = parent;
      }
    };
    const pop = () => {
      swap(0, --size);
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < size && less(l, m)) m = l;
        if (r < size && less(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    };

    for (let i = 0; i + 1 < n; i++) push(i);
    while (size > 0) {
      const left = hLeft[0]!;
      const slot = hSlot[0]!;
      pop();
      const right = next[left]!;
      if (syms[left] === -1 || right < 0 || !this.pairs.matches(slot, syms[left]!, syms[right]!)) continue;
      syms[left] = this.merged(slot, syms[left]!, syms[right]!);
      syms[right] = -1;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      push(prev[left]!);
      push(left);
    }
    let k = 0;
    for (let i = 0; i >= 0; i = next[i]!) syms[k++] = syms[i]!;
    return k;
  }

  /**
   * A final symbol that is not a vocabulary token (possible only with an incomplete vocabulary):
   * llama.cpp looks up each UTF-8 byte of its text as a one-byte token and drops bytes without one.
   * Token texts are valid UTF-8, so only ASCII bytes can ever match.
   */
  private emitSymbol(sym: number, out: number[]): void {
    if (sym < this.nVocab) {
      out.push(sym);
      return;
    }
    for (const ch of this.extraText[sym - this.nVocab]!) {
      if (ch.charCodeAt(0) >= 0x80) continue;
      const id = this.tokenToId.get(ch);
      if (id !== undefined) out.push(id);
    }
  }
}
