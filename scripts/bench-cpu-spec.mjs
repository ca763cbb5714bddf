#!/usr/bin/env node
// CPU speculative-decoding benchmark: greedy generation on the bundled tiny-code model (or -m PATH)
// for draft lengths K = 0..4 on a few prompts of test/fixtures/tokenizer/prompts.json; prints a
// Markdown table of tok/s, draft acceptance, tokens per verify step and the speedup vs K = 0.
// Loads the model through dist/ (run `npx tsc -p tsconfig.json` first); MTP_NATIVE_LIBRARY picks
// another libmtp.so.
//
//   node scripts/bench-cpu-spec.mjs [-m model.gguf] [--prompts 0,1,2,3] [--k 0,1,2,3,4]
//                                   [--threads 2] [--n 256] [--reps 1]
import { readFileSync } from "node:fs";
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
const reps = Number(opt("--reps", "1"));

const prompts = JSON.parse(readFileSync(join(root, "test/fixtures/tokenizer/prompts.json"), "utf8"));
const m = openModel(modelPath, "cpu");
const session = m.native.createSession({ nCtx: 1024, nThreads, nDraftMax: Math.max(4, ...ks) });

function run(prompt, k) {
  const t0 = process.hrtime.bigint();
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
  const t2 = process.hrtime.bigint();
  return { tokens, stats, totalS: Number(t2 - t0) / 1e9, genS: Number(t2 - t1) / 1e9 };
}

// Warm-up (page in weights, spin up threads).
run(m.tokenizer.encode(prompts[promptIdx[0]], { parseSpecial: true }), 0);

const perK = new Map();
const reference = new Map();
let mismatch = false;
for (let rep = 0; rep < reps; rep++) {
  for (const p of promptIdx) {
    const prompt = m.tokenizer.encode(prompts[p], { parseSpecial: true });
    for (const k of ks) {
      const r = run(prompt, k);
      const key = `${p}`;
      if (k === 0 && !reference.has(key)) reference.set(key, r.tokens);
      const ref = reference.get(key);
      if (ref && (ref.length !== r.tokens.length || ref.some((t, i) => t !== r.tokens[i]))) {
        mismatch = true;
        console.error(`MISMATCH: prompt ${p} K=${k} differs from K=0`);
      }
      const a = perK.get(k) ?? { tokens: 0, genTokens: 0, genS: 0, totalS: 0, steps: 0, drafted: 0, accepted: 0 };
      a.tokens += r.tokens.length;
      a.genTokens += r.tokens.length;
      a.genS += r.genS;
      a.totalS += r.totalS;
      a.steps += r.stats.nSteps;
      a.drafted += r.stats.nDrafted;
      a.accepted += r.stats.nAccepted;
      perK.set(k, a);
      process.stderr.write(`prompt ${p} (${prompt.length} tok) K=${k}: ${r.tokens.length} tokens, ${(r.tokens.length / r.totalS).toFixed(1)} tok/s\n`);
    }
  }
}

const base = perK.get(0);
const baseRate = base ? base.genTokens / base.genS : NaN;
console.log(`\nmodel ${modelPath.split("/").pop()}, ${nThreads} threads, prompts ${promptIdx.join(",")}, ${nPredict} tokens each, ${reps} rep(s)\n`);
console.log("| K | tok/s | acceptance | tokens/step | speedup vs K=0 |");
console.log("|---|------:|-----------:|------------:|---------------:|");
for (const k of ks) {
  const a = perK.get(k);
  const rate = a.genTokens / a.genS;
  const acc = a.drafted ? `${((100 * a.accepted) / a.drafted).toFixed(1)} %` : "–";
  const tps = (a.tokens / a.steps).toFixed(2);
  console.log(`| ${k} | ${rate.toFixed(1)} | ${acc} | ${tps} | ${(rate / baseRate).toFixed(2)}× |`);
}
console.log("\n(tok/s: generated tokens / time of the generateNext calls, i.e. without the prompt evaluation)");
if (mismatch) {
  console.log("\nWARNING: speculative output differed from K = 0");
  process.exitCode = 1;
}
m.native.free();
