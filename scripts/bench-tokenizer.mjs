#!/usr/bin/env node
/**
 * Tokenizer load time and encode throughput, on one core, through the built dist/ (run
 * `npm run build` first). Issue 3's targets: a 248k-token vocabulary with its merges loads in
 * < 1 s; encoding runs at >= 1 MB of text per second.
 *
 *   node scripts/bench-tokenizer.mjs [--model FILE.gguf] [--text FILE] [--runs N]
 *
 * Without --model it writes (to the temp dir) the Qwen3 vocabulary extended with synthetic merged
 * tokens to Qwen3.5/3.6's 248,320 entries (scripts/tokenizerGguf.mjs). Without --text it encodes
 * test/fixtures/tokenizer/heldout.txt. Load = parseGguf + Tokenizer construction; the first load
 * in a process is the one a CLI user waits for (later ones reuse JIT-compiled code). Encode "cold" is
 * a fresh tokenizer's first pass (empty piece cache), "warm" a second pass over the same text.
 */
import { readFileSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseGguf } from "../dist/gguf/parseGguf.js";
import { Tokenizer } from "../dist/tokenizer/Tokenizer.js";
import { writeQwen3VocabGguf } from "./tokenizerGguf.mjs";

const { values } = parseArgs({
  options: { model: { type: "string" }, text: { type: "string" }, runs: { type: "string", default: "5" } },
});
const runs = Number(values.runs);
const textPath = values.text ?? new URL("../test/fixtures/tokenizer/heldout.txt", import.meta.url).pathname;
const text = readFileSync(textPath, "utf8");
const mb = Buffer.byteLength(text) / 1e6;

let modelPath = values.model;
let scratch;
if (modelPath === undefined) {
  scratch = mkdtempSync(join(tmpdir(), "mtp-bench-tok-"));
  modelPath = join(scratch, "qwen3-248k.gguf");
  writeQwen3VocabGguf(modelPath, { pre: "qwen35", extraTokens: 248320 - 151669 });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const parseMs = [];
const buildMs = [];
const coldMBs = [];
const warmMBs = [];
let tok;
let nTokens = 0;
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const file = parseGguf(modelPath);
  const t1 = performance.now();
  tok = Tokenizer.fromGguf(file);
  const t2 = performance.now();
  nTokens = tok.encode(text).length;
  const t3 = performance.now();
  tok.encode(text);
  const t4 = performance.now();
  parseMs.push(t1 - t0);
  buildMs.push(t2 - t1);
  coldMBs.push(mb / ((t3 - t2) / 1000));
  warmMBs.push(mb / ((t4 - t3) / 1000));
}
if (scratch) rmSync(scratch, { recursive: true });

const f = (x) => x.toFixed(1);
console.log(`model: ${values.model ?? "Qwen3 vocabulary extended to 248,320 tokens (pre qwen35)"} — ${tok.nVocab} tokens`);
console.log(`text:  ${textPath} — ${f(mb * 1000)} KB, ${nTokens} tokens`);
const load = (i) => `${f(parseMs[i] + buildMs[i])} ms (parseGguf ${f(parseMs[i])} ms + Tokenizer ${f(buildMs[i])} ms)`;
console.log(`load, first in this process: ${load(0)}`);
console.log(`load, median of ${runs}: ${f(median(parseMs.map((p, i) => p + buildMs[i])))} ms`);
console.log(`encode (median of ${runs}): cold ${f(median(coldMBs))} MB/s, warm ${f(median(warmMBs))} MB/s`);
