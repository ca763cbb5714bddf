#!/usr/bin/env node
// Produces the long-context llama.cpp oracle for test/native/long-context.test.ts: two passages of
// tiny-code's held-out text, 1200 tokens each, teacher-forced through llama.cpp; at every position
// from 511 on (rows attending more than kAttnChunk = 512 positions, the chunked attention order of
// cuda/cpu/attention-order.h) llama.cpp's top token and the probability it gives it. Run once and
// commit the output with this script (CI reads the JSON, not llama.cpp).
//
//   node scripts/make-long-oracle.mjs [models dir = ../shared/models/tiny-code] [out = test/fixtures/tiny-code-long-oracle.json]
//                                     [files = tiny-code-q8_0.gguf,tiny-code-bf16.gguf]
//
// llama.cpp settings as scripts/make-oracle.mjs: node-llama-cpp's CPU prebuilt, threads 2, flash
// attention off, F16 KV cache, one sequence.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getLlama } from "node-llama-cpp";

const modelsDir = process.argv[2] ?? "../shared/models/tiny-code";
const outPath = process.argv[3] ?? "test/fixtures/tiny-code-long-oracle.json";
const files = (process.argv[4] ?? "tiny-code-q8_0.gguf,tiny-code-bf16.gguf").split(",");
const N_TOKENS = 1200;
const FIRST_ROW = 511; // the first row that attends 513 positions
const OFFSETS = [0, 300000]; // characters into heldout.txt where the passages start

const readJson = (path) => JSON.parse(readFileSync(new URL(`../node_modules/${path}`, import.meta.url), "utf8"));
const nlcPackage = readJson("node-llama-cpp/package.json");
const llamaCppInfo = readJson("node-llama-cpp/llama/llama.cpp.info.json");
const heldout = readFileSync(join(modelsDir, "heldout.txt"), "utf8");
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });

const oracle = {
  generator: "scripts/make-long-oracle.mjs",
  nodeLlamaCpp: nlcPackage.version,
  llamaCpp: `${llamaCppInfo.llamaCppGithubRepo}@${llamaCppInfo.tag}`,
  settings: { threads: 2, flashAttention: false, kvCache: "F16", nTokens: N_TOKENS, firstRow: FIRST_ROW },
  passages: [],
  models: {},
};

let tokenizerModel;
for (const file of files) {
  const model = await llama.loadModel({ modelPath: join(modelsDir, file) });
  if (!tokenizerModel) {
    tokenizerModel = model;
    // Passages start at a line boundary so they read as code from their first token.
    for (const at of OFFSETS) {
      const start = at === 0 ? 0 : heldout.indexOf("\n", at) + 1;
      oracle.passages.push(model.tokenize(heldout.slice(start, start + 8 * N_TOKENS)).slice(0, N_TOKENS));
    }
  }
  const results = [];
  for (const tokens of oracle.passages) {
    if (tokens.length !== N_TOKENS) throw new Error(`passage of ${tokens.length} tokens`);
    const context = await model.createContext({ contextSize: 2048, batchSize: 2048, threads: 2, flashAttention: false, sequences: 1 });
    const sequence = context.getSequence();
    const input = tokens.map((t, i) => (i >= FIRST_ROW ? [t, { generateNext: { logits: true } }] : t));
    const out = await sequence.controlledEvaluate(input);
    const top = [];
    const pTop = [];
    for (let i = FIRST_ROW; i < N_TOKENS; i++) {
      const logits = out[i].next.logits; // Map sorted by logit, highest first
      const [best, maxLogit] = logits.entries().next().value;
      let total = 0;
      for (const l of logits.values()) total += Math.exp(l - maxLogit);
      top.push(best);
      pTop.push(Number((1 / total).toPrecision(7)));
    }
    results.push({ top, pTop });
    await context.dispose();
  }
  oracle.models[file] = results;
  process.stderr.write(`${file}: ${results.length} passages\n`);
  if (model !== tokenizerModel) await model.dispose();
}
await tokenizerModel.dispose();
writeFileSync(outPath, JSON.stringify(oracle) + "\n");
console.log(`make-long-oracle: wrote ${outPath}`);
