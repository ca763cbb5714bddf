/**
 * `mtp-cli bench`: llama-bench-style speed measurement with columns llama-bench lacks — draft
 * acceptance, tokens per trunk pass and the speedup of MTP speculation over plain decoding — so a
 * user can see what speculation buys on their machine and pick K. Markdown table on stdout by
 * default; --output json / csv carry every repetition's sample and the parameters; the progress bar
 * goes to stderr only.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { basename } from "node:path";
import { spawnSync } from "node:child_process";
import { SingleBar } from "cli-progress";
import { Option, type Command } from "commander";
import { UsageError } from "../../errors.js";
import { BUILTIN_BENCH_PROMPTS, type BenchPrompt } from "../../engine/benchPrompts.js";
import { DEFAULT_MODEL_PATH, openModel, type BackendChoice } from "../../engine/openModel.js";
import { runBench, type BenchResult } from "../../engine/runBench.js";
import { MTP_ABI_VERSION } from "../../native/abi.js";
import { loadNativeLibrary } from "../../native/loadNativeLibrary.js";
import { formatBytes, formatCount } from "../ui/format.js";
import { floatOption, intOption } from "../options.js";
import { packageVersion } from "../main.js";

const MAX_DRAFT = 16;

interface BenchOptions {
  model: string[];
  nPrompt: number;
  nGen: number;
  nDepth: number;
  reps: number;
  mtpSpecDecode: number[];
  promptFile?: string;
  temp: number;
  backend: BackendChoice;
  threads: number;
  output: "md" | "json" | "csv";
  seed: number;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** "0,1,2,3" → [0, 1, 2, 3] */
export function parseDraftList(v: string): number[] {
  const parts = v.split(",").map((x) => x.trim());
  const ks = parts.map((x) => (/^\d+$/.test(x) ? Number(x) : NaN));
  if (parts.length === 0 || ks.some((k) => !Number.isInteger(k) || k > MAX_DRAFT)) {
    throw new UsageError(`--mtp-spec-decode: expected a comma-separated list of integers in 0..${MAX_DRAFT}, got ${JSON.stringify(v)}`);
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

function parseOutput(v: string): "md" | "json" | "csv" {
  if (v !== "md" && v !== "json" && v !== "csv") throw new UsageError(`--output: expected md, json or csv, got ${JSON.stringify(v)}`);
  return v;
}

/** A prompt file: prompts separated by lines holding only "---" (one prompt if there is none). */
export function readPromptFile(path: string): BenchPrompt[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`--prompt-file ${path}: ${(e as Error).message}`);
  }
  const parts = text.split(/^---$/m).map((x) => x.replace(/^\n/, "")).filter((x) => x.trim() !== "");
  if (parts.length === 0) throw new UsageError(`--prompt-file ${path}: expected at least one non-empty prompt`);
  return parts.map((t, i) => ({ name: `${basename(path)} #${i + 1}`, text: t }));
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description("measure prompt processing and decode speed, with and without MTP speculation (llama-bench style)")
    .addOption(new Option("-m, --model <file>", "GGUF model file; repeat for several").argParser(collect).default([], "the bundled tiny-code model"))
    .option("-p, --n-prompt <n>", "prompt tokens of the pp test (0 = skip it)", intOption("-p", 0, 1 << 20), 512)
    .option("-n, --n-gen <n>", "tokens generated per prompt in the tg tests (0 = skip them)", intOption("-n", 0, 1 << 20), 128)
    .option("-d, --n-depth <n>", "tokens already in the context before each test (as llama-bench's -d)", intOption("-d", 0, 1 << 20), 0)
    .option("-r, --reps <n>", "timed repetitions of each test (after one warm-up run)", intOption("-r", 1, 1000), 5)
    .addOption(
      new Option("--mtp-spec-decode <list>", "draft lengths to measure (0 = plain decoding, always measured)").argParser(parseDraftList).default([0, 1, 2, 3], "0,1,2,3"),
    )
    .option("--prompt-file <file>", "prompts to generate from instead of the built-in set (separated by lines of ---)")
    .option("--temp <t>", "temperature of the tg tests (0 = greedy)", floatOption("--temp", 0, 100), 0)
    .option("--seed <n>", "sampling seed (with --temp > 0)", intOption("--seed", 0, Number.MAX_SAFE_INTEGER), 42)
    .option("--backend <name>", "auto | cuda | cpu", "auto")
    .option("-t, --threads <n>", "CPU threads (0 = all cores)", intOption("--threads", 0, 1024), 0)
    .option("-o, --output <format>", "md | json | csv", parseOutput, "md")
    .action(async (o: BenchOptions) => runBenchCommand(o));
}

interface ModelRun {
  path: string;
  name: string;
  sizeBytes: number;
  params: number;
  backend: string;
  results: BenchResult[];
}

async function runBenchCommand(o: BenchOptions): Promise<void> {
  const paths = o.model.length ? o.model : [DEFAULT_MODEL_PATH];
  const promptSet = o.promptFile
    ? { name: `file ${o.promptFile}`, prompts: readPromptFile(o.promptFile) }
    : { name: "built-in", prompts: [...BUILTIN_BENCH_PROMPTS] };
  const runs: ModelRun[] = [];
  const bar = new SingleBar({ format: "bench |{bar}| {value}/{total} {label}", stream: process.stderr, hideCursor: true, clearOnComplete: true });
  for (const path of paths) {
    const m = openModel(path, o.backend);
    const ks = m.description.mtp ? o.mtpSpecDecode : [0];
    if (!m.description.mtp && o.mtpSpecDecode.some((k) => k > 0)) {
      process.stderr.write(`bench: ${basename(path)} has no MTP head: measuring plain decoding only\n`);
    }
    const trained = m.description.hparams.contextLength;
    if (o.nDepth > 0 && trained > 0 && o.nDepth + Math.max(o.nPrompt, o.nGen) > trained) {
      process.stderr.write(`bench: -d ${o.nDepth} takes ${basename(path)} past its trained context of ${trained} tokens\n`);
    }
    let started = false;
    try {
      const results = await runBench(
        m,
        { nPrompt: o.nPrompt, nGen: o.nGen, depth: o.nDepth, reps: o.reps, ks, prompts: promptSet.prompts, temperature: o.temp, threads: o.threads, seed: o.seed },
        (done, total, label) => {
          if (!started) {
            bar.start(total, 0, { label: "" });
            started = true;
          }
          bar.update(done, { label: `${basename(path)} ${label}` });
        },
      );
      runs.push({
        path,
        name: basename(path),
        sizeBytes: statSync(path).size,
        params: m.description.nParams,
        backend: m.backend,
        results,
      });
    } finally {
      if (started) bar.stop();
      m.native.free();
    }
  }
  const sampling = o.temp > 0 ? `temperature ${o.temp}, seed ${o.seed}` : "greedy";
  const setLine = `prompt set: ${promptSet.name} (${promptSet.prompts.length} prompt${promptSet.prompts.length === 1 ? "" : "s"}: ${promptSet.prompts.map((x) => x.name).join("; ")})`;
  if (o.output === "md") {
    process.stdout.write(markdown(runs));
    const depth = o.nDepth > 0 ? `; every test after ${o.nDepth} tokens of context (d${o.nDepth})` : "";
    process.stdout.write(`\n${setLine}; ${o.reps} repetition(s) after a warm-up; ${sampling}; tg: ${o.nGen} tokens after each prompt${depth}\n`);
  } else if (o.output === "json") {
    process.stdout.write(JSON.stringify(jsonReport(runs, o, promptSet), null, 2) + "\n");
  } else {
    process.stdout.write(csv(runs));
  }
}

const pct = (x: number | null) => (x === null ? "" : `${(100 * x).toFixed(1)} %`);

function markdown(runs: ModelRun[]): string {
  const head = ["model", "size", "params", "backend", "test", "t/s", "acceptance", "tokens/step", "speedup"];
  const right = [false, true, true, false, false, true, true, true, true];
  const rows = runs.flatMap((r) =>
    r.results.map((x) => [
      r.name,
      formatBytes(r.sizeBytes),
      formatCount(r.params),
      r.backend,
      x.test,
      `${x.avg.toFixed(2)} ± ${x.sd.toFixed(2)}`,
      pct(x.acceptance),
      x.tokensPerStep === null ? "" : x.tokensPerStep.toFixed(2),
      x.speedup === null ? "" : `${x.speedup.toFixed(2)}×`,
    ]),
  );
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (right[i] ? c.padStart(width[i] ?? 0) : c.padEnd(width[i] ?? 0))).join(" | ")} |\n`;
  const sep = `| ${width.map((w, i) => (right[i] ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |\n`;
  return line(head) + sep + rows.map(line).join("");
}

function csv(runs: ModelRun[]): string {
  const head = "model,size_bytes,params,backend,test,k,avg_tps,sd_tps,samples_tps,acceptance,tokens_per_step,speedup,n_drafted,n_accepted";
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const rows = runs.flatMap((r) =>
    r.results.map((x) =>
      [q(r.name), r.sizeBytes, r.params, r.backend, q(x.test), x.k ?? "", x.avg, x.sd, q(x.samples.join(";")), x.acceptance ?? "", x.tokensPerStep ?? "", x.speedup ?? "", x.nDrafted, x.nAccepted].join(","),
    ),
  );
  return [head, ...rows].join("\n") + "\n";
}

/** GPU name and driver from nvidia-smi, when there is one. */
function gpuInfo(): { name: string; driver: string } | null {
  const r = spawnSync("nvidia-smi", ["--query-gpu=name,driver_version", "--format=csv,noheader"], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return null;
  const [name = "", driver = ""] = (r.stdout.split("\n")[0] ?? "").split(",").map((x) => x.trim());
  return { name, driver };
}

function jsonReport(runs: ModelRun[], o: BenchOptions, promptSet: { name: string; prompts: BenchPrompt[] }) {
  const lib = loadNativeLibrary();
  return {
    mtp_cli_version: packageVersion(),
    date: new Date().toISOString(),
    library: {
      path: lib.path,
      abi_version: MTP_ABI_VERSION,
      build_id: createHash("sha256").update(readFileSync(lib.path)).digest("hex").slice(0, 16),
    },
    system: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, gpu: gpuInfo() },
    params: {
      n_prompt: o.nPrompt, n_gen: o.nGen, n_depth: o.nDepth, reps: o.reps, mtp_spec_decode: o.mtpSpecDecode, temperature: o.temp,
      seed: o.seed, threads: o.threads, backend: o.backend,
    },
    prompt_set: { name: promptSet.name, prompts: promptSet.prompts.map((x) => x.name) },
    results: runs.flatMap((r) =>
      r.results.map((x) => ({
        model: r.name, model_path: r.path, size_bytes: r.sizeBytes, params: r.params, backend: r.backend,
        test: x.test, kind: x.kind, k: x.k, samples_tps: x.samples, avg_tps: x.avg, sd_tps: x.sd,
        acceptance: x.acceptance, tokens_per_step: x.tokensPerStep, speedup: x.speedup,
        n_drafted: x.nDrafted, n_accepted: x.nAccepted, n_steps: x.nSteps, n_generated: x.nGenerated,
      })),
    ),
  };
}
