/**
 * Sequential little-endian reader over a file descriptor that never holds more than one chunk
 * (plus, transiently, one capped string) in memory. It reads with pread-style positioned reads, so
 * a 100 GB file costs only the bytes of its header. Every read first checks the bytes exist, so a
 * truncated or lying file ends in a GgufFormatError naming what was being read — never in a
 * partially filled value.
 */
import { readSync } from "node:fs";
import { GgufFormatError } from "../errors.js";

const DEFAULT_CHUNK_BYTES = 1 << 20;

export class ChunkedFileReader {
  private buf: Buffer;
  /** Absolute file offset of buf[0]. */
  private bufStart = 0;
  /** Valid bytes in buf. */
  private bufLen = 0;
  /** Absolute offset of the next byte to read. */
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly fileSize: number,
    chunkBytes = DEFAULT_CHUNK_BYTES,
  ) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Throws unless n more bytes exist in the file after pos. */
  require(n: number, what: string): void {
    if (n > this.remaining) {
      throw new GgufFormatError(`${what}: needs ${n} bytes but the file ends after ${this.remaining}`, this.pos);
    }
  }

  /** Makes [pos, pos+n) available in buf (n <= chunk size) and returns its index in buf. */
  private window(n: number, what: string): number {
    this.require(n, what);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.bufLen) {
      this.bufStart = this.pos;
      this.bufLen = this.fill(this.buf, this.pos, Math.min(this.buf.length, this.fileSize - this.pos));
      if (this.bufLen < n) {
        throw new GgufFormatError(`${what}: short read (file changed while reading?)`, this.pos);
      }
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  private fill(target: Buffer, position: number, length: number): number {
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, target, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  u8(what: string): number {
    return this.buf.readUInt8(this.window(1, what));
  }
  i8(what: string): number {
    return this.buf.readInt8(this.window(1, what));
  }
  u16(what: string): number {
    return this.buf.readUInt16LE(this.window(2, what));
  }
  i16(what: string): number {
    return this.buf.readInt16LE(this.window(2, what));
  }
  u32(what: string): number {
    return this.buf.readUInt32LE(this.window(4, what));
  }
  i32(what: string): number {
    return this.buf.readInt32LE(this.window(4, what));
  }
  f32(what: string): number {
    return this.buf.readFloatLE(this.window(4, what));
  }
  f64(what: string): number {
    return this.buf.readDoubleLE(this.window(8, what));
  }
  u64(what: string): bigint {
    return this.buf.readBigUInt64LE(this.window(8, what));
  }
  i64(what: string): bigint {
    return this.buf.readBigInt64LE(this.window(8, what));
  }

  /** Returns n bytes starting at pos. The view is valid until the next read. */
  bytes(n: number, what: string): Uint8Array {
    if (n <= this.buf.length) {
      const at = this.window(n, what);
      return this.buf.subarray(at, at + n);
    }
    // Larger than a chunk: the caller has capped n, and require() proved the bytes exist.
    this.require(n, what);
    const out = Buffer.allocUnsafe(n);
    if (this.fill(out, this.pos, n) < n) {
      throw new GgufFormatError(`${what}: short read (file changed while reading?)`, this.pos);
    }
    this.pos += n;
    return out;
  }
}
