/**
 * Float64 reference for softmax over the last axis (torch.softmax semantics), used by
 * tests/softmax_test.ts for forward checks and, through gradCheck, for numerical gradients.
 */

/** softmax of every row of x viewed as [x.length / cols, cols], shifted by the row maximum. */
export function softmaxRef(x: ArrayLike<number>, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, x[base + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += out[base + j] = Math.exp(x[base + j] - max);
    for (let j = 0; j < cols; j++) out[base + j] /= sum;
  }
  return out;
}
