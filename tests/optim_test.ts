/**
 * Adam's fused kernel (shaders/adam.ts) against a float64 transcription of torch.optim.Adam, and the
 * moving average (lerpInPlace) against AveragedModel's EMA rule.
 */
import assert from "node:assert/strict";
import { assertClose, gpu, rng } from "./helpers.ts";
import { Adam, EMA } from "../engine/optim.ts";
import { BatchNorm2d } from "../engine/nn/layers.ts";
import { keep, tensor, tidyAsync } from "../engine/tensor.ts";

await gpu();

/** torch.optim.Adam's update (non-amsgrad, L2 weight decay), in float64. */
function adamReference(
  p: Float64Array,
  grads: Float64Array[],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number },
): Float64Array {
  const m = new Float64Array(p.length), v = new Float64Array(p.length), x = Float64Array.from(p);
  grads.forEach((g0, k) => {
    const t = k + 1;
    for (let i = 0; i < x.length; i++) {
      const g = g0[i] + o.wd * x[i];
      m[i] = o.b1 * m[i] + (1 - o.b1) * g;
      v[i] = o.b2 * v[i] + (1 - o.b2) * g * g;
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - o.b2 ** t) + o.eps;
      x[i] -= (o.lr / (1 - o.b1 ** t)) * m[i] / denom;
    }
  });
  return x;
}

for (const wd of [0, 0.01]) {
  Deno.test(`Adam: 5 steps match torch.optim.Adam in float64 (weight decay ${wd})`, async () => {
    await tidyAsync(async () => {
      const n = 37;
      const r = rng(5);
      const p0 = r.uniform(n);
      const grads = Array.from({ length: 5 }, () => r.uniform(n, -2, 2));
      const p = tensor(Float32Array.from(p0), [n]);
      p.requiresGrad = true;
      const opt = new Adam([p], { lr: 2e-4, betas: [0.5, 0.999], weightDecay: wd });
      for (const g of grads) {
        p.grad = keep(tensor(Float32Array.from(g), [n]));
        opt.step();
        opt.zeroGrad();
      }
      const expected = adamReference(p0, grads, { lr: 2e-4, b1: 0.5, b2: 0.999, eps: 1e-8, wd });
      // Each step moves a parameter by ~lr = 2e-4; f32 keeps the parameter (|p| ≤ 1) to ~6e-8 per step,
      // so 5 steps stay within 1e-6 while a wrong bias correction would be off by ~1e-4.
      assertClose(await p.data(), expected, { atol: 1e-6 }, "params");
      opt.dispose();
    });
  });
}

Deno.test("Adam: first step moves every parameter by lr against the gradient's sign (hand-computed)", async () => {
  await tidyAsync(async () => {
    const p = tensor([1, 1, 1]);
    p.requiresGrad = true;
    const opt = new Adam([p], { lr: 0.1 });
    p.grad = keep(tensor([3, -0.5, 0]));
    opt.step();
    // m̂ = g, v̂ = g² after bias correction → update = lr·g/(|g|+eps) = ±lr (0 for g = 0).
    assertClose(await p.data(), [0.9, 1.1, 1], { atol: 1e-6 }, "params");
    assert.equal(opt.state().step, 1);
    opt.dispose();
  });
});

Deno.test("Adam: parameters without a gradient are left alone; state round-trips", async () => {
  await tidyAsync(async () => {
    const a = tensor([1, 2]);
    const b = tensor([3, 4]);
    a.requiresGrad = b.requiresGrad = true;
    const opt = new Adam([a, b], { lr: 0.5 });
    a.grad = keep(tensor([1, 1]));
    opt.step();
    assert.deepEqual([...await b.data()], [3, 4]);
    const s = opt.state();
    const m = await s.expAvg[0].data(), v = await s.expAvgSq[0].data();
    const opt2 = new Adam([a, b], { lr: 0.5 });
    opt2.loadState({ step: s.step, expAvg: [m, new Float32Array(2)], expAvgSq: [v, new Float32Array(2)] });
    assertClose(await opt2.state().expAvg[0].data(), m, { atol: 0 }, "restored moment");
    assert.throws(
      () => opt2.loadState({ step: 1, expAvg: [m], expAvgSq: [v] }),
      /Adam.loadState: state has 1 moments for 2 parameters/,
    );
    opt.dispose();
    opt2.dispose();
  });
});

Deno.test("EMA: 3 updates match AveragedModel's rule in float64; buffers averaged, counters copied", async () => {
  await tidyAsync(async () => {
    const src = new BatchNorm2d(5), avg = new BatchNorm2d(5);
    const r = rng(9);
    const names = [...src.stateDict().keys()];
    const load = () => {
      const v = new Map(
        names.map((
          n,
        ) => [
          n,
          n.endsWith("num_batches_tracked") ? Float32Array.of(0) : Float32Array.from(r.uniform(5, -2, 2)),
        ]),
      );
      return v;
    };
    const start = load();
    src.loadStateDict(start);
    const ema = new EMA(avg, src, 0.9);
    // The average starts at the source.
    assertClose(await avg.stateDict().get("weight")!.data(), start.get("weight")!, { atol: 0 }, "start");
    const expected = new Map([...start].map(([n, v]) => [n, Float64Array.from(v)]));
    for (let step = 1; step <= 3; step++) {
      const next = load();
      next.set("num_batches_tracked", Float32Array.of(step));
      src.loadStateDict(next);
      ema.update();
      for (const n of names) {
        const e = expected.get(n)!, x = next.get(n)!;
        for (let i = 0; i < e.length; i++) {
          e[i] = n.endsWith("num_batches_tracked") ? x[i] : 0.9 * e[i] + 0.1 * x[i];
        }
      }
    }
    const got = avg.stateDict();
    for (const n of names) {
      // Values stay in [−2, 2]; three f32 lerps round to ~3 ulp ≈ 7e-7, while a swapped weight
      // (0.1·old + 0.9·new) would be off by ~1.
      assertClose(await got.get(n)!.data(), expected.get(n)!, { atol: 1e-6 }, n);
    }
    assert.throws(() => new EMA(avg, src, 1), /EMA: decay must be in \[0, 1\), got 1/);
    src.dispose(), avg.dispose();
  });
});
