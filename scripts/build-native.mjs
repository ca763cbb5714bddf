#!/usr/bin/env node
// Builds the native engine (cuda/ → cuda/build/libmtp.so) with CMake; run by `npm run build`, hence
// by `npm ci` / `npm install` (prepare) and `npm test`. Incremental: configures, then rebuilds what
// changed. The CUDA backend is compiled in when nvcc is found (MTP_CUDA=0 forces a CPU-only build,
// MTP_CUDA=1 makes a missing nvcc an error); the last line says what was built and why.
//
// Also a module: scripts/build-prebuilt.mjs imports the helpers below (run, nvccVersion, configure,
// compile) to build the self-contained CUDA library in its own build folder.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const source = join(root, "cuda");

/** Prints `tag: message` on stderr and exits with code 1. */
export function fail(tag, message) {
  console.error(`${tag}: ${message}`);
  process.exit(1);
}

/** Runs a command with inherited stdout/stderr; a failure to start or a non-zero exit ends the process. */
export function run(cmd, args, tag = "build-native") {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (r.error) fail(tag, `cannot run ${cmd}: ${r.error.message} (a C++17 compiler and CMake >= 3.18 are required)`);
  if (r.status !== 0) fail(tag, `${cmd} ${args.join(" ")} failed with exit code ${r.status}`);
}

/** "13.0" from `nvcc --version`, or null when nvcc cannot be run. */
export function nvccVersion() {
  const r = spawnSync("nvcc", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  return /release (\d+\.\d+)/.exec(r.stdout)?.[1] ?? "unknown version";
}

/** The values of a CMakeCache.txt (`NAME:TYPE=VALUE` lines), by name; empty when there is none. */
function cacheValues(build) {
  const cache = join(build, "CMakeCache.txt");
  const values = new Map();
  if (!existsSync(cache)) return values;
  for (const line of readFileSync(cache, "utf8").split("\n")) {
    const m = /^([A-Za-z0-9_]+):[A-Z_]+=(.*)$/.exec(line);
    if (m) values.set(m[1], m[2]);
  }
  return values;
}

/**
 * Configures cuda/ into `build` with the cache entries `defs` ({ MTP_CUDA: "ON", ... }), Release;
 * skipped when the folder is already configured with exactly these values.
 */
export function configure(build, defs, tag = "build-native") {
  const cached = cacheValues(build);
  if (cached.size > 0 && Object.entries(defs).every(([k, v]) => cached.get(k) === v)) return;
  const args = Object.entries(defs).map(([k, v]) => `-D${k}=${v}`);
  run("cmake", ["-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", ...args, "--log-level=WARNING"], tag);
}

/** Builds `build` (all targets, or `target`). */
export function compile(build, { target, tag = "build-native" } = {}) {
  // The machines this builds on are small and shared: nvcc is memory-hungry, so at most 2 jobs.
  const jobs = String(Math.max(1, Math.min(2, availableParallelism())));
  run("cmake", ["--build", build, "--parallel", jobs, ...(target ? ["--target", target] : [])], tag);
}

/** `npm run build:native`: cuda/build/libmtp.so with the backends this machine can build. */
export function buildNative() {
  const build = join(source, "build");
  const library = join(build, "libmtp.so");
  const cudaEnv = process.env.MTP_CUDA;
  if (cudaEnv !== undefined && cudaEnv !== "0" && cudaEnv !== "1") {
    fail("build-native", `MTP_CUDA: expected 0 or 1, got ${JSON.stringify(cudaEnv)}`);
  }
  const nvcc = cudaEnv === "0" ? null : nvccVersion();
  if (cudaEnv === "1" && !nvcc) {
    fail("build-native", "MTP_CUDA=1: nvcc not found on PATH (install the CUDA toolkit, or unset MTP_CUDA for a CPU-only build)");
  }
  const withCuda = nvcc !== null;
  // Configure once, and again when MTP_CUDA must change in an existing build.
  configure(build, { MTP_CUDA: withCuda ? "ON" : "OFF" });
  compile(build);

  const what = withCuda
    ? `the CPU and CUDA backends (nvcc ${nvcc}; sm_80, sm_86, sm_89, sm_90 + PTX)`
    : `the CPU backend only; CUDA skipped: ${cudaEnv === "0" ? "MTP_CUDA=0" : "nvcc not found on PATH"}`;
  console.log(`build-native: ${relative(root, library)} built with ${what}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) buildNative();
