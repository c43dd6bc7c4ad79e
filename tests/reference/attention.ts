/**
 * Float64 reference for SAGAN's self-attention layer, written as the paper's formula ("Self-Attention
 * Generative Adversarial Networks", Zhang et al. 2019, section 3) rather than as matrix products, so
 * that it checks the order of the products and the softmax axis in models/resnet_unet.ts's
 * SelfAttention. Used by tests/attention_test.ts for forward checks and numerical gradients.
 */

/**
 * y = x + γ·o for x [N, C, H, W] with 1×1 weights wq, wk [C', C] and wv [C, C] (row-major):
 * f(x_i) = wq·x_i, g(x_j) = wk·x_j, h(x_i) = wv·x_i at positions i, j of the H·W grid;
 * s_ij = f(x_i)ᵀ g(x_j); β_{j,i} = exp(s_ij) / Σ_i exp(s_ij); o_j = Σ_i β_{j,i} h(x_i).
 */
export function selfAttentionRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  wq: ArrayLike<number>,
  wk: ArrayLike<number>,
  wv: ArrayLike<number>,
  gamma: number,
): Float64Array {
  const [n, c, h, w] = shape;
  const positions = h * w;
  const qk = wq.length / c;
  const out = Float64Array.from(x);
  // The 1×1 convolution `weight` [cout, C] at position p of image b.
  const project = (weight: ArrayLike<number>, cout: number, b: number, p: number) => {
    const v = new Float64Array(cout);
    for (let o = 0; o < cout; o++) {
      for (let k = 0; k < c; k++) v[o] += weight[o * c + k] * x[(b * c + k) * positions + p];
    }
    return v;
  };
  for (let b = 0; b < n; b++) {
    const f = Array.from({ length: positions }, (_, i) => project(wq, qk, b, i));
    const g = Array.from({ length: positions }, (_, j) => project(wk, qk, b, j));
    const hv = Array.from({ length: positions }, (_, i) => project(wv, c, b, i));
    for (let j = 0; j < positions; j++) {
      const s = f.map((fi) => fi.reduce((acc, v, k) => acc + v * g[j][k], 0));
      const max = Math.max(...s);
      const e = s.map((v) => Math.exp(v - max));
      const total = e.reduce((a, v) => a + v, 0);
      for (let i = 0; i < positions; i++) {
        const beta = e[i] / total;
        for (let k = 0; k < c; k++) out[(b * c + k) * positions + j] += gamma * beta * hv[i][k];
      }
    }
  }
  return out;
}
