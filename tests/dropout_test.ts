/**
 * Dropout: mask statistics, exact scaling, seed reproducibility, backward through the same mask,
 * eval identity and argument errors. Kernel: shaders/dropout.ts; op: engine/ops/dropout.ts.
 */
import { assertClose, gpu, rng } from "./helpers.ts";
import { dropout } from "../engine/ops/dropout.ts";
import { type Tensor, tensor, tidyAsync } from "../engine/tensor.ts";
import { backward } from "../engine/autograd.ts";
import { manualSeed } from "../engine/random.ts";

await gpu();

const N = 100_000;

/** Values in [1, 2): never zero, so y == 0 exactly marks a dropped element. */
function input(n: number, seed = 1): Tensor {
  return tensor(Float32Array.from(rng(seed).uniform(n, 1, 2)), [n]);
}

function mask(y: Float32Array): Uint8Array {
  return y.map((v) => (v === 0 ? 0 : 1)) as unknown as Uint8Array;
}

/** 5 standard deviations of the fraction of successes in n Bernoulli(q) trials (false alarm ~6e-7). */
function fiveSigma(n: number, q: number): number {
  return 5 * Math.sqrt(q * (1 - q) / n);
}

for (const [p, n] of [[0.3, N], [0.5, N + 1], [0.9, N + 2]]) {
  Deno.test(`dropout p=${p} on ${n} elements: zero fraction ≈ p, kept values scaled exactly by 1/(1−p)`, async () => {
    await tidyAsync(async () => {
      const x = input(n);
      const xs = await x.data();
      const y = await dropout(x, p, { seed: 1234 }).data();
      let zeros = 0, pairs = 0;
      const scale = Math.fround(1 / (1 - p));
      for (let i = 0; i < n; i++) {
        if (y[i] === 0) zeros++;
        else if (y[i] !== Math.fround(xs[i] * scale)) {
          throw new Error(`element ${i}: ${y[i]} ≠ ${xs[i]}·${scale}`);
        }
        if (i > 0 && y[i] === 0 && y[i - 1] === 0) pairs++;
      }
      // The number of zeros is Binomial(n, p): its fraction has standard deviation √(p(1−p)/n)
      // (0.0015 for p = 0.3); 5σ is loose enough never to fail by chance yet catches a bias of 1%.
      const frac = zeros / n;
      if (Math.abs(frac - p) > fiveSigma(n, p)) throw new Error(`zero fraction ${frac} vs p = ${p}`);
      // Neighbours must be independent: both dropped with probability p² (a bad hash of the index
      // correlates adjacent elements). Same binomial bound with q = p² over n − 1 pairs.
      const both = pairs / (n - 1);
      if (Math.abs(both - p * p) > fiveSigma(n - 1, p * p)) {
        throw new Error(`adjacent pairs ${both} vs p² = ${p * p}`);
      }
    });
  });
}

Deno.test("dropout: same seed → same mask (vec4 and scalar kernels agree); other seeds → independent masks", async () => {
  await tidyAsync(async () => {
    const p = 0.5;
    const a = mask(await dropout(input(N), p, { seed: 7 }).data());
    const b = mask(await dropout(input(N, 2), p, { seed: 7 }).data());
    // N + 1 elements run the scalar kernel; the mask depends only on (seed, index).
    const c = mask(await dropout(input(N + 1), p, { seed: 7 }).data());
    for (let i = 0; i < N; i++) {
      if (a[i] !== b[i] || a[i] !== c[i]) throw new Error(`same seed, different masks at ${i}`);
    }
    // Nearby seeds must give unrelated masks: two independent Bernoulli(1/2) masks disagree on a
    // fraction 2p(1−p) = 1/2 of the elements, within the 5σ binomial bound.
    for (const seed of [8, 0x80000007, 0xffffffff]) {
      const d = mask(await dropout(input(N), p, { seed }).data());
      let diff = 0;
      for (let i = 0; i < N; i++) diff += a[i] ^ d[i];
      const q = 2 * p * (1 - p);
      if (Math.abs(diff / N - q) > fiveSigma(N, q)) throw new Error(`seed ${seed}: disagreement ${diff / N}`);
    }
  });
});

Deno.test("dropout: default seeds come from the global generator (reproducible after manualSeed)", async () => {
  await tidyAsync(async () => {
    const x = input(1000);
    manualSeed(42);
    const a1 = mask(await dropout(x, 0.5).data());
    const a2 = mask(await dropout(x, 0.5).data());
    manualSeed(42);
    const b1 = mask(await dropout(x, 0.5).data());
    if (a1.join() !== b1.join()) throw new Error("same global seed gave different masks");
    // Two draws of 1000 fair bits coincide with probability 2⁻¹⁰⁰⁰.
    if (a1.join() === a2.join()) throw new Error("consecutive calls reused the mask");
  });
});

Deno.test("dropout backward: grad of sum(dropout(x)) is the forward's mask/(1−p)", async () => {
  await tidyAsync(async () => {
    for (const [p, n] of [[0.25, 4099], [0.6, 4096]]) {
      const x = input(n);
      x.requiresGrad = true;
      const y = dropout(x, p, { seed: 99 });
      const m = mask(await y.data());
      backward(y); // upstream gradient of sum(y): ones
      const scale = Math.fround(1 / (1 - p));
      // Exact: the backward multiplies 1 by the same f32 scale.
      assertClose(await x.grad!.data(), Array.from(m, (k) => k * scale), { atol: 0 }, `grad p=${p}`);
    }
  });
});

Deno.test("dropout: eval and p = 0 are the identity; p = 1 gives zeros; bad p throws", async () => {
  await tidyAsync(async () => {
    const x = input(10);
    if (dropout(x, 0.5, { training: false }) !== x) throw new Error("eval dropout must return x");
    if (dropout(x, 0) !== x) throw new Error("p = 0 must return x");
    // PyTorch allows p = 1: everything dropped, and the gradient is zero too.
    x.requiresGrad = true;
    const y = dropout(x, 1);
    assertClose(await y.data(), new Float32Array(10), { atol: 0 }, "p = 1");
    backward(y);
    assertClose(await x.grad!.data(), new Float32Array(10), { atol: 0 }, "p = 1 grad");
    for (const p of [-0.1, 1.5, NaN]) {
      let msg = "";
      try {
        dropout(x, p);
      } catch (e) {
        msg = (e as Error).message;
      }
      if (!msg.includes("dropout") || !msg.includes("between 0 and 1")) throw new Error(`p=${p}: "${msg}"`);
    }
  });
});
