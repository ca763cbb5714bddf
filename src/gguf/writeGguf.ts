/**
 * A small GGUF v3 writer for test fixtures and synthetic models (the inverse of parseGguf).
 * Whole file in memory: fixtures are a few MB. `GgufByteWriter` is exported so tests can also
 * craft deliberately broken headers byte by byte.
 */
import { writeFileSync } from "node:fs";
import { ggmlTypeInfo } from "./ggmlTypes.js";
import { KEY_GENERAL_ALIGNMENT } from "./names.js";
import { GgufValueType, isGgufArray, type GgufValue } from "./types.js";

export class GgufByteWriter {
  private chunks: Buffer[] = [];
  length = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }
  private num(bytes: number, write: (b: Buffer) => void): this {
    const b = Buffer.alloc(bytes);
    write(b);
    return this.push(b);
  }
  u8(v: number): this {
    return this.num(1, (b) => b.writeUInt8(v));
  }
  i8(v: number): this {
    return this.num(1, (b) => b.writeInt8(v));
  }
  u16(v: number): this {
    return this.num(2, (b) => b.writeUInt16LE(v));
  }
  i16(v: number): this {
    return this.num(2, (b) => b.writeInt16LE(v));
  }
  u32(v: number): this {
    return this.num(4, (b) => b.writeUInt32LE(v >>> 0));
  }
  i32(v: number): this {
    return this.num(4, (b) => b.writeInt32LE(v));
  }
  f32(v: number): this {
    return this.num(4, (b) => b.writeFloatLE(v));
  }
  f64(v: number): this {
    return this.num(8, (b) => b.writeDoubleLE(v));
  }
  u64(v: number | bigint): this {
    return this.num(8, (b) => b.writeBigUInt64LE(BigInt(v)));
  }
  i64(v: number | bigint): this {
    return this.num(8, (b) => b.writeBigInt64LE(BigInt(v)));
  }
  raw(bytes: Uint8Array): this {
    return this.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  string(s: string): this {
    const b = Buffer.from(s, "utf8");
    return this.u64(b.length).push(b);
  }
  padTo(alignment: number): this {
    const pad = (alignment - (this.length % alignment)) % alignment;
    return pad ? this.push(Buffer.alloc(pad)) : this;
  }

  value(type: GgufValueType, v: GgufValue): this {
    switch (type) {
      case GgufValueType.UINT8:
        return this.u8(v as number);
      case GgufValueType.INT8:
        return this.i8(v as number);
      case GgufValueType.UINT16:
        return this.u16(v as number);
      case GgufValueType.INT16:
        return this.i16(v as number);
      case GgufValueType.UINT32:
        return this.u32(v as number);
      case GgufValueType.INT32:
        return this.i32(v as number);
      case GgufValueType.FLOAT32:
        return this.f32(v as number);
      case GgufValueType.FLOAT64:
        return this.f64(v as number);
      case GgufValueType.UINT64:
        return this.u64(v as number | bigint);
      case GgufValueType.INT64:
        return this.i64(v as number | bigint);
      case GgufValueType.BOOL:
        return this.u8(v ? 1 : 0);
      case GgufValueType.STRING:
        return this.string(v as string);
      case GgufValueType.ARRAY: {
        if (!isGgufArray(v)) throw new TypeError("ARRAY value must be {elementType, items}");
        this.u32(v.elementType).u64(v.items.length);
        for (const item of v.items) this.value(v.elementType, item);
        return this;
      }
    }
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

export interface GgufWriteKv {
  key: string;
  type: GgufValueType;
  value: GgufValue;
}

export interface GgufWriteTensor {
  name: string;
  type: number;
  /** ggml order, ne[0] contiguous. */
  ne: number[];
  /** Exactly the tensor's bytes (row size × rows). */
  data: Uint8Array;
}

export interface GgufWriteSpec {
  version?: number;
  alignment?: number;
  kv: GgufWriteKv[];
  tensors: GgufWriteTensor[];
}

/** Shorthand constructors for metadata entries. */
export const kv = {
  u32: (key: string, value: number): GgufWriteKv => ({ key, type: GgufValueType.UINT32, value }),
  i32: (key: string, value: number): GgufWriteKv => ({ key, type: GgufValueType.INT32, value }),
  f32: (key: string, value: number): GgufWriteKv => ({ key, type: GgufValueType.FLOAT32, value }),
  bool: (key: string, value: boolean): GgufWriteKv => ({ key, type: GgufValueType.BOOL, value }),
  str: (key: string, value: string): GgufWriteKv => ({ key, type: GgufValueType.STRING, value }),
  arr: (key: string, elementType: GgufValueType, items: GgufValue[]): GgufWriteKv => ({
    key,
    type: GgufValueType.ARRAY,
    value: { elementType, items },
  }),
};

export function encodeGguf(spec: GgufWriteSpec): Buffer {
  const alignment = spec.alignment ?? 32;
  const entries = [...spec.kv];
  if (alignment !== 32 && !entries.some((e) => e.key === KEY_GENERAL_ALIGNMENT)) {
    entries.push(kv.u32(KEY_GENERAL_ALIGNMENT, alignment));
  }
  const w = new GgufByteWriter();
  w.raw(Buffer.from("GGUF", "latin1")).u32(spec.version ?? 3).u64(spec.tensors.length).u64(entries.length);
  for (const e of entries) w.string(e.key).u32(e.type).value(e.type, e.value);

  let offset = 0;
  for (const t of spec.tensors) {
    const info = ggmlTypeInfo(t.type);
    if (!info) throw new TypeError(`${t.name}: unknown ggml type ${t.type}`);
    const n = t.ne.reduce((a, b) => a * b, 1);
    const expected = (n / info.blockElems) * info.blockBytes;
    if (t.data.byteLength !== expected) {
      throw new TypeError(`${t.name}: data has ${t.data.byteLength} bytes, ${info.name} ${JSON.stringify(t.ne)} needs ${expected}`);
    }
    w.string(t.name).u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(t.type).u64(offset);
    offset += Math.ceil(t.data.byteLength / alignment) * alignment;
  }
  w.padTo(alignment);
  for (const t of spec.tensors) w.raw(t.data).padTo(alignment);
  return w.toBuffer();
}

export function writeGguf(path: string, spec: GgufWriteSpec): void {
  writeFileSync(path, encodeGguf(spec));
}
