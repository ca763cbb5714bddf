#!/usr/bin/env node
// What a verify step costs next to a decode step, and how close the decode step is to the memory
// roofline. Evaluates n = 1 … 8 tokens per call with the LM head over every row, its logits left on
// the backend as a greedy step leaves them (mtp_session_eval with logits NULL), keeps one token
// (the rollback a rejected draft costs) and repeats; prints the time per call and its ratio to n = 1.
// With --copy-gbs (cuda-kernels-check prints the device's copy bandwidth), the 1-row step's weight
// bytes (every trunk matrix and the LM head as stored in the file, one embedding row) over it.
// Also: what the model and the session allocated on the device next to inspect-gguf's estimate.
//
//   node scripts/device/step-cost.mjs MODEL.gguf [--backend cuda] [--reps 40] [--widths 1,2,3,4,5,8] [--copy-gbs GBS] [--json OUT]
// (--widths 1 --reps 1 under `ncu` profiles one decode step and its warm-up; see docs/device-runs.md.)
import { writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const { openModel } = await import(join(ROOT, "dist/engine/openModel.js"));
const { estimateMemory } = await import(join(ROOT, "dist/arch/memoryEstimate.js"));
const { allocatedDeviceBytes } = await import(join(ROOT, "dist/native/NativeModel.js"));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : dflt;
};
const model = args[0];
if (!model || model.startsWith("-")) {
  console.error("usage: step-cost.mjs MODEL.gguf [--backend cuda] [--reps 40] [--widths 1,2,3,4,5,8] [--copy-gbs GBS] [--json OUT]");
  process.exit(1);
}
const reps = Number(opt("--reps", "40"));
const copyGbs = Number(opt("--copy-gbs", "NaN"));
const widths = opt("--widths", "1,2,3,4,5,8").split(",").map(Number);
if (widths.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) {
  console.error("step-cost: --widths takes row counts from 1 to 8, e.g. 1,4");
  process.exit(1);
}

const m = openModel(model, opt("--backend", "cuda"));
const d = m.description;
const nCtx = 64 + reps * (widths.length + 1) * 2;
const session = m.native.createSession({ nCtx, nDraftMax: 7 });
const V = d.hparams.nVocab;
const tok = (i) => (i * 7919 + 13) % V;
session.eval(Array.from({ length: 32 }, (_, i) => tok(i)), { dropLogits: true });

const rows = [];
for (const n of widths) {
  const batch = Array.from({ length: n }, (_, i) => tok(100 + i));
  const call = () => {
    session.eval(batch, { logitRows: batch.map((_, i) => i), dropLogits: true });
    if (n > 1) session.keep(1);
  };
  for (let i = 0; i < 3; i++) call(); // graph capture and warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) call();
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / reps;
  rows.push({ n, us });
}

// Bytes a decode step reads: the trunk's matrices and the LM head as stored, one embedding row; of a
// mixture of experts' stacked expert tensors the share of the experts a token uses.
const moe = d.hparams.moe;
const share = (t) => (moe && t.name.includes("_exps.") ? moe.nExpertUsed / moe.nExpert : 1);
const trunk = d.manifest.filter((t) => t.layer >= 0 && t.layer < d.hparams.nLayer);
const global = d.manifest.filter((t) => t.layer < 0);
const embd = global.find((t) => t.name === "token_embd.weight");
const head = global.find((t) => t.name === d.lmHead);
const bytes =
  trunk.reduce((s, t) => s + t.nBytes * share(t), 0) +
  global.filter((t) => t !== embd && t !== head).reduce((s, t) => s + t.nBytes, 0) +
  head.nBytes +
  (d.lmHead === "token_embd.weight" ? 0 : embd.nBytes / embd.ne[1]);

const one = rows.find((r) => r.n === 1)?.us ?? NaN; // the ratios and the roofline need the 1-row step
const allocated = allocatedDeviceBytes();
const est = estimateMemory(d, { ctx: nCtx, draftMax: 7 }).totalBytes;
const lines = [
  `## step cost: ${basename(model)} on ${m.backend}`,
  "",
  "| rows per step | µs per step | × 1-row step |",
  "|---:|---:|---:|",
  ...rows.map((r) => `| ${r.n} | ${r.us.toFixed(1)} | ${Number.isFinite(one) ? (r.us / one).toFixed(2) : "—"} |`),
  "",
  `A decode step reads ${(bytes / 1e9).toFixed(3)} GB of weights` +
    (Number.isFinite(one) ? `: ${(bytes / (one * 1e-6) / 1e9).toFixed(0)} GB/s` : "") +
    (Number.isFinite(one) && Number.isFinite(copyGbs)
      ? ` = ${((100 * bytes) / (one * 1e-6) / 1e9 / copyGbs).toFixed(1)} % of the copy bandwidth (${copyGbs} GB/s)`
      : ""),
  "",
  `Device memory (ctx ${nCtx}, K 7): allocated ${(allocated / 2 ** 20).toFixed(1)} MiB, inspect-gguf's estimate ` +
    `${(est / 2 ** 20).toFixed(1)} MiB (${((100 * (est - allocated)) / allocated).toFixed(1)} %)`,
];
console.log(lines.join("\n"));
const jsonOut = opt("--json", null);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ model: basename(model), backend: m.backend, reps, bytes, copyGbs, rows, allocated, estimate: est }, null, 2));
m.native.free();
