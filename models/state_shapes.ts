/** Helpers for listing a model's state-dict names and shapes without building it (no GPU needed). */

/**
 * Adds the tensors of a normalisation layer at `prefix` with `channels` channels: weight and bias,
 * plus BatchNorm's running statistics and counter (InstanceNorm with affine weights has none).
 */
export function addNormShapes(
  out: Map<string, number[]>,
  prefix: string,
  channels: number,
  norm: "batch" | "instance",
): void {
  out.set(`${prefix}.weight`, [channels]);
  out.set(`${prefix}.bias`, [channels]);
  if (norm === "batch") {
    out.set(`${prefix}.running_mean`, [channels]);
    out.set(`${prefix}.running_var`, [channels]);
    out.set(`${prefix}.num_batches_tracked`, []);
  }
}
