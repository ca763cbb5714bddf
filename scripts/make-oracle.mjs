#!/usr/bin/env node
// Produces the llama.cpp oracle for test/native/parity.test.ts: for each tiny-code model (bf16,
// q8_0) and each of its 16 prompts, the prompt's token ids, llama.cpp's greedy continuation of 128
// tokens, and at each of those 128 steps the probability llama.cpp gives its top token. Run once
// (≈2 min on 2 cores) and commit the output with this script; CI compares against the JSON instead
// of running llama.cpp.
//
//   node scripts/make-oracle.mjs [models dir = ../shared/models/tiny-code] [out = test/fixtures/tiny-code-oracle.json]
//                                [files = tiny-code-bf16.gguf,tiny-code-q8_0.gguf] [prompts = <models dir>/prompts.json]
//
// The MoE fixture's oracle: node scripts/make-oracle.mjs test/fixtures test/fixtures/tiny-moe-oracle.json
//   tiny-moe-bf16.gguf test/fixtures/tokenizer/prompts.json
//
// llama.cpp settings: node-llama-cpp's CPU prebuilt, threads 2 (its default oversubscribes a 2-core
// machine), flash attention OFF (the engine mirrors the non-flash CPU path: F16 q and softmax
// weights), F16 KV cache (llama.cpp's default), one sequence.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getLlama } from "node-llama-cpp";

const modelsDir = process.argv[2] ?? "../shared/models/tiny-code";
const outPath = process.argv[3] ?? "test/fixtures/tiny-code-oracle.json";
const files = (process.argv[4] ?? "tiny-code-bf16.gguf,tiny-code-q8_0.gguf").split(",");
const promptsPath = process.argv[5] ?? join(modelsDir, "prompts.json");
const N_GEN = 128;

const readJson = (path) => JSON.parse(readFileSync(new URL(`../node_modules/${path}`, import.meta.url), "utf8"));
const nlcPackage = readJson("node-llama-cpp/package.json");
const llamaCppInfo = readJson("node-llama-cpp/llama/llama.cpp.info.json");

const prompts = JSON.parse(readFileSync(promptsPath, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });

const oracle = {
  generator: "scripts/make-oracle.mjs",
  nodeLlamaCpp: nlcPackage.version,
  llamaCpp: `${llamaCppInfo.llamaCppGithubRepo}@${llamaCppInfo.tag}`,
  settings: { threads: 2, flashAttention: false, kvCache: "F16", nGenerated: N_GEN },
  models: {},
};

for (const file of files) {
  const model = await llama.loadModel({ modelPath: join(modelsDir, file) });
  const results = [];
  for (let p = 0; p < prompts.length; p++) {
    const context = await model.createContext({ contextSize: 1024, batchSize: 1024, threads: 2, flashAttention: false, sequences: 1 });
    const sequence = context.getSequence();
    const promptTokens = model.tokenize(prompts[p]);
    const greedy = [];
    const pTop = [];
    let input = promptTokens.map((t, i) => (i === promptTokens.length - 1 ? [t, { generateNext: { logits: true } }] : t));
    for (let step = 0; step < N_GEN; step++) {
      const out = await sequence.controlledEvaluate(input);
      const logits = out[input.length - 1].next.logits; // Map sorted by logit, highest first
      const [top, maxLogit] = logits.entries().next().value;
      let total = 0;
      for (const l of logits.values()) total += Math.exp(l - maxLogit);
      greedy.push(top);
      pTop.push(Number((1 / total).toPrecision(7)));
      input = [[top, { generateNext: { logits: true } }]];
    }
    results.push({ prompt: p, promptTokens, greedy, pTop });
    await context.dispose();
    process.stderr.write(`${file} prompt ${p}: ${promptTokens.length} prompt tokens\n`);
  }
  oracle.models[file] = results;
  await model.dispose();
}
writeFileSync(outPath, JSON.stringify(oracle) + "\n");
console.log(`make-oracle: wrote ${outPath}`);
