/**
 * Float64 references for batch and instance normalisation (PyTorch semantics), used by
 * tests/norm_test.ts for forward checks and, through gradCheck, for numerical gradients.
 */

/** Per-group statistics of x viewed as [N, C, S]: batch norm groups by c, instance norm by (n, c). */
export function groupStats(
  x: ArrayLike<number>,
  shape: readonly number[],
  perInstance: boolean,
): { mean: Float64Array; biasedVar: Float64Array; count: number } {
  const [n, c] = shape;
  const s = shape.slice(2).reduce((a, b) => a * b, 1);
  const groups = perInstance ? n * c : c;
  const count = perInstance ? s : n * s;
  const group = (i: number) => {
    const q = Math.floor(i / s);
    return perInstance ? q : q % c;
  };
  const mean = new Float64Array(groups);
  for (let i = 0; i < n * c * s; i++) mean[group(i)] += x[i];
  for (let g = 0; g < groups; g++) mean[g] /= count;
  const biasedVar = new Float64Array(groups);
  for (let i = 0; i < n * c * s; i++) biasedVar[group(i)] += (x[i] - mean[group(i)]) ** 2;
  for (let g = 0; g < groups; g++) biasedVar[g] /= count;
  return { mean, biasedVar, count };
}

/**
 * y = (x − mean)/sqrt(var + eps)·w + b with the given per-group statistics (or the batch's when
 * none are given); weight/bias are per channel and optional.
 */
export function normRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  opts: {
    perInstance: boolean;
    weight?: ArrayLike<number> | null;
    bias?: ArrayLike<number> | null;
    eps?: number;
    /** Fixed statistics (batch norm eval: running mean and variance). */
    stats?: { mean: ArrayLike<number>; variance: ArrayLike<number> };
  },
): Float64Array {
  const [n, c] = shape;
  const s = shape.slice(2).reduce((a, b) => a * b, 1);
  const eps = opts.eps ?? 1e-5;
  let mean: ArrayLike<number>, variance: ArrayLike<number>;
  if (opts.stats) {
    mean = opts.stats.mean;
    variance = opts.stats.variance;
  } else {
    const st = groupStats(x, shape, opts.perInstance);
    mean = st.mean;
    variance = st.biasedVar;
  }
  const y = new Float64Array(n * c * s);
  for (let i = 0; i < y.length; i++) {
    const q = Math.floor(i / s);
    const ch = q % c;
    const g = opts.perInstance ? q : ch;
    let v = (x[i] - mean[g]) / Math.sqrt(variance[g] + eps);
    if (opts.weight) v *= opts.weight[ch];
    if (opts.bias) v += opts.bias[ch];
    y[i] = v;
  }
  return y;
}

/** PyTorch's running-statistics update after one training batch (unbiased variance). */
export function updateRunning(
  runMean: Float64Array,
  runVar: Float64Array,
  x: ArrayLike<number>,
  shape: readonly number[],
  momentum: number,
): void {
  const st = groupStats(x, shape, false);
  for (let c = 0; c < runMean.length; c++) {
    runMean[c] = (1 - momentum) * runMean[c] + momentum * st.mean[c];
    const unbiased = st.biasedVar[c] * st.count / (st.count - 1);
    runVar[c] = (1 - momentum) * runVar[c] + momentum * unbiased;
  }
}

/**
 * Analytic float64 gradients of L = Σ y·g through normRef with batch statistics (batch norm
 * training, instance norm): x̂ = (x − mean)·invstd, dx = invstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with
 * ĝ = g·w per group, dweight[c] = Σ g·x̂, dbias[c] = Σ g. O(n), for shapes too large for the
 * numerical differences of gradCheck.
 */
export function normBackwardRef(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  shape: readonly number[],
  opts: { perInstance: boolean; weight?: ArrayLike<number> | null; eps?: number },
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const [n, c] = shape;
  const s = shape.slice(2).reduce((a, b) => a * b, 1);
  const eps = opts.eps ?? 1e-5;
  const { mean, biasedVar, count } = groupStats(x, shape, opts.perInstance);
  const groups = mean.length;
  const invstd = biasedVar.map((v) => 1 / Math.sqrt(v + eps));
  const at = (i: number) => {
    const q = Math.floor(i / s);
    return { ch: q % c, grp: opts.perInstance ? q : q % c };
  };
  const xhat = (i: number, grp: number) => (x[i] - mean[grp]) * invstd[grp];
  const sumG = new Float64Array(groups), sumGX = new Float64Array(groups);
  const dweight = new Float64Array(c), dbias = new Float64Array(c);
  for (let i = 0; i < n * c * s; i++) {
    const { ch, grp } = at(i);
    const w = opts.weight ? opts.weight[ch] : 1;
    sumG[grp] += g[i] * w;
    sumGX[grp] += g[i] * w * xhat(i, grp);
    dweight[ch] += g[i] * xhat(i, grp);
    dbias[ch] += g[i];
  }
  const dx = new Float64Array(n * c * s);
  for (let i = 0; i < dx.length; i++) {
    const { ch, grp } = at(i);
    const w = opts.weight ? opts.weight[ch] : 1;
    dx[i] = invstd[grp] * (g[i] * w - sumG[grp] / count - xhat(i, grp) * sumGX[grp] / count);
  }
  return { dx, dweight, dbias };
}
