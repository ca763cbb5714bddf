/**
 * A bounded, streaming GGUF (v2/v3) header parser that treats the file as untrusted.
 *
 * Layout (../shared/docs/qwen35-mtp-spec.md §1.1; ggml/src/gguf.cpp): magic "GGUF", u32 version,
 * u64 n_tensors, u64 n_kv, the KV pairs, the tensor infos, padding to `general.alignment`, the
 * tensor data. All little-endian.
 *
 * Defences, each ending in a GgufFormatError that names the thing and the byte offset:
 * - every read is checked against the file size (truncation);
 * - every claimed count is capped by an absolute limit AND by the bytes left in the file
 *   (count × smallest possible element), so no allocation is ever proportional to a claimed count;
 * - strings are capped in length and must be valid UTF-8; nested arrays are capped in depth;
 * - dimensions are capped in number, their product is checked for overflow (and must fit 2^53 so
 *   offsets stay exact in JS numbers), ne0 must be a whole number of blocks of a known ggml type;
 * - tensor offsets must be aligned, lie inside the file, and not overlap.
 */
import { closeSync, fstatSync, openSync } from "node:fs";
import { GgufFormatError, ModelFileError } from "../errors.js";
import { ChunkedFileReader } from "./ChunkedFileReader.js";
import { ggmlTypeInfo } from "./ggmlTypes.js";
import { KEY_GENERAL_ALIGNMENT } from "./names.js";
import {
  GGUF_VALUE_TYPE_NAMES,
  GgufValueType,
  type GgufFile,
  type GgufKv,
  type GgufTensorInfo,
  type GgufValue,
} from "./types.js";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32

export interface GgufLimits {
  maxTensors: number;
  maxKv: number;
  maxArrayElements: number;
  maxArrayDepth: number;
  maxStringBytes: number;
  maxTensorNameBytes: number;
  maxDims: number;
  /** Bytes of KV + tensor-info section; a real 248k-token vocabulary needs ~12 MB. */
  maxHeaderBytes: number;
}

export const DEFAULT_GGUF_LIMITS: Readonly<GgufLimits> = {
  maxTensors: 1 << 16,
  maxKv: 1 << 16,
  maxArrayElements: 1 << 22, // 4M: real vocabularies and merge lists are ~250k
  maxArrayDepth: 4,
  maxStringBytes: 16 << 20,
  maxTensorNameBytes: 63, // GGML_MAX_NAME (64) including the NUL
  maxDims: 4, // GGML_MAX_DIMS
  maxHeaderBytes: 512 << 20,
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Smallest encoding of one value of each type, used to bound claimed counts by the bytes left. */
function minEncodedBytes(type: GgufValueType): number {
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
    case GgufValueType.STRING: // u64 length
      return 8;
    case GgufValueType.ARRAY: // u32 type + u64 count
      return 12;
  }
}

class HeaderParser {
  constructor(
    private readonly r: ChunkedFileReader,
    private readonly limits: GgufLimits,
  ) {}

  /** Reads a u64 count, checking it against an absolute cap and the bytes left in the file. */
  count(what: string, cap: number, minBytesEach: number): number {
    const at = this.r.pos;
    const n = this.r.u64(what);
    if (n > BigInt(cap)) {
      throw new GgufFormatError(`${what}: expected at most ${cap}, got ${n}`, at);
    }
    const num = Number(n);
    if (num * minBytesEach > this.r.remaining) {
      throw new GgufFormatError(
        `${what}: ${num} entries need at least ${num * minBytesEach} bytes but the file ends after ${this.r.remaining}`,
        at,
      );
    }
    return num;
  }

  string(what: string, maxBytes = this.limits.maxStringBytes): string {
    const at = this.r.pos;
    const len = this.r.u64(`${what} (string length)`);
    if (len > BigInt(maxBytes)) {
      throw new GgufFormatError(`${what}: string length expected at most ${maxBytes} bytes, got ${len}`, at);
    }
    const bytes = this.r.bytes(Number(len), `${what} (string bytes)`);
    try {
      return utf8.decode(bytes);
    } catch {
      throw new GgufFormatError(`${what}: string is not valid UTF-8`, at + 8);
    }
  }

  valueType(what: string): GgufValueType {
    const at = this.r.pos;
    const t = this.r.u32(what);
    if (!(t in GGUF_VALUE_TYPE_NAMES)) {
      throw new GgufFormatError(`${what}: expected a GGUF value type 0..12, got ${t}`, at);
    }
    return t as GgufValueType;
  }

  value(type: GgufValueType, what: string, depth: number): GgufValue {
    const r = this.r;
    switch (type) {
      case GgufValueType.UINT8:
        return r.u8(what);
      case GgufValueType.INT8:
        return r.i8(what);
      case GgufValueType.UINT16:
        return r.u16(what);
      case GgufValueType.INT16:
        return r.i16(what);
      case GgufValueType.UINT32:
        return r.u32(what);
      case GgufValueType.INT32:
        return r.i32(what);
      case GgufValueType.FLOAT32:
        return r.f32(what);
      case GgufValueType.FLOAT64:
        return r.f64(what);
      case GgufValueType.UINT64:
        return r.u64(what);
      case GgufValueType.INT64:
        return r.i64(what);
      case GgufValueType.BOOL: {
        const at = r.pos;
        const b = r.u8(what);
        if (b > 1) throw new GgufFormatError(`${what}: expected bool 0 or 1, got ${b}`, at);
        return b === 1;
      }
      case GgufValueType.STRING:
        return this.string(what);
      case GgufValueType.ARRAY: {
        if (depth >= this.limits.maxArrayDepth) {
          throw new GgufFormatError(`${what}: arrays nested deeper than ${this.limits.maxArrayDepth}`, r.pos);
        }
        const elementType = this.valueType(`${what} (array element type)`);
        const n = this.count(`${what} (array length)`, this.limits.maxArrayElements, minEncodedBytes(elementType));
        const items: GgufValue[] = [];
        for (let i = 0; i < n; i++) items.push(this.value(elementType, `${what}[${i}]`, depth + 1));
        return { elementType, items };
      }
    }
  }

  tensorInfo(index: number, alignment: () => number): Omit<GgufTensorInfo, "fileOffset"> {
    const r = this.r;
    const name = this.string(`tensor #${index} name`, this.limits.maxTensorNameBytes);
    const where = `tensor '${name}'`;
    if (name.length === 0) throw new GgufFormatError(`tensor #${index}: empty name`, r.pos);
    let at = r.pos;
    const nDims = r.u32(`${where} n_dims`);
    if (nDims > this.limits.maxDims) {
      throw new GgufFormatError(`${where}: n_dims expected at most ${this.limits.maxDims}, got ${nDims}`, at);
    }
    const ne: number[] = [];
    let product = 1n;
    for (let d = 0; d < nDims; d++) {
      at = r.pos;
      const v = r.u64(`${where} ne[${d}]`);
      product *= v;
      if (product > MAX_SAFE) {
        throw new GgufFormatError(`${where}: element count overflows (ne[0..${d}] product ${product} > 2^53)`, at);
      }
      ne.push(Number(v));
    }
    at = r.pos;
    const type = r.u32(`${where} type`);
    const info = ggmlTypeInfo(type);
    if (!info) throw new GgufFormatError(`${where}: unknown ggml type id ${type}`, at);
    const ne0 = ne[0] ?? 1;
    if (ne0 % info.blockElems !== 0) {
      throw new GgufFormatError(
        `${where}: ne[0] = ${ne0} is not a multiple of the ${info.name} block size ${info.blockElems}`,
        at,
      );
    }
    const nElements = Number(product);
    const nBytes = (nElements / info.blockElems) * info.blockBytes;
    at = r.pos;
    const off = r.u64(`${where} offset`);
    if (off > MAX_SAFE) throw new GgufFormatError(`${where}: data offset ${off} is past any possible file end`, at);
    const offset = Number(off);
    if (offset % alignment() !== 0) {
      throw new GgufFormatError(`${where}: data offset ${offset} is not a multiple of the alignment ${alignment()}`, at);
    }
    return { name, ne, type, offset, nElements, nBytes };
  }
}

/** Parses the header of a GGUF file; reads only the header bytes, never tensor data. */
export function parseGguf(path: string, limits: Partial<GgufLimits> = {}): GgufFile {
  const lim: GgufLimits = { ...DEFAULT_GGUF_LIMITS, ...limits };
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new ModelFileError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ModelFileError(`${path}: not a regular file`);
    return parseFromFd(path, fd, st.size, lim);
  } finally {
    closeSync(fd);
  }
}

function parseFromFd(path: string, fd: number, fileSize: number, lim: GgufLimits): GgufFile {
  const r = new ChunkedFileReader(fd, fileSize);
  const p = new HeaderParser(r, lim);

  const magic = r.u32("magic");
  if (magic !== GGUF_MAGIC) {
    const shown = Buffer.alloc(4);
    shown.writeUInt32LE(magic);
    throw new GgufFormatError(`${path}: not a GGUF file (magic expected "GGUF", got ${JSON.stringify(shown.toString("latin1"))})`, 0);
  }
  const version = r.u32("version");
  if (version !== 2 && version !== 3) {
    // A byte-swapped small number means a big-endian file (GGUF v3 allows them; we do not).
    const hint = (version & 0xffff) === 0 && version >>> 16 !== 0 ? " (big-endian GGUF is not supported)" : "";
    throw new GgufFormatError(`${path}: GGUF version expected 2 or 3, got ${version}${hint}`, 4);
  }
  const nTensors = p.count("tensor count", lim.maxTensors, 8 + 4 + 4 + 8);
  const nKv = p.count("metadata KV count", lim.maxKv, 8 + 4 + 1);

  const kv = new Map<string, GgufKv>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = r.pos;
    const key = p.string(`metadata key #${i}`, 65535);
    if (key.length === 0) throw new GgufFormatError(`metadata key #${i}: empty key`, keyAt);
    if (kv.has(key)) throw new GgufFormatError(`metadata key '${key}': duplicate`, keyAt);
    const type = p.valueType(`metadata '${key}' type`);
    const value = p.value(type, `metadata '${key}'`, 0);
    kv.set(key, { key, type, value });
    if (r.pos > lim.maxHeaderBytes) {
      throw new GgufFormatError(`header: larger than ${lim.maxHeaderBytes} bytes`, r.pos);
    }
  }

  let alignment = 32;
  const alignKv = kv.get(KEY_GENERAL_ALIGNMENT);
  if (alignKv) {
    const a = alignKv.value;
    if (alignKv.type !== GgufValueType.UINT32 || typeof a !== "number" || a === 0 || (a & (a - 1)) !== 0) {
      throw new GgufFormatError(
        `metadata '${KEY_GENERAL_ALIGNMENT}': expected a u32 power of two, got ${GGUF_VALUE_TYPE_NAMES[alignKv.type]} ${String(a)}`,
        8,
      );
    }
    alignment = a;
  }

  const partial: Omit<GgufTensorInfo, "fileOffset">[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = r.pos;
    const t = p.tensorInfo(i, () => alignment);
    if (names.has(t.name)) throw new GgufFormatError(`tensor '${t.name}': duplicate name`, at);
    names.add(t.name);
    partial.push(t);
    if (r.pos > lim.maxHeaderBytes) {
      throw new GgufFormatError(`header: larger than ${lim.maxHeaderBytes} bytes`, r.pos);
    }
  }

  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > fileSize) {
    throw new GgufFormatError(`data section: starts at ${dataOffset} but the file ends at ${fileSize}`, r.pos);
  }
  const tensors: GgufTensorInfo[] = partial.map((t) => {
    const fileOffset = dataOffset + t.offset;
    if (fileOffset + t.nBytes > fileSize) {
      throw new GgufFormatError(
        `tensor '${t.name}': data [${fileOffset}, ${fileOffset + t.nBytes}) runs past the end of the file (${fileSize} bytes)`,
        fileOffset,
      );
    }
    return { ...t, fileOffset };
  });
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.nBytes) {
      throw new GgufFormatError(`tensor '${cur.name}': data overlaps tensor '${prev.name}'`, cur.fileOffset);
    }
  }

  return {
    path,
    fileSize,
    version,
    alignment,
    dataOffset,
    kv,
    tensors,
    tensorByName: new Map(tensors.map((t) => [t.name, t])),
  };
}
