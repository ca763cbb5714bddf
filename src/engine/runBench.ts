/**
 * The measurements behind `mtp-cli bench`, in the manner of llama-bench: prompt processing of
 * n_prompt tokens (pp), and decoding n_gen tokens (tg) without and with MTP speculation for each
 * draft length K. Every test runs once untimed (warm-up: weights paged in, threads spun up), then
 * `reps` timed repetitions; the tests are interleaved inside each repetition, so a machine whose
 * speed drifts affects all of them alike and the speedups stay honest.
 *
 * A tg repetition generates n_gen tokens after each prompt of the set (prompt evaluation untimed,
 * end-of-generation tokens ignored so every run has the same length) and reports the total tokens
 * over the total generation time.
 *
 * With a depth d (llama-bench's -d), every test runs with d tokens already in the context — the
 * prompt set's tokens, repeated, cut to d — evaluated untimed first: "pp512 @ d4096" times 512 more
 * prompt tokens, "tg128 @ d4096" 128 tokens generated after the depth and a prompt.
 */
import type { BenchPrompt } from "./benchPrompts.js";
import type { OpenedModel } from "./openModel.js";

export interface BenchParams {
  /** Tokens of the pp test (0 = no pp test). */
  nPrompt: number;
  /** Tokens generated per prompt in the tg tests (0 = no tg tests). */
  nGen: number;
  /** Tokens in the context before each test (0 = an empty context). */
  depth: number;
  reps: number;
  /** Draft lengths; 0 is plain decoding (always measured when any tg test runs, for the speedup). */
  ks: number[];
  prompts: readonly BenchPrompt[];
  /** <= 0: greedy. */
  temperature: number;
  threads: number;
  seed: number;
}

export interface BenchResult {
  /** llama-bench's names: pp512, tg128, tg128 mtp k=2 for speculation, " @ d4096" at a depth. */
  test: string;
  kind: "pp" | "tg";
  /** Draft length of a tg test (0 = plain decoding); null for pp. */
  k: number | null;
  /** Tokens per second of each timed repetition. */
  samples: number[];
  avg: number;
  sd: number;
  nDrafted: number;
  nAccepted: number;
  nSteps: number;
  nGenerated: number;
  /** nAccepted / nDrafted, when K > 0. */
  acceptance: number | null;
  /** Generated tokens per trunk pass (1 for plain decoding). */
  tokensPerStep: number | null;
  /** avg / the avg of plain decoding (tg tests). */
  speedup: number | null;
}

export type BenchProgress = (done: number, total: number, label: string) => void;

export function meanSd(xs: readonly number[]): { avg: number; sd: number } {
  const avg = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - avg) ** 2, 0) / (xs.length - 1)) : 0;
  return { avg, sd };
}

interface Test {
  result: BenchResult;
  run: () => Promise<void>;
}

export async function runBench(model: OpenedModel, p: BenchParams, progress: BenchProgress = () => {}): Promise<BenchResult[]> {
  const tok = model.tokenizer;
  const encoded = p.prompts.map((x) => tok.encode(x.text, { parseSpecial: true }));
  const all = encoded.flat();
  if (all.length === 0 && (p.nPrompt > 0 || p.depth > 0)) throw new Error("bench: the prompt set has no tokens");
  /** The prompt set's tokens, repeated, cut to n. */
  const cycle = (n: number) => Array.from({ length: n }, (_, i) => all[i % all.length] ?? 0);
  const depthTokens = cycle(p.depth);
  const prompts = encoded.map((x) => [...depthTokens, ...x]);
  const longest = Math.max(0, ...prompts.map((x) => x.length));
  const ks = p.nGen > 0 ? [...new Set([0, ...p.ks])].sort((a, b) => a - b) : [];
  const nCtx = Math.max(p.depth + p.nPrompt, longest + p.nGen) + 8;
  const at = p.depth > 0 ? ` @ d${p.depth}` : "";
  const session = model.native.createSession({ nCtx, nThreads: p.threads, nDraftMax: Math.max(0, ...ks) });
  const blank = (test: string, kind: "pp" | "tg", k: number | null): BenchResult => ({
    test, kind, k, samples: [], avg: 0, sd: 0, nDrafted: 0, nAccepted: 0, nSteps: 0, nGenerated: 0,
    acceptance: null, tokensPerStep: null, speedup: null,
  });

  const tests: Test[] = [];
  if (p.nPrompt > 0) {
    // pp: the prompt set's tokens, repeated, cut to n_prompt (after the depth's).
    const tokens = cycle(p.nPrompt);
    const result = blank(`pp${p.nPrompt}${at}`, "pp", null);
    tests.push({
      result,
      run: async () => {
        session.reset();
        if (depthTokens.length) await session.evalAsync(depthTokens, { logitRows: [] });
        const t0 = performance.now();
        await session.evalAsync(tokens, { logitRows: [tokens.length - 1] });
        result.samples.push(tokens.length / ((performance.now() - t0) / 1000));
      },
    });
  }
  for (const k of ks) {
    const result = blank(`${k === 0 ? `tg${p.nGen}` : `tg${p.nGen} mtp k=${k}`}${at}`, "tg", k);
    tests.push({
      result,
      run: async () => {
        let tokens = 0;
        let seconds = 0;
        for (const prompt of prompts) {
          session.generateBegin(prompt, {
            draftMax: k, nPredict: p.nGen, temperature: p.temperature, topK: 40, topP: 0.95, minP: 0.05,
            seed: p.seed, eogTokens: [],
          });
          const t0 = performance.now();
          for (;;) {
            const c = await session.generateNextAsync(256);
            if (c.tokens.length === 0) {
              result.nDrafted += c.stats.nDrafted;
              result.nAccepted += c.stats.nAccepted;
              result.nSteps += c.stats.nSteps;
              result.nGenerated += c.stats.nGenerated;
              break;
            }
            tokens += c.tokens.length;
          }
          seconds += (performance.now() - t0) / 1000;
        }
        result.samples.push(tokens / seconds);
      },
    });
  }

  const total = tests.length * (p.reps + 1);
  let done = 0;
  for (let rep = -1; rep < p.reps; rep++) {
    for (const t of tests) {
      progress(done, total, rep < 0 ? `warm-up ${t.result.test}` : `${t.result.test} (${rep + 1}/${p.reps})`);
      if (rep < 0) {
        // Warm-up: run, then forget what it measured.
        await t.run();
        const r = t.result;
        r.samples.length = 0;
        r.nDrafted = r.nAccepted = r.nSteps = r.nGenerated = 0;
      } else {
        await t.run();
      }
      done++;
    }
  }
  progress(done, total, "done");
  session.free();

  const results = tests.map((t) => t.result);
  const plain = results.find((r) => r.kind === "tg" && r.k === 0);
  for (const r of results) {
    Object.assign(r, meanSd(r.samples));
    if (r.kind !== "tg") continue;
    r.tokensPerStep = r.nSteps ? r.nGenerated / r.nSteps : null;
    r.acceptance = r.k && r.nDrafted ? r.nAccepted / r.nDrafted : null;
    r.speedup = plain ? r.avg / plain.avg : null;
  }
  return results;
}
