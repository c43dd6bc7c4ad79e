/**
 * Shape ops: reshape, concat, slice, split and pad against float64 references,
 * hand-computed cases, gradient checks and error messages.
 * Kernels: shaders/shape.ts; ops: engine/ops/shape.ts.
 */
import assert from "node:assert/strict";
import { assertClose, errorOf, gpu, gradCheck, numel, rng } from "./helpers.ts";
import { concat, pad, pixelShuffle, pixelUnshuffle, reshape, slice, split } from "../engine/ops/shape.ts";
import { backward } from "../engine/autograd.ts";
import { tensor, tidy, tidyAsync } from "../engine/tensor.ts";

await gpu();

// Shape ops only move f32 values (pad backward adds at most 9 of them): forward is exact, and
// gradients are sums of ≤ 9 f32 products of values in [-1, 1] → error ≤ ~9·2⁻²⁴ ≈ 5e-7.
const EXACT = { atol: 0 };
const GRAD = { atol: 1e-6 };

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** float64 torch.cat. */
function refConcat(xs: Float64Array[], shapes: number[][], dim: number): Float64Array {
  const outer = prod(shapes[0].slice(0, dim));
  const inner = prod(shapes[0].slice(dim + 1));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < xs.length; k++) {
      const row = shapes[k][dim] * inner;
      for (let r = 0; r < row; r++) out.push(xs[k][o * row + r]);
    }
  }
  return Float64Array.from(out);
}

/** float64 x.narrow(dim, start, length). */
function refSlice(
  x: Float64Array,
  shape: number[],
  dim: number,
  start: number,
  length: number,
): Float64Array {
  const outer = prod(shape.slice(0, dim));
  const inner = prod(shape.slice(dim + 1));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let c = start; c < start + length; c++) {
      for (let i = 0; i < inner; i++) out.push(x[(o * shape[dim] + c) * inner + i]);
    }
  }
  return Float64Array.from(out);
}

/** float64 F.pad(x, [l, r, t, b], mode) on the last two dims. */
function refPad(x: Float64Array, shape: number[], p: number[], mode: "zeros" | "reflect"): Float64Array {
  const [l, r, t, b] = p;
  const h = shape[shape.length - 2], w = shape[shape.length - 1];
  const planes = prod(shape.slice(0, -2));
  const ho = h + t + b, wo = w + l + r;
  const out = new Float64Array(planes * ho * wo);
  const refl = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  for (let q = 0; q < planes; q++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        let ih = oh - t, iw = ow - l;
        if (mode === "reflect") {
          ih = refl(ih, h);
          iw = refl(iw, w);
        } else if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
        out[(q * ho + oh) * wo + ow] = x[(q * h + ih) * w + iw];
      }
    }
  }
  return out;
}

Deno.test("reshape: a view with -1 inferred; gradient reshaped back; size mismatch names the shapes", async () => {
  const shape = [2, 3, 5];
  await gradCheck({
    label: "reshape",
    inputs: [{ data: rng(1).uniform(30), shape }],
    gpuFn: ([x]) => reshape(x, [5, -1, 2]),
    refFn: ([x]) => x,
    forward: EXACT,
    grad: GRAD,
  });
  await tidyAsync(async () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(reshape(x, [-1]).shape, [6]);
    const v = reshape(x, [3, -1]);
    assert.deepEqual(v.shape, [3, 2]);
    assertClose(await v.data(), [1, 2, 3, 4, 5, 6], EXACT, "reshape keeps the values");
    assert.deepEqual(reshape(tensor([7]), []).shape, []);
    const msg = errorOf(() => reshape(x, [4, -1]));
    assert.match(msg, /reshape.*\[2, 3\].*\[4, -1\]/);
    assert.match(errorOf(() => reshape(x, [5])), /reshape.*\[2, 3\].*\[5\]/);
    assert.match(errorOf(() => reshape(x, [-1, -1])), /reshape/);
  });
});

for (const [h, w] of [[3, 5], [4, 4]]) {
  // 3×5 planes take the scalar copy kernel, 4×4 the vec4 one.
  Deno.test(`concat: 3 tensors with 1, 3, 5 channels of ${h}×${w}, batch 2, with gradients`, async () => {
    const shapes = [1, 3, 5].map((c) => [2, c, h, w]);
    await gradCheck({
      label: `concat ${h}x${w}`,
      inputs: shapes.map((shape, k) => ({ data: rng(10 + k).uniform(numel(shape)), shape })),
      gpuFn: (xs) => concat(xs, 1),
      refFn: (xs) => refConcat(xs, shapes, 1),
      forward: EXACT,
      grad: GRAD,
    });
  });
}

Deno.test("concat along dims 0, 2, -1 (any dim), with gradients", async () => {
  for (
    const [dim, shapes] of [
      [0, [[1, 3, 2], [2, 3, 2]]],
      [2, [[2, 3, 1, 4], [2, 3, 3, 4]]],
      [-1, [[2, 3, 3], [2, 3, 1], [2, 3, 2]]],
    ] as [number, number[][]][]
  ) {
    const d = dim < 0 ? dim + shapes[0].length : dim;
    await gradCheck({
      label: `concat dim ${dim}`,
      inputs: shapes.map((shape, k) => ({ data: rng(20 + k).uniform(numel(shape)), shape })),
      gpuFn: (xs) => concat(xs, dim),
      refFn: (xs) => refConcat(xs, shapes, d),
      forward: EXACT,
      grad: GRAD,
    });
  }
});

Deno.test("slice: dims 1, 2, 3, scalar and vec4 paths, gradient is g embedded in zeros", async () => {
  for (
    const [shape, dim, start, len] of [
      [[2, 7, 3, 5], 1, 2, 4],
      [[2, 7, 4, 4], 1, 4, 3], // vec4 path: rows of 16 and offsets of 64 floats
      [[3, 2, 5, 3], 2, 1, 3],
      [[2, 3, 4, 6], 3, 5, 1],
    ] as [number[], number, number, number][]
  ) {
    await gradCheck({
      label: `slice ${shape} dim ${dim}`,
      inputs: [{ data: rng(30).uniform(numel(shape)), shape }],
      gpuFn: ([x]) => slice(x, dim, start, len),
      refFn: ([x]) => refSlice(x, shape, dim, start, len),
      forward: EXACT,
      grad: GRAD,
    });
  }
});

Deno.test("split then concat: exact round trip; permuted pieces give permuted gradients", async () => {
  const shape = [2, 9, 3, 4];
  const data = rng(40).uniform(numel(shape));
  await tidyAsync(async () => {
    const x = tensor(Float32Array.from(data), shape);
    const pieces = split(x, [1, 3, 5]);
    assert.deepEqual(pieces.map((p) => p.shape[1]), [1, 3, 5]);
    assertClose(await concat(pieces).data(), data, EXACT, "round trip");
  });
  await gradCheck({
    label: "split/concat permuted",
    inputs: [{ data, shape }],
    gpuFn: ([x]) => {
      const [a, b, c] = split(x, [1, 3, 5], 1);
      return concat([c, a, b], 1);
    },
    refFn: ([x]) => {
      const a = refSlice(x, shape, 1, 0, 1), b = refSlice(x, shape, 1, 1, 3), c = refSlice(x, shape, 1, 4, 5);
      return refConcat([c, a, b], [[2, 5, 3, 4], [2, 1, 3, 4], [2, 3, 3, 4]], 1);
    },
    forward: EXACT,
    grad: GRAD,
  });
});

Deno.test("pad: hand-computed zeros and reflect on 1×1×2×3, reflect gradient counts copies", async () => {
  await tidyAsync(async () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]);
    x.requiresGrad = true;
    const z = pad(x, [1, 1, 1, 1]);
    assert.deepEqual(z.shape, [1, 1, 4, 5]);
    // deno-fmt-ignore
    assertClose(await z.data(), [
      0, 0, 0, 0, 0,
      0, 1, 2, 3, 0,
      0, 4, 5, 6, 0,
      0, 0, 0, 0, 0,
    ], EXACT, "zeros");
    assertClose(await pad(x, [1, 1, 1, 1], "constant").data(), await z.data(), EXACT, "constant alias");
    const r = pad(x, [1, 1, 1, 1], "reflect");
    // Rows read input rows (1, 0, 1, 0), columns read (1, 0, 1, 2, 1), as torch's reflect.
    // deno-fmt-ignore
    assertClose(await r.data(), [
      5, 4, 5, 6, 5,
      2, 1, 2, 3, 2,
      5, 4, 5, 6, 5,
      2, 1, 2, 3, 2,
    ], EXACT, "reflect");
    backward(r, tensor(new Float32Array(20).fill(1), [1, 1, 4, 5]));
    // Each input row is copied to 2 output rows; columns 0, 1, 2 to 1, 3, 1 output columns.
    assertClose(await x.grad!.data(), [2, 6, 2, 2, 6, 2], EXACT, "reflect grad");
  });
});

for (const mode of ["zeros", "reflect"] as const) {
  Deno.test(`pad ${mode}: asymmetric paddings, batch 2, gradient vs float64`, async () => {
    for (const p of [[2, 1, 0, 3], [1, 1, 1, 1], [4, 0, 3, 2]]) {
      const shape = [2, 3, 4, 5];
      await gradCheck({
        label: `pad ${mode} [${p}]`,
        inputs: [{ data: rng(50).uniform(numel(shape)), shape }],
        gpuFn: ([x]) => pad(x, p as [number, number, number, number], mode),
        refFn: ([x]) => refPad(x, shape, p, mode),
        forward: EXACT,
        grad: GRAD,
      });
    }
  });
}

Deno.test("shape ops: errors name the op and the shapes", () => {
  tidy(() => {
    const a = tensor(new Float32Array(24), [1, 2, 3, 4]);
    const b = tensor(new Float32Array(30), [1, 3, 2, 5]);
    assert.match(errorOf(() => concat([a, b], 1)), /concat.*\[1, 2, 3, 4\].*\[1, 3, 2, 5\]/);
    assert.match(errorOf(() => concat([a], 4)), /concat.*dimension 4.*\[1, 2, 3, 4\]/);
    assert.match(errorOf(() => split(a, [1, 2], 1)), /split.*\[1, 2\].*\[1, 2, 3, 4\]/);
    assert.match(errorOf(() => slice(a, 3, 2, 3)), /slice.*\[1, 2, 3, 4\]/);
    // Reflect needs pad < size (torch's rule): H = 3, so a top pad of 3 is refused.
    assert.match(errorOf(() => pad(a, [0, 0, 3, 0], "reflect")), /pad.*reflect.*\[1, 2, 3, 4\]/);
    assert.match(errorOf(() => pad(tensor([1, 2]), [1, 1, 1, 1])), /pad.*\[2\]/);
  });
});

/** float64 F.pixel_shuffle of x [n, c·r², h, w]. */
function refPixelShuffle(x: Float64Array, [n, c, h, w]: number[], r: number): Float64Array {
  const co = c / (r * r);
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < co; k++) {
      for (let oy = 0; oy < h * r; oy++) {
        for (let ox = 0; ox < w * r; ox++) {
          const src = ((b * c + k * r * r + (oy % r) * r + (ox % r)) * h + Math.floor(oy / r)) * w +
            Math.floor(ox / r);
          out[((b * co + k) * h * r + oy) * w * r + ox] = x[src];
        }
      }
    }
  }
  return out;
}

/** float64 F.pixel_unshuffle of y [n, c, h·r, w·r] (the inverse permutation of refPixelShuffle). */
function refPixelUnshuffle(y: Float64Array, [n, c, h, w]: number[], r: number): Float64Array {
  const small = [n, c * r * r, h / r, w / r];
  const out = new Float64Array(y.length);
  const index = refPixelShuffle(Float64Array.from(out.keys()), small, r);
  index.forEach((src, dst) => out[src] = y[dst]);
  return out;
}

Deno.test("pixelShuffle and pixelUnshuffle against float64, inverse of each other, with gradients", async () => {
  for (
    const [shape, r] of [[[2, 8, 3, 5], 2], [[1, 9, 4, 4], 3], [[1, 3, 2, 2], 1]] as [number[], number][]
  ) {
    const data = rng(40 + r).uniform(numel(shape));
    await gradCheck({
      label: `pixelShuffle ${shape} r${r}`,
      inputs: [{ data, shape }],
      gpuFn: ([x]) => pixelShuffle(x, r),
      refFn: ([x]) => refPixelShuffle(x, shape, r),
      forward: EXACT,
      grad: GRAD,
    });
    const [n, c, h, w] = shape;
    const big = [n, c / (r * r), h * r, w * r];
    const bigData = refPixelShuffle(data, shape, r);
    await gradCheck({
      label: `pixelUnshuffle ${big} r${r}`,
      inputs: [{ data: bigData, shape: big }],
      gpuFn: ([x]) => pixelUnshuffle(x, r),
      refFn: ([y]) => refPixelUnshuffle(y, big, r),
      forward: EXACT,
      grad: GRAD,
    });
  }
});

Deno.test("pixelShuffle: errors name the op and the shape", () => {
  tidy(() => {
    const x = tensor(new Float32Array(2 * 6 * 4), [1, 6, 2, 4]);
    assert.throws(
      () => pixelShuffle(x, 2),
      /pixelShuffle: 6 channels of \[1, 6, 2, 4\] are not divisible by 2² = 4/,
    );
    assert.throws(
      () => pixelUnshuffle(x, 3),
      /pixelUnshuffle: spatial size 2x4 of \[1, 6, 2, 4\] is not divisible by 3/,
    );
    assert.throws(() => pixelShuffle(x, 0), /factor must be an integer >= 1/);
    assert.throws(() => pixelShuffle(tensor([1, 2], [2]), 2), /input must be 4-D/);
  });
});
