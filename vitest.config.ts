import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The machine has 2 cores; parity tests run llama.cpp in-process with 2 threads.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
