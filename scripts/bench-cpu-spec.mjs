#!/usr/bin/env node
// CPU speculative-decoding benchmark: greedy generation on the bundled tiny-code model (or -m PATH)
// for draft lengths K on prompts of test/fixtures/tokenizer/prompts.json, with llama.cpp's CLI tools
// measured in the same run when --peer DIR names a CPU build's bin/ (llama-completion,
// llama-speculative-simple; the release node-llama-cpp bundles, see docs/BENCHMARKS.md).
//
// The runs are interleaved (for each repetition and prompt: K = 0, then every K; then the peer), and
// speedups are medians of per-(prompt, repetition) ratios, because a shared host's speed drifts by
// tens of percent within a minute; tok/s columns are medians of the individual runs.
// Loads the model through dist/ (`npm run build` first); MTP_NATIVE_LIBRARY picks another libmtp.so.
//
//   node scripts/bench-cpu-spec.mjs [-m model.gguf] [--prompts 0,1,2,3] [--k 0,1,2,3,4]
//                                   [--threads 2] [--n 256] [--reps 3] [--peer DIR]
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { openModel, DEFAULT_MODEL_PATH } = await import(join(root, "dist/engine/openModel.js"));

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
const modelPath = opt("-m", DEFAULT_MODEL_PATH);
const promptIdx = opt("--prompts", "0,1,2,3").split(",").map(Number);
const ks = opt("--k", "0,1,2,3,4").split(",").map(Number);
const nThreads = Number(opt("--threads", "2"));
const nPredict = Number(opt("--n", "256"));
const reps = Number(opt("--reps", "3"));
const peerDir = opt("--peer", null);
if (!ks.includes(0)) ks.unshift(0);
if (peerDir && !existsSync(join(peerDir, "llama-completion"))) {
  console.error(`--peer ${peerDir}: no llama-completion there (build llama-completion and llama-speculative-simple)`);
  process.exit(2);
}

const prompts = JSON.parse(readFileSync(join(root, "test/fixtures/tokenizer/prompts.json"), "utf8"));
const m = openModel(modelPath, "cpu");
const session = m.native.createSession({ nCtx: 1024, nThreads, nDraftMax: Math.max(4, ...ks) });

function runOurs(prompt, k) {
  // generateBegin evaluates the prompt (all but its last token); the generation is timed after it.
  session.generateBegin(prompt, {
    draftMax: k, nPredict, temperature: 0, topK: 40, topP: 0.95, minP: 0.05, seed: 0, eogTokens: m.tokenizer.eogIds,
  });
  const t1 = process.hrtime.bigint();
  const tokens = [];
  let stats;
  for (;;) {
    const c = session.generateNext(256);
    stats = c.stats;
    if (c.tokens.length === 0) break;
    tokens.push(...c.tokens);
  }
  const genS = Number(process.hrtime.bigint() - t1) / 1e9;
  return { tokens, stats, rate: tokens.length / genS };
}

// llama.cpp's decode speed from its own timers: llama-completion's "eval time" line (plain) and
// llama-speculative-simple's "decoded … speed" line plus its drafted / accepted counters.
function runPeer(promptText, k) {
  const common = ["-m", modelPath, "-p", promptText, "-n", String(nPredict), "--temp", "0", "-t", String(nThreads)];
  const tool = k === 0 ? "llama-completion" : "llama-speculative-simple";
  const extra = k === 0 ? ["-no-cnv", "--ignore-eos"] : ["--spec-type", "draft-mtp", "--spec-draft-n-max", String(k)];
  const r = spawnSync(join(peerDir, tool), [...common, ...extra], { encoding: "utf8", timeout: 120_000, stdio: ["ignore", "pipe", "pipe"] });
  const out = `${r.stdout}\n${r.stderr}`;
  const num = (re) => {
    const x = out.match(re);
    return x ? Number(x[1]) : NaN;
  };
  if (k === 0) return { rate: num(/(?<!prompt )eval time =.*?([\d.]+) tokens per second/) };
  return {
    rate: num(/decoded.*speed:\s*([\d.]+)/),
    drafted: num(/n_drafted\s*=\s*(\d+)/),
    accepted: num(/n_accept\s*=\s*(\d+)/),
  };
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Warm-up (page in weights, spin up threads).
runOurs(m.tokenizer.encode(prompts[promptIdx[0]], { parseSpecial: true }), 0);

const ours = new Map(ks.map((k) => [k, { rates: [], ratios: [], tokens: 0, steps: 0, drafted: 0, accepted: 0 }]));
const peer = new Map(ks.map((k) => [k, { rates: [], ratios: [], drafted: 0, accepted: 0 }]));
let mismatch = false;
for (let rep = 0; rep < reps; rep++) {
  for (const p of promptIdx) {
    const prompt = m.tokenizer.encode(prompts[p], { parseSpecial: true });
    let ref = null;
    let base = NaN;
    for (const k of ks) {
      const r = runOurs(prompt, k);
      if (k === 0) {
        ref = r.tokens;
        base = r.rate;
      } else if (ref.length !== r.tokens.length || ref.some((t, i) => t !== r.tokens[i])) {
        mismatch = true;
        console.error(`MISMATCH: prompt ${p} K=${k} differs from K=0`);
      }
      const a = ours.get(k);
      a.rates.push(r.rate);
      a.ratios.push(r.rate / base);
      a.tokens += r.tokens.length;
      a.steps += r.stats.nSteps;
      a.drafted += r.stats.nDrafted;
      a.accepted += r.stats.nAccepted;
      process.stderr.write(`rep ${rep} prompt ${p} (${prompt.length} tok) K=${k}: ${r.rate.toFixed(1)} tok/s\n`);
    }
    if (!peerDir) continue;
    let peerBase = NaN;
    for (const k of ks) {
      const r = runPeer(prompts[p], k);
      if (k === 0) peerBase = r.rate;
      const a = peer.get(k);
      a.rates.push(r.rate);
      a.ratios.push(r.rate / peerBase);
      a.drafted += r.drafted || 0;
      a.accepted += r.accepted || 0;
      process.stderr.write(`rep ${rep} prompt ${p} llama.cpp K=${k}: ${r.rate} tok/s\n`);
    }
  }
}

const pct = (num, den) => (den ? `${((100 * num) / den).toFixed(1)} %` : "–");
console.log(`\nmodel ${modelPath.split("/").pop()}, ${nThreads} threads, prompts ${promptIdx.join(",")}, ${nPredict} tokens each, ${reps} repetition(s)\n`);
const head = peerDir
  ? "| K | tok/s | acceptance | tokens/step | speedup vs K=0 | llama.cpp tok/s | llama.cpp acceptance | llama.cpp speedup | ours / llama.cpp |"
  : "| K | tok/s | acceptance | tokens/step | speedup vs K=0 |";
console.log(head);
console.log(head.replace(/[^|]+/g, "---"));
for (const k of ks) {
  const a = ours.get(k);
  const rate = median(a.rates);
  let row = `| ${k} | ${rate.toFixed(1)} | ${pct(a.accepted, a.drafted)} | ${(a.tokens / a.steps).toFixed(2)} | ${median(a.ratios).toFixed(2)}× |`;
  if (peerDir) {
    const b = peer.get(k);
    const prate = median(b.rates);
    row += ` ${prate.toFixed(1)} | ${pct(b.accepted, b.drafted)} | ${median(b.ratios).toFixed(2)}× | ${(rate / prate).toFixed(2)}× |`;
  }
  console.log(row);
}
console.log("\n(tok/s: median over runs of generated tokens / generation time, prompt evaluation excluded;");
console.log(" speedup: median of the ratios to K = 0 on the same prompt and repetition; llama.cpp: its own decode timers)");
if (mismatch) {
  console.log("\nWARNING: speculative output differed from K = 0");
  process.exitCode = 1;
}
m.native.free();
