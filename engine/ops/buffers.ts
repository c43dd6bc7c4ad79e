/**
 * Buffer helpers that record no graph: fills, copies and in-place updates, and the elementwise map
 * launcher they and the differentiable ops share. The autodiff layer, modules and the optimizer use
 * these, so this module imports nothing from autograd (which keeps the import graph acyclic).
 * Kernel: MAP in shaders/elementwise.ts. Tests: tests/elementwise_test.ts.
 */

import { grid1d, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { MAP } from "../../shaders/elementwise.ts";

/** Launcher (no graph): `out[i] = expr(in0[i], …, a, b)` over tensors of equal size, as a new tensor of `shape`. */
export function runMap(
  op: string,
  inputs: Tensor[],
  expr: string,
  a = 0,
  b = 0,
  shape: readonly number[] = inputs[0].shape,
): Tensor {
  const out = Tensor.empty(shape, op);
  runMapInto(out, inputs, expr, a, b, false);
  return out;
}

function runMapInto(out: Tensor, inputs: Tensor[], expr: string, a: number, b: number, inPlace: boolean) {
  const n = out.size;
  if (n === 0) return;
  const buffers: Record<string, GPUBuffer> = { out: out.buffer };
  inputs.forEach((t, k) => buffers[`in${k}`] = t.buffer);
  runtime().dispatch(MAP, { inputs: inputs.length, expr, inPlace }, {
    buffers,
    uniforms: { n, a, b },
    workgroups: grid1d(n),
  });
}

/** Throws an error naming `op` unless `a` and `b` have the same shape. */
export function checkSameShape(op: string, a: Tensor, b: Tensor) {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ`);
  }
}

/** A new tensor of `shape` filled with `value`. */
export function fill(shape: readonly number[], value: number): Tensor {
  return runMap("fill", [], "a", value, 0, shape);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[]): Tensor {
  return fill(shape, 0);
}

/** A tensor of ones. */
export function ones(shape: readonly number[]): Tensor {
  return fill(shape, 1);
}

/** A copy with its own buffer (no graph). */
export function copy(x: Tensor): Tensor {
  return runMap("copy", [x], "x0");
}

/** In place: `target += source` (gradient accumulation). */
export function accumulate(target: Tensor, source: Tensor): void {
  checkSameShape("accumulate", target, source);
  runMapInto(target, [source], "o + x0", 0, 0, true);
}

/** In place: `target += s` for a number s (counters such as BatchNorm's num_batches_tracked). */
export function addScalarInPlace(target: Tensor, s: number): void {
  runMapInto(target, [], "o + a", s, 0, true);
}

/** In place: `target *= source`, elementwise (masking a gradient). */
export function multiplyInPlace(target: Tensor, source: Tensor): void {
  checkSameShape("multiplyInPlace", target, source);
  runMapInto(target, [source], "o * x0", 0, 0, true);
}

/** In place: `target += weight·(source − target)` (moving averages of weights). */
export function lerpInPlace(target: Tensor, source: Tensor, weight: number): void {
  checkSameShape("lerpInPlace", target, source);
  runMapInto(target, [source], "o + a * (x0 - o)", weight, 0, true);
}

/** In place: `target = source` (loading weights, restoring state). */
export function assign(target: Tensor, source: Tensor): void {
  checkSameShape("assign", target, source);
  runMapInto(target, [source], "x0", 0, 0, false);
}
