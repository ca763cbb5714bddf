#!/usr/bin/env node
// CPU decode speed of the mtp-cli engine next to node-llama-cpp (llama.cpp's CPU prebuilt) on the
// same model and prompt, both with 2 threads: prefill the prompt, then time N greedy decode steps
// (one token per call, host overhead included on both sides). Needs `npm run build` first.
//
//   node scripts/bench-cpu-decode.mjs [model = gguf/tiny-code-q8_0.gguf] [n = 128] [reps = 3]
import { readFileSync } from "node:fs";
import { getLlama } from "node-llama-cpp";
import { describeModel } from "../dist/arch/describeModel.js";
import { parseGguf } from "../dist/gguf/parseGguf.js";
import { NativeModel } from "../dist/native/NativeModel.js";

const modelPath = process.argv[2] ?? "gguf/tiny-code-q8_0.gguf";
const nGen = Number(process.argv[3] ?? 128);
const reps = Number(process.argv[4] ?? 3);
const THREADS = 2;
// The prompt's token ids come from the committed oracle (prompt 0), so both engines see the same ids.
const oracle = JSON.parse(readFileSync(new URL("../test/fixtures/tiny-code-oracle.json", import.meta.url), "utf8"));
const prompt = oracle.models["tiny-code-q8_0.gguf"][0].promptTokens;

function argmax(a) {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function stats(xs) {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, sd };
}

async function benchOurs() {
  const model = NativeModel.load(modelPath, describeModel(parseGguf(modelPath)));
  const session = model.createSession({ nCtx: prompt.length + nGen + 1, nThreads: THREADS });
  const out = [];
  for (let r = 0; r < reps; r++) {
    session.reset();
    let tok = argmax(session.eval(prompt).logits);
    const t0 = performance.now();
    for (let i = 0; i < nGen; i++) tok = argmax(session.eval([tok]).logits);
    out.push((nGen * 1000) / (performance.now() - t0));
  }
  model.free();
  return out;
}

async function benchLlama() {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath });
  const out = [];
  for (let r = 0; r < reps; r++) {
    const context = await model.createContext({ contextSize: prompt.length + nGen + 16, threads: THREADS, flashAttention: false });
    const sequence = context.getSequence();
    const it = sequence.evaluate(prompt, { temperature: 0 });
    await it.next(); // prefill + first token
    const t0 = performance.now();
    for (let i = 0; i < nGen; i++) await it.next();
    out.push((nGen * 1000) / (performance.now() - t0));
    await it.return();
    await context.dispose();
  }
  await model.dispose();
  return out;
}

const ours = stats(await benchOurs());
const peer = stats(await benchLlama());
console.log(`CPU decode, ${modelPath}, prompt ${prompt.length} tokens, tg${nGen}, ${THREADS} threads, ${reps} runs`);
console.log("| engine | tok/s |");
console.log("|---|---|");
console.log(`| mtp-cli (CPU backend) | ${ours.mean.toFixed(1)} ± ${ours.sd.toFixed(1)} |`);
console.log(`| node-llama-cpp (llama.cpp CPU) | ${peer.mean.toFixed(1)} ± ${peer.sd.toFixed(1)} |`);
console.log(`ratio mtp-cli / llama.cpp: ${(ours.mean / peer.mean).toFixed(2)}`);
