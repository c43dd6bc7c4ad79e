/**
 * Differentiable elementwise ops: activations and arithmetic, with gradients. Fills, copies and
 * in-place updates (no graph) are in ./buffers.ts.
 * Kernels: shaders/elementwise.ts. References and gradient checks: tests/elementwise_test.ts.
 */

import { fmtShape, type Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { ACTIVATION_GRADS, ACTIVATIONS } from "../../shaders/elementwise.ts";
import { checkSameShape, runMap } from "./buffers.ts";
import { runReduce, runScalarGrad } from "./reduce.ts";

type Activation = keyof typeof ACTIVATIONS;

function activation(name: Activation, x: Tensor, a = 0): Tensor {
  const y = runMap(name, [x], ACTIVATIONS[name], a);
  // tanh and sigmoid differentiate through their output; relu and leakyRelu through their input.
  const saved = name === "tanh" || name === "sigmoid" ? y : x;
  return record(name, [x], y, (g) => [runMap(`${name}Backward`, [g, saved], ACTIVATION_GRADS[name], a)]);
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
  checkSameShape("add", a, b);
  return record("add", [a, b], runMap("add", [a, b], "x0 + x1"), (g) => [g, g]);
}

/** a − b (same shape). */
export function sub(a: Tensor, b: Tensor): Tensor {
  checkSameShape("sub", a, b);
  return record(
    "sub",
    [a, b],
    runMap("sub", [a, b], "x0 - x1"),
    (g, needs) => [g, needs[1] ? runMap("neg", [g], "-x0") : null],
  );
}

/** a · b elementwise (same shape). */
export function mul(a: Tensor, b: Tensor): Tensor {
  checkSameShape("mul", a, b);
  return record("mul", [a, b], runMap("mul", [a, b], "x0 * x1"), (g, needs) => [
    needs[0] ? runMap("mul", [g, b], "x0 * x1") : null,
    needs[1] ? runMap("mul", [g, a], "x0 * x1") : null,
  ]);
}

/** s · x for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  return record("scale", [x], runMap("scale", [x], "a * x0", s), (g) => [runMap("scale", [g], "a * x0", s)]);
}

/** x + s for a number s. */
export function addScalar(x: Tensor, s: number): Tensor {
  return record("addScalar", [x], runMap("addScalar", [x], "x0 + a", s), (g) => [g]);
}

/**
 * x + s·y (x, y of one shape) for a one-element tensor s, such as a learnable gate (SAGAN's γ): s
 * stays on the GPU, read by the kernel, so a training step never waits for it. Gradients: dx = g,
 * dy = s·g, ds = Σ g⊙y.
 */
export function addScaled(x: Tensor, y: Tensor, s: Tensor): Tensor {
  checkSameShape("addScaled", x, y);
  if (s.size !== 1) {
    throw new Error(`addScaled: the scale must have one element, got shape ${fmtShape(s.shape)}`);
  }
  const out = runScalarGrad("addScaled", s, [x, y], "x0 + g0 * x1", x.shape);
  return record("addScaled", [x, y, s], out, (g, needs) => [
    g,
    needs[1] ? runScalarGrad("addScaledBackward", s, [g], "g0 * x0", y.shape) : null,
    needs[2] ? runReduce("addScaledBackward", [g, y], "x0 * x1", 1, 0, s.shape) : null,
  ]);
}
