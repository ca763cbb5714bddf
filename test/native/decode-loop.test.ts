/**
 * The backend-independent decode loop and sampler (cuda/src/runtime/speculative.cpp, sampling.cpp)
 * through their C++ checks on a toy backend (cuda/tests/*-test.cpp, built by `npm run build`):
 * sampler chain semantics, distribution preservation of speculative sampling (chi-square / total
 * variation against the exact target distribution), greedy K = 1..6 identical to K = 0, end of
 * generation and n_predict inside the accepted window, context full, seeded reproducibility.
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

describe("decode loop on a toy backend", () => {
  it("sampler chain and speculative sampling preserve the target distribution", () => {
    const out = runCheck("sampling-test");
    expect(out).toMatch(/all sampling checks passed/);
    expect(out.match(/^ok distribution/gm)?.length).toBe(3);
  });
  it("speculative loop: greedy == plain, EOG/budget/context edges, sampled joint distribution", () => {
    const out = runCheck("speculative-test");
    expect(out).toMatch(/all speculative-loop checks passed/);
    expect(out).toMatch(/ok sampled K=2 joint distribution/);
  });
});
