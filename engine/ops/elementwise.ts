/**
 * Elementwise ops: activations, arithmetic, fills and copies, with gradients.
 * Kernels: shaders/elementwise.ts. References and gradient checks: tests/elementwise_test.ts.
 */

import { grid1d, Params, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { ACTIVATION_GRADS, ACTIVATIONS, mapShader } from "../../shaders/elementwise.ts";

/** Runs `out[i] = expr(in0[i], …)` over tensors of equal size; returns a new tensor of `shape`. */
export function map(
  op: string,
  inputs: Tensor[],
  expr: string,
  a = 0,
  b = 0,
  shape: readonly number[] = inputs[0].shape,
): Tensor {
  const out = Tensor.empty(shape, op);
  mapInto(out, inputs, expr, a, b, false);
  return out;
}

function mapInto(out: Tensor, inputs: Tensor[], expr: string, a: number, b: number, inPlace: boolean) {
  const n = out.size;
  if (n === 0) return;
  const wgsl = mapShader(inputs.length, expr, inPlace);
  runtime().dispatch({
    wgsl,
    buffers: [...inputs.map((t) => t.buffer), out.buffer],
    params: new Params().u32(n).f32(a, b).u32(0),
    workgroups: grid1d(n),
  });
}

function sameShape(op: string, a: Tensor, b: Tensor) {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ`);
  }
}

/** A new tensor of `shape` filled with `value`. */
export function fill(shape: readonly number[], value: number): Tensor {
  return map("fill", [], "a", value, 0, shape);
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
  return map("copy", [x], "x0");
}

/** In place: `target += source` (gradient accumulation). */
export function accumulate(target: Tensor, source: Tensor): void {
  sameShape("accumulate", target, source);
  mapInto(target, [source], "o + x0", 0, 0, true);
}

/** In place: `target += s` for a number s (counters such as BatchNorm's num_batches_tracked). */
export function addScalarInPlace(target: Tensor, s: number): void {
  mapInto(target, [], "o + a", s, 0, true);
}

/** In place: `target += weight·(source − target)` (moving averages of weights). */
export function lerpInPlace(target: Tensor, source: Tensor, weight: number): void {
  sameShape("lerpInPlace", target, source);
  mapInto(target, [source], "o + a * (x0 - o)", weight, 0, true);
}

/** In place: `target = source` (loading weights, restoring state). */
export function assign(target: Tensor, source: Tensor): void {
  sameShape("assign", target, source);
  mapInto(target, [source], "x0", 0, 0, false);
}

type Activation = keyof typeof ACTIVATIONS;

function activation(name: Activation, x: Tensor, a = 0): Tensor {
  const y = map(name, [x], ACTIVATIONS[name], a);
  // tanh and sigmoid differentiate through their output; relu and leakyRelu through their input.
  const saved = name === "tanh" || name === "sigmoid" ? y : x;
  return record(name, [x], y, (g) => [map(`${name}Backward`, [g, saved], ACTIVATION_GRADS[name], a)]);
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  return activation("relu", x);
}

/** x for x > 0, slope·x otherwise (PyTorch's default slope is 0.01; pix2pix uses 0.2). */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return activation("leakyRelu", x, slope);
}

/** Hyperbolic tangent. */
export function tanh(x: Tensor): Tensor {
  return activation("tanh", x);
}

/** Logistic sigmoid 1 / (1 + e^−x). */
export function sigmoid(x: Tensor): Tensor {
  return activation("sigmoid", x);
}

/** a + b (same shape). */
export function add(a: Tensor, b: Tensor): Tensor {
  sameShape("add", a, b);
  return record("add", [a, b], map("add", [a, b], "x0 + x1"), (g) => [g, g]);
}

/** a − b (same shape). */
export function sub(a: Tensor, b: Tensor): Tensor {
  sameShape("sub", a, b);
  return record(
    "sub",
    [a, b],
    map("sub", [a, b], "x0 - x1"),
    (g, needs) => [g, needs[1] ? map("neg", [g], "-x0") : null],
  );
}

/** a · b elementwise (same shape). */
export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape("mul", a, b);
  return record("mul", [a, b], map("mul", [a, b], "x0 * x1"), (g, needs) => [
    needs[0] ? map("mul", [g, b], "x0 * x1") : null,
    needs[1] ? map("mul", [g, a], "x0 * x1") : null,
  ]);
}

/** s · x for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  return record("scale", [x], map("scale", [x], "a * x0", s), (g) => [map("scale", [g], "a * x0", s)]);
}

/** x + s for a number s. */
export function addScalar(x: Tensor, s: number): Tensor {
  return record("addScalar", [x], map("addScalar", [x], "x0 + a", s), (g) => [g]);
}
