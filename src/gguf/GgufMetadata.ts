/**
 * Typed, validating access to GGUF metadata. Integer getters accept any integer GGUF type whose
 * value fits the requested range (converters differ in u32/i32/u64 choices); everything else is a
 * ModelDescriptionError "key: expected X, got Y".
 */
import { ModelDescriptionError } from "../errors.js";
import { GGUF_VALUE_TYPE_NAMES, GgufValueType, isGgufArray, type GgufKv, type GgufValue } from "./types.js";

const INTEGER_TYPES = new Set<GgufValueType>([
  GgufValueType.UINT8,
  GgufValueType.INT8,
  GgufValueType.UINT16,
  GgufValueType.INT16,
  GgufValueType.UINT32,
  GgufValueType.INT32,
  GgufValueType.UINT64,
  GgufValueType.INT64,
]);

function describe(type: GgufValueType, value: GgufValue): string {
  if (isGgufArray(value)) return `array of ${value.items.length} ${GGUF_VALUE_TYPE_NAMES[value.elementType]}`;
  const shown = typeof value === "string" ? JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value) : String(value);
  return `${GGUF_VALUE_TYPE_NAMES[type]} ${shown}`;
}

function toUint(key: string, type: GgufValueType, v: GgufValue, max: number): number {
  if (!INTEGER_TYPES.has(type) || (typeof v !== "number" && typeof v !== "bigint")) {
    throw new ModelDescriptionError(`${key}: expected an unsigned integer, got ${describe(type, v)}`);
  }
  if (v < 0 || v > max) throw new ModelDescriptionError(`${key}: expected an integer in 0..${max}, got ${v}`);
  return Number(v);
}

export class GgufMetadata {
  constructor(readonly kv: ReadonlyMap<string, GgufKv>) {}

  has(key: string): boolean {
    return this.kv.has(key);
  }

  private need(key: string): GgufKv {
    const e = this.kv.get(key);
    if (!e) throw new ModelDescriptionError(`${key}: required metadata key is missing`);
    return e;
  }

  /** A non-negative integer (u8..u64 / i8..i64 with a value in range). */
  uint(key: string, fallback?: number, max = 0xffffffff): number {
    const e = this.kv.get(key);
    if (!e) {
      if (fallback !== undefined) return fallback;
      throw new ModelDescriptionError(`${key}: required metadata key is missing`);
    }
    if (isGgufArray(e.value)) throw new ModelDescriptionError(`${key}: expected an unsigned integer, got ${describe(e.type, e.value)}`);
    return toUint(key, e.type, e.value, max);
  }

  optUint(key: string, max = 0xffffffff): number | undefined {
    return this.kv.has(key) ? this.uint(key, undefined, max) : undefined;
  }

  /**
   * A per-layer integer that may be stored as a scalar or as an array (llama.cpp get_key_or_arr):
   * returns the scalar, or element 0 of the array after checking its length.
   */
  uintOrArray(key: string, expectedLength: number, fallback?: number): { value: number; perLayer?: number[] } {
    const e = this.kv.get(key);
    if (e && isGgufArray(e.value)) {
      const { elementType, items } = e.value;
      if (items.length !== expectedLength) {
        throw new ModelDescriptionError(`${key}: expected an array of ${expectedLength} entries, got ${items.length}`);
      }
      const perLayer = items.map((v, i) => toUint(`${key}[${i}]`, elementType, v, 0xffffffff));
      return { value: perLayer[0] ?? 0, perLayer };
    }
    return { value: this.uint(key, fallback) };
  }

  float(key: string, fallback?: number): number {
    const e = this.kv.get(key);
    if (!e) {
      if (fallback !== undefined) return fallback;
      throw new ModelDescriptionError(`${key}: required metadata key is missing`);
    }
    if (e.type === GgufValueType.FLOAT32 || e.type === GgufValueType.FLOAT64) return e.value as number;
    throw new ModelDescriptionError(`${key}: expected a float, got ${describe(e.type, e.value)}`);
  }

  optFloat(key: string): number | undefined {
    return this.kv.has(key) ? this.float(key) : undefined;
  }

  string(key: string): string {
    const e = this.need(key);
    if (e.type !== GgufValueType.STRING) throw new ModelDescriptionError(`${key}: expected a string, got ${describe(e.type, e.value)}`);
    return e.value as string;
  }

  optString(key: string): string | undefined {
    return this.kv.has(key) ? this.string(key) : undefined;
  }

  bool(key: string, fallback?: boolean): boolean {
    const e = this.kv.get(key);
    if (!e) {
      if (fallback !== undefined) return fallback;
      throw new ModelDescriptionError(`${key}: required metadata key is missing`);
    }
    if (e.type !== GgufValueType.BOOL) throw new ModelDescriptionError(`${key}: expected a bool, got ${describe(e.type, e.value)}`);
    return e.value as boolean;
  }

  /** An array whose elements all have `elementType` (checked); returns the raw items. */
  array(key: string, elementType: GgufValueType): readonly GgufValue[] {
    const e = this.need(key);
    if (!isGgufArray(e.value) || e.value.elementType !== elementType) {
      throw new ModelDescriptionError(
        `${key}: expected an array of ${GGUF_VALUE_TYPE_NAMES[elementType]}, got ${describe(e.type, e.value)}`,
      );
    }
    return e.value.items;
  }

  /** An array of integers (any integer element type) as numbers. */
  intArray(key: string): number[] {
    const e = this.need(key);
    if (!isGgufArray(e.value) || !INTEGER_TYPES.has(e.value.elementType)) {
      throw new ModelDescriptionError(`${key}: expected an array of integers, got ${describe(e.type, e.value)}`);
    }
    return e.value.items.map((v) => Number(v));
  }
}
