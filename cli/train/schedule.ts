/** The learning-rate schedule, and how a rate is printed. */

/**
 * Learning-rate multiplier of 0-based `epoch` in a run of `total` epochs whose last `decay` epochs
 * decay linearly (pix2pix's `lambda_rule`): 1 before them, then 1 − k/(decay + 1) in the k-th
 * (1-based) decaying epoch, so the rate gets small but never reaches 0.
 */
export function lrFactor(epoch: number, total: number, decay: number): number {
  if (decay <= 0) return 1;
  return 1 - Math.max(0, epoch - (total - decay) + 1) / (decay + 1);
}

/** A learning rate for messages: 4 significant digits, exponent notation when small (2e-4, 1e-4). */
export function fmtLr(x: number): string {
  const r = Number(x.toPrecision(4)); // a decayed rate such as 3e-4/3 prints as 1e-4
  return r === 0 ? "0" : Math.abs(r) < 0.01 || Math.abs(r) >= 1e4 ? r.toExponential() : String(r);
}
