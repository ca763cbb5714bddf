/**
 * `mtp-cli generate` end to end on the bundled default model: streamed text and the stats line,
 * --json, greedy speculative == greedy plain through the CLI, the -n budget, Ctrl-C, and the errors
 * a user can provoke (bad K, a model without an MTP head, a missing file, an unavailable backend).
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeGguf } from "../../src/gguf/writeGguf.js";
import { runCli } from "../helpers/cli.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";
import { syntheticModel, TINY_DENSE } from "../helpers/syntheticModel.js";

const dir = tempDir("mtp-generate-");

function json(args: string[]) {
  const r = runCli(["generate", ...args, "--json", "-t", "2"]);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as {
    text: string;
    tokens: number[];
    stats: { n_prompt: number; n_generated: number; n_drafted: number; n_accepted: number; acceptance: number; tokens_per_step: number; backend: string; k: number; stop: string };
  };
}

describe("generate on the bundled model", () => {
  it("--json: one object with text, tokens and stats; MTP on by default (K = 3)", () => {
    const j = json(["-p", "def fib(n):", "-n", "48", "--temp", "0"]);
    expect(j.tokens.length).toBe(48);
    expect(j.text.length).toBeGreaterThan(20);
    expect(j.stats).toMatchObject({ n_generated: 48, backend: "cpu", k: 3, stop: "budget" });
    expect(j.stats.acceptance).toBeGreaterThan(0.5);
    expect(j.stats.n_accepted).toBeLessThanOrEqual(j.stats.n_drafted);
    expect(j.stats.tokens_per_step).toBeGreaterThan(1);
  });

  it("greedy output is identical with and without speculation", () => {
    const plain = json(["-p", "import os\nimport sys\n\ndef main():\n", "-n", "64", "--temp", "0", "--mtp-spec-decode", "0"]);
    expect(plain.stats.n_drafted).toBe(0);
    for (const k of ["1", "2", "4"]) {
      const spec = json(["-p", "import os\nimport sys\n\ndef main():\n", "-n", "64", "--temp", "0", "--mtp-spec-decode", k]);
      expect(spec.tokens).toEqual(plain.tokens);
      expect(spec.text).toBe(plain.text);
    }
  });

  it("a fixed seed reproduces sampled output", () => {
    const a = json(["-p", "class Model:", "-n", "40", "--seed", "42"]);
    const b = json(["-p", "class Model:", "-n", "40", "--seed", "42"]);
    expect(a.tokens).toEqual(b.tokens);
  });

  it("text mode: text on stdout, one stats line on stderr", () => {
    const r = runCli(["generate", "-p", "def add(a, b):", "-n", "16", "--temp", "0", "-t", "2"]);
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/\[cpu, K=3\] prompt \d+ tok at [\d.]+ tok\/s, generated 16 tok at [\d.]+ tok\/s, drafted \d+, accepted \d+ \([\d.]+ %\), [\d.]+ tokens\/step, seed \d+, stop: budget/);
  });

  it("Ctrl-C stops cleanly with the stats so far (exit 130)", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin/mtp-cli"), "generate", "-p", "def f(x):", "-n", "-1", "-c", "100000", "--ignore-eos", "-t", "2"], {
      env: { ...process.env, FORCE_COLOR: "0" },
    });
    let stdout = "";
    let stderr = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.length > 200 && !sent) sent = child.kill("SIGINT");
      });
      child.on("exit", (c) => resolve(c));
    });
    expect(code).toBe(130);
    expect(stderr).toMatch(/stop: interrupted/);
  }, 60_000);
});

describe("generate errors", () => {
  it("K outside 0..16 is a usage error (1)", () => {
    const r = runCli(["generate", "-p", "x", "--mtp-spec-decode", "17"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--mtp-spec-decode: expected an integer in 0\.\.16, got "17"/);
  });
  it("a model without an MTP head: drafting is refused clearly (1), plain decoding is the default", () => {
    const path = join(dir, "no-mtp.gguf");
    writeFileSync(path, encodeGguf(syntheticModel({ ...TINY_DENSE, nMtp: 0 })));
    const r = runCli(["generate", "-m", path, "-p", "[t1][t2]", "--mtp-spec-decode", "2"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/has no MTP \(NextN\) head, so it cannot draft; use --mtp-spec-decode 0/);
  });
  it("prompt flags: exactly one of -p and -f (1)", () => {
    expect(runCli(["generate"]).status).toBe(1);
    expect(runCli(["generate", "-p", "a", "-f", "b"]).status).toBe(1);
  });
  it("a prompt longer than the context is a usage error (1)", () => {
    const r = runCli(["generate", "-p", "def f(x):\n    return x\n".repeat(20), "-c", "16"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/more than the context of 16/);
  });
  it("a missing model file (2) and an unavailable backend (3)", () => {
    expect(runCli(["generate", "-m", join(dir, "none.gguf"), "-p", "x"]).status).toBe(2);
    const r = runCli(["generate", "-p", "x", "--backend", "cuda"]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/no CUDA backend/);
  });
});
