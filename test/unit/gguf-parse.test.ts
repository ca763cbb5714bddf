/**
 * parseGguf against an independent parser (@huggingface/gguf) on the real tiny-code files, and
 * round trips through the project's writer for every metadata value type, both GGUF versions,
 * custom alignment and 64-bit (> 4 GiB) tensor offsets.
 */
import { closeSync, ftruncateSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gguf as hfGguf } from "@huggingface/gguf";
import { describe, expect, it } from "vitest";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { GgufValueType, isGgufArray, type GgufValue } from "../../src/gguf/types.js";
import { encodeGguf, GgufByteWriter, kv, writeGguf } from "../../src/gguf/writeGguf.js";
import { materializeBf16Header, tempDir, TINY_Q8 } from "../helpers/fixtures.js";

/** Our value → the plain JS form @huggingface/gguf returns (arrays as arrays, u64 as bigint). */
function plain(v: GgufValue): unknown {
  return isGgufArray(v) ? v.items.map(plain) : v;
}

describe("parseGguf on real files, checked against @huggingface/gguf", () => {
  const files = { q8_0: TINY_Q8, bf16: materializeBf16Header() };
  for (const [label, path] of Object.entries(files)) {
    it(`${label}: same tensor table and metadata`, async () => {
      const ours = parseGguf(path);
      const theirs = await hfGguf(path, { allowLocalFile: true, typedMetadata: true });
      expect(ours.tensors.length).toBe(theirs.tensorInfos.length);
      expect(ours.tensors.length).toBe(124);
      ours.tensors.forEach((t, i) => {
        const h = theirs.tensorInfos[i]!;
        expect(t.name).toBe(h.name);
        expect(t.ne).toEqual(h.shape.map(Number));
        expect(t.type).toBe(h.dtype);
        expect(t.offset).toBe(Number(h.offset));
      });
      expect(ours.version).toBe(theirs.metadata.version);
      const keys = [...ours.kv.keys()];
      expect(keys.length).toBe(Number(theirs.metadata.kv_count));
      for (const key of keys) {
        const e = ours.kv.get(key)!;
        const h = (theirs.typedMetadata as Record<string, { value: unknown; type: number; subType?: number }>)[key]!;
        expect(e.type, key).toBe(h.type);
        if (isGgufArray(e.value)) expect(e.value.elementType, key).toBe(h.subType);
        const ov = plain(e.value);
        if (e.type === GgufValueType.FLOAT32) expect(ov).toBeCloseTo(h.value as number, 12);
        else expect(ov, key).toEqual(h.value);
      }
    });
  }

  it("reads only the header: data offset and tensor file offsets are consistent", () => {
    const f = parseGguf(TINY_Q8);
    expect(f.alignment).toBe(32);
    expect(f.dataOffset % 32).toBe(0);
    for (const t of f.tensors) {
      expect(t.fileOffset).toBe(f.dataOffset + t.offset);
      expect(t.fileOffset + t.nBytes).toBeLessThanOrEqual(f.fileSize);
    }
  });
});

describe("writer round trip", () => {
  const allTypes = [
    kv.u32("t.u32", 4000000000),
    { key: "t.u8", type: GgufValueType.UINT8, value: 255 },
    { key: "t.i8", type: GgufValueType.INT8, value: -128 },
    { key: "t.u16", type: GgufValueType.UINT16, value: 65535 },
    { key: "t.i16", type: GgufValueType.INT16, value: -32768 },
    kv.i32("t.i32", -2147483648),
    kv.f32("t.f32", 0.5),
    kv.bool("t.bool", true),
    kv.str("t.str", "héllo 世界 🎉"),
    { key: "t.u64", type: GgufValueType.UINT64, value: 18446744073709551615n },
    { key: "t.i64", type: GgufValueType.INT64, value: -9223372036854775808n },
    { key: "t.f64", type: GgufValueType.FLOAT64, value: Math.PI },
    kv.arr("t.arr.str", GgufValueType.STRING, ["a", "", "ü"]),
    kv.arr("t.arr.empty", GgufValueType.INT32, []),
    kv.arr("t.arr.nested", GgufValueType.ARRAY, [
      { elementType: GgufValueType.STRING, items: ["x", "y"] },
      { elementType: GgufValueType.UINT8, items: [1, 2, 3] },
      { elementType: GgufValueType.ARRAY, items: [{ elementType: GgufValueType.BOOL, items: [false, true] }] },
    ]),
  ];

  for (const version of [2, 3]) {
    for (const alignment of [32, 64]) {
      it(`every value type, GGUF v${version}, alignment ${alignment}`, async () => {
        const path = join(tempDir(), "rt.gguf");
        const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
        writeGguf(path, {
          version,
          alignment,
          kv: allTypes,
          tensors: [
            { name: "a", type: 0, ne: [8], data },
            { name: "b", type: 0, ne: [4, 2], data },
          ],
        });
        const f = parseGguf(path);
        expect(f.version).toBe(version);
        expect(f.alignment).toBe(alignment);
        for (const e of allTypes) {
          const got = f.kv.get(e.key)!;
          expect(got.type, e.key).toBe(e.type);
          expect(got.value, e.key).toEqual(e.value);
        }
        expect(f.tensors.map((t) => [t.name, t.ne, t.offset, t.nBytes])).toEqual([
          ["a", [8], 0, 32],
          ["b", [4, 2], alignment === 32 ? 32 : 64, 32],
        ]);
        if (version === 3) {
          // the independent parser reads the writer's output the same way
          const h = await hfGguf(path, { allowLocalFile: true });
          expect(h.metadata["t.str"]).toBe("héllo 世界 🎉");
          expect(h.tensorInfos.map((t) => t.name)).toEqual(["a", "b"]);
        }
      });
    }
  }

  it("encodeGguf refuses data of the wrong size", () => {
    expect(() => encodeGguf({ kv: [], tensors: [{ name: "x", type: 0, ne: [4], data: new Uint8Array(8) }] })).toThrow(/needs 16/);
  });
});

describe("files larger than 4 GiB", () => {
  it("keeps 64-bit tensor offsets exact (sparse 5 GiB file)", () => {
    const path = join(tempDir(), "big.gguf");
    const far = 5 * 2 ** 30; // 5 GiB, past any 32-bit offset
    const w = new GgufByteWriter()
      .raw(Buffer.from("GGUF", "latin1"))
      .u32(3)
      .u64(2)
      .u64(1)
      .string("general.architecture")
      .u32(GgufValueType.STRING)
      .string("test");
    w.string("near").u32(1).u64(32).u32(0).u64(0);
    w.string("far").u32(2).u64(256).u64(1024).u32(8).u64(far); // Q8_0, 8 blocks × 1024 rows
    w.padTo(32);
    writeFileSync(path, w.toBuffer());
    const headerLen = w.length;
    const size = headerLen + far + (256 / 32) * 34 * 1024;
    const fd = openSync(path, "r+");
    ftruncateSync(fd, size);
    closeSync(fd);
    const f = parseGguf(path);
    const t = f.tensorByName.get("far")!;
    expect(f.fileSize).toBe(size);
    expect(t.offset).toBe(far);
    expect(t.fileOffset).toBe(headerLen + far);
    expect(t.nBytes).toBe(8 * 34 * 1024);
  });
});
