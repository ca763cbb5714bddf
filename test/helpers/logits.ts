/** Reading rows of logits (V floats each, the row at offset `off` of a batch's array). */

/** The first index of the row's largest logit (ties to the lowest id, as greedy decoding picks). */
export function argmax(a: Float32Array, off: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[off + i]! > a[off + best]!) best = i;
  return best;
}

/** Softmax probability of token `tok` in the row (double precision). */
export function probability(a: Float32Array, off: number, n: number, tok: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, a[off + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(a[off + i]! - max);
  return Math.exp(a[off + tok]! - max) / sum;
}
