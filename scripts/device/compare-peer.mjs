#!/usr/bin/env node
// On the GPU machine: mtp-cli bench and the llama.cpp peer on the same GGUF in one run, and their
// ratios. The peer is the release node-llama-cpp 3.22.1 bundles, built by `.device/peer-build.sh`
// into /tmp/lcpp/build/bin (override with LLAMA_BIN).
//
//   node scripts/device/compare-peer.mjs MODEL.gguf [--ks 1,2,3,4] [--n-spec 256] [--depths 4096,32768] [--json OUT.json]
//
// Plain speed: llama-bench pp512 / tg128 (-ngl 99, -r 5) next to `mtp-cli bench -p 512 -n 128 -r 5`
// on its built-in prompt set. Speculative speed: both engines decode the same prompt greedily
// (the peer: llama-speculative-simple --spec-type draft-mtp --spec-draft-n-max K, its "decoded"
// speed, --ignore-eos; mtp-cli: bench --prompt-file with that prompt, end-of-generation ignored),
// n-spec tokens each, so both decode the same length. --depths: plain tg128 also after that many
// tokens of context (llama-bench -d; mtp-cli bench -d, -r 3, on that prompt).
// Prints Markdown; --json writes every figure.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.LLAMA_BIN ?? "/tmp/lcpp/build/bin";
// The prompt .device/peer-bench.sh uses.
const PROMPT = "import os\nimport sys\n\ndef main():\n";

const args = process.argv.slice(2);
const model = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : dflt;
};
if (!model || model.startsWith("-")) {
  console.error("usage: compare-peer.mjs MODEL.gguf [--ks 1,2,3,4] [--n-spec 256] [--depths 4096,32768] [--json OUT.json]");
  process.exit(1);
}
const ks = opt("--ks", "1,2,3,4").split(",").map(Number);
const nSpec = Number(opt("--n-spec", "256"));
const depths = opt("--depths", "").split(",").filter(Boolean).map(Number);
const jsonOut = opt("--json", null);

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.error || r.status !== 0) {
    console.error(`compare-peer: ${basename(cmd)} ${argv.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`})\n${(r.stderr ?? "").slice(-3000)}`);
    process.exit(3);
  }
  return r;
}

const mtpCli = (argv) => JSON.parse(run(process.execPath, [join(ROOT, "bin/mtp-cli"), "bench", "-m", model, "--backend", "cuda", "-o", "json", ...argv]).stdout);

// --- the peer
const lb = JSON.parse(run(join(BIN, "llama-bench"), ["-m", model, "-p", "512", "-n", "128", "-ngl", "99", "-r", "5", "-o", "json"]).stdout);
const peer = {
  gpu: lb[0]?.gpu_info ?? "",
  build: lb[0]?.build_commit ?? "",
  pp: lb.find((r) => r.n_prompt > 0 && r.n_gen === 0)?.avg_ts ?? NaN,
  tg: lb.find((r) => r.n_gen > 0 && r.n_prompt === 0)?.avg_ts ?? NaN,
  spec: [],
  depth: [],
};
for (const d of depths) {
  const r = JSON.parse(run(join(BIN, "llama-bench"), ["-m", model, "-p", "0", "-n", "128", "-d", String(d), "-ngl", "99", "-r", "3", "-o", "json"]).stdout);
  peer.depth.push({ d, tg: r.find((x) => x.n_gen > 0)?.avg_ts ?? NaN });
}
for (const k of ks) {
  const r = run(join(BIN, "llama-speculative-simple"), ["-m", model, "-p", PROMPT, "-n", String(nSpec), "--temp", "0", "-ngl", "99", "--spec-type", "draft-mtp", "--spec-draft-n-max", String(k), "--ignore-eos"]);
  const out = r.stdout + r.stderr;
  const num = (re) => Number(re.exec(out)?.[1] ?? NaN);
  peer.spec.push({
    k,
    tps: num(/decoded.*speed:\s*([\d.]+)/),
    decoded: num(/decoded\s+(\d+)\s+tokens/),
    drafted: num(/n_drafted\s*=\s*(\d+)/),
    accepted: num(/n_accept\s*=\s*(\d+)/),
  });
}

// --- mtp-cli
const plain = mtpCli(["-p", "512", "-n", "128", "-r", "5", "--mtp-spec-decode", "0"]);
const promptFile = join(mkdtempSync(join(tmpdir(), "compare-peer-")), "prompt.txt");
writeFileSync(promptFile, PROMPT);
const spec = mtpCli(["-p", "0", "-n", String(nSpec), "-r", "5", "--mtp-spec-decode", ks.join(","), "--prompt-file", promptFile]);
const atDepth = depths.map((d) => ({
  d,
  tg: mtpCli(["-p", "0", "-n", "128", "-d", String(d), "-r", "3", "--mtp-spec-decode", "0", "--prompt-file", promptFile]).results[0].avg_tps,
}));
const row = (rep, test) => rep.results.find((r) => r.test === test);
const ours = {
  gpu: plain.system.gpu?.name ?? "",
  build: plain.library.build_id,
  pp: row(plain, "pp512").avg_tps,
  tg: row(plain, "tg128").avg_tps,
  tgSpecPrompt: row(spec, `tg${nSpec}`).avg_tps,
  spec: ks.map((k) => {
    const r = row(spec, `tg${nSpec} mtp k=${k}`);
    return { k, tps: r.avg_tps, sd: r.sd_tps, drafted: r.n_drafted, accepted: r.n_accepted, speedup: r.speedup };
  }),
};

// --- report
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const pct = (a, d) => (d ? `${((100 * a) / d).toFixed(1)} %` : "–");
const best = (xs) => xs.reduce((b, x) => (x.tps > b.tps ? x : b), { tps: -Infinity });
const lines = [
  `## mtp-cli vs llama.cpp on ${basename(model)}`,
  "",
  `GPU: ${ours.gpu} (peer: ${peer.gpu}); mtp-cli library ${ours.build}; llama.cpp build ${peer.build}`,
  "",
  "| test | mtp-cli tok/s | llama.cpp tok/s | ratio |",
  "|---|---:|---:|---:|",
  `| pp512 | ${f(ours.pp)} | ${f(peer.pp)} | ${f(ours.pp / peer.pp, 2)}× |`,
  `| tg128 (plain) | ${f(ours.tg)} | ${f(peer.tg)} | ${f(ours.tg / peer.tg, 2)}× |`,
  ...atDepth.map(({ d, tg }, i) => `| tg128 @ d${d} (plain) | ${f(tg)} | ${f(peer.depth[i].tg)} | ${f(tg / peer.depth[i].tg, 2)}× |`),
  ...ks.map((k, i) => {
    const o = ours.spec[i];
    const p = peer.spec[i];
    return `| greedy MTP k=${k}, ${nSpec} tok (peer: ${p.decoded}) | ${f(o.tps)} (${pct(o.accepted, o.drafted)}) | ${f(p.tps)} (${pct(p.accepted, p.drafted)}) | ${f(o.tps / p.tps, 2)}× |`;
  }),
  "",
  `Best K: mtp-cli k=${best(ours.spec).k} ${f(best(ours.spec).tps)} tok/s = ${f(best(ours.spec).tps / ours.tgSpecPrompt, 2)}× its own plain decode ` +
    `on that prompt (${f(ours.tgSpecPrompt)} tok/s); llama.cpp k=${best(peer.spec).k} ${f(best(peer.spec).tps)} tok/s = ` +
    `${f(best(peer.spec).tps / peer.tg, 2)}× its tg128. Best vs best: ${f(best(ours.spec).tps / best(peer.spec).tps, 2)}×.`,
];
console.log(lines.join("\n"));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ model: basename(model), ours, peer, plain, spec, atDepth }, null, 2));
