// Bad input reaches the native library as a status with a message naming the thing — never a
// crash: the Node process (this test worker) survives every case and the model/session stay usable.
import { copyFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelDescription } from "../../src/arch/ModelDescription.js";
import { describeModel } from "../../src/arch/describeModel.js";
import { NativeError } from "../../src/errors.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { MtpBackend, MtpStatus } from "../../src/native/abi.js";
import { loadNativeLibrary, NATIVE_BUILD_COMMAND, openNativeLibrary } from "../../src/native/loadNativeLibrary.js";
import { TINY_Q8, tempDir } from "../helpers/fixtures.js";
import { deviceMemory, NativeModel } from "../../src/native/NativeModel.js";

const PATH = TINY_Q8;
const desc = describeModel(parseGguf(PATH));

/** A deep copy of the description with one manifest entry changed (or removed when edit returns null). */
function withTensor(name: string, edit: (t: ModelDescription["manifest"][number]) => object | null): ModelDescription {
  const copy = structuredClone(desc);
  const i = copy.manifest.findIndex((t) => t.name === name);
  expect(i).toBeGreaterThanOrEqual(0);
  const edited = edit(copy.manifest[i]!);
  if (edited === null) copy.manifest.splice(i, 1);
  else copy.manifest[i] = { ...copy.manifest[i]!, ...edited };
  return copy;
}

function expectNative(fn: () => unknown, status: number, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(NativeError);
  expect((caught as NativeError).status).toBe(status);
  expect((caught as NativeError).message).toMatch(message);
  expect((caught as NativeError).exitCode).toBe(3);
}

describe("bad input at load", () => {
  let dir = "";
  beforeAll(() => {
    dir = tempDir("mtp-bad-input-");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a tensor whose bytes run past the end of the file", () => {
    const size = parseGguf(PATH).fileSize;
    const bad = withTensor("blk.3.attn_q.weight", (t) => ({ fileOffset: size - t.nBytes + 34 }));
    expectNative(() => NativeModel.load(PATH, bad), MtpStatus.BAD_MODEL, /'blk\.3\.attn_q\.weight'.*run past the end of the file/);
  });

  it("a truncated file (described before it was cut)", () => {
    const cut = join(dir, "truncated.gguf");
    copyFileSync(PATH, cut);
    truncateSync(cut, Math.floor(parseGguf(PATH).fileSize * 0.6));
    expectNative(() => NativeModel.load(cut, desc), MtpStatus.BAD_MODEL, /tensor '.*': bytes \[\d+, \d+\) run past the end of the file/);
  });

  it("a missing file and an empty file", () => {
    expectNative(() => NativeModel.load(join(dir, "nope.gguf"), desc), MtpStatus.IO, /nope\.gguf.*cannot open/);
    const empty = join(dir, "empty.gguf");
    writeFileSync(empty, "");
    expectNative(() => NativeModel.load(empty, desc), MtpStatus.IO, /empty file/);
  });

  it("a shape that does not match the hyper-parameters", () => {
    const bad = withTensor("blk.0.attn_qkv.weight", (t) => ({ ne: [384, 992], nBytes: (t.nBytes / 1024) * 992 }));
    expectNative(() => NativeModel.load(PATH, bad), MtpStatus.BAD_MODEL, /'blk\.0\.attn_qkv\.weight': expected shape \[384, 1024\], got \[384, 992\]/);
  });

  it("a type that does not match the byte count", () => {
    const bad = withTensor("blk.1.ffn_down.weight", () => ({ type: 12 /* Q4_K */ }));
    expectNative(() => NativeModel.load(PATH, bad), MtpStatus.BAD_MODEL, /'blk\.1\.ffn_down\.weight': expected 221184 bytes for Q4_K \[1024, 384\], got 417792/);
    const misaligned = withTensor("blk.1.ffn_up.weight", () => ({ type: 12 /* Q4_K */ }));
    expectNative(() => NativeModel.load(PATH, misaligned), MtpStatus.BAD_MODEL, /'blk\.1\.ffn_up\.weight': type Q4_K needs ne\[0\] to be a multiple of 256, got 384/);
  });

  it("an unsupported weight type, named with its tensor", () => {
    const bad = withTensor("blk.2.ssm_out.weight", (t) => ({ type: 19 /* IQ1_S */, nBytes: (t.nBytes / 34 / 8) * 50 }));
    expectNative(() => NativeModel.load(PATH, bad), MtpStatus.UNSUPPORTED, /'blk\.2\.ssm_out\.weight': type IQ1_S \(id 19\) is not supported/);
  });

  it("a required tensor missing from the manifest", () => {
    const bad = withTensor("blk.7.attn_k_norm.weight", () => null);
    expectNative(() => NativeModel.load(PATH, bad), MtpStatus.BAD_MODEL, /required tensor MTP_ROLE_ATTN_K_NORM of layer 7 is missing/);
  });

  it("a dense file described as MoE: no expert counts, no expert tensors", () => {
    const moe = structuredClone(desc);
    moe.hparams.arch = "qwen35moe";
    expectNative(() => NativeModel.load(PATH, moe), MtpStatus.BAD_MODEL, /hparams\.n_expert: expected 1\.\.2\^24 for qwen35moe, got 0/);
    moe.hparams.moe = { nExpert: 4, nExpertUsed: 2, expertFfnLength: 64, sharedExpertFfnLength: 64, mergedGateUp: false };
    expectNative(() => NativeModel.load(PATH, moe), MtpStatus.BAD_MODEL, /role MTP_ROLE_FFN_(GATE|UP|DOWN) is not part of layer 0 of a qwen35moe model/);
  });

  it("a missing or unloadable library names the build command", () => {
    expect(() => openNativeLibrary(join(dir, "libmtp.so"))).toThrow(new RegExp(`not found — build it with \`${NATIVE_BUILD_COMMAND}\``));
    expect(() => openNativeLibrary(PATH)).toThrow(/cannot be loaded .* rebuild it with `npm run build:native`/);
  });

  it("the device's memory: numbers where CUDA is usable, else an UNSUPPORTED error saying why", () => {
    if ((loadNativeLibrary().backends & (1 << MtpBackend.CUDA)) !== 0) {
      const m = deviceMemory();
      expect(m.total).toBeGreaterThan(0);
      expect(m.free).toBeLessThanOrEqual(m.total);
    } else {
      expect(() => deviceMemory()).toThrow(/mtp_abi_get_device_memory: UNSUPPORTED: device memory: (no NVIDIA driver|no CUDA device|CUDA is not usable)/);
    }
  });
});

describe("bad input at eval", () => {
  let model: NativeModel;
  beforeAll(() => {
    model = NativeModel.load(PATH, desc);
  });
  afterAll(() => model?.free());

  it("context overflow, then the session is still usable", () => {
    const s = model.createSession({ nCtx: 8, nThreads: 2 });
    expectNative(() => s.eval([1, 2, 3, 4, 5, 6, 7, 8, 9]), MtpStatus.CONTEXT_FULL, /9 tokens at position 0 overflow the context of 8/);
    s.eval([1, 2, 3, 4, 5]);
    expectNative(() => s.eval([6, 7, 8, 9]), MtpStatus.CONTEXT_FULL, /4 tokens at position 5 overflow/);
    expect(s.nPast).toBe(5);
    expect(s.eval([6, 7, 8]).logits.every(Number.isFinite)).toBe(true);
    expect(s.nPast).toBe(8);
  });

  it("token ids >= vocab or negative leave the session unchanged", () => {
    const s = model.createSession({ nCtx: 16, nThreads: 2 });
    s.eval([10, 11]);
    expectNative(() => s.eval([12, 8192]), MtpStatus.INVALID_ARGUMENT, /tokens\[1\]: expected a token id in \[0, 8192\), got 8192/);
    expectNative(() => s.eval([-1]), MtpStatus.INVALID_ARGUMENT, /tokens\[0\]: expected a token id in \[0, 8192\), got -1/);
    expect(s.nPast).toBe(2);
  });

  it("logit rows outside the batch and an empty batch", () => {
    const s = model.createSession({ nCtx: 16, nThreads: 2 });
    expectNative(() => s.eval([1, 2], { logitRows: [2] }), MtpStatus.INVALID_ARGUMENT, /logit_rows\[0\]: expected < n_tokens 2, got 2/);
    expectNative(() => s.eval([]), MtpStatus.INVALID_ARGUMENT, /expected at least 1 token/);
    expect(s.nPast).toBe(0);
  });

  it("bad session parameters", () => {
    expectNative(() => model.createSession({ nCtx: 0 }), MtpStatus.INVALID_ARGUMENT, /n_ctx: expected 1\.\.2\^24, got 0/);
  });
});
