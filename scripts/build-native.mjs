#!/usr/bin/env node
// Builds the native engine (cuda/ → cuda/build/libmtp.so) with CMake; run by `npm run build`, hence
// by `npm ci` / `npm install` (prepare) and `npm test`. Incremental: configures, then rebuilds what
// changed. The CUDA backend is compiled in when nvcc is found (MTP_CUDA=0 forces a CPU-only build,
// MTP_CUDA=1 makes a missing nvcc an error); the last line says what was built and why.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "cuda");
const build = join(source, "build");
const library = join(build, "libmtp.so");

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (r.error) {
    console.error(`build-native: cannot run ${cmd}: ${r.error.message} (a C++17 compiler and CMake >= 3.18 are required)`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`build-native: ${cmd} ${args.join(" ")} failed with exit code ${r.status}`);
    process.exit(1);
  }
}

/** "13.0" from `nvcc --version`, or null when nvcc cannot be run. */
function nvccVersion() {
  const r = spawnSync("nvcc", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  return /release (\d+\.\d+)/.exec(r.stdout)?.[1] ?? "unknown version";
}

const cudaEnv = process.env.MTP_CUDA;
if (cudaEnv !== undefined && cudaEnv !== "0" && cudaEnv !== "1") {
  console.error(`build-native: MTP_CUDA: expected 0 or 1, got ${JSON.stringify(cudaEnv)}`);
  process.exit(1);
}
const nvcc = cudaEnv === "0" ? null : nvccVersion();
if (cudaEnv === "1" && !nvcc) {
  console.error("build-native: MTP_CUDA=1: nvcc not found on PATH (install the CUDA toolkit, or unset MTP_CUDA for a CPU-only build)");
  process.exit(1);
}
const withCuda = nvcc !== null;
// Configure once, and again when MTP_CUDA must change in an existing build.
const cache = join(build, "CMakeCache.txt");
const wanted = `MTP_CUDA:BOOL=${withCuda ? "ON" : "OFF"}`;
if (!existsSync(cache) || !readFileSync(cache, "utf8").split("\n").includes(wanted)) {
  run("cmake", ["-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", `-DMTP_CUDA=${withCuda ? "ON" : "OFF"}`, "--log-level=WARNING"]);
}
// The machines this builds on are small and shared: nvcc is memory-hungry, so at most 2 jobs.
run("cmake", ["--build", build, "--parallel", String(Math.max(1, Math.min(2, availableParallelism())))]);

const what = withCuda
  ? `the CPU and CUDA backends (nvcc ${nvcc}; sm_80, sm_86, sm_89, sm_90 + PTX)`
  : `the CPU backend only; CUDA skipped: ${cudaEnv === "0" ? "MTP_CUDA=0" : "nvcc not found on PATH"}`;
console.log(`build-native: ${relative(root, library)} built with ${what}`);
