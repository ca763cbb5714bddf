/**
 * `mtp-cli inspect-gguf` end to end: the JSON report on the real tiny-code files (its tensor table
 * checked against @huggingface/gguf), the human view, exit codes for bad input, and a 100 GB
 * sparse file whose header is inspected in well under a second.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gguf as hfGguf } from "@huggingface/gguf";
import { describe, expect, it } from "vitest";
import { describeModel } from "../../src/arch/describeModel.js";
import { parseGguf } from "../../src/gguf/parseGguf.js";
import { materializeBf16Header, tempDir, TINY_Q8 } from "../helpers/fixtures.js";
import { runCli } from "../helpers/cli.js";
import { GgufValueType } from "../../src/gguf/types.js";
import { encodeGguf, GgufByteWriter } from "../../src/gguf/writeGguf.js";
import { syntheticModel, TINY_MOE } from "../helpers/syntheticModel.js";

const dir = tempDir("mtp-inspect-");

describe("inspect-gguf --json on tiny-code", () => {
  for (const [label, path] of [
    ["q8_0", TINY_Q8],
    ["bf16", materializeBf16Header(dir)],
  ] as const) {
    it(label, async () => {
      const r = runCli(["inspect-gguf", path, "--json"]);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.general.architecture).toBe("qwen35");
      expect(j.layers.n_trunk).toBe(8);
      expect(j.layers.schedule).toBe("GGGA GGGA");
      expect(j.layers.mtp_blocks).toEqual([8]);
      expect(j.mtp.present).toBe(true);
      expect(j.hparams.n_vocab).toBe(8192);
      expect(j.tokenizer.vocab_size).toBe(8192);
      expect(j.tokenizer.pre).toBe("qwen35");
      expect(j.n_params).toBe(23614560);
      expect((j.n_params / 1e6).toFixed(1)).toBe("23.6");
      const theirs = await hfGguf(path, { allowLocalFile: true });
      expect(j.tensors.map((t: { name: string; ne: number[] }) => [t.name, t.ne])).toEqual(
        theirs.tensorInfos.map((t) => [t.name, t.shape.map(Number)]),
      );
      const typeNames = new Map([[0, "F32"], [8, "Q8_0"], [30, "BF16"]]);
      expect(j.tensors.map((t: { type: string }) => t.type)).toEqual(theirs.tensorInfos.map((t) => typeNames.get(t.dtype)));
    });
  }

  it("describes the synthetic qwen35moe fixture", () => {
    const path = join(dir, "moe.gguf");
    writeFileSync(path, encodeGguf(syntheticModel(TINY_MOE)));
    const j = JSON.parse(runCli(["inspect-gguf", path, "--json"]).stdout);
    expect(j.general.architecture).toBe("qwen35moe");
    expect(j.hparams.moe).toEqual({ n_expert: 16, n_expert_used: 4, expert_ff: 64, shared_expert_ff: 128, merged_gate_up: false });
    expect(j.mtp.tensors).toContain("blk.4.ffn_gate_exps.weight");
  });
});

describe("inspect-gguf human view", () => {
  it("shows schedule, MTP head, types and memory; no colour when not a TTY", () => {
    const r = runCli(["inspect-gguf", TINY_Q8, "--tensors", "--ctx", "1024"]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    expect(r.stdout).toMatch(/schedule\s+G G G A\s+G G G A \| MTP: A/);
    expect(r.stdout).toMatch(/speculative decoding available/);
    expect(r.stdout).toMatch(/Q8_0\s+72 tensors/);
    expect(r.stdout).toMatch(/memory estimate \(ctx 1024, draft 3\)/);
    expect(r.stdout).toMatch(/blk\.8\.nextn\.eh_proj\.weight\s+Q8_0\s+\[768, 384\]/);
  });
});

describe("exit codes and messages", () => {
  it("missing file → 2", () => {
    const r = runCli(["inspect-gguf", join(dir, "nope.gguf")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nope\.gguf: cannot open \(ENOENT\)/);
  });
  it("truncated file → 2 naming what was cut", () => {
    const path = join(dir, "trunc.gguf");
    writeFileSync(path, readFileSync(TINY_Q8).subarray(0, 100_000));
    const r = runCli(["inspect-gguf", path]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/GgufFormatError: .*needs \d+ bytes but the file ends after/);
    expect(r.stdout).toBe("");
  });
  it("not a GGUF file → 2", () => {
    const path = join(dir, "x.txt");
    writeFileSync(path, "hello world, not a model");
    const r = runCli(["inspect-gguf", path, "--json"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/not a GGUF file/);
  });
  it("crafted hostile headers → 2 with a message naming the problem, nothing on stdout", () => {
    const head = (version: number, nTensors: bigint, nKv: bigint) =>
      new GgufByteWriter().raw(Buffer.from("GGUF", "latin1")).u32(version).u64(nTensors).u64(nKv);
    const cases: [Buffer, RegExp][] = [
      [Buffer.from("GGML0000"), /not a GGUF file/],
      [head(99, 0n, 0n).toBuffer(), /version expected 2 or 3, got 99/],
      [head(3, 2n ** 60n, 0n).toBuffer(), /tensor count: expected at most/],
      [head(3, 0n, 1n).string("k").u32(GgufValueType.ARRAY).u32(GgufValueType.UINT8).u64(2n ** 40n).toBuffer(), /array length/],
      [
        head(3, 1n, 0n).string("t").u32(1).u64(32).u32(77).u64(0).toBuffer(),
        /tensor 't': unknown ggml type id 77/,
      ],
    ];
    cases.forEach(([bytes, pattern], i) => {
      const path = join(dir, `hostile-${i}.gguf`);
      writeFileSync(path, bytes);
      const r = runCli(["inspect-gguf", path, "--json"], { timeoutMs: 10_000 });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(pattern);
    });
  });
  it("bad flags → 1", () => {
    expect(runCli(["inspect-gguf", TINY_Q8, "--ctx", "abc"]).status).toBe(1);
    expect(runCli(["inspect-gguf", TINY_Q8, "--mtp-spec-decode", "17"]).status).toBe(1);
    expect(runCli(["inspect-gguf", TINY_Q8, "--bogus"]).status).toBe(1);
    expect(runCli(["inspect-gguf"]).status).toBe(1);
    expect(runCli(["no-such-command"]).status).toBe(1);
  });
  it("--help and --version → 0", () => {
    const h = runCli(["--help"]);
    expect(h.status).toBe(0);
    for (const c of ["generate", "bench", "inspect-gguf"]) expect(h.stdout).toContain(c);
    const v = runCli(["--version"]);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe("a 100 GB file", () => {
  it("only its header is read: parsed in well under a second, CLI succeeds", () => {
    const path = join(dir, "huge.gguf");
    writeFileSync(path, readFileSync(TINY_Q8).subarray(0, parseGguf(TINY_Q8).dataOffset));
    const fd = openSync(path, "r+");
    ftruncateSync(fd, 100 * 1e9);
    closeSync(fd);
    const t0 = performance.now();
    const d = describeModel(parseGguf(path));
    const ms = performance.now() - t0;
    expect(d.nParams).toBe(23614560);
    expect(ms).toBeLessThan(1000);
    const r = runCli(["inspect-gguf", path, "--json"]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).file.size_bytes).toBe(100 * 1e9);
  });
});
