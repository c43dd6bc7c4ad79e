/**
 * Elementwise ops: float64 references, hand-computed values and gradient checks.
 * Kernels: shaders/elementwise.ts; ops: engine/ops/elementwise.ts.
 */
import assert from "node:assert/strict";
import { assertClose, errorOf, gpu, gradCheck, rng } from "./helpers.ts";
import {
  add,
  addScalar,
  addScaled,
  leakyRelu,
  mul,
  relu,
  scale,
  sigmoid,
  sub,
  tanh,
} from "../engine/ops/elementwise.ts";
import { tensor, tidy, tidyAsync } from "../engine/tensor.ts";

await gpu();

// f32 transcendental functions are accurate to a few ulps; 1e-6 absolute covers values in [-1, 1].
const FWD = { atol: 1e-6, rtol: 1e-5 };
// Gradients are products of f32 values with R in [-1, 1]: a few ulps of error, plus ~1e-9 from the differences.
const GRAD = { atol: 1e-5, rtol: 1e-4 };

const unary: [
  string,
  (x: import("../engine/tensor.ts").Tensor) => import("../engine/tensor.ts").Tensor,
  (v: number) => number,
][] = [
  ["relu", relu, (v) => Math.max(v, 0)],
  ["leakyRelu(0.2)", (x) => leakyRelu(x, 0.2), (v) => (v > 0 ? v : 0.2 * v)],
  ["tanh", tanh, Math.tanh],
  ["sigmoid", sigmoid, (v) => 1 / (1 + Math.exp(-v))],
  ["scale(-1.5)", (x) => scale(x, -1.5), (v) => -1.5 * v],
  ["addScalar(0.25)", (x) => addScalar(x, 0.25), (v) => v + 0.25],
];

for (const [name, fn, ref] of unary) {
  Deno.test(`${name}: forward and gradient vs float64 reference`, async () => {
    const shape = [2, 3, 5, 7];
    const n = shape.reduce((a, b) => a * b);
    await gradCheck({
      label: name,
      inputs: [{ data: rng(1).uniform(n, -3, 3), shape }],
      gpuFn: ([x]) => fn(x),
      refFn: ([x]) => x.map(ref),
      forward: FWD,
      grad: GRAD,
    });
  });
}

const binary: [string, typeof add, (a: number, b: number) => number][] = [
  ["add", add, (a, b) => a + b],
  ["sub", sub, (a, b) => a - b],
  ["mul", mul, (a, b) => a * b],
];
for (const [name, fn, ref] of binary) {
  Deno.test(`${name}: forward and gradient vs float64 reference`, async () => {
    const shape = [3, 5, 3];
    const n = 45;
    await gradCheck({
      label: name,
      inputs: [{ data: rng(2).uniform(n), shape }, { data: rng(3).uniform(n), shape }],
      gpuFn: ([a, b]) => fn(a, b),
      refFn: ([a, b]) => a.map((v, i) => ref(v, b[i])),
      forward: FWD,
      grad: GRAD,
    });
  });
}

Deno.test("activations: hand-computed values", async () => {
  await tidyAsync(async () => {
    const x = tensor([-2, 0, 3]);
    // relu(-2,0,3) = (0,0,3); leaky 0.2 → (-0.4, 0, 3); sigmoid(0) = 0.5; tanh(0) = 0.
    assertClose(await relu(x).data(), [0, 0, 3], { atol: 0 }, "relu");
    assertClose(await leakyRelu(x, 0.2).data(), [-0.4, 0, 3], { atol: 1e-7 }, "leakyRelu");
    assertClose(await sigmoid(x).data(), [0.11920292, 0.5, 0.95257413], { atol: 1e-6 }, "sigmoid");
    assertClose(await tanh(x).data(), [-0.96402758, 0, 0.99505475], { atol: 1e-6 }, "tanh");
    // Saturation must not produce NaN.
    assertClose(await tanh(tensor([-1000, 1000])).data(), [-1, 1], { atol: 0 }, "tanh saturates");
    assertClose(await sigmoid(tensor([-1000, 1000])).data(), [0, 1], { atol: 1e-30 }, "sigmoid saturates");
  });
});

Deno.test("add: different shapes throw an error naming the op and shapes", () => {
  tidy(() => {
    const a = tensor([1, 2, 3]);
    const b = tensor([1, 2], [2]);
    let msg = "";
    try {
      add(a, b);
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!msg.includes("add") || !msg.includes("[3]") || !msg.includes("[2]")) {
      throw new Error(`bad message: ${msg}`);
    }
  });
});

Deno.test("addScaled: x + s·y with a one-element s on the GPU, gradients of x, y and s", async () => {
  for (const shape of [[2, 3, 5], [4, 4]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    await gradCheck({
      label: `addScaled ${shape}`,
      inputs: [
        { data: rng(n).uniform(n), shape },
        { data: rng(n + 1).uniform(n), shape },
        { data: Float64Array.of(-0.75), shape: [1] },
      ],
      gpuFn: ([x, y, s]) => addScaled(x, y, s),
      refFn: ([x, y, s]) => x.map((v, i) => v + s[0] * y[i]),
      forward: FWD,
      // ds = Σ g·y over up to 30 terms of magnitude ≤ 1: ~30 ulps at most.
      grad: GRAD,
    });
  }
  tidy(() => {
    const x = tensor([1, 2, 3]);
    assert.match(errorOf(() => addScaled(x, tensor([1, 2]), tensor([1]))), /addScaled.*\[3\].*\[2\]/);
    assert.match(errorOf(() => addScaled(x, x, tensor([1, 2]))), /addScaled.*one element.*\[2\]/);
  });
});
