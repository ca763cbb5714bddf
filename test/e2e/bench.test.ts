/**
 * `mtp-cli bench` end to end on the bundled model (CPU): the Markdown table is well formed, the JSON
 * report has the documented shape (checked field by field against a schema below), CSV carries the
 * same rows, --prompt-file replaces the built-in prompts, and bad flags are usage errors.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/fixtures.js";

const dir = tempDir("mtp-bench-");
const SMALL = ["-p", "32", "-n", "16", "-r", "2", "--mtp-spec-decode", "0,2", "-t", "2", "--backend", "cpu"];

type Schema = "string" | "number" | "integer" | "boolean" | "null" | Schema[] | { [key: string]: Schema } | { arrayOf: Schema };

/** Checks `v` against a small structural schema; returns the paths that do not match. */
function check(v: unknown, s: Schema, path = "$"): string[] {
  if (Array.isArray(s)) return s.some((alt) => check(v, alt, path).length === 0) ? [] : [`${path}: none of the alternatives`];
  if (typeof s === "string") {
    const ok =
      s === "null" ? v === null
      : s === "integer" ? Number.isInteger(v)
      : s === "number" ? typeof v === "number" && Number.isFinite(v)
      : typeof v === s;
    return ok ? [] : [`${path}: expected ${s}, got ${JSON.stringify(v)}`];
  }
  if ("arrayOf" in s && Object.keys(s).length === 1) {
    if (!Array.isArray(v)) return [`${path}: expected an array`];
    return v.flatMap((x, i) => check(x, s.arrayOf as Schema, `${path}[${i}]`));
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return [`${path}: expected an object`];
  const o = v as Record<string, unknown>;
  return Object.entries(s as Record<string, Schema>).flatMap(([k, sub]) => (k in o ? check(o[k], sub, `${path}.${k}`) : [`${path}.${k}: missing`]));
}

const REPORT: Schema = {
  mtp_cli_version: "string",
  date: "string",
  library: { path: "string", abi_version: "integer", build_id: "string" },
  system: { cpu: "string", cores: "integer", gpu: ["null", { name: "string", driver: "string" }] },
  params: { n_prompt: "integer", n_gen: "integer", n_depth: "integer", reps: "integer", mtp_spec_decode: { arrayOf: "integer" }, temperature: "number", seed: "integer", threads: "integer", backend: "string" },
  prompt_set: { name: "string", prompts: { arrayOf: "string" } },
  results: {
    arrayOf: {
      model: "string", model_path: "string", size_bytes: "integer", params: "integer", backend: "string", test: "string",
      kind: "string", k: ["integer", "null"], samples_tps: { arrayOf: "number" }, avg_tps: "number", sd_tps: "number",
      acceptance: ["number", "null"], tokens_per_step: ["number", "null"], speedup: ["number", "null"],
      n_drafted: "integer", n_accepted: "integer", n_steps: "integer", n_generated: "integer",
    },
  },
};

interface Result {
  test: string;
  k: number | null;
  samples_tps: number[];
  avg_tps: number;
  acceptance: number | null;
  speedup: number | null;
  n_drafted: number;
  n_accepted: number;
  n_generated: number;
}

describe("bench on the bundled model", () => {
  it("prints a Markdown table: pp, tg and tg mtp rows with acceptance, tokens/step and speedup", () => {
    const r = runCli(["bench", ...SMALL], { timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const table = lines.filter((l) => l.startsWith("|"));
    expect(table[0]).toMatch(/^\| model +\| +size \| +params \| backend \| test +\| +t\/s \| acceptance \| tokens\/step \| speedup \|$/);
    expect(table[1]).toMatch(/^\|[ -:|]+\|$/);
    expect(table.slice(2).map((l) => l.split("|")[5]?.trim())).toEqual(["pp32", "tg16", "tg16 mtp k=2"]);
    for (const l of table) expect(l.split("|").length).toBe(11);
    const mtpRow = table[4]!.split("|").map((c) => c.trim());
    expect(mtpRow[6]).toMatch(/^\d+\.\d+ ± \d+\.\d+$/);
    expect(mtpRow[7]).toMatch(/^\d+\.\d %$/);
    expect(mtpRow[9]).toMatch(/^\d+\.\d\d×$/);
    expect(table[3]!.split("|")[9]!.trim()).toBe("1.00×");
    expect(r.stdout).toMatch(/prompt set: built-in \(4 prompts: code: python module; code: algorithm; prose: explanation; chat: ChatML turn\); 2 repetition\(s\) after a warm-up; greedy/);
  });

  it("--output json matches the report schema; samples per repetition, accepted <= drafted, speedup of k=0 is 1", () => {
    const r = runCli(["bench", ...SMALL, "--output", "json"], { timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { results: Result[]; prompt_set: { name: string } };
    expect(check(report, REPORT)).toEqual([]);
    expect(report.results.map((x) => x.test)).toEqual(["pp32", "tg16", "tg16 mtp k=2"]);
    for (const x of report.results) {
      expect(x.samples_tps).toHaveLength(2);
      expect(x.avg_tps).toBeGreaterThan(0);
      expect(x.n_accepted).toBeLessThanOrEqual(x.n_drafted);
    }
    const [, plain, mtp] = report.results;
    expect(plain!.speedup).toBe(1);
    expect(plain!.acceptance).toBeNull();
    expect(mtp!.n_drafted).toBeGreaterThan(0);
    expect(mtp!.acceptance).toBeCloseTo(mtp!.n_accepted / mtp!.n_drafted, 12);
    expect(mtp!.n_generated).toBe(2 * 4 * 16); // every repetition: 16 tokens after each of the 4 prompts
  });

  it("--output csv: a header and one row per test with its samples", () => {
    const r = runCli(["bench", ...SMALL, "--output", "csv"], { timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("model,size_bytes,params,backend,test,k,avg_tps,sd_tps,samples_tps,acceptance,tokens_per_step,speedup,n_drafted,n_accepted");
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^tiny-code-q8_0\.gguf,\d+,23614560,CPU,tg16 mtp k=2,2,[\d.]+,[\d.]+,[\d.]+;[\d.]+,[\d.]+,/);
  });

  it("--prompt-file replaces the built-in prompts (--- separates prompts); the table says so", () => {
    const f = join(dir, "prompts.txt");
    writeFileSync(f, "def add(a, b):\n---\nclass Stack:\n    def __init__(self):\n");
    const r = runCli(["bench", "-p", "0", "-n", "8", "-r", "1", "--mtp-spec-decode", "1", "-t", "2", "--backend", "cpu", "--prompt-file", f], { timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("prompt set: file");
    expect(r.stdout).toContain("(2 prompts: prompts.txt #1; prompts.txt #2)");
    expect(r.stdout).not.toMatch(/\| pp/);
  });

  it("-d runs every test after that many tokens of context (llama-bench's -d): tests named @ d600, the depth in the report", () => {
    const r = runCli(["bench", "-p", "16", "-n", "8", "-d", "600", "-r", "1", "--mtp-spec-decode", "0,2", "-t", "2", "--backend", "cpu", "--output", "json"], {
      timeoutMs: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { results: Result[]; params: { n_depth: number } };
    expect(check(report, REPORT)).toEqual([]);
    expect(report.params.n_depth).toBe(600);
    expect(report.results.map((x) => x.test)).toEqual(["pp16 @ d600", "tg8 @ d600", "tg8 mtp k=2 @ d600"]);
    expect(report.results[2]!.n_generated).toBe(4 * 8);
    const md = runCli(["bench", "-p", "0", "-n", "4", "-d", "600", "-r", "1", "--mtp-spec-decode", "0", "-t", "2", "--backend", "cpu"], { timeoutMs: 120_000 });
    expect(md.status, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/\| tg4 @ d600 +\|/);
    expect(md.stdout).toContain("every test after 600 tokens of context (d600)");
  });

  it("bad flags are usage errors naming the flag (exit 1)", () => {
    for (const [args, msg] of [
      [["--mtp-spec-decode", "0,x"], /--mtp-spec-decode: expected a comma-separated list of integers in 0..16, got "0,x"/],
      [["--mtp-spec-decode", "17"], /--mtp-spec-decode: expected/],
      [["--output", "xml"], /--output: expected md, json or csv, got "xml"/],
      [["-r", "0"], /-r: expected an integer in 1..1000/],
      [["-d", "-5"], /-d: expected an integer in 0\.\./],
      [["--prompt-file", join(dir, "missing.txt")], /--prompt-file .*missing\.txt: ENOENT/],
    ] as const) {
      const r = runCli(["bench", ...args]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});
