/** The rollback invariant, shared by the CPU and CUDA test suites. */
import { expect } from "vitest";
import type { OpenedModel } from "../../src/engine/openModel.js";

/**
 * After a K = 4 verify batch is cut back to each of its lengths (keep(n)), the next logits equal —
 * bitwise — those of a fresh session fed only the kept tokens.
 */
export function expectRollbackMatchesFresh(m: OpenedModel): void {
  const prompt = m.tokenizer.encode("import os\nimport sys\n\ndef main():\n", { parseSpecial: true });
  const batch = m.tokenizer.encode("    args = parse(sys.argv)", { parseSpecial: true }).slice(0, 5); // a K = 4 verify batch
  const probe = batch[batch.length - 1]!;
  const a = m.native.createSession({ nCtx: 256, nThreads: 2, nDraftMax: 4 });
  const b = m.native.createSession({ nCtx: 256, nThreads: 2 });
  try {
    for (let keep = 1; keep <= batch.length; keep++) {
      a.reset();
      a.eval(prompt);
      a.eval(batch, { logitRows: batch.map((_, i) => i) });
      a.keep(keep);
      expect(a.nPast).toBe(prompt.length + keep);
      const rolled = a.eval([probe]).logits;
      b.reset();
      b.eval([...prompt, ...batch.slice(0, keep)]);
      const fresh = b.eval([probe]).logits;
      expect(Buffer.from(rolled.buffer).equals(Buffer.from(fresh.buffer)), `keep ${keep}`).toBe(true);
    }
  } finally {
    a.free();
    b.free();
  }
}
