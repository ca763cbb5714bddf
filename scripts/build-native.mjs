#!/usr/bin/env node
// Builds the native engine (cuda/ → cuda/build/libmtp.so) with CMake; run by `npm run build`, hence
// by `npm ci` / `npm install` (prepare) and `npm test`. Incremental: configures once, then rebuilds
// what changed. MTP_CUDA=0/1 is the reserved override for the CUDA backend, which is a later release:
// this one always builds the CPU backend only and says so.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
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

const cudaEnv = process.env.MTP_CUDA;
if (cudaEnv !== undefined && cudaEnv !== "0" && cudaEnv !== "1") {
  console.error(`build-native: MTP_CUDA: expected 0 or 1, got ${JSON.stringify(cudaEnv)}`);
  process.exit(1);
}
if (!existsSync(join(build, "CMakeCache.txt"))) {
  run("cmake", ["-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "--log-level=WARNING"]);
}
run("cmake", ["--build", build, "--parallel", String(Math.max(1, availableParallelism()))]);

const nvcc = spawnSync("nvcc", ["--version"], { stdio: "ignore" }).status === 0;
const cudaNote =
  cudaEnv === "1"
    ? "MTP_CUDA=1 requested, but the CUDA backend is not in this release"
    : `CUDA backend not in this release${nvcc ? " (nvcc found)" : ""}`;
console.log(`build-native: ${relative(root, library)} built with the CPU backend only; ${cudaNote}`);
