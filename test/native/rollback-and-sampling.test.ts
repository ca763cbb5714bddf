/**
 * Two invariants of speculative decoding on the CPU backend, tiny-code q8_0:
 *  - rollback: after a verify batch is cut back (mtp_session_keep), the next logits equal — bitwise —
 *    those of a fresh session fed only the committed tokens (no re-evaluation happens: the Gated
 *    DeltaNet state comes from the snapshot taken during the batch);
 *  - distribution preservation: with sampling (temperature 0.8, top-p 0.95) and K = 2, the joint
 *    distribution of the first two generated tokens over 20,000 seeded runs matches the exact
 *    distribution of plain sampling, computed here from the model's logits with the same sampler
 *    chain (llama.cpp order: top-k → top-p → min-p → temperature), by a chi-square test at p > 0.01.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openModel, type OpenedModel } from "../../src/engine/openModel.js";
import { TINY_Q8 } from "../helpers/fixtures.js";
import { expectRollbackMatchesFresh } from "../helpers/rollback.js";

let m: OpenedModel;
beforeAll(() => {
  m = openModel(TINY_Q8, "cpu");
});
afterAll(() => m?.native.free());

describe("rollback into a verify batch", () => {
  it("the next logits equal a fresh session's, bitwise, for every cut point", () => expectRollbackMatchesFresh(m));

  it("refuses a rollback the snapshots cannot serve, with a clear message", () => {
    const s = m.native.createSession({ nCtx: 64, nThreads: 2, nDraftMax: 2 });
    s.eval([1, 2, 3, 4, 5]);
    expect(() => s.keep(2)).toThrow(/a batch of 5 tokens cannot be rolled back \(state planes for 3\)/);
    expect(() => s.keep(6)).toThrow(/keep: expected 1\.\.5 \(the last batch\), got 6/);
    s.free();
  });
});

/** The plain-sampling distribution of one logits row: top-p on temperature-1 probabilities, then temperature. */
function chainDistribution(logits: Float32Array, temperature: number, topP: number): Map<number, number> {
  const ids = Array.from(logits.keys()).sort((x, y) => logits[y]! - logits[x]! || x - y);
  const max = logits[ids[0]!]!;
  const e = ids.map((i) => Math.exp(logits[i]! - max));
  const total = e.reduce((s, x) => s + x, 0);
  let keep = ids.length;
  for (let i = 0, cum = 0; i < ids.length; i++) {
    cum += e[i]! / total;
    if (cum >= topP) {
      keep = i + 1;
      break;
    }
  }
  const w = ids.slice(0, keep).map((i) => Math.exp((logits[i]! - max) / temperature));
  const z = w.reduce((s, x) => s + x, 0);
  return new Map(ids.slice(0, keep).map((id, i) => [id, w[i]! / z]));
}

/** Regularized upper incomplete gamma Q(a, x) (series / continued fraction, double precision). */
function gammaQ(a: number, x: number): number {
  const lnGammaA = lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - lnGammaA);
  }
  let b = x + 1 - a;
  let c = 1e300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    d = Math.abs(d) < 1e-300 ? 1e-300 : d;
    c = b + an / c;
    c = Math.abs(c) < 1e-300 ? 1e-300 : c;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - lnGammaA) * h;
}

function lnGamma(z: number): number {
  const g = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let x = z;
  let y = z;
  let tmp = x + 5.5;
  tmp -= (x + 0.5) * Math.log(tmp);
  let ser = 1.000000000190015;
  for (const c of g) ser += c / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

describe("sampled speculative decoding preserves the target distribution", () => {
  it("chi-square p-value helper is right on known values", () => {
    expect(gammaQ(1, 1)).toBeCloseTo(Math.exp(-1), 12); // chi2 with 2 dof at 2
    expect(gammaQ(5, 5 * 0.5)).toBeCloseTo(0.8911780189, 8); // chi2 cdf: P(X2_10 > 5)
  });

  it("K = 2, temperature 0.8, top-p 0.95: first two tokens over 20,000 runs match plain sampling", async () => {
    const T = 0.8;
    const TOP_P = 0.95;
    const SAMPLES = 20_000;
    const prompt = m.tokenizer.encode("import", { parseSpecial: true });
    // exact p(t1) · p(t2 | t1) from plain evaluations
    const exact = new Map<string, number>();
    const s = m.native.createSession({ nCtx: 64, nThreads: 2, nDraftMax: 2 });
    const p1 = chainDistribution(s.eval(prompt).logits, T, TOP_P);
    for (const [t1, q1] of p1) {
      s.reset();
      const after = s.eval([...prompt, t1]).logits;
      for (const [t2, q2] of chainDistribution(after, T, TOP_P)) exact.set(`${t1},${t2}`, q1 * q2);
    }
    const counts = new Map<string, number>();
    for (let i = 0; i < SAMPLES; i++) {
      s.generateBegin(prompt, { draftMax: 2, nPredict: 2, temperature: T, topK: 0, topP: TOP_P, minP: 0, seed: i, eogTokens: [] });
      const c = await s.generateNextAsync(2);
      const key = c.tokens.join(",");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    s.free();
    // chi-square goodness of fit; outcomes expected fewer than 5 times are pooled into one bin
    let chi2 = 0;
    let bins = 0;
    let pooledExpected = 0;
    let pooledObserved = 0;
    let tv = 0;
    for (const key of new Set([...exact.keys(), ...counts.keys()])) {
      const e = (exact.get(key) ?? 0) * SAMPLES;
      const o = counts.get(key) ?? 0;
      tv += Math.abs(o / SAMPLES - e / SAMPLES) / 2;
      if (e >= 5) {
        chi2 += (o - e) ** 2 / e;
        bins++;
      } else {
        pooledExpected += e;
        pooledObserved += o;
      }
    }
    if (pooledExpected >= 5) {
      chi2 += (pooledObserved - pooledExpected) ** 2 / pooledExpected;
      bins++;
    }
    const p = gammaQ((bins - 1) / 2, chi2 / 2);
    console.log(`K=2 sampled joint distribution: ${SAMPLES} runs, ${bins} bins, chi2 ${chi2.toFixed(1)}, p ${p.toFixed(3)}, TV ${tv.toFixed(4)}`);
    expect(bins).toBeGreaterThan(20);
    expect(p).toBeGreaterThan(0.01);
  }, 900_000);
});
