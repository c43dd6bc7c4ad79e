/**
 * The SAGAN self-attention layer of the ResNet U-Net (SelfAttention in models/resnet_unet.ts): the
 * identity at γ = 0, the paper's formula in float64 on tiny inputs, gradients of the input and of
 * every parameter, state-dict names and errors.
 */
import assert from "node:assert/strict";
import { errorOf, gpu, gradCheck, numel, rng } from "./helpers.ts";
import { selfAttentionRef } from "./reference/attention.ts";
import { SelfAttention } from "../models/resnet_unet.ts";
import { type Tensor, tensor, tidy, tidyAsync } from "../engine/tensor.ts";
import { noGrad } from "../engine/autograd.ts";

await gpu();

/** Runs `attn` with the given weights and γ in place of its own (plain fields, as Conv2d's weight). */
function withWeights(
  attn: SelfAttention,
  x: Tensor,
  wq: Tensor,
  wk: Tensor,
  wv: Tensor,
  gamma: Tensor,
): Tensor {
  const own = [attn.query.weight, attn.key.weight, attn.value.weight, attn.gamma] as const;
  attn.query.weight = wq;
  attn.key.weight = wk;
  attn.value.weight = wv;
  attn.gamma = gamma;
  try {
    return attn.forward(x);
  } finally {
    [attn.query.weight, attn.key.weight, attn.value.weight] = own;
    attn.gamma = own[3];
  }
}

Deno.test("SelfAttention: γ starts at 0, so the block is exactly the identity", async () => {
  const attn = new SelfAttention(16);
  await tidyAsync(async () => {
    const data = Float32Array.from(rng(1).uniform(2 * 16 * 3 * 5, -3, 3));
    const x = tensor(data, [2, 16, 3, 5]);
    assert.deepEqual(await attn.gamma.data(), Float32Array.of(0));
    // Exact: x + 0·o is x for any finite o.
    assert.deepEqual(await noGrad(() => attn.forward(x)).data(), data);
  });
  attn.dispose();
});

Deno.test("SelfAttention: state-dict names and shapes (fastai's, 1×1 Conv2d weights)", () => {
  const attn = new SelfAttention(16);
  assert.deepEqual(
    [...attn.stateDict()].map(([k, t]) => [k, t.shape]),
    [["gamma", [1]], ["query.weight", [2, 16, 1, 1]], ["key.weight", [2, 16, 1, 1]], [
      "value.weight",
      [16, 16, 1, 1],
    ]],
  );
  attn.dispose();
});

// Tiny inputs of the paper's formula: C = 16 (C/8 = 2 query/key channels), P = H·W positions.
for (const [n, c, h, w] of [[1, 16, 2, 2], [2, 16, 3, 2], [1, 8, 1, 5]]) {
  Deno.test(`SelfAttention [${n}, ${c}, ${h}, ${w}]: SAGAN's formula in float64, gradients of x, weights and γ`, async () => {
    const attn = new SelfAttention(c);
    const qk = c / 8;
    const shape = [n, c, h, w];
    const r = rng(n * 100 + c + h * 7 + w);
    // Weights of ~1/√C keep the scores s_ij = fᵀg of order 1, so the softmax is far from one-hot.
    const scaleW = 1 / Math.sqrt(c);
    await gradCheck({
      label: `SelfAttention ${shape}`,
      inputs: [
        { data: r.uniform(numel(shape), -2, 2), shape },
        { data: r.uniform(qk * c, -scaleW * 2, scaleW * 2), shape: [qk, c, 1, 1] },
        { data: r.uniform(qk * c, -scaleW * 2, scaleW * 2), shape: [qk, c, 1, 1] },
        { data: r.uniform(c * c, -scaleW, scaleW), shape: [c, c, 1, 1] },
        // γ ≠ 0, so the attention output reaches y and every weight gets a gradient.
        { data: Float64Array.of(0.75), shape: [1] },
      ],
      gpuFn: ([x, wq, wk, wv, gamma]) => withWeights(attn, x, wq, wk, wv, gamma),
      refFn: ([x, wq, wk, wv, gamma]) => selfAttentionRef(x, shape, wq, wk, wv, gamma[0]),
      // Sums of ≤ 16 products of values ≤ 2, a softmax and a sum over ≤ 6 positions: tens of f32 ulps
      // of values ≤ ~10, far below any misplaced index (≥ 1e-2 here).
      forward: { atol: 2e-5, rtol: 1e-5 },
      // Backward chains three matmuls, the softmax and two convolutions over sums of up to
      // N·P·C terms: a few hundred ulps of gradients of order 1–10.
      grad: { atol: 1e-4, rtol: 1e-4 },
      eps: 1e-5,
    });
    attn.dispose();
  });
}

Deno.test("SelfAttention: errors name the layer and the shape", () => {
  assert.match(errorOf(() => new SelfAttention(4)), /SelfAttention: channels must be an integer ≥ 8, got 4/);
  const attn = new SelfAttention(16);
  tidy(() => {
    assert.match(
      errorOf(() => attn.forward(tensor(new Float32Array(8 * 4), [1, 8, 2, 2]))),
      /SelfAttention: input \[1, 8, 2, 2\] must be \[N, 16, H, W\]/,
    );
  });
  attn.dispose();
});
