// Dequantization is bit-exact against gguf-py's reference (gguf-py/gguf/quants.py of the llama.cpp
// release node-llama-cpp bundles) for every weight type the engine executes, on random blocks, and on
// real blocks: the first 64 blocks of a tensor of each type in the files llama-quantize made from
// tiny-code (test/fixtures/quant-real-blocks.{bin,json}, scripts/make-quant-fixtures.mjs).
// The bundle is cloned into a temp dir and python3 + numpy run the reference; nothing is copied.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dequantize } from "../../src/native/dequantize.js";
import { FIXTURES, ROOT, tempDir } from "../helpers/fixtures.js";

const BUNDLE = join(ROOT, "node_modules/node-llama-cpp/llama/gitRelease.bundle");
const havePython = spawnSync("python3", ["-c", "import numpy"], { stdio: "ignore" }).status === 0;
const haveGit = spawnSync("git", ["--version"], { stdio: "ignore" }).status === 0;
const canRun = havePython && haveGit && existsSync(BUNDLE);

// type id, name, elements per block, bytes per block, byte offsets of the f16 scale fields in a block
const TYPES: Array<[number, string, number, number, number[]]> = [
  [0, "F32", 1, 4, []],
  [1, "F16", 1, 2, []],
  [30, "BF16", 1, 2, []],
  [8, "Q8_0", 32, 34, [0]],
  [12, "Q4_K", 256, 144, [0, 2]],
  [13, "Q5_K", 256, 176, [0, 2]],
  [14, "Q6_K", 256, 210, [208]],
  [2, "Q4_0", 32, 18, [0]],
  [3, "Q4_1", 32, 20, [0, 2]],
  [6, "Q5_0", 32, 22, [0]],
  [7, "Q5_1", 32, 24, [0, 2]],
  [10, "Q2_K", 256, 84, [80, 82]],
  [11, "Q3_K", 256, 110, [108]],
  [20, "IQ4_NL", 32, 18, [0]],
  [23, "IQ4_XS", 256, 136, [0]],
  [39, "MXFP4", 32, 17, []],
  [16, "IQ2_XXS", 256, 66, [0]],
  [17, "IQ2_XS", 256, 74, [0]],
  [22, "IQ2_S", 256, 82, [0]],
  [18, "IQ3_XXS", 256, 98, [0]],
  [21, "IQ3_S", 256, 110, [0]],
];

/** xorshift32: reproducible random bytes. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** Random blocks whose floating-point fields are finite (NaN/Inf payloads are not the point here). */
function makeBlocks(type: number, n: number, blockElems: number, blockBytes: number, scaleOffsets: number[], seed: number): Uint8Array {
  const nBlocks = n / blockElems;
  const bytes = randomBytes(nBlocks * blockBytes, seed);
  for (let b = 0; b < nBlocks; b++) {
    const base = b * blockBytes;
    // scalar types: an all-ones exponent loses one bit (F32 / BF16: 0x7f in the top byte, F16: 0x7c)
    const top = base + blockBytes - 1;
    if ((type === 0 || type === 30) && (bytes[top]! & 0x7f) === 0x7f) bytes[top]! &= ~0x40;
    if (type === 1 && (bytes[top]! & 0x7c) === 0x7c) bytes[top]! &= ~0x40;
    // f16 scales of quantized blocks in [0, 2^-2), subnormals included
    for (const off of scaleOffsets) bytes[base + off + 1] = bytes[base + off + 1]! & 0x33;
  }
  return bytes;
}

const PY = `
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from gguf.quants import dequantize
from gguf.constants import GGMLQuantizationType
data = np.fromfile(sys.argv[3], dtype=np.uint8)
out = dequantize(data, GGMLQuantizationType[sys.argv[2]]).astype(np.float32)
out.tofile(sys.argv[4])
`;

describe.skipIf(!canRun)("dequantize vs gguf-py (needs git, python3 + numpy, the node-llama-cpp bundle)", () => {
  let dir = "";
  beforeAll(() => {
    dir = tempDir("mtp-gguf-py-");
    execFileSync("git", ["clone", "--quiet", "--no-checkout", BUNDLE, join(dir, "llama")], { stdio: "ignore" });
    execFileSync("git", ["-C", join(dir, "llama"), "checkout", "--quiet", "HEAD", "--", "gguf-py"], { stdio: "ignore" });
    writeFileSync(join(dir, "ref.py"), PY);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Our dequantization of `bytes` (n values of `type`) against gguf-py's, bit for bit. */
  function expectBitExact(type: number, name: string, bytes: Uint8Array, n: number, tag: string) {
    const src = join(dir, `${name}-${tag}.bin`);
    const ref = join(dir, `${name}-${tag}.f32`);
    writeFileSync(src, bytes);
    execFileSync("python3", [join(dir, "ref.py"), join(dir, "llama", "gguf-py"), name, src, ref]);
    const expected = new Uint32Array(new Float32Array(readFileSync(ref).buffer.slice(0)).buffer);
    const got = new Uint32Array(dequantize(type, bytes, n).buffer);
    expect(got.length).toBe(n);
    expect(expected.length).toBe(n);
    let mismatches = 0;
    for (let i = 0; i < n; i++) if (got[i] !== expected[i]) mismatches++;
    expect(mismatches).toBe(0);
  }

  for (const [type, name, blockElems, blockBytes, scales] of TYPES) {
    it(`${name}: 16384 random values bit-exact`, () => {
      const n = 64 * 256;
      expectBitExact(type, name, makeBlocks(type, n, blockElems, blockBytes, scales, 0x9e3779b9 ^ type), n, "random");
    });
  }

  const real = JSON.parse(readFileSync(join(FIXTURES, "quant-real-blocks.json"), "utf8")) as {
    blocks: Array<{ type: number; name: string; file: string; tensor: string; offset: number; bytes: number; elements: number }>;
  };
  const realBytes = readFileSync(join(FIXTURES, "quant-real-blocks.bin"));
  for (const b of real.blocks) {
    it(`${b.name}: real blocks of ${b.file} (${b.tensor}) bit-exact`, () => {
      expectBitExact(b.type, b.name, new Uint8Array(realBytes.buffer, realBytes.byteOffset + b.offset, b.bytes), b.elements, "real");
    });
  }

  it("refuses a type it does not execute and a byte count that does not match", () => {
    expect(() => dequantize(19 /* IQ1_S */, new Uint8Array(50), 256)).toThrow(/IQ1_S \(id 19\) is not supported/);
    expect(() => dequantize(8, new Uint8Array(33), 32)).toThrow(/expected 34 source bytes/);
    expect(() => dequantize(12, new Uint8Array(144), 100)).toThrow(/multiple of 256/);
  });
});
