/**
 * Hostile and broken GGUF input: crafted headers for every defence in parseGguf, and a seeded
 * mutation/truncation fuzzer over real headers. Every case must end in success or a typed
 * ModelFileError naming the problem — never another exception, a crash, a hang or an allocation
 * proportional to a claimed count.
 */
import { readFileSync, writeFileSync, ftruncateSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeModel } from "../../src/arch/describeModel.js";
import { GgufFormatError, ModelFileError } from "../../src/errors.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { GgufValueType } from "../../src/gguf/types.js";
import { encodeGguf, GgufByteWriter } from "../../src/gguf/writeGguf.js";
import { tempDir, TINY_Q8 } from "../helpers/fixtures.js";
import { syntheticModel, TINY_DENSE } from "../helpers/syntheticModel.js";

const dir = tempDir("mtp-hostile-");
let counter = 0;
function fileOf(bytes: Uint8Array, sparseSize?: number): string {
  const path = join(dir, `case-${counter++}.gguf`);
  writeFileSync(path, bytes);
  if (sparseSize !== undefined) {
    const fd = openSync(path, "r+");
    ftruncateSync(fd, sparseSize);
    closeSync(fd);
  }
  return path;
}

/** Header start: magic, version, n_tensors, n_kv. */
const head = (nTensors: number | bigint, nKv: number | bigint, version = 3) =>
  new GgufByteWriter().raw(Buffer.from("GGUF", "latin1")).u32(version).u64(nTensors).u64(nKv);

/** Trailing bytes so that claimed counts are plausible and the check under test is reached. */
const PAD = new Uint8Array(32);

/** One valid KV so the tensor-info section is reached. */
const withArch = (w: GgufByteWriter) => w.string("general.architecture").u32(GgufValueType.STRING).string("qwen35");

function expectFormatError(bytes: Uint8Array, pattern: RegExp, sparseSize?: number): void {
  const path = fileOf(bytes, sparseSize);
  let err: unknown;
  try {
    parseGguf(path);
  } catch (e) {
    err = e;
  }
  expect(err, `no error for ${pattern}`).toBeInstanceOf(GgufFormatError);
  expect((err as Error).message).toMatch(pattern);
}

describe("crafted hostile headers", () => {
  const cases: [string, () => Uint8Array, RegExp, number?][] = [
    ["empty file", () => new Uint8Array(0), /magic: needs 4 bytes/],
    ["bad magic", () => Buffer.from("GGML\x03\x00\x00\x00"), /not a GGUF file \(magic expected "GGUF", got "GGML"\)/],
    ["version 1", () => head(0, 0, 1).toBuffer(), /version expected 2 or 3, got 1/],
    ["version 99", () => head(0, 0, 99).toBuffer(), /version expected 2 or 3, got 99/],
    ["big-endian file", () => head(0, 0, 0x03000000).toBuffer(), /big-endian/],
    ["tensor count 2^60", () => head(2n ** 60n, 0).toBuffer(), /tensor count: expected at most \d+, got 1152921504606846976/],
    ["tensor count past EOF", () => head(1000, 0).toBuffer(), /tensor count: 1000 entries need at least/],
    ["kv count 2^63", () => head(0, 2n ** 63n).toBuffer(), /metadata KV count: expected at most/],
    ["key length past EOF", () => head(0, 1).u64(1000).raw(PAD).toBuffer(), /metadata key #0 \(string bytes\): needs 1000 bytes but the file ends after 32/],
    ["key length 2^63", () => head(0, 1).u64(2n ** 63n).raw(PAD).toBuffer(), /metadata key #0: string length expected at most 65535 bytes/],
    [
      "string value past EOF",
      () => head(0, 1).string("k").u32(GgufValueType.STRING).u64(1 << 20).raw(Buffer.from("xy")).toBuffer(),
      /metadata 'k' \(string bytes\): needs 1048576 bytes but the file ends after 2/,
    ],
    [
      "string value 2^62 bytes",
      () => head(0, 1).string("k").u32(GgufValueType.STRING).u64(2n ** 62n).toBuffer(),
      /metadata 'k': string length expected at most/,
    ],
    [
      "array of 2^40 elements",
      () => head(0, 1).string("k").u32(GgufValueType.ARRAY).u32(GgufValueType.UINT8).u64(2n ** 40n).toBuffer(),
      /metadata 'k' \(array length\): expected at most \d+, got 1099511627776/,
    ],
    [
      "array count larger than the file",
      () => head(0, 1).string("k").u32(GgufValueType.ARRAY).u32(GgufValueType.UINT64).u64(100000).u64(1).toBuffer(),
      /array length\): 100000 entries need at least 800000 bytes/,
    ],
    [
      "arrays nested too deep",
      () => {
        const w = head(0, 1).string("k").u32(GgufValueType.ARRAY);
        for (let i = 0; i < 10; i++) w.u32(GgufValueType.ARRAY).u64(1);
        return w.u32(GgufValueType.UINT8).u64(0).toBuffer();
      },
      /nested deeper than 4/,
    ],
    ["unknown value type", () => head(0, 1).string("k").u32(13).u32(0).toBuffer(), /metadata 'k' type: expected a GGUF value type 0..12, got 13/],
    ["bad bool", () => head(0, 1).string("k").u32(GgufValueType.BOOL).u8(7).toBuffer(), /expected bool 0 or 1, got 7/],
    ["invalid UTF-8 key", () => head(0, 1).u64(2).raw(Buffer.from([0xc3, 0x28])).raw(PAD).toBuffer(), /metadata key #0: string is not valid UTF-8/],
    [
      "invalid UTF-8 value",
      () => head(0, 1).string("k").u32(GgufValueType.STRING).u64(3).raw(Buffer.from([0xe2, 0x82, 0x28])).toBuffer(),
      /metadata 'k': string is not valid UTF-8/,
    ],
    ["empty key", () => head(0, 1).string("").raw(PAD).toBuffer(), /empty key/],
    [
      "duplicate key",
      () => head(0, 2).string("k").u32(GgufValueType.UINT8).u8(1).string("k").u32(GgufValueType.UINT8).u8(2).toBuffer(),
      /metadata key 'k': duplicate/,
    ],
    [
      "alignment 0",
      () => head(0, 1).string("general.alignment").u32(GgufValueType.UINT32).u32(0).toBuffer(),
      /general.alignment': expected a u32 power of two, got u32 0/,
    ],
    [
      "alignment 48",
      () => head(0, 1).string("general.alignment").u32(GgufValueType.UINT32).u32(48).toBuffer(),
      /expected a u32 power of two, got u32 48/,
    ],
    [
      "n_dims 5",
      () => withArch(head(1, 1)).string("t").u32(5).u64(1).u64(1).u64(1).u64(1).u64(1).u32(0).u64(0).toBuffer(),
      /tensor 't': n_dims expected at most 4, got 5/,
    ],
    [
      "dims product overflow",
      () => withArch(head(1, 1)).string("t").u32(3).u64(2n ** 32n).u64(2n ** 32n).u64(2n ** 32n).u32(0).u64(0).toBuffer(),
      /tensor 't': element count overflows/,
    ],
    [
      "unknown ggml type id",
      () => withArch(head(1, 1)).string("t").u32(1).u64(32).u32(99).u64(0).toBuffer(),
      /tensor 't': unknown ggml type id 99/,
    ],
    [
      "retired ggml type id 4",
      () => withArch(head(1, 1)).string("t").u32(1).u64(32).u32(4).u64(0).toBuffer(),
      /unknown ggml type id 4/,
    ],
    [
      "row not a whole number of blocks",
      () => withArch(head(1, 1)).string("t").u32(2).u64(100).u64(2).u32(12).u64(0).toBuffer(),
      /ne\[0\] = 100 is not a multiple of the Q4_K block size 256/,
    ],
    [
      "unaligned tensor offset",
      () => withArch(head(1, 1)).string("t").u32(1).u64(8).u32(0).u64(4).toBuffer(),
      /data offset 4 is not a multiple of the alignment 32/,
    ],
    [
      "data offset past EOF",
      () => withArch(head(1, 1)).string("t").u32(1).u64(8).u32(0).u64(2n ** 40n).padTo(32).raw(new Uint8Array(32)).toBuffer(),
      /tensor 't': data \[\d+, \d+\) runs past the end of the file/,
    ],
    [
      "data offset 2^63",
      () => withArch(head(1, 1)).string("t").u32(1).u64(8).u32(0).u64(2n ** 63n).toBuffer(),
      /tensor 't': data offset 9223372036854775808 is past any possible file end/,
    ],
    [
      "tensor name too long",
      () => withArch(head(1, 1)).string("x".repeat(100)).toBuffer(),
      /tensor #0 name: string length expected at most 63 bytes, got 100/,
    ],
    [
      "duplicate tensor name",
      () => withArch(head(2, 1)).string("t").u32(1).u64(8).u32(0).u64(0).string("t").u32(1).u64(8).u32(0).u64(32).padTo(32).raw(new Uint8Array(64)).toBuffer(),
      /tensor 't': duplicate name/,
    ],
    [
      "overlapping tensors",
      () => withArch(head(2, 1)).string("a").u32(1).u64(16).u32(0).u64(0).string("b").u32(1).u64(8).u32(0).u64(32).padTo(32).raw(new Uint8Array(96)).toBuffer(),
      /tensor 'b': data overlaps tensor 'a'/,
    ],
  ];
  for (const [name, build, pattern] of cases) {
    it(name, () => expectFormatError(build(), pattern));
  }

  it("a claimed 4-million-string array in a tiny file allocates nothing proportional to it", () => {
    const bytes = head(0, 1).string("k").u32(GgufValueType.ARRAY).u32(GgufValueType.STRING).u64(4_000_000).raw(PAD).toBuffer();
    const before = process.memoryUsage().heapUsed;
    expectFormatError(bytes, /array length\): 4000000 entries need at least 32000000 bytes but the file ends after 32/);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 << 20);
  });
});

/** Seeded xorshift32. */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const EXTREME_U64 = [0n, 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 60n, 2n ** 63n, 2n ** 64n - 1n];

function mutate(base: Buffer, headerLen: number, rand: () => number): Buffer {
  const b = Buffer.from(base);
  const at = () => Math.floor(rand() * headerLen);
  switch (Math.floor(rand() * 5)) {
    case 0: // flip a few random bytes
      for (let i = 0, n = 1 + Math.floor(rand() * 4); i < n; i++) b[at()] = Math.floor(rand() * 256);
      return b;
    case 1: {
      // overwrite 8 bytes with an extreme u64 (counts, lengths, dims, offsets)
      const p = Math.min(at(), b.length - 8);
      b.writeBigUInt64LE(EXTREME_U64[Math.floor(rand() * EXTREME_U64.length)]!, p);
      return b;
    }
    case 2: {
      // overwrite 4 bytes with an extreme u32 (types, n_dims)
      const p = Math.min(at(), b.length - 4);
      b.writeUInt32LE([0, 1, 4, 9, 12, 13, 99, 0xffffffff][Math.floor(rand() * 8)]!, p);
      return b;
    }
    case 3: // truncate inside the header or the data
      return b.subarray(0, Math.floor(rand() * b.length));
    default: {
      // delete a span of the header (shifts everything after it)
      const p = at();
      return Buffer.concat([b.subarray(0, p), b.subarray(p + 1 + Math.floor(rand() * 16))]);
    }
  }
}

function runFuzz(base: Buffer, headerLen: number, cases: number, seed: number): { ok: number; rejected: number; maxMs: number } {
  const rand = prng(seed);
  const path = join(dir, `fuzz-${seed}.gguf`);
  let ok = 0;
  let rejected = 0;
  let maxMs = 0;
  for (let i = 0; i < cases; i++) {
    writeFileSync(path, mutate(base, headerLen, rand));
    const t0 = performance.now();
    try {
      describeModel(parseGguf(path));
      ok++;
    } catch (e) {
      if (!(e instanceof ModelFileError)) throw new Error(`fuzz case ${i} (seed ${seed}): untyped ${String(e)}`);
      expect(e.message.length).toBeGreaterThan(10);
      rejected++;
    }
    maxMs = Math.max(maxMs, performance.now() - t0);
  }
  return { ok, rejected, maxMs };
}

describe("mutation fuzzing", () => {
  it("4,000 mutations of a synthetic qwen35 model: typed errors only, each bounded in time", () => {
    const base = encodeGguf(syntheticModel({ ...TINY_DENSE, nEmbd: 32, nFf: 32, nVocab: 64 }));
    const dataStart = parseGguf(fileOf(base)).dataOffset;
    const r = runFuzz(base, dataStart, 4000, 12345);
    expect(r.ok + r.rejected).toBe(4000);
    expect(r.rejected).toBeGreaterThan(2000);
    expect(r.maxMs).toBeLessThan(1000);
  });

  it("1,000 mutations of the real tiny-code header", () => {
    // header + first bytes of data; tensor ranges beyond the cut are part of what is tested
    const real = readFileSync(TINY_Q8);
    const dataStart = parseGguf(TINY_Q8).dataOffset;
    const r = runFuzz(real.subarray(0, dataStart), dataStart, 1000, 777);
    expect(r.ok + r.rejected).toBe(1000);
    expect(r.maxMs).toBeLessThan(1000);
  });
});
