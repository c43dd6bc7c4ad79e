/**
 * Adam in one fused kernel: reads the gradient once and updates the parameter
 * and both moments in place (PyTorch's torch.optim.Adam, L2-style weight decay).
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/**
 * One Adam step over `n` elements: g = grad + weightDecay·param; m ← β₁m + (1 − β₁)g;
 * v ← β₂v + (1 − β₂)g²; param ← param − (lr / biasCorrection1)·m / (√v / sqrtBiasCorrection2 + eps).
 * Bindings: grad (read), param, m, v (updated in place).
 */
export const ADAM = defineKernel({
  name: "adam",
  bindings: [read("grad"), write("param"), write("m"), write("v")],
  uniforms: {
    n: "u32",
    lr: "f32",
    beta1: "f32",
    beta2: "f32",
    eps: "f32",
    weightDecay: "f32",
    biasCorrection1: "f32",
    sqrtBiasCorrection2: "f32",
  },
  body: () => /* wgsl */ `
${flatMain("i", "p.n")}
  let g = grad[i] + p.weightDecay * param[i];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / p.sqrtBiasCorrection2 + p.eps;
  param[i] = param[i] - (p.lr / p.biasCorrection1) * mi / denom;
}`,
});
