/**
 * The in-memory form of a parsed GGUF header (../shared/docs/qwen35-mtp-spec.md §1.1).
 * 64-bit integer metadata values are kept as bigint so nothing is silently rounded; tensor
 * dimensions, offsets and sizes are numbers because the reader has proven them <= 2^53.
 */

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export const GGUF_VALUE_TYPE_NAMES: Record<GgufValueType, string> = {
  [GgufValueType.UINT8]: "u8",
  [GgufValueType.INT8]: "i8",
  [GgufValueType.UINT16]: "u16",
  [GgufValueType.INT16]: "i16",
  [GgufValueType.UINT32]: "u32",
  [GgufValueType.INT32]: "i32",
  [GgufValueType.FLOAT32]: "f32",
  [GgufValueType.BOOL]: "bool",
  [GgufValueType.STRING]: "string",
  [GgufValueType.ARRAY]: "array",
  [GgufValueType.UINT64]: "u64",
  [GgufValueType.INT64]: "i64",
  [GgufValueType.FLOAT64]: "f64",
};

export type GgufScalar = number | bigint | boolean | string;

export interface GgufArray {
  readonly elementType: GgufValueType;
  readonly items: readonly GgufValue[];
}

export type GgufValue = GgufScalar | GgufArray;

export interface GgufKv {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

export interface GgufTensorInfo {
  readonly name: string;
  /** Dimensions in ggml order: ne[0] is contiguous. */
  readonly ne: readonly number[];
  /** ggml type id (src/gguf/ggmlTypes.ts). */
  readonly type: number;
  /** Offset relative to the start of the data section, as stored in the file. */
  readonly offset: number;
  /** Absolute byte offset of the tensor data in the file. */
  readonly fileOffset: number;
  readonly nElements: number;
  readonly nBytes: number;
}

export interface GgufFile {
  readonly path: string;
  readonly fileSize: number;
  readonly version: number;
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  /** Key/value pairs in file order. */
  readonly kv: ReadonlyMap<string, GgufKv>;
  /** Tensor infos in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  readonly tensorByName: ReadonlyMap<string, GgufTensorInfo>;
}

export function isGgufArray(v: GgufValue): v is GgufArray {
  return typeof v === "object" && v !== null && "items" in v;
}
