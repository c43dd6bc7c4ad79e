/**
 * Batch and instance normalisation: float64 references (tests/reference/norm.ts), running
 * statistics, hand-computed values, numerically hard inputs and gradient checks.
 * Kernels: shaders/norm.ts; ops: engine/ops/norm.ts.
 */
import { assertClose, gpu, gradCheck, numel, rng } from "./helpers.ts";
import { batchNorm, instanceNorm } from "../engine/ops/norm.ts";
import { liveTensorCount, type Tensor, tensor, tidyAsync } from "../engine/tensor.ts";
import { backward, noGrad } from "../engine/autograd.ts";
import { normBackwardRef, normRef, updateRunning } from "./reference/norm.ts";

await gpu();

// Outputs are normalised, O(1) values (|y| ≲ 3 with w ≤ 1.5, |b| ≤ 1), and each is a handful of
// f32 operations on them plus an f32 mean/invstd whose accumulated rounding is ~1e-7 relative:
// observed errors are ≤ 3e-7, so 2e-6 leaves margin, while any wrong term (eps, biased vs unbiased
// variance, a mis-indexed channel) is off by ≥ 1e-3.
const FWD = { atol: 2e-6 };
// Gradients of L = Σ y·R (R uniform in [-1, 1]). Because the output is normalised, dx is O(1) too
// (|dx| ≲ 3, scaled by w·invstd with invstd ≈ 1.7 for inputs in [-1, 1]): observed error ≤ 4e-7.
// The batch-statistics dx subtracts two group means from g·w, so absolute rather than relative error
// is the right measure there. dweight/dbias are sums over up to ~1000 elements (magnitudes up to
// ~50, observed error ≤ 4.1e-6, ~1e-7 relative). The float64 central differences add ~1e-9.
// atol 1e-5 + rtol 1e-4 is ≥ 2x every observed error and far below the O(0.1) error of a missing
// term of the batch-statistics backward (checked by breaking the kernel).
const GRAD = { atol: 1e-5, rtol: 1e-4 };

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

type Affine = "both" | "weight" | "bias" | "none";

/** gradCheck of batchNorm or instanceNorm with the affine parameters `affine` among the checked inputs. */
async function checkNorm(opts: {
  label: string;
  shape: number[];
  mode: "train" | "eval" | "instance";
  affine?: Affine;
  lo?: number;
  hi?: number;
  forward?: { atol: number; rtol?: number };
  grad?: { atol: number; rtol?: number };
}) {
  const { shape, mode } = opts;
  const affine = opts.affine ?? "both";
  const c = shape[1];
  const n = numel(shape);
  const hasW = affine === "both" || affine === "weight";
  const hasB = affine === "both" || affine === "bias";
  const inputs = [{ data: rng(1).uniform(n, opts.lo ?? -1, opts.hi ?? 1), shape }];
  if (hasW) inputs.push({ data: rng(2).uniform(c, 0.5, 1.5), shape: [c] });
  if (hasB) inputs.push({ data: rng(3).uniform(c), shape: [c] });
  // Running statistics for eval mode: arbitrary means and positive variances away from the batch's.
  const rm = rng(4).uniform(c, -0.5, 0.5), rv = rng(5).uniform(c, 0.5, 2);
  const split = <T>(xs: T[]) => ({ x: xs[0], w: hasW ? xs[1] : null, b: hasB ? xs[hasW ? 2 : 1] : null });
  await gradCheck({
    label: opts.label,
    inputs,
    gpuFn: (xs) => {
      const { x, w, b } = split(xs);
      if (mode === "instance") return instanceNorm(x, w, b);
      return batchNorm(x, tensor(Float32Array.from(rm)), tensor(Float32Array.from(rv)), w, b, {
        training: mode === "train",
      });
    },
    refFn: (xs) => {
      const { x, w, b } = split(xs);
      return normRef(x, shape, {
        perInstance: mode === "instance",
        weight: w,
        bias: b,
        stats: mode === "eval" ? { mean: rm, variance: rv } : undefined,
      });
    },
    forward: opts.forward ?? FWD,
    grad: opts.grad ?? GRAD,
  });
}

// Odd H, W use the scalar kernels; H·W % 4 == 0 uses the vec4 ones. [10, 3, 7, 9] (630 values per
// channel in runs of 63) and [3, 2, 17, 19] (969 in runs of 323) make the 256 invocations of a group
// loop several times, their run position wrapping into the next sample (the n/s stepping).
// [2, 3, 16, 20] has planes of ≥ 64 vec4s, launched as one workgroup row per (n, c) plane.
for (
  const shape of [[2, 3, 5, 7], [3, 5, 3, 3], [2, 5, 4, 6], [10, 3, 7, 9], [3, 2, 17, 19], [2, 3, 16, 20], [
    6,
    5,
  ]]
) {
  Deno.test(`batchNorm training ${JSON.stringify(shape)}: forward and gradients of x, weight, bias`, async () => {
    await checkNorm({ label: `batchNorm train ${shape}`, shape, mode: "train" });
  });
}

for (const affine of ["weight", "bias", "none"] as Affine[]) {
  Deno.test(`batchNorm training with affine=${affine}: forward and gradients`, async () => {
    await checkNorm({ label: `batchNorm train ${affine}`, shape: [3, 5, 3, 3], mode: "train", affine });
  });
}

for (const shape of [[3, 5, 3, 3], [2, 3, 4, 4], [4, 3]]) {
  Deno.test(`batchNorm eval ${JSON.stringify(shape)}: running statistics, forward and gradients`, async () => {
    await checkNorm({ label: `batchNorm eval ${shape}`, shape, mode: "eval" });
    await checkNorm({ label: `batchNorm eval ${shape} no affine`, shape, mode: "eval", affine: "none" });
  });
}

// Realistic sizes (too large for numerical differences) against the analytic float64 backward:
// 1024-element planes, several loop iterations per invocation, both launch layouts.
for (
  const [mode, shape] of [
    ["train", [2, 8, 32, 32]],
    ["train", [4, 3, 33, 31]],
    ["instance", [2, 4, 48, 40]],
    ["instance", [3, 5, 8, 8]],
  ] as ["train" | "instance", number[]][]
) {
  Deno.test(`${mode === "train" ? "batchNorm" : "instanceNorm"} ${JSON.stringify(shape)}: forward and analytic backward`, async () => {
    await tidyAsync(async () => {
      const c = shape[1], n = numel(shape), perInstance = mode === "instance";
      const xd = rng(21).uniform(n, -2, 3), gd = rng(22).uniform(n), wd = rng(23).uniform(c, 0.5, 1.5);
      const bd = rng(24).uniform(c);
      const x = tensor(Float32Array.from(xd), shape),
        w = tensor(Float32Array.from(wd)),
        b = tensor(Float32Array.from(bd));
      x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
      const y = perInstance ? instanceNorm(x, w, b) : batchNorm(x, null, null, w, b, { training: true });
      assertClose(
        await y.data(),
        normRef(xd, shape, { perInstance, weight: wd, bias: bd }),
        FWD,
        `${shape} forward`,
      );
      backward(y, tensor(Float32Array.from(gd), shape));
      const ref = normBackwardRef(xd, gd, shape, { perInstance, weight: wd });
      // dx as in GRAD (observed ≤ 1.3e-7). dweight/dbias sum up to 8192 terms of size ≤ 3 into values
      // up to ~70; f32 accumulation (per-invocation partial sums, then a tree) gave ≤ 1.3e-5, i.e.
      // ~2e-7 relative: atol 1e-4 + rtol 1e-5 is ≥ 8x that and still catches one dropped term (~0.1).
      assertClose(await x.grad!.data(), ref.dx, GRAD, `${shape} dx`);
      assertClose(await w.grad!.data(), ref.dweight, { atol: 1e-4, rtol: 1e-5 }, `${shape} dweight`);
      assertClose(await b.grad!.data(), ref.dbias, { atol: 1e-4, rtol: 1e-5 }, `${shape} dbias`);
    });
  });
}

Deno.test("batchNorm: running statistics after two training calls (unbiased variance, momentum)", async () => {
  await tidyAsync(async () => {
    for (const [shape, momentum] of [[[2, 3, 5, 7], 0.1], [[3, 5, 3, 3], 0.3]] as [number[], number][]) {
      const c = shape[1];
      const refMean = new Float64Array(c), refVar = new Float64Array(c).fill(1);
      const rm = tensor(new Float32Array(c)), rv = tensor(new Float32Array(c).fill(1));
      for (const seed of [11, 12]) {
        const xd = rng(seed).uniform(numel(shape), -2, 3);
        batchNorm(tensor(Float32Array.from(xd), shape), rm, rv, null, null, { training: true, momentum });
        updateRunning(refMean, refVar, xd, shape, momentum);
      }
      // Running values are O(1) blends of f32 statistics: a few ulps of error.
      assertClose(await rm.data(), refMean, { atol: 1e-6 }, `runningMean ${shape}`);
      assertClose(await rv.data(), refVar, { atol: 1e-6 }, `runningVar ${shape}`);
      if (rm.requiresGrad || rm.node || rv.node) {
        throw new Error("running statistics must not join the graph");
      }
      // Eval mode reads the running statistics but must leave them alone.
      batchNorm(tensor(rng(13).uniform(numel(shape)), shape), rm, rv, null, null, { training: false });
      assertClose(await rm.data(), refMean, { atol: 1e-6 }, `runningMean unchanged by eval ${shape}`);
      assertClose(await rv.data(), refVar, { atol: 1e-6 }, `runningVar unchanged by eval ${shape}`);
    }
  });
});

Deno.test("batchNorm: hand-computed channel [1, 2, 3, 4]", async () => {
  await tidyAsync(async () => {
    // mean 2.5, biased var ((1.5² + 0.5²)·2)/4 = 1.25, 1/√1.25 = 0.894427191; with eps = 0:
    // (x − 2.5)·0.894427191 = [−1.341640786, −0.447213595, 0.447213595, 1.341640786].
    // With weight 2 and bias 1: 2·y + 1.
    const y = [-1.341640786, -0.447213595, 0.447213595, 1.341640786];
    for (const shape of [[4, 1], [1, 1, 2, 2], [2, 1, 1, 2]]) {
      const rm = tensor([0]), rv = tensor([1]);
      const x = tensor([1, 2, 3, 4], shape);
      const out = batchNorm(x, rm, rv, tensor([2]), tensor([1]), { training: true, eps: 0 });
      // One f32 rounding of values ≤ 3.7: a few 1e-7.
      assertClose(await out.data(), y.map((v) => 2 * v + 1), { atol: 1e-6 }, `hand ${shape}`);
      // Running: 0.9·0 + 0.1·2.5 = 0.25; 0.9·1 + 0.1·(1.25·4/3 = 5/3) = 1.0666667.
      assertClose(await rm.data(), [0.25], { atol: 1e-7 }, "hand runningMean");
      assertClose(await rv.data(), [1.0666667], { atol: 1e-6 }, "hand runningVar");
    }
  });
});

Deno.test("batchNorm: large-mean input (1000 ± 1) stays accurate", async () => {
  // The f32 mean of values near 1000 is itself rounded to ulp(1000)/2 ≈ 3e-5, which becomes
  // ≤ 3e-5·invstd(≈1.7)·w(≤1.5) ≈ 8e-5 in y: atol 1.5e-4. E[x²] − E[x]² in f32 would lose the
  // variance (≈ 0.33) entirely against E[x²] ≈ 1e6 (ulp 0.06), giving O(1) errors.
  // The dweight sums carry the same per-channel offset times Σ R (≈ √198·0.6 ≈ 8): up to ~7e-4.
  await checkNorm({
    label: "batchNorm large mean",
    shape: [2, 3, 9, 11],
    mode: "train",
    lo: 999,
    hi: 1001,
    forward: { atol: 1.5e-4 },
    grad: { atol: 1e-3, rtol: 1e-4 },
  });
  // The same for instance norm, whose planes are contiguous.
  await checkNorm({
    label: "instanceNorm large mean",
    shape: [2, 3, 9, 11],
    mode: "instance",
    lo: -1001,
    hi: -999,
    forward: { atol: 1.5e-4 },
    grad: { atol: 1e-3, rtol: 1e-4 },
  });
});

for (const shape of [[2, 3, 5, 7], [3, 2, 4, 5], [2, 3, 17, 19], [1, 2, 16, 20], [2, 5, 9]]) {
  for (const affine of ["both", "none"] as Affine[]) {
    Deno.test(`instanceNorm ${JSON.stringify(shape)} affine=${affine}: forward and gradients`, async () => {
      await checkNorm({ label: `instanceNorm ${shape} ${affine}`, shape, mode: "instance", affine });
    });
  }
}

Deno.test("instanceNorm: hand-computed planes", async () => {
  await tidyAsync(async () => {
    // Plane 0 = [1, 2, 3, 4] → ±1.341640786, ±0.447213595 (as above, eps = 0); plane 1 = [10, 10, 10, 14]:
    // mean 11, var (1 + 1 + 1 + 9)/4 = 3, values (−1, −1, −1, 3)/√3 = −0.577350269…, 1.732050808.
    const x = tensor([1, 2, 3, 4, 10, 10, 10, 14], [1, 2, 2, 2]);
    const a = 0.447213595, b = 1.341640786, s = 0.577350269;
    assertClose(
      await instanceNorm(x, null, null, { eps: 0 }).data(),
      [-b, -a, a, b, -s, -s, -s, 3 * s],
      { atol: 1e-6 }, // one f32 rounding of values ≤ 1.8
      "instanceNorm hand",
    );
  });
});

Deno.test("norm ops: errors name the op and the shapes", async () => {
  await tidyAsync(async () => {
    const x = tensor(new Float32Array(3), [1, 3, 1, 1]);
    const rm = tensor(new Float32Array(3)), rv = tensor(new Float32Array(3));
    const checks: [string, () => unknown, string[]][] = [
      ["one value per channel", () => batchNorm(x, rm, rv, null, null, { training: true }), [
        "batchNorm",
        "more than 1 value per channel",
        "[1, 3, 1, 1]",
      ]],
      ["shared running stats", () => batchNorm(x, rm, rm, null, null, { training: true }), [
        "batchNorm",
        "distinct",
      ]],
      ["eval without running stats", () => batchNorm(x, null, null), ["batchNorm", "eval"]],
      [
        "weight shape",
        () => batchNorm(tensor(new Float32Array(8), [2, 4]), null, null, rm, null, { training: true }),
        [
          "batchNorm",
          "[3]",
          "[2, 4]",
        ],
      ],
      ["rank 1", () => batchNorm(tensor([1, 2]), null, null, null, null, { training: true }), [
        "batchNorm",
        "[2]",
      ]],
      ["instance 1x1", () => instanceNorm(x), ["instanceNorm", "[1, 3, 1, 1]"]],
      ["instance bias", () => instanceNorm(tensor(new Float32Array(8), [1, 2, 2, 2]), null, rm), [
        "instanceNorm",
        "[3]",
      ]],
    ];
    for (const [name, fn, parts] of checks) {
      const msg = errorOf(fn);
      for (const part of parts) {
        if (!msg.includes(part)) throw new Error(`${name}: message "${msg}" lacks "${part}"`);
      }
    }
    // Eval with a single value per channel is fine (only training needs a batch variance).
    await batchNorm(x, rm, rv).data();
  });
});

Deno.test("norm ops: no graph, no saved statistics left behind", async () => {
  await tidyAsync(async () => {
    const x = tensor(rng(7).uniform(2 * 3 * 4 * 5), [2, 3, 4, 5]);
    const rm = tensor(new Float32Array(3)), rv = tensor(new Float32Array(3).fill(1));
    const before = liveTensorCount();
    const outs: Tensor[] = noGrad(() => [
      batchNorm(x, rm, rv, null, null, { training: true }),
      batchNorm(x, rm, rv),
      instanceNorm(x),
    ]);
    // Only the three outputs remain: the [2, G] statistics are freed when nothing records a graph.
    if (liveTensorCount() !== before + 3) throw new Error(`leaked ${liveTensorCount() - before - 3} tensors`);
    for (const o of outs) {
      if (o.node || o.requiresGrad) throw new Error("noGrad output has a graph");
      o.dispose();
    }
    await x.data();
  });
});
