/**
 * Reductions: sum, mean and sumChannels against float64 references, exactness on
 * integers, multi-pass sizes, gradient checks and errors.
 * Kernels: shaders/reduce.ts; ops: engine/ops/reduce.ts.
 */
import assert from "node:assert/strict";
import { assertClose, gpu, gradCheck, numel, rng } from "./helpers.ts";
import { mean, sum, sumChannels } from "../engine/ops/reduce.ts";
import { tensor, tidy, tidyAsync } from "../engine/tensor.ts";
import { REDUCE_CHUNK } from "../shaders/reduce.ts";

await gpu();

const U = 2 ** -24; // f32 unit roundoff

/**
 * Tolerance of the GPU sum of floats: u·Σ|x|. The worst case of the tree is ~42·u·Σ|x| per
 * pass (32 sequential adds per lane, 2 to merge lanes, 8 tree levels), but rounding errors
 * are random: measured errors are 1–5% of u·Σ|x| at n = 10³…10⁶. A dropped or doubled
 * element (|x| ~ 0.5) is 100× over it at every size tested here (u·Σ|x| ≤ 3e-3 for n ≤ 10⁵);
 * the integer test below checks indexing exactly.
 */
function sumTol(x: ArrayLike<number>): { atol: number } {
  let abs = 0;
  for (let i = 0; i < x.length; i++) abs += Math.abs(x[i]);
  return { atol: U * abs };
}

const refSum = (x: Float64Array) => x.reduce((a, b) => a + b, 0);

Deno.test("sum of 1,000,003 ones is exactly 1000003", async () => {
  await tidyAsync(async () => {
    const x = tensor(new Float32Array(1_000_003).fill(1));
    const s = sum(x);
    assert.deepEqual(s.shape, []);
    // Exact (atol 0): every partial sum is an integer below 2²⁴, which f32 represents exactly,
    // whatever the order of additions; a lost or doubled element or a lost tail shows as ≠.
    assert.equal(await s.item(), 1_000_003);
    assert.equal(await mean(x).item(), 1);
  });
});

Deno.test("sum and mean: sizes 1…100003 (tails, 1 to 2 passes) vs float64", async () => {
  for (const n of [1, 3, 4, 5, 1000, REDUCE_CHUNK, REDUCE_CHUNK + 1, 100_003]) {
    const data = rng(n).uniform(n);
    await tidyAsync(async () => {
      const x = tensor(Float32Array.from(data));
      const tol = sumTol(data);
      assertClose([await sum(x).item()], [refSum(data)], tol, `sum n=${n}`);
      // Mean: the sum's tolerance divided by n, plus the rounding of the final scaling.
      const m = refSum(data) / n;
      assertClose([await mean(x).item()], [m], { atol: tol.atol / n + U * Math.abs(m) }, `mean n=${n}`);
    });
  }
});

Deno.test("sum: integer data at every size is exact (no element lost or counted twice)", async () => {
  for (
    const n of [1, 3, 4, 5, 1000, REDUCE_CHUNK - 1, REDUCE_CHUNK, REDUCE_CHUNK + 1, 3 * REDUCE_CHUNK + 7]
  ) {
    const r = rng(n + 1);
    const data = Float64Array.from({ length: n }, () => Math.floor(r.next() * 17) - 8);
    await tidyAsync(async () => {
      // Exact (atol 0): integers in [-8, 8] have partial sums of magnitude < 2²⁴, exact in f32.
      assertClose([await sum(tensor(Float32Array.from(data))).item()], [refSum(data)], { atol: 0 }, `n=${n}`);
    });
  }
});

Deno.test("sum of an empty tensor is 0, mean is NaN (as torch)", async () => {
  await tidyAsync(async () => {
    const x = tensor([], [0, 3]);
    assert.equal(await sum(x).item(), 0);
    assert.ok(Number.isNaN(await mean(x).item()));
  });
});

Deno.test("sum and mean: gradient is the upstream scalar broadcast", async () => {
  const shape = [2, 3, 5, 7];
  const data = rng(5).uniform(numel(shape));
  // The gradient is g (or g/n) copied: exact up to one f32 rounding of g/n.
  for (
    const [name, fn, ref] of [
      ["sum", sum, (x: Float64Array) => [refSum(x)]],
      ["mean", mean, (x: Float64Array) => [refSum(x) / x.length]],
    ] as const
  ) {
    await gradCheck({
      label: name,
      inputs: [{ data, shape }],
      gpuFn: ([x]) => fn(x),
      refFn: ([x]) => Float64Array.from(ref(x)),
      forward: sumTol(data),
      grad: { atol: 1e-7 },
    });
  }
});

/** float64 sum over all dims but 1 of [N, C, ...]. */
function refSumChannels(x: Float64Array, shape: number[]): Float64Array {
  const [n, c] = shape;
  const s = numel(shape.slice(2));
  const out = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) for (let j = 0; j < s; j++) out[k] += x[(i * c + k) * s + j];
  }
  return out;
}

Deno.test("sumChannels: [N,C,H,W] scalar and vec4 paths, [B,F], large planes, with gradients", async () => {
  for (
    const shape of [
      [2, 3, 5, 7], // H·W = 35: scalar loads
      [3, 5, 4, 7], // H·W = 28: vec4 loads
      [5, 6], // linear bias: sum over the batch, H·W = 1
      [1, 3, 300, 1], // H·W = 300 > workgroup: stepping without wrap-around
      [3, 2, 17, 19], // H·W = 323, odd
    ]
  ) {
    const data = rng(numel(shape)).uniform(numel(shape));
    await gradCheck({
      label: `sumChannels ${shape}`,
      inputs: [{ data, shape }],
      gpuFn: ([x]) => sumChannels(x),
      refFn: ([x]) => refSumChannels(x, shape),
      // Same argument as sumTol: each channel sums a part of Σ|x|.
      forward: sumTol(data),
      // The gradient is g[c] copied: exact.
      grad: { atol: 1e-7 },
    });
  }
  await tidyAsync(async () => {
    const shape = [2, 4, 64, 64];
    const data = rng(7).uniform(numel(shape));
    const got = await sumChannels(tensor(Float32Array.from(data), shape)).data();
    assertClose(got, refSumChannels(data, shape), sumTol(data), "sumChannels 2x4x64x64");
  });
});

Deno.test("sumChannels: hand-computed, and errors name the op and shape", async () => {
  await tidyAsync(async () => {
    // [2, 2, 1, 2]: channel 0 holds 1, 2, 5, 6 → 14; channel 1 holds 3, 4, 7, 8 → 22.
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 1, 2]);
    assertClose(await sumChannels(x).data(), [14, 22], { atol: 0 }, "hand");
  });
  tidy(() => {
    assert.throws(() => sumChannels(tensor([1, 2, 3])), /sumChannels.*\[3\]/);
  });
});
