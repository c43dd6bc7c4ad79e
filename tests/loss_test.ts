/**
 * Losses: l1, mse, BCE with logits and hinge against float64 references, hand-computed
 * values, extreme logits, gradient checks and errors.
 * Expressions: shaders/loss.ts; ops: engine/ops/loss.ts.
 */
import assert from "node:assert/strict";
import { assertClose, gpu, gradCheck, numel, rng } from "./helpers.ts";
import { bceWithLogits, hingeLossD, hingeLossG, l1Loss, mseLoss } from "../engine/ops/loss.ts";
import { backward } from "../engine/autograd.ts";
import { type Tensor, tensor, tidy, tidyAsync } from "../engine/tensor.ts";

await gpu();

/**
 * Forward: a mean of n f32 terms each within a few ulps (exp/log included), summed by a tree
 * whose rounding stays ≤ ~u·Σ|terms| (see reduce_test.ts): relative 1e-5 of the loss plus 1e-6
 * absolute (losses here are 0.1…2) is ≥ 10× that and far below any wrong term (≥ 1/n ≈ 5e-3).
 */
const FWD = { atol: 1e-6, rtol: 1e-5 };
/** Gradients: one f32 expression of g/n (n = 210, so values ≤ ~1e-2) per element: a few ulps. */
const GRAD = { atol: 1e-8, rtol: 1e-5 };

const SHAPE = [2, 3, 5, 7];
const N = numel(SHAPE);
const x = rng(1).uniform(N, -3, 3);
const t = rng(2).uniform(N, -1, 1);
const labels = Float64Array.from(rng(3).uniform(N, 0, 1), (v) => Math.fround(v)); // BCE targets in [0, 1]

const meanOf = (n: number, f: (i: number) => number) => {
  let s = 0;
  for (let i = 0; i < n; i++) s += f(i);
  return Float64Array.of(s / n);
};
const bceRef = (z: number, y: number) => Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));

Deno.test("l1Loss and mseLoss vs float64, gradients to prediction and target", async () => {
  for (
    const [name, fn, ref] of [
      ["l1Loss", l1Loss, (a: number, b: number) => Math.abs(a - b)],
      ["mseLoss", mseLoss, (a: number, b: number) => (a - b) ** 2],
    ] as const
  ) {
    // Target as a constant tensor (no gradient), then as a tensor that requires grad.
    for (const targetGrad of [false, true]) {
      await gradCheck({
        label: `${name} targetGrad=${targetGrad}`,
        inputs: [{ data: x, shape: SHAPE }, { data: t, shape: SHAPE, noGrad: !targetGrad }],
        gpuFn: ([p, q]) => fn(p, q),
        refFn: ([p, q]) => meanOf(N, (i) => ref(p[i], q[i])),
        forward: FWD,
        grad: GRAD,
      });
    }
    // A number target: LSGAN labels.
    await gradCheck({
      label: `${name} number target`,
      inputs: [{ data: x, shape: SHAPE }],
      gpuFn: ([p]) => fn(p, 1),
      refFn: ([p]) => meanOf(N, (i) => ref(p[i], 1)),
      forward: FWD,
      grad: GRAD,
    });
  }
});

Deno.test("bceWithLogits vs float64 (tensor and number targets) with gradients", async () => {
  await gradCheck({
    label: "bce tensor target",
    inputs: [{ data: x, shape: SHAPE }, { data: labels, shape: SHAPE, noGrad: true }],
    gpuFn: ([z, y]) => bceWithLogits(z, y),
    refFn: ([z, y]) => meanOf(N, (i) => bceRef(z[i], y[i])),
    forward: FWD,
    grad: GRAD,
  });
  for (const label of [0, 1, 0.9]) {
    await gradCheck({
      label: `bce target ${label}`,
      inputs: [{ data: x, shape: SHAPE }],
      gpuFn: ([z]) => bceWithLogits(z, label),
      refFn: ([z]) => meanOf(N, (i) => bceRef(z[i], Math.fround(label))),
      forward: FWD,
      grad: GRAD,
    });
  }
});

Deno.test("bceWithLogits: hand-computed values, finite at ±100, accurate tail at 20", async () => {
  await tidyAsync(async () => {
    // bce(0, 1) = ln 2.
    assertClose([await bceWithLogits(tensor([0]), 1).item()], [Math.LN2], { atol: 1e-7 }, "bce(0,1)");
    // Per element: (100, 1) → ~0, (−100, 0) → ~0, (100, 0) → 100, (−100, 1) → 100, (0, 1) → ln 2.
    const z = tensor([100, -100, 100, -100, 0]);
    z.requiresGrad = true;
    const loss = bceWithLogits(z, tensor([1, 0, 0, 1, 1]));
    const v = await loss.item();
    assert.ok(Number.isFinite(v));
    assertClose([v], [(200 + Math.LN2) / 5], { atol: 0, rtol: 1e-6 }, "bce ±100");
    backward(loss);
    // (sigmoid(z) − t)/5 = (0, 0, 1, −1, −0.5)/5: sigmoid(±100) rounds to 0 or 1 in f32.
    assertClose(await z.grad!.data(), [0, 0, 0.2, -0.2, -0.1], { atol: 1e-7 }, "bce grad ±100");
    // log1p(e^−20) = 2.0611536e-9: plain log(1 + u) in f32 would give 0 here.
    assertClose([await bceWithLogits(tensor([20]), 1).item()], [Math.log1p(Math.exp(-20))], {
      atol: 0,
      rtol: 1e-5,
    }, "tail");
  });
});

Deno.test("hingeLossD and hingeLossG: hand-computed, and vs float64 with gradients", async () => {
  await tidyAsync(async () => {
    const real = tensor([2, 0.5]);
    const fake = tensor([-2, 0.5]);
    // mean(relu(1 − (2, 0.5))) + mean(relu(1 + (−2, 0.5))) = 0.25 + 0.75; −mean(fake) = 0.75.
    assert.equal(await hingeLossD(real, fake).item(), 1);
    assert.equal(await hingeLossG(fake).item(), 0.75);
    // At the hinges (real = 1, fake = −1) the gradient is 0, as PyTorch's relu'(0) = 0.
    const r = tensor([1, 0.5]), f = tensor([-1, 0.5]);
    r.requiresGrad = f.requiresGrad = true;
    backward(hingeLossD(r, f));
    assertClose(await r.grad!.data(), [0, -0.5], { atol: 0 }, "hinge real grad");
    assertClose(await f.grad!.data(), [0, 0.5], { atol: 0 }, "hinge fake grad");
  });
  // Real and fake of different sizes: each mean uses its own n.
  const fakeShape = [3, 1, 4, 5];
  const fakeData = rng(4).uniform(numel(fakeShape), -3, 3);
  await gradCheck({
    label: "hingeLossD",
    inputs: [{ data: x, shape: SHAPE }, { data: fakeData, shape: fakeShape }],
    gpuFn: ([r, f]) => hingeLossD(r, f),
    refFn: ([r, f]) =>
      Float64Array.of(
        meanOf(r.length, (i) => Math.max(1 - r[i], 0))[0] + meanOf(f.length, (i) => Math.max(1 + f[i], 0))[0],
      ),
    forward: FWD,
    grad: GRAD,
  });
  await gradCheck({
    label: "hingeLossG",
    inputs: [{ data: fakeData, shape: fakeShape }],
    gpuFn: ([f]) => hingeLossG(f),
    refFn: ([f]) => meanOf(f.length, (i) => -f[i]),
    forward: FWD,
    grad: GRAD,
  });
});

Deno.test("losses over 100003 elements (multi-pass fused reduction) vs float64", async () => {
  const n = 100_003;
  const p = rng(5).uniform(n, -4, 4), q = rng(6).uniform(n, 0, 1);
  await tidyAsync(async () => {
    const pt = tensor(Float32Array.from(p)), qt = tensor(Float32Array.from(q));
    const cases: [string, Tensor, number][] = [
      ["l1", l1Loss(pt, qt), meanOf(n, (i) => Math.abs(p[i] - q[i]))[0]],
      ["mse", mseLoss(pt, 0.5), meanOf(n, (i) => (p[i] - 0.5) ** 2)[0]],
      ["bce", bceWithLogits(pt, qt), meanOf(n, (i) => bceRef(p[i], q[i]))[0]],
      ["hingeG", hingeLossG(pt), meanOf(n, (i) => -p[i])[0]],
    ];
    for (const [name, y, ref] of cases) assertClose([await y.item()], [ref], FWD, name);
  });
});

Deno.test("losses: shape mismatches name the op and the shapes", () => {
  tidy(() => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(6), [3, 2]);
    assert.throws(() => l1Loss(a, b), /l1Loss.*\[2, 3\].*\[3, 2\]/);
    assert.throws(() => mseLoss(a, b), /mseLoss.*\[2, 3\].*\[3, 2\]/);
    assert.throws(() => bceWithLogits(a, b), /bceWithLogits.*\[2, 3\].*\[3, 2\]/);
    assert.throws(() => mseLoss(a, NaN), /mseLoss.*NaN/);
  });
});
