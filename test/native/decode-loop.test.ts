/**
 * The backend-independent decode loop and sampler (cuda/src/runtime/speculative.cpp, sampling.cpp)
 * through their C++ checks on a toy backend (cuda/tests/*-test.cpp, built by `npm run build`):
 * sampler chain semantics, distribution preservation of speculative sampling (chi-square / total
 * variation against the exact target distribution), greedy K = 1..6 identical to K = 0, end of
 * generation and n_predict inside the accepted window, context full, seeded reproducibility. Also
 * the packed Q8_0 kernel of the CPU backend against the row-major dot product (q8_0-packed-test).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/fixtures.js";

function runCheck(name: string): string {
  const r = spawnSync(join(ROOT, "cuda/build", name), { encoding: "utf8", timeout: 120_000 });
  if (r.error) throw r.error;
  expect(r.stdout, r.stdout).not.toMatch(/FAIL/);
  expect(r.status, r.stdout).toBe(0);
  return r.stdout;
}

describe("decode loop on a toy backend, and the CPU kernels' own checks", () => {
  it("sampler chain and speculative sampling preserve the target distribution", () => {
    const out = runCheck("sampling-test");
    expect(out).toMatch(/all sampling checks passed/);
    expect(out.match(/^ok distribution/gm)?.length).toBe(3);
  });
  it("packed Q8_0 kernel (AVX512-VNNI) is bitwise equal to the row-major dot product, or says it is skipped", () => {
    const out = runCheck("q8_0-packed-test");
    expect(out).toMatch(/all packed Q8_0 checks passed|skipped: this CPU has no AVX512-VNNI/);
  });
  it("every weight type's dot product equals the sum over its dequantized values (vec-dot-test)", () => {
    const out = runCheck("vec-dot-test");
    expect(out).toMatch(/all vec_dot checks passed/);
    expect(out.match(/^ok vec_dot/gm)?.length).toBe(17);
  });
  it("speculative loop: greedy == plain, EOG/budget/context edges, sampled joint distribution", () => {
    const out = runCheck("speculative-test");
    expect(out).toMatch(/all speculative-loop checks passed/);
    expect(out).toMatch(/ok sampled K=2 joint distribution/);
  });
});
