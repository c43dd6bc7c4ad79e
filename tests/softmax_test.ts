/**
 * softmax over the last axis against a float64 reference (rows shorter and longer than a
 * workgroup, more rows than one grid dimension), gradient checks, large-logit stability and
 * errors. Kernels: shaders/softmax.ts; op: engine/ops/softmax.ts.
 */
import assert from "node:assert/strict";
import { assertClose, errorOf, gpu, gradCheck, numel, rng } from "./helpers.ts";
import { softmaxRef } from "./reference/softmax.ts";
import { softmax } from "../engine/ops/softmax.ts";
import { tensor, tidy, tidyAsync } from "../engine/tensor.ts";

await gpu();

/**
 * Each output is exp(x − max)/Σ with |x| ≤ 1: a few f32 roundings of values ≤ 1 (exp's own error
 * on lavapipe is a few ulp), and the row sum of n terms adds ~n·u relative. 1e-6 covers rows up
 * to ~300 and is far below a dropped term (≥ e⁻²/n ≈ 4e-4 for n = 300).
 */
const FORWARD = { atol: 1e-6 };

Deno.test("softmax: rows of 1…300 values (within, at and past one workgroup) vs float64, with gradients", async () => {
  for (
    const shape of [
      [1], // one value: always 1
      [3, 5],
      [2, 3, 64], // exactly one workgroup wide
      [4, 65], // one past it: a lane loops twice
      [2, 300],
    ]
  ) {
    const cols = shape[shape.length - 1];
    const data = rng(numel(shape) + cols).uniform(numel(shape));
    await gradCheck({
      label: `softmax ${shape}`,
      inputs: [{ data, shape }],
      gpuFn: ([x]) => softmax(x),
      refFn: ([x]) => softmaxRef(x, cols),
      forward: FORWARD,
      // dx = y(dy − Σ dy·y) with |dy| ≤ 1: the same roundings times a row sum of ≤ 1.
      grad: { atol: 2e-6 },
    });
  }
});

Deno.test("softmax: 70,000 rows (a 2-D workgroup grid) vs float64", async () => {
  const shape = [70_000, 3];
  const data = rng(3).uniform(numel(shape), -4, 4);
  await tidyAsync(async () => {
    const y = softmax(tensor(Float32Array.from(data), shape));
    assertClose(await y.data(), softmaxRef(data, 3), { atol: 2e-6 }, "70000 rows");
  });
});

Deno.test("softmax: large logits stay finite (the row maximum is subtracted)", async () => {
  await tidyAsync(async () => {
    // exp(1000) overflows f32 (and f64); after the shift the row is exp(0), exp(−1), exp(−1000).
    const x = tensor([1000, 999, 0, -1000, -1001, -3000], [2, 3]);
    const e = Math.exp(-1);
    const expected = [1 / (1 + e), e / (1 + e), 0, 1 / (1 + e), e / (1 + e), 0];
    const got = await softmax(x).data();
    assert.ok(got.every(Number.isFinite), `non-finite output ${got}`);
    assertClose(got, expected, { atol: 1e-7 }, "large logits");
    // Equal huge logits: a uniform row.
    assertClose(await softmax(tensor([3e38, 3e38, 3e38, 3e38], [1, 4])).data(), [0.25, 0.25, 0.25, 0.25], {
      atol: 0,
    }, "equal huge logits");
  });
});

Deno.test("softmax: only the last axis; errors name the op and the shape", () => {
  tidy(() => {
    const x = tensor(new Float32Array(6), [2, 3]);
    assert.match(errorOf(() => softmax(x, 0)), /softmax.*dim 0.*\[2, 3\]/);
    assert.match(errorOf(() => softmax(x, -2)), /softmax.*dim -2.*\[2, 3\]/);
    assert.match(errorOf(() => softmax(tensor([5], []))), /softmax.*\[\]/);
    // dim = rank − 1 is the last axis too.
    assert.deepEqual(softmax(x, 1).shape, [2, 3]);
  });
});

Deno.test("softmax: empty rows and empty batches give empty outputs", async () => {
  await tidyAsync(async () => {
    assert.deepEqual(await softmax(tensor([], [0, 4])).data(), new Float32Array(0));
    assert.deepEqual(softmax(tensor([], [3, 0])).shape, [3, 0]);
  });
});
