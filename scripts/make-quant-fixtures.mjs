#!/usr/bin/env node
// The llama-quantize fixtures for the quantization types of real Qwen3.6 releases (issue 10):
// tiny-code bf16 (../shared/models/tiny-code) quantized by llama.cpp's own tools to Q4_K_M, Q3_K_M,
// IQ4_XS, IQ3_S and IQ2_XXS, every one with the importance matrix llama-imatrix computes over the
// held-out text (IQ3_S and IQ2_XXS need one; the others use it as llama.cpp users do). Then:
//   - llama.cpp's greedy continuations and top-token probabilities on the 16 prompts for each file
//     (scripts/make-oracle.mjs) → test/fixtures/tiny-code-quant-oracle.json, with the files' sha256,
//     for test/native/parity.test.ts;
//   - real blocks of every quantized type in those files and in five more made only for their blocks
//     (tiny-code Q5_K_M, Q4_1, IQ3_XXS, IQ2_XS, IQ2_M; the MoE fixture MXFP4_MOE): the first 64 blocks
//     of the first tensor of each type → test/fixtures/quant-real-blocks.{bin,json}, for
//     test/native/dequantize.test.ts;
//   - the importance matrix itself → test/fixtures/tiny-code-imatrix.gguf (the files can be remade).
//
//   node scripts/make-quant-fixtures.mjs [llama.cpp CPU build = /tmp/lcpp-cpu]
//
// The tools come from the CPU build of the peer (bash scripts/peer/build-llama-cpu.sh DIR, the
// llama.cpp release node-llama-cpp bundles); llama-quantize and llama-imatrix are built there if
// missing. The quantized files go to .cache/quant (git-ignored), where the parity test finds them.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ggmlTypeInfo } from "../dist/gguf/ggmlTypes.js";
import { parseGguf } from "../dist/gguf/parseGguf.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SOURCE = join(ROOT, "../shared/models/tiny-code/tiny-code-bf16.gguf");
const TEXT = join(ROOT, "../shared/models/tiny-code/heldout.txt");
const LLAMA = process.argv[2] ?? "/tmp/lcpp-cpu";
const OUT = join(ROOT, ".cache/quant");
const FIXTURES = join(ROOT, "test/fixtures");
const QUANT_TYPES = ["Q4_K_M", "Q3_K_M", "IQ4_XS", "IQ3_S", "IQ2_XXS"];
const BLOCK_TYPES = ["Q5_K_M", "Q4_1", "IQ3_XXS", "IQ2_XS", "IQ2_M"];  // real blocks only (IQ2_M: the IQ2_S type)
const MOE = join(ROOT, "test/fixtures/tiny-moe-bf16.gguf");
const BLOCKS_PER_TYPE = 64;

const run = (cmd, args, opts = {}) => {
  process.stderr.write(`make-quant-fixtures: ${cmd} ${args.join(" ")}\n`);
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "inherit"], ...opts });
};
const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

for (const need of [SOURCE, TEXT, join(LLAMA, "build/CMakeCache.txt")]) {
  if (!existsSync(need)) throw new Error(`make-quant-fixtures: ${need} is missing`);
}

// 1. llama-quantize and llama-imatrix (an incremental build of the configured peer).
const bin = join(LLAMA, "build/bin");
if (!existsSync(join(bin, "llama-quantize")) || !existsSync(join(bin, "llama-imatrix"))) {
  run("cmake", ["--build", join(LLAMA, "build"), "--parallel", "2", "--target", "llama-quantize", "llama-imatrix"]);
}

// 2. The importance matrix over the held-out text, then the quantized files.
mkdirSync(OUT, { recursive: true });
const imatrix = join(FIXTURES, "tiny-code-imatrix.gguf");
if (!existsSync(imatrix)) {
  run(join(bin, "llama-imatrix"), ["-m", SOURCE, "-f", TEXT, "-o", imatrix, "-c", "512", "-t", "2", "--no-ppl"]);
}
/** tiny-code bf16 quantized to `type` with the importance matrix (made once): its path. */
const quantize = (type) => {
  const path = join(OUT, `tiny-code-${type}.gguf`);
  // llama-imatrix runs the trunk only, so the MTP block (tiny-code's blk.8) has no importance
  // matrix, which the types that need one refuse: there the block stays Q8_0.
  const mtp = type.startsWith("IQ2_") || type === "IQ3_XXS" ? ["--tensor-type", "blk\\.8\\.=q8_0"] : [];
  if (!existsSync(path)) {
    try {
      run(join(bin, "llama-quantize"), ["--imatrix", imatrix, ...mtp, SOURCE, path, type, "2"]);
    } catch (e) {
      rmSync(path, { force: true });  // no half-written file for the next run to take as made
      throw e;
    }
  }
  return path;
};
const files = {};
for (const type of QUANT_TYPES) files[`tiny-code-${type}.gguf`] = sha256(quantize(type));
const blockFiles = BLOCK_TYPES.map(quantize);
const moeMxfp4 = join(OUT, "tiny-moe-MXFP4_MOE.gguf");
if (!existsSync(moeMxfp4)) run(join(bin, "llama-quantize"), [MOE, moeMxfp4, "MXFP4_MOE", "2"]);
blockFiles.push(moeMxfp4);

// 3. llama.cpp's oracle for each file (the parity test's reference), with the files' hashes.
const oraclePath = join(FIXTURES, "tiny-code-quant-oracle.json");
const current = existsSync(oraclePath) ? JSON.parse(readFileSync(oraclePath, "utf8")).files : null;
if (JSON.stringify(current) !== JSON.stringify(files)) {  // (re)made only when a file changed
  run(process.execPath, [join(ROOT, "scripts/make-oracle.mjs"), OUT, oraclePath, Object.keys(files).join(","),
    join(ROOT, "../shared/models/tiny-code/prompts.json")], { stdio: ["ignore", "inherit", "inherit"] });
  const oracle = JSON.parse(readFileSync(oraclePath, "utf8"));
  oracle.source = { model: "tiny-code-bf16.gguf", sha256: sha256(SOURCE), imatrix: "test/fixtures/tiny-code-imatrix.gguf", text: "heldout.txt" };
  oracle.files = files;
  writeFileSync(oraclePath, JSON.stringify(oracle) + "\n");
}

// 4. Real blocks: the first BLOCKS_PER_TYPE blocks of the first tensor of each quantized type.
const UNQUANTIZED = new Set([0, 1, 30]); // F32, F16, BF16
const index = [];
const chunks = [];
let at = 0;
for (const path of [...Object.keys(files).map((f) => join(OUT, f)), ...blockFiles]) {
  const file = path.slice(OUT.length + 1);
  const gguf = parseGguf(path);
  const fd = openSync(path, "r");
  for (const t of gguf.tensors) {
    if (UNQUANTIZED.has(t.type) || index.some((e) => e.type === t.type)) continue;
    const info = ggmlTypeInfo(t.type);
    const n = Math.min(BLOCKS_PER_TYPE, t.nElements / info.blockElems);
    const bytes = Buffer.alloc(n * info.blockBytes);
    readSync(fd, bytes, 0, bytes.length, t.fileOffset);
    chunks.push(bytes);
    index.push({ type: t.type, name: info.name, file, tensor: t.name, offset: at, bytes: bytes.length, elements: n * info.blockElems });
    at += bytes.length;
  }
  closeSync(fd);
}
writeFileSync(join(FIXTURES, "quant-real-blocks.bin"), Buffer.concat(chunks));
writeFileSync(join(FIXTURES, "quant-real-blocks.json"), JSON.stringify({ generator: "scripts/make-quant-fixtures.mjs", blocks: index }, null, 1) + "\n");
console.log(`make-quant-fixtures: ${Object.keys(files).length} files in ${OUT}; real blocks of ${index.map((e) => e.name).join(", ")}`);

