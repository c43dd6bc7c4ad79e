/**
 * conv2d and convTranspose2d: float64 references, gradient checks, hand-computed
 * values, identities, every kernel variant, and shape errors. Kernels:
 * shaders/conv.ts; ops: engine/ops/conv.ts; references: tests/reference/conv.ts.
 */
import assert from "node:assert/strict";
import { assertClose, gpu, gradCheck, numel, rng } from "./helpers.ts";
import {
  conv2d,
  conv2dBackpropFilter,
  conv2dBackpropInput,
  CONV_VARIANTS,
  convTranspose2d,
  convTuning,
  type ConvVariantName,
} from "../engine/ops/conv.ts";
import type { ConvTile } from "../shaders/conv.ts";
import { type Tensor, tensor, tidy, tidyAsync } from "../engine/tensor.ts";
import { backward } from "../engine/autograd.ts";
import {
  conv2dRef,
  conv2dShape,
  conv2dWeightGradRef,
  convTranspose2dRef,
  convTranspose2dShape,
  type RefConvOptions,
} from "./reference/conv.ts";

await gpu();

// Forward outputs are sums of up to Cin·kH·kW = 320 products of values in [-1, 1], |y| up to ~10.
// f32 accumulation error grows with the partial sums; observed at most 4.6e-6 absolute (on
// |y| ≈ 10). 1e-5 + 2e-6·|y| allows 3e-5 there (6x margin), while a wrong or missing tap
// (|w·x| of order 0.1 to 1) fails by four orders of magnitude.
const FWD = { atol: 1e-5, rtol: 2e-6 };
// Gradients sum up to N·OH·OW·Cout ≈ 800 products (weight gradients of the larger shapes), |dw|
// up to ~11; observed errors at most 1.5e-5 (on |dw| ≈ 10). The references are linear in each
// input, so gradCheck's central differences add only ~1e-8. 2e-5 + 1e-5·|g| is ~8x the observed
// error and far below any indexing mistake.
const GRAD = { atol: 2e-5, rtol: 1e-5 };

type Pair = [number, number];
/** A test case: input shape, output channels, kernel, stride, padding, output padding (transposed). */
interface Cfg {
  x: [number, number, number, number];
  cout: number;
  k: Pair;
  stride: Pair;
  padding: Pair;
  outputPadding?: Pair;
  bias: boolean;
}

function cfg(
  x: [number, number, number, number],
  cout: number,
  k: number | Pair,
  stride: number | Pair,
  padding: number | Pair,
  bias: boolean,
  outputPadding?: number | Pair,
): Cfg {
  const p = (v: number | Pair): Pair => (typeof v === "number" ? [v, v] : v);
  return {
    x,
    cout,
    k: p(k),
    stride: p(stride),
    padding: p(padding),
    bias,
    outputPadding: outputPadding === undefined ? undefined : p(outputPadding),
  };
}

function describe(c: Cfg): string {
  const op = c.outputPadding ? ` op${c.outputPadding}` : "";
  return `x[${c.x}] ->${c.cout} k${c.k} s${c.stride} p${c.padding}${op}${c.bias ? " bias" : ""}`;
}

function refOpts(c: Cfg): RefConvOptions {
  return { stride: c.stride, padding: c.padding, outputPadding: c.outputPadding };
}

function weightShape(c: Cfg, transposed: boolean): number[] {
  return transposed ? [c.x[1], c.cout, ...c.k] : [c.cout, c.x[1], ...c.k];
}

// ---------------------------------------------------------------------------
// Finite-difference gradient checks on small shapes.

const convCfgs: Cfg[] = [
  cfg([2, 3, 7, 9], 5, 3, 1, 1, true),
  cfg([2, 3, 7, 9], 5, 4, 2, 1, true),
  cfg([1, 5, 8, 6], 3, 3, 2, 0, false),
  cfg([2, 3, 5, 7], 6, 1, 1, 0, true),
  // Non-square kernel, stride and padding.
  cfg([1, 2, 9, 7], 5, [3, 2], [2, 1], [1, 0], true),
  cfg([2, 9, 6, 6], 7, 4, 2, 1, false),
];

for (const c of convCfgs) {
  Deno.test(`conv2d ${describe(c)}: forward and gradients vs float64 reference`, async () => {
    const ws = weightShape(c, false);
    const inputs = [
      { data: rng(1).uniform(numel(c.x)), shape: c.x },
      { data: rng(2).uniform(numel(ws)), shape: ws },
    ];
    if (c.bias) inputs.push({ data: rng(3).uniform(c.cout), shape: [c.cout] });
    await gradCheck({
      label: `conv2d ${describe(c)}`,
      inputs,
      gpuFn: ([x, w, b]) => conv2d(x, w, b, { stride: c.stride, padding: c.padding }),
      refFn: ([x, w, b]) => conv2dRef(x, c.x, w, ws, b ?? null, refOpts(c)),
      forward: FWD,
      grad: GRAD,
    });
  });
}

const convTCfgs: Cfg[] = [
  cfg([2, 3, 4, 5], 5, 4, 2, 1, true),
  cfg([2, 3, 4, 5], 5, 3, 2, 1, true, 1),
  cfg([1, 5, 3, 4], 3, 3, 1, 1, false),
  cfg([2, 4, 3, 3], 2, 1, 1, 0, true),
  // Non-square everything; kernel 3 with stride 2 leaves some residue classes with fewer taps.
  cfg([1, 2, 3, 4], 5, [3, 4], [2, 3], [1, 0], true, [1, 2]),
  // Kernel smaller than the stride: some output pixels receive no tap at all (bias only).
  cfg([2, 3, 3, 3], 2, 2, 3, 0, true),
  cfg([2, 7, 3, 4], 9, 4, 2, 1, false),
];

for (const c of convTCfgs) {
  Deno.test(`convTranspose2d ${describe(c)}: forward and gradients vs float64 reference`, async () => {
    const ws = weightShape(c, true);
    const inputs = [
      { data: rng(4).uniform(numel(c.x)), shape: c.x },
      { data: rng(5).uniform(numel(ws)), shape: ws },
    ];
    if (c.bias) inputs.push({ data: rng(6).uniform(c.cout), shape: [c.cout] });
    await gradCheck({
      label: `convTranspose2d ${describe(c)}`,
      inputs,
      gpuFn: ([x, w, b]) =>
        convTranspose2d(x, w, b, { stride: c.stride, padding: c.padding, outputPadding: c.outputPadding }),
      refFn: ([x, w, b]) => convTranspose2dRef(x, c.x, w, ws, b ?? null, refOpts(c)),
      forward: FWD,
      grad: GRAD,
    });
  });
}

// ---------------------------------------------------------------------------
// Larger shapes, checked through the adjoint identities.

/** Per-channel sums of r [N,C,H,W]: the bias gradient. */
function channelSums(r: Float64Array, shape: number[]) {
  const [, c, h, w] = shape;
  const out = new Float64Array(c);
  for (let i = 0; i < r.length; i++) out[Math.floor(i / (h * w)) % c] += r[i];
  return out;
}

/** Forced register tiles of the three kernels; null lets the op choose. */
interface Tiles {
  forward: ConvTile | null;
  transpose: ConvTile | null;
  weightGrad: ConvTile | null;
  weightGradMinThreads?: number;
}

/**
 * Runs the op forward and backward with L = Σ y·r and compares y, dx, dw, db with the
 * float64 references. The gradients use the adjoint identities (for y = conv2d(x, w),
 * dx = convTranspose2d(r, w); for y = convTranspose2d(x, w), dx = conv2d(r, w); dw is
 * the correlation of x and r), computed by the independent references, so shapes too
 * big for finite differences are still checked exactly.
 */
async function checkAdjoint(c: Cfg, transposed: boolean, tiles?: Tiles) {
  const name = transposed ? "convTranspose2d" : "conv2d";
  const xs = c.x;
  const ws = weightShape(c, transposed);
  const o = refOpts(c);
  const xd = rng(7).uniform(numel(xs));
  const wd = rng(8).uniform(numel(ws));
  const bd = rng(9).uniform(c.cout);
  const ys = transposed ? convTranspose2dShape(xs, ws, o) : conv2dShape(xs, ws, o);
  const r = rng(10).uniform(numel(ys));
  const saved = { ...convTuning };
  if (tiles) Object.assign(convTuning, tiles);
  try {
    await tidyAsync(async () => {
      const x = tensor(Float32Array.from(xd), xs);
      const w = tensor(Float32Array.from(wd), ws);
      const b = tensor(Float32Array.from(bd), [c.cout]);
      for (const t of [x, w, b]) t.requiresGrad = true;
      const bias = c.bias ? b : null;
      const y = transposed ? convTranspose2d(x, w, bias, o) : conv2d(x, w, bias, o);
      const yRef = transposed
        ? convTranspose2dRef(xd, xs, wd, ws, c.bias ? bd : null, o)
        : conv2dRef(xd, xs, wd, ws, c.bias ? bd : null, o);
      assertClose(await y.data(), yRef, FWD, `${name} forward`);
      backward(y, tensor(Float32Array.from(r), ys));
      let dx: Float64Array, dw: Float64Array;
      if (transposed) {
        dx = conv2dRef(r, ys, wd, ws, null, o);
        // dw[ci,co,kh,kw] = Σ x[ci]·r[co] at the shifted position: a conv2d weight gradient of r.
        dw = conv2dWeightGradRef(r, ys, xd, ws, o);
      } else {
        // The output padding that makes the transposed conv of r exactly as large as x.
        const op: Pair = [
          xs[2] - ((ys[2] - 1) * c.stride[0] - 2 * c.padding[0] + c.k[0]),
          xs[3] - ((ys[3] - 1) * c.stride[1] - 2 * c.padding[1] + c.k[1]),
        ];
        dx = convTranspose2dRef(r, ys, wd, ws, null, { ...o, outputPadding: op });
        dw = conv2dWeightGradRef(xd, xs, r, ws, o);
      }
      assertClose(await x.grad!.data(), dx, GRAD, `${name} dx`);
      assertClose(await w.grad!.data(), dw, GRAD, `${name} dw`);
      if (c.bias) assertClose(await b.grad!.data(), channelSums(r, ys), GRAD, `${name} db`);
      else assert.equal(b.grad, null, "no bias gradient without bias");
    });
  } finally {
    Object.assign(convTuning, saved);
  }
}

// Several workgroups, channel counts that leave partial register tiles, rows of width 4k and not,
// the split (one input channel) and unsplit weight-gradient reductions, automatic tiles.
const bigConv: Cfg[] = [
  cfg([2, 6, 20, 21], 9, 4, 2, 1, true),
  cfg([1, 1, 32, 30], 6, 4, 2, 1, true),
  cfg([1, 13, 11, 13], 10, 3, 1, 1, false),
];
const bigConvT: Cfg[] = [
  cfg([2, 9, 10, 11], 6, 4, 2, 1, true),
  cfg([1, 20, 16, 16], 3, 4, 2, 1, true),
];
for (const c of bigConv) {
  Deno.test(`conv2d ${describe(c)}: forward and adjoint-identity gradients`, () => checkAdjoint(c, false));
}
for (const c of bigConvT) {
  Deno.test(`convTranspose2d ${describe(c)}: forward and adjoint-identity gradients`, () =>
    checkAdjoint(c, true));
}

// The tiles the op picks for real layers (16 channels x 16 pixels, 16 x 4 for the weight gradient)
// and odd ones, forced on shapes small enough for the references: the vec4 row loads with aligned
// (width % 4 == 0) and unaligned rows, vec4 stores, partial channel and pixel tiles, and the split
// reduction. Automatic tiles on small test shapes would otherwise never run these variants.
const BIG: Tiles = {
  forward: { tc: 16, tp: 16 },
  transpose: { tc: 16, tp: 16 },
  weightGrad: { tc: 16, tp: 4 },
};
// Same tiles without splitting the weight-gradient reduction.
const BIG1: Tiles = { ...BIG, weightGradMinThreads: 1 };
const ODD: Tiles = {
  forward: { tc: 2, tp: 8 },
  transpose: { tc: 4, tp: 2 },
  weightGrad: { tc: 8, tp: 8 },
  weightGradMinThreads: 1e9, // as many splits as rows
};
const tiled: [string, Cfg, boolean, Tiles][] = [
  ["big tiles, aligned rows", cfg([2, 5, 36, 40], 20, 4, 2, 1, true), false, BIG],
  ["big tiles, unaligned rows", cfg([1, 3, 37, 35], 18, 4, 2, 1, false), false, BIG1],
  ["big tiles, aligned rows", cfg([2, 20, 9, 12], 18, 4, 2, 1, true), true, BIG1],
  ["big tiles, unaligned rows", cfg([1, 17, 7, 9], 5, 4, 2, 1, false), true, BIG],
  ["big tiles, 3x3 stride 1", cfg([1, 6, 12, 20], 17, 3, 1, 1, true), false, BIG],
  ["odd tiles, aligned rows", cfg([2, 3, 16, 20], 5, 4, 2, 1, true), false, ODD],
  ["odd tiles, unaligned rows", cfg([2, 7, 6, 5], 3, 4, 2, 1, true), true, ODD],
  // 2-D tiles of the direct convolution (th output rows per invocation, each input row loaded once
  // for every row and tap that reads it), with row, pixel and channel tails.
  ["2-D tiles, stride 1 (the discriminator's 4x4 layer)", cfg([2, 12, 16, 16], 20, 4, 1, 1, false), false, {
    forward: { tc: 8, tp: 16, th: 4 },
    transpose: null,
    weightGrad: null,
  }],
  ["2-D tiles, stride 2, aligned rows", cfg([2, 5, 36, 40], 20, 4, 2, 1, true), false, {
    forward: { tc: 16, tp: 8, th: 4 },
    transpose: null,
    weightGrad: null,
  }],
  ["2-D tiles, unaligned rows", cfg([1, 3, 37, 35], 18, 4, 2, 1, false), false, {
    forward: { tc: 4, tp: 4, th: 3 },
    transpose: null,
    weightGrad: null,
  }],
  ["2-D tiles, 3x3 stride 1", cfg([1, 6, 12, 20], 17, 3, 1, 1, true), false, {
    forward: { tc: 8, tp: 8, th: 3 },
    transpose: null,
    weightGrad: null,
  }],
  ["2-D tiles, 2x1 kernel (scalar weights), stride 1", cfg([2, 5, 9, 10], 6, [2, 1], 1, 0, true), false, {
    forward: { tc: 4, tp: 4, th: 2 },
    transpose: null,
    weightGrad: null,
  }],
  ["2-D tiles in the input gradient", cfg([2, 9, 10, 11], 6, 4, 2, 1, true), true, {
    forward: { tc: 8, tp: 8, th: 3 },
    transpose: null,
    weightGrad: null,
  }],
  // 2-D tiles of the transposed convolution (th rows of one residue class per invocation).
  ["transposed 2-D tiles, stride 2, row tails", cfg([2, 20, 9, 12], 18, 4, 2, 1, true), true, {
    forward: null,
    transpose: { tc: 8, tp: 4, th: 4 },
    weightGrad: null,
  }],
  ["transposed 2-D tiles, stride 1", cfg([2, 12, 15, 15], 10, 4, 1, 1, false), true, {
    forward: null,
    transpose: { tc: 8, tp: 16, th: 4 },
    weightGrad: null,
  }],
  ["transposed 2-D tiles in the input gradient, stride 1", cfg([2, 12, 16, 16], 20, 4, 1, 1, false), false, {
    forward: null,
    transpose: { tc: 4, tp: 8, th: 3 },
    weightGrad: null,
  }],
  ["transposed 2-D tiles, kernel 3 stride 2", cfg([1, 2, 5, 6], 5, 3, 2, 1, true, 1), true, {
    forward: null,
    transpose: { tc: 4, tp: 2, th: 3 },
    weightGrad: null,
  }],
  ["transposed 2-D tiles, kernel smaller than the stride", cfg([2, 3, 4, 4], 2, 2, 3, 0, true), true, {
    forward: null,
    transpose: { tc: 2, tp: 2, th: 2 },
    weightGrad: null,
  }],
  // Weight-gradient tiles over channels of both operands and th rows per step, with channel, row
  // and column tails, unaligned rows, split reductions, and kernels whose taps fill no vec4.
  ["weight-gradient channel tiles, stride 1 (the D layer)", cfg([2, 12, 16, 16], 20, 4, 1, 1, false), false, {
    forward: null,
    transpose: null,
    weightGrad: { tc: 8, tp: 8, tcb: 4, th: 2 },
  }],
  ["weight-gradient channel tiles, stride 2", cfg([2, 6, 20, 24], 20, 4, 2, 1, true), false, {
    forward: null,
    transpose: null,
    weightGrad: { tc: 16, tp: 4, tcb: 2, th: 2 },
  }],
  ["weight-gradient channel tiles, split reduction", cfg([2, 5, 21, 18], 9, 4, 2, 1, true), false, {
    forward: null,
    transpose: null,
    weightGrad: { tc: 4, tp: 4, tcb: 2, th: 3 },
    weightGradMinThreads: 1e9,
  }],
  ["weight-gradient channel tiles", cfg([2, 20, 9, 12], 18, 4, 2, 1, true), true, {
    forward: null,
    transpose: null,
    weightGrad: { tc: 8, tp: 4, tcb: 4, th: 2 },
  }],
  ["weight-gradient channel tiles, 3x3 stride 1", cfg([1, 6, 12, 20], 17, 3, 1, 1, true), false, {
    forward: null,
    transpose: null,
    weightGrad: { tc: 4, tp: 8, tcb: 2, th: 3 },
  }],
];
for (const [label, c, transposed, tiles] of tiled) {
  const name = transposed ? "convTranspose2d" : "conv2d";
  Deno.test(`${name} ${describe(c)}, ${label}: forward and adjoint-identity gradients`, () =>
    checkAdjoint(c, transposed, tiles));
}

// ---------------------------------------------------------------------------
// Hand-computed values and identities.

Deno.test("conv2d: hand-computed 3x3 input, 2x2 kernel, with gradients of sum(y)", async () => {
  await tidyAsync(async () => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const b = tensor([0.5], [1]);
    for (const t of [x, w, b]) t.requiresGrad = true;
    const y = conv2d(x, w, b);
    // y00 = 1·1 + 2·2 + 4·3 + 5·4 = 37, y01 = 2 + 6 + 15 + 24 = 47, y10 = 67, y11 = 77; plus 0.5.
    assertClose(await y.data(), [37.5, 47.5, 67.5, 77.5], { atol: 0 }, "y");
    backward(y);
    // d sum(y)/dw[kh,kw] = sum of the x window at offset (kh,kw); dx counts the windows covering each pixel.
    assertClose(await w.grad!.data(), [12, 16, 24, 28], { atol: 0 }, "dw");
    assertClose(await x.grad!.data(), [1, 3, 2, 4, 10, 6, 3, 7, 4], { atol: 0 }, "dx");
    assertClose(await b.grad!.data(), [4], { atol: 0 }, "db");
  });
});

Deno.test("convTranspose2d: hand-computed 2x2 input, 2x2 kernel, stride 1 and 2", async () => {
  await tidyAsync(async () => {
    const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const w = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    // Stride 1: the "full" convolution, y[oy,ox] = Σ x[iy,ix]·w[oy−iy, ox−ix].
    assertClose(await convTranspose2d(x, w).data(), [1, 4, 4, 6, 20, 16, 9, 24, 16], { atol: 0 }, "stride 1");
    // Stride 2: each input pixel stamps x·w into its own 2x2 block.
    assertClose(
      await convTranspose2d(x, w, null, { stride: 2 }).data(),
      [1, 2, 2, 4, 3, 4, 6, 8, 3, 6, 4, 8, 9, 12, 12, 16],
      { atol: 0 },
      "stride 2",
    );
    // Padding 1 crops one pixel on each side of the stride-2 result (rows and columns 1..3 of the
    // 4x4 above, the last one existing thanks to outputPadding); bias 10 is added everywhere.
    const y3 = convTranspose2d(x, w, tensor([10], [1]), { stride: 2, padding: 1, outputPadding: 1 });
    assert.deepEqual(y3.shape, [1, 1, 3, 3]);
    assertClose(
      await y3.data(),
      [14, 16, 18, 16, 14, 18, 22, 22, 26],
      { atol: 0 },
      "padding + outputPadding",
    );
  });
});

Deno.test("conv2d and convTranspose2d with a 1x1 identity weight return x", async () => {
  await tidyAsync(async () => {
    const c = 5;
    const xs = [2, c, 7, 9];
    const xd = Float32Array.from(rng(11).uniform(numel(xs)));
    const eye = new Float32Array(c * c);
    for (let i = 0; i < c; i++) eye[i * c + i] = 1;
    const x = tensor(xd, xs);
    const w = tensor(eye, [c, c, 1, 1]);
    // Multiplying by exactly 1 and adding exact zeros is exact in f32.
    assertClose(await conv2d(x, w).data(), xd, { atol: 0 }, "conv2d identity");
    assertClose(await convTranspose2d(x, w).data(), xd, { atol: 0 }, "convTranspose2d identity");
  });
});

Deno.test("conv2dBackpropInput and conv2dBackpropFilter equal the autodiff gradients", async () => {
  await tidyAsync(async () => {
    const o = { stride: 2, padding: 1 };
    const x = tensor(Float32Array.from(rng(12).uniform(2 * 3 * 9 * 8)), [2, 3, 9, 8]);
    const w = tensor(Float32Array.from(rng(13).uniform(4 * 3 * 4 * 4)), [4, 3, 4, 4]);
    x.requiresGrad = w.requiresGrad = true;
    const y = conv2d(x, w, null, o);
    const dy = tensor(Float32Array.from(rng(14).uniform(y.size)), y.shape);
    backward(y, dy);
    // The same kernels run either way, so the results are identical.
    assertClose(await conv2dBackpropInput(dy, w, x.shape, o).data(), await x.grad!.data(), { atol: 0 }, "dx");
    assertClose(
      await conv2dBackpropFilter(x, dy, w.shape, o).data(),
      await w.grad!.data(),
      { atol: 0 },
      "dw",
    );
  });
});

Deno.test("conv2d: only the gradients that are needed are computed", async () => {
  await tidyAsync(async () => {
    const x = tensor(Float32Array.from(rng(12).uniform(2 * 3 * 6 * 6)), [2, 3, 6, 6]);
    const w = tensor(Float32Array.from(rng(13).uniform(4 * 3 * 4 * 4)), [4, 3, 4, 4]);
    w.requiresGrad = true;
    const y: Tensor = conv2d(x, w, null, { stride: 2, padding: 1 });
    backward(y);
    assert.equal(x.grad, null);
    assert.ok(w.grad);
    assert.ok((await w.grad.data()).some((v) => v !== 0));
  });
});

// ---------------------------------------------------------------------------
// Errors.

function throwsWith(fn: () => unknown, ...parts: string[]) {
  let msg = "";
  try {
    fn();
  } catch (e) {
    msg = (e as Error).message;
  }
  for (const p of parts) {
    if (!msg.includes(p)) {
      throw new Error(`expected an error mentioning ${JSON.stringify(p)}, got: ${msg || "none"}`);
    }
  }
}

Deno.test("conv2d and convTranspose2d: bad shapes throw errors naming the op and shapes", () => {
  tidy(() => {
    const t = (shape: number[]) => tensor(new Float32Array(numel(shape)), shape);
    const x = t([2, 3, 5, 5]);
    const w = t([4, 3, 3, 3]);
    const wBad = t([4, 2, 3, 3]);
    const b5 = t([5]);
    throwsWith(() => conv2d(t([3, 5, 5]), w), "conv2d", "[3, 5, 5]");
    throwsWith(() => conv2d(x, t([4, 3, 3])), "conv2d", "[4, 3, 3]");
    throwsWith(() => conv2d(x, wBad), "conv2d", "[2, 3, 5, 5]", "[4, 2, 3, 3]");
    throwsWith(() => conv2d(x, w, b5), "conv2d", "[5]", "[4, 3, 3, 3]");
    throwsWith(() => conv2d(x, w, t([4, 1])), "conv2d", "[4, 1]");
    throwsWith(() => conv2d(x, t([4, 3, 8, 8]), null, { padding: 1 }), "conv2d", "[4, 3, 8, 8]", "larger");
    throwsWith(() => conv2d(x, w, null, { stride: 0 }), "conv2d", "stride");
    throwsWith(() => conv2d(x, w, null, { padding: -1 }), "conv2d", "padding");
    throwsWith(() => conv2d(x, w, null, { stride: 1.5 }), "conv2d", "stride");
    throwsWith(() => conv2d(t([2, 3, 0, 5]), w), "conv2d", "[2, 3, 0, 5]");

    const wt = t([3, 4, 4, 4]);
    throwsWith(() => convTranspose2d(t([3, 5, 5]), wt), "convTranspose2d", "[3, 5, 5]");
    throwsWith(() => convTranspose2d(x, wBad), "convTranspose2d", "[2, 3, 5, 5]", "[4, 2, 3, 3]");
    throwsWith(() => convTranspose2d(x, wt, b5), "convTranspose2d", "[5]", "[3, 4, 4, 4]");
    throwsWith(
      () => convTranspose2d(x, wt, null, { stride: 2, outputPadding: 2 }),
      "convTranspose2d",
      "outputPadding",
      "[2, 3, 5, 5]",
    );
    throwsWith(
      () => convTranspose2d(t([1, 3, 1, 1]), t([3, 2, 1, 1]), null, { padding: 1 }),
      "convTranspose2d",
      "not positive",
      "[1, 3, 1, 1]",
    );

    const dy = t([2, 4, 3, 3]);
    throwsWith(
      () => conv2dBackpropInput(dy, w, [2, 3, 6, 6], { stride: 1 }),
      "conv2dBackpropInput",
      "[2, 4, 3, 3]",
    );
    throwsWith(
      () => conv2dBackpropFilter(x, dy, [4, 3, 2, 2], { stride: 2 }),
      "conv2dBackpropFilter",
      "[4, 3, 2, 2]",
    );
  });
});

// ---------------------------------------------------------------------------
// The shared-memory kernels (CONV_FORWARD_SHARED, CONV_TRANSPOSE_SHARED), which the autotuner may
// choose instead of the register kernels: forced for the forward pass and the input gradient.

/** Runs `fn` with every direct and transposed convolution on `variant`'s kernels. */
async function withVariant(variant: ConvVariantName, fn: () => Promise<void>) {
  convTuning.variant = variant;
  try {
    await fn();
  } finally {
    convTuning.variant = null;
  }
}

for (const variant of ["shared32", "shared64"] as const) {
  for (const c of [...convCfgs, ...bigConv]) {
    Deno.test(`conv2d ${describe(c)}, ${variant} kernels: forward and adjoint-identity gradients`, () =>
      withVariant(variant, () => checkAdjoint(c, false)));
  }
  for (const c of [...convTCfgs, ...bigConvT]) {
    Deno.test(`convTranspose2d ${describe(c)}, ${variant} kernels: forward and adjoint-identity gradients`, () =>
      withVariant(variant, () => checkAdjoint(c, true)));
  }
}

Deno.test("conv2d and convTranspose2d: the shared-memory kernels give the register kernels' results exactly", async () => {
  // Same reduction order and fma, and a zero input adds exactly nothing: equal, not merely close.
  for (const [, c, transposed] of tiled) {
    const ws = weightShape(c, transposed);
    const o = refOpts(c);
    const results: Float32Array[] = [];
    for (const variant of CONV_VARIANTS) {
      await withVariant(variant, () =>
        tidyAsync(async () => {
          const x = tensor(Float32Array.from(rng(15).uniform(numel(c.x))), c.x);
          const w = tensor(Float32Array.from(rng(16).uniform(numel(ws))), ws);
          const b = c.bias ? tensor(Float32Array.from(rng(17).uniform(c.cout))) : null;
          results.push(await (transposed ? convTranspose2d(x, w, b, o) : conv2d(x, w, b, o)).data());
        }));
    }
    for (const [k, r] of results.entries()) {
      const diff = r.findIndex((v, i) => v !== results[0][i]);
      assert.equal(diff, -1, `${describe(c)} ${CONV_VARIANTS[k]}: element ${diff} differs from register`);
    }
  }
});
