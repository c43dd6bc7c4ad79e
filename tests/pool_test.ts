/**
 * Max pooling against a float64 reference (values and first-max-wins ties), gradient checks,
 * hand-computed tie cases and error messages. Kernels: shaders/pool.ts; op: engine/ops/pool.ts.
 */
import assert from "node:assert/strict";
import { assertClose, errorOf, gpu, gradCheck, numel, rng } from "./helpers.ts";
import { maxPool2d } from "../engine/ops/pool.ts";
import { MaxPool2d } from "../engine/nn/layers.ts";
import { backward, noGrad } from "../engine/autograd.ts";
import { tensor, tidy, tidyAsync } from "../engine/tensor.ts";

await gpu();

// Max pooling moves f32 values (exact forward); a gradient entry sums at most ⌈k/s⌉² values of g
// in [-1, 1], so its f32 error is a few ulps.
const EXACT = { atol: 0 };
const GRAD = { atol: 1e-6 };

type Geometry = { k: [number, number]; s: [number, number]; p: [number, number] };

/**
 * float64 F.max_pool2d of x [n, c, h, w]: a window's first maximum in row-major order wins
 * (PyTorch's `val > maxval` scan), padding is −∞. Returns the values and the winners' flat input
 * indices.
 */
function refMaxPool(x: Float64Array, [n, c, h, w]: number[], { k, s, p }: Geometry) {
  const ho = Math.floor((h + 2 * p[0] - k[0]) / s[0]) + 1;
  const wo = Math.floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  const out = new Float64Array(n * c * ho * wo);
  const arg = new Int32Array(out.length);
  for (let q = 0; q < n * c; q++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        let best = -Infinity, at = -1;
        for (let a = 0; a < k[0]; a++) {
          for (let b = 0; b < k[1]; b++) {
            const ih = oh * s[0] - p[0] + a, iw = ow * s[1] - p[1] + b;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const v = x[(q * h + ih) * w + iw];
            if (v > best) {
              best = v;
              at = (q * h + ih) * w + iw;
            }
          }
        }
        const o = (q * ho + oh) * wo + ow;
        out[o] = best;
        arg[o] = at;
      }
    }
  }
  return { out, arg, shape: [n, c, ho, wo] };
}

const CASES: [number[], Geometry][] = [
  // The ResNet stem: 3×3, stride 2, padding 1 (overlapping windows, odd and even sizes).
  [[2, 3, 7, 8], { k: [3, 3], s: [2, 2], p: [1, 1] }],
  // nn.MaxPool2d(2): disjoint windows, a dropped last row/column (floor mode).
  [[1, 2, 5, 7], { k: [2, 2], s: [2, 2], p: [0, 0] }],
  // Stride 1 (each pixel in up to 9 windows), rectangular kernel, per-axis stride and padding.
  [[1, 2, 6, 5], { k: [3, 3], s: [1, 1], p: [1, 1] }],
  [[2, 1, 9, 6], { k: [3, 2], s: [2, 1], p: [1, 0] }],
];

for (const [shape, geom] of CASES) {
  Deno.test(`maxPool2d ${fmt(shape)} k${geom.k} s${geom.s} p${geom.p}: values and gradient vs float64`, async () => {
    await gradCheck({
      label: `maxPool2d ${shape}`,
      inputs: [{ data: rng(numel(shape)).uniform(numel(shape)), shape }],
      gpuFn: ([x]) => maxPool2d(x, geom.k, { stride: geom.s, padding: geom.p }),
      refFn: ([x]) => refMaxPool(x, shape, geom).out,
      forward: EXACT,
      grad: GRAD,
    });
  });
}

function fmt(shape: number[]) {
  return `[${shape.join(",")}]`;
}

Deno.test("maxPool2d ties: the first maximum of a window wins and alone gets the gradient (as PyTorch)", async () => {
  await tidyAsync(async () => {
    // A constant 4×4 plane under the stem pooling: windows (rows, cols) {0,1}×{0,1}, {0,1}×{1,2,3},
    // {1,2,3}×{0,1}, {1,2,3}×{1,2,3}; their first pixels are (0,0), (0,1), (1,0), (1,1).
    const x = tensor(new Float32Array(16).fill(0.5), [1, 1, 4, 4]);
    x.requiresGrad = true;
    const y = maxPool2d(x, 3, { stride: 2, padding: 1 });
    assert.deepEqual(y.shape, [1, 1, 2, 2]);
    assertClose(await y.data(), [0.5, 0.5, 0.5, 0.5], EXACT, "constant");
    backward(y, tensor([1, 2, 3, 4], [1, 1, 2, 2]));
    // deno-fmt-ignore
    assertClose(await x.grad!.data(), [
      1, 2, 0, 0,
      3, 4, 0, 0,
      0, 0, 0, 0,
      0, 0, 0, 0,
    ], EXACT, "constant-plane gradient");
  });
  await tidyAsync(async () => {
    // Disjoint 2×2 windows with ties in different positions: the first in row-major order wins.
    // deno-fmt-ignore
    const x = tensor([
      1, 3, 7, 2,
      3, 0, 7, 7,
      -1, -2, 4, 4,
      -1, -1, 4, 4,
    ], [1, 1, 4, 4]);
    x.requiresGrad = true;
    const y = maxPool2d(x, 2);
    assertClose(await y.data(), [3, 7, -1, 4], EXACT, "tie values");
    backward(y, tensor([1, 2, 3, 4], [1, 1, 2, 2]));
    // deno-fmt-ignore
    assertClose(await x.grad!.data(), [
      0, 1, 2, 0,
      0, 0, 0, 0,
      3, 0, 4, 0,
      0, 0, 0, 0,
    ], EXACT, "tie gradient");
  });
  // Random ties: values from 5 levels, checked against the reference's winners.
  const shape = [2, 2, 9, 9], geom: Geometry = { k: [3, 3], s: [2, 2], p: [1, 1] };
  const r = rng(7);
  const data = Float64Array.from({ length: numel(shape) }, () => Math.floor(r.next() * 5));
  const ref = refMaxPool(data, shape, geom);
  const g = rng(8).uniform(ref.out.length);
  const expected = new Float64Array(data.length);
  ref.arg.forEach((at, o) => expected[at] += g[o]);
  await tidyAsync(async () => {
    const x = tensor(Float32Array.from(data), shape);
    x.requiresGrad = true;
    const y = maxPool2d(x, 3, { stride: 2, padding: 1 });
    assertClose(await y.data(), ref.out, EXACT, "random ties values");
    backward(y, tensor(Float32Array.from(g), y.shape));
    assertClose(await x.grad!.data(), expected, GRAD, "random ties gradient");
  });
});

Deno.test("maxPool2d without a graph gives the same values; MaxPool2d module matches the op", async () => {
  const shape = [1, 2, 8, 8];
  const data = Float32Array.from(rng(3).uniform(numel(shape)));
  await tidyAsync(async () => {
    const x = tensor(data, shape);
    x.requiresGrad = true;
    const a = await maxPool2d(x, 3, { stride: 2, padding: 1 }).data();
    const b = await noGrad(() => maxPool2d(x, 3, { stride: 2, padding: 1 })).data();
    assert.deepEqual(a, b);
    const m = new MaxPool2d(3, { stride: 2, padding: 1 });
    const y = m.forward(x);
    assert.deepEqual(y.shape, [1, 2, 4, 4]);
    assert.deepEqual(await y.data(), a);
    assert.equal(m.parameterCount(), 0);
    assert.deepEqual([...m.stateDict().keys()], []);
  });
});

Deno.test("maxPool2d: errors name the op, the problem and the shape", () => {
  tidy(() => {
    const x = tensor(new Float32Array(2 * 5 * 5), [1, 2, 5, 5]);
    assert.match(errorOf(() => maxPool2d(tensor([1, 2], [2]), 2)), /maxPool2d: input must be 4-D.*\[2\]/);
    assert.match(errorOf(() => maxPool2d(x, 0)), /maxPool2d: kernel size must be an integer >= 1.*0/);
    assert.match(errorOf(() => maxPool2d(x, 2, { stride: 0 })), /maxPool2d: stride must be an integer >= 1/);
    assert.match(
      errorOf(() => maxPool2d(x, 2, { padding: -1 })),
      /maxPool2d: padding must be an integer >= 0/,
    );
    assert.match(
      errorOf(() => maxPool2d(x, 3, { padding: 2 })),
      /maxPool2d: padding 2,2 must be at most half the kernel size 3x3 \(input \[1, 2, 5, 5\]\)/,
    );
    assert.match(
      errorOf(() => maxPool2d(x, [6, 2])),
      /maxPool2d: kernel 6x2 is larger than the padded input 5x5 \(input \[1, 2, 5, 5\]/,
    );
  });
});
