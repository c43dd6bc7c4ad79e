/**
 * WGSL expressions of the losses; they define no kernel of their own. Each loss is one fused
 * reduction (REDUCE in shaders/reduce.ts, with LOSS_FNS as its helpers: the elementwise term is
 * evaluated inside the first pass, so no temporary tensor) and one SCALAR_GRAD backward kernel
 * that reads the scalar upstream gradient.
 *
 * Forward terms are vec4 expressions of `x0` (prediction or logits) and `T`, the target:
 * {@link withTarget} replaces `T` by `x1` (a target tensor) or `a` (a constant target,
 * an f32 uniform; WGSL allows vec4–scalar arithmetic). Backward expressions may also
 * use `g0` (upstream gradient) and `b` (1/n, the mean's factor).
 */

/** Helper functions the forward terms call. */
export const LOSS_FNS = /* wgsl */ `
// log(1 + u) accurate for tiny u (Goldberg's trick: log(w)·u/(w − 1) cancels the rounding of w = 1 + u);
// plain log(1 + u) returns 0 for u < 6e-8, which would lose BCE's tail at large |logits|.
fn log1p4(u: vec4<f32>) -> vec4<f32> {
  let w = 1.0 + u;
  return select(log(w) * u / (w - 1.0), u, w == vec4<f32>(1.0));
}`;

/** Forward terms (summed, then scaled by 1/n). */
export const LOSS_TERMS = {
  l1: "abs(x0 - T)",
  mse: "(x0 - T) * (x0 - T)",
  // max(x, 0) − x·t + log(1 + e^−|x|): never exponentiates a positive number, so it is finite for any x.
  bce: "max(x0, vec4<f32>(0.0)) - x0 * T + log1p4(exp(-abs(x0)))",
  hingeReal: "max(1.0 - x0, vec4<f32>(0.0))",
  hingeFake: "max(1.0 + x0, vec4<f32>(0.0))",
} as const;

/** Gradients with respect to `x0` (already multiplied by the upstream gradient and 1/n). */
export const LOSS_GRADS = {
  // sign(0) = 0, as torch's l1_loss backward.
  l1: "(g0 * b) * sign(x0 - T)",
  mse: "(2.0 * g0 * b) * (x0 - T)",
  // 1 / (1 + e^−x): e^−x overflows to +inf for x < −88 and 1/inf = 0, so no NaN at any x.
  bce: "(g0 * b) * (1.0 / (1.0 + exp(-x0)) - T)",
  // Strict comparisons: relu'(0) = 0 as in PyTorch.
  hingeReal: "select(vec4<f32>(0.0), vec4<f32>(-g0 * b), x0 < vec4<f32>(1.0))",
  hingeFake: "select(vec4<f32>(0.0), vec4<f32>(g0 * b), x0 > vec4<f32>(-1.0))",
} as const;

/** Substitutes the target placeholder `T`: `x1` for a target tensor, `a` for a constant. */
export function withTarget(expr: string, tensorTarget: boolean): string {
  return expr.replace(/\bT\b/g, tensorTarget ? "x1" : "a");
}
