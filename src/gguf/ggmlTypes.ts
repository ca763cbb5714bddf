/**
 * Every ggml tensor type id that can appear in a GGUF file, with its block size (elements per block)
 * and bytes per block. Source: ggml/include/ggml.h (ids), gguf-py/gguf/constants.py
 * (GGML_QUANT_SIZES), ../shared/docs/qwen35-mtp-spec.md §7.1. Ids 4, 5, 31–33 and 36–38 are retired
 * and rejected.
 */

export interface GgmlTypeInfo {
  readonly id: number;
  readonly name: string;
  /** Elements per block; a row's ne0 must be a multiple of it. */
  readonly blockElems: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

const TABLE: readonly GgmlTypeInfo[] = [
  { id: 0, name: "F32", blockElems: 1, blockBytes: 4 },
  { id: 1, name: "F16", blockElems: 1, blockBytes: 2 },
  { id: 2, name: "Q4_0", blockElems: 32, blockBytes: 18 },
  { id: 3, name: "Q4_1", blockElems: 32, blockBytes: 20 },
  { id: 6, name: "Q5_0", blockElems: 32, blockBytes: 22 },
  { id: 7, name: "Q5_1", blockElems: 32, blockBytes: 24 },
  { id: 8, name: "Q8_0", blockElems: 32, blockBytes: 34 },
  { id: 9, name: "Q8_1", blockElems: 32, blockBytes: 36 },
  { id: 10, name: "Q2_K", blockElems: 256, blockBytes: 84 },
  { id: 11, name: "Q3_K", blockElems: 256, blockBytes: 110 },
  { id: 12, name: "Q4_K", blockElems: 256, blockBytes: 144 },
  { id: 13, name: "Q5_K", blockElems: 256, blockBytes: 176 },
  { id: 14, name: "Q6_K", blockElems: 256, blockBytes: 210 },
  { id: 15, name: "Q8_K", blockElems: 256, blockBytes: 292 },
  { id: 16, name: "IQ2_XXS", blockElems: 256, blockBytes: 66 },
  { id: 17, name: "IQ2_XS", blockElems: 256, blockBytes: 74 },
  { id: 18, name: "IQ3_XXS", blockElems: 256, blockBytes: 98 },
  { id: 19, name: "IQ1_S", blockElems: 256, blockBytes: 50 },
  { id: 20, name: "IQ4_NL", blockElems: 32, blockBytes: 18 },
  { id: 21, name: "IQ3_S", blockElems: 256, blockBytes: 110 },
  { id: 22, name: "IQ2_S", blockElems: 256, blockBytes: 82 },
  { id: 23, name: "IQ4_XS", blockElems: 256, blockBytes: 136 },
  { id: 24, name: "I8", blockElems: 1, blockBytes: 1 },
  { id: 25, name: "I16", blockElems: 1, blockBytes: 2 },
  { id: 26, name: "I32", blockElems: 1, blockBytes: 4 },
  { id: 27, name: "I64", blockElems: 1, blockBytes: 8 },
  { id: 28, name: "F64", blockElems: 1, blockBytes: 8 },
  { id: 29, name: "IQ1_M", blockElems: 256, blockBytes: 56 },
  { id: 30, name: "BF16", blockElems: 1, blockBytes: 2 },
  { id: 34, name: "TQ1_0", blockElems: 256, blockBytes: 54 },
  { id: 35, name: "TQ2_0", blockElems: 256, blockBytes: 66 },
  { id: 39, name: "MXFP4", blockElems: 32, blockBytes: 17 },
  { id: 40, name: "NVFP4", blockElems: 64, blockBytes: 36 },
  { id: 41, name: "Q1_0", blockElems: 128, blockBytes: 18 },
  { id: 42, name: "Q2_0", blockElems: 64, blockBytes: 18 },
];

const BY_ID = new Map<number, GgmlTypeInfo>(TABLE.map((t) => [t.id, t]));
const BY_NAME = new Map<string, GgmlTypeInfo>(TABLE.map((t) => [t.name, t]));

export const GGML_TYPES: readonly GgmlTypeInfo[] = TABLE;

/** Named ids for the types the code refers to directly. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 8,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  IQ4_XS: 23,
  BF16: 30,
  MXFP4: 39,
} as const;

export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? `unknown(${id})`;
}
