#!/usr/bin/env node
// `npm run build:prebuilt`: a self-contained linux-x64 libmtp with the CUDA backend, for machines
// that have the NVIDIA driver but no CUDA toolkit. Builds cuda/ in its own folder
// (cuda/build-prebuilt: Release, MTP_CUDA=ON, SASS for sm_80/86/89/90 + compute_90 PTX — the
// default architectures of cuda/CMakeLists.txt —, static CUDA runtime, no cuBLAS), copies the library
// to prebuilt/linux-x64/libmtp.so and strips it, then checks it:
//   - its .nv_fatbin holds SASS for sm_80, sm_86, sm_89, sm_90 and compute_90 PTX;
//   - `ldd`: nothing outside the base system (libc, libm, libdl, libpthread, librt, libstdc++,
//     libgcc_s, the loader) — in particular no libcudart or libcublas;
//   - a load test: a child node loads it through dist/ (loadNativeLibrary, which checks the ABI
//     version) and prints the ABI version and the backends it reports (CPU only without a GPU).
// Needs nvcc (fails clearly without it), but no GPU, and dist/ (`npm run build`). Compiling CUDA for
// four architectures took about 70 s on a 2-core machine (incremental afterwards); not part of `npm test`.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { compile, configure, fail, nvccVersion, root, source } from "./build-native.mjs";

const TAG = "build-prebuilt";
const build = join(source, "build-prebuilt");
const built = join(build, "libmtp.so");
const outDir = join(root, "prebuilt", "linux-x64");
const out = join(outDir, "libmtp.so");
/** Sonames a prebuilt library may need: the base system of any glibc linux-x64. */
const BASE_SYSTEM = /^(linux-vdso|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux(-x86-64)?)\.so(\.\d+)*$/;

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The default CMAKE_CUDA_ARCHITECTURES of cuda/CMakeLists.txt, as a CMake list ("80-real;...;90"). */
function defaultCudaArchitectures() {
  const text = readFileSync(join(source, "CMakeLists.txt"), "utf8");
  const m = /set\(CMAKE_CUDA_ARCHITECTURES ([^)]+)\)/.exec(text);
  if (!m) fail(TAG, "cuda/CMakeLists.txt: expected a default `set(CMAKE_CUDA_ARCHITECTURES ...)`, found none");
  return m[1].trim().split(/\s+/).join(";");
}

/**
 * The GPU code embedded in an ELF shared library: "sm_80" for each SASS image and "compute_90" for
 * each PTX image of its .nv_fatbin section (fatbinary container: magic 0xBA55ED50, then entries with
 * kind 1 = PTX / 2 = ELF and the architecture at byte 28 of their header), with image counts.
 */
function embeddedGpuCode(path) {
  const b = readFileSync(path);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) fail(TAG, `${path}: not a 64-bit ELF file`);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const section = (i) => ({
    name: b.readUInt32LE(shoff + i * shentsize),
    offset: Number(b.readBigUInt64LE(shoff + i * shentsize + 24)),
    size: Number(b.readBigUInt64LE(shoff + i * shentsize + 32)),
  });
  const names = section(b.readUInt16LE(0x3e));
  const nameOf = (s) => b.toString("latin1", names.offset + s.name, b.indexOf(0, names.offset + s.name));
  const codes = new Map();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameOf(s) !== ".nv_fatbin") continue;
    for (let p = s.offset; p + 16 <= s.offset + s.size; ) {
      if (b.readUInt32LE(p) !== 0xba55ed50) {
        p += 8; // containers are 8-byte aligned, with padding between them
        continue;
      }
      const end = p + b.readUInt16LE(p + 6) + Number(b.readBigUInt64LE(p + 8));
      for (let q = p + b.readUInt16LE(p + 6); q < end; q += b.readUInt32LE(q + 4) + Number(b.readBigUInt64LE(q + 8))) {
        const kind = b.readUInt16LE(q);
        const code = `${kind === 1 ? "compute" : kind === 2 ? "sm" : `kind${kind}`}_${b.readUInt32LE(q + 28)}`;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      p = end;
    }
  }
  return codes;
}

/** `ldd` of the library as { soname, line } pairs. */
function lddEntries(path) {
  const r = spawnSync("ldd", [path], { encoding: "utf8" });
  if (r.error || r.status !== 0) fail(TAG, `ldd ${path} failed: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((line) => ({ soname: (line.split(/\s+/)[0] ?? "").split("/").pop() ?? "", line }));
}

/** The newest GLIBC_ / GLIBCXX_ symbol versions the library needs (objdump -T), or null without objdump. */
function symbolVersions(path) {
  const r = spawnSync("objdump", ["-T", path], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) return null;
  const newest = (prefix) => {
    const vs = [...r.stdout.matchAll(new RegExp(`\\b${prefix}_([0-9.]+)\\b`, "g"))].map((m) => m[1].split(".").map(Number));
    vs.sort((a, b) => {
      for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
      return 0;
    });
    return vs.length ? vs[vs.length - 1].join(".") : "none";
  };
  return `GLIBC_${newest("GLIBC")}, GLIBCXX_${newest("GLIBCXX")}`;
}

if (process.platform !== "linux" || process.arch !== "x64") {
  fail(TAG, `the prebuilt library is for linux-x64; this is ${process.platform}-${process.arch}`);
}
const nvcc = nvccVersion();
if (!nvcc) {
  fail(TAG, "nvcc not found on PATH: the prebuilt library carries the CUDA backend, so it must be built on a machine with the CUDA toolkit (its GPU is not needed)");
}
const loader = join(root, "dist", "native", "loadNativeLibrary.js");
if (!existsSync(loader)) fail(TAG, `${relative(root, loader)} not found: run \`npm run build\` first (the load test uses dist/)`);

// 1. Configure, in its own folder so cuda/build is left alone.
const archs = defaultCudaArchitectures();
configure(build, { MTP_CUDA: "ON", CMAKE_CUDA_ARCHITECTURES: archs }, TAG);
console.log(`${TAG}: nvcc ${nvcc}, CMAKE_CUDA_ARCHITECTURES=${archs}`);

// 2. Build only the library (not the checks), copy and strip it.
compile(build, { target: "mtp", tag: TAG });
mkdirSync(outDir, { recursive: true });
copyFileSync(built, out);
const unstripped = statSync(out).size;
const strip = spawnSync("strip", ["--strip-unneeded", out], { stdio: ["ignore", "inherit", "inherit"] });
const stripped = strip.error || strip.status !== 0 ? null : statSync(out).size;
console.log(`${TAG}: ${relative(root, out)}: ${mib(unstripped)}${stripped === null ? " (strip failed or is missing: left unstripped)" : `, ${mib(stripped)} after strip --strip-unneeded`}`);

// 3. The GPU code it carries: SASS for each architecture, PTX for the newest.
const codes = embeddedGpuCode(out);
const wantedCodes = ["sm_80", "sm_86", "sm_89", "sm_90", "compute_90"];
const missing = wantedCodes.filter((c) => !codes.has(c));
if (missing.length) fail(TAG, `${relative(root, out)} carries no ${missing.join(", ")} code (found: ${[...codes.keys()].join(", ") || "none"})`);
console.log(`${TAG}: GPU code: ${[...codes].map(([c, n]) => `${c} ×${n}`).join(", ")}`);

// 4. ldd: the base system only.
const entries = lddEntries(out);
for (const e of entries) console.log(`  ${e.line}`);
const foreign = entries.filter((e) => !BASE_SYSTEM.test(e.soname) || /not found/.test(e.line));
if (foreign.length) fail(TAG, `${relative(root, out)} needs libraries outside the base system: ${foreign.map((e) => e.line).join("; ")}`);
const versions = symbolVersions(out);
if (versions) console.log(`${TAG}: newest symbol versions needed: ${versions}`);

// 5. Load test in a child node: the same lookup and ABI check the CLI uses.
const probe = `
const { loadNativeLibrary } = await import(${JSON.stringify(pathToFileURL(loader).href)});
const lib = loadNativeLibrary();
process.stdout.write(JSON.stringify({ path: lib.path, abi: lib.fn.mtp_abi_version(), backends: lib.backends }));
`;
const env = { ...process.env, MTP_NATIVE_LIBRARY: out };
delete env.MTP_LIB;
const r = spawnSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8", env });
if (r.error || r.status !== 0) fail(TAG, `load test failed (exit ${r.status}): ${(r.error?.message ?? r.stderr).trim()}`);
const probed = JSON.parse(r.stdout);
if (probed.path !== out) fail(TAG, `load test: loaded ${probed.path}, expected ${out}`);
const backends = ["CPU", "CUDA"].filter((_, i) => (probed.backends & (1 << i)) !== 0);
const cudaNote = backends.includes("CUDA") ? "" : " (no usable CUDA device or driver here; the CUDA backend is compiled in)";
console.log(`${TAG}: load test: ABI version ${probed.abi}, backends ${backends.join(", ")}${cudaNote}`);

console.log(
  `${TAG}: ${relative(root, out)} built (${mib(stripped ?? unstripped)}; nvcc ${nvcc}; ${wantedCodes.slice(0, -1).join(", ")} SASS + compute_90 PTX; ` +
    `static CUDA runtime, no cuBLAS): ldd base system only, ABI ${probed.abi}, backends ${backends.join(", ")}`,
);
