/** The autodiff graph: accumulation over shared inputs, noGrad, detach, freezing, scopes and errors. */
import assert from "node:assert/strict";
import { assertClose, gpu } from "./helpers.ts";
import { backward, noGrad } from "../engine/autograd.ts";
import { keep, liveTensorCount, tensor, tidy, tidyAsync } from "../engine/tensor.ts";
import { add, mul, relu, scale } from "../engine/ops/elementwise.ts";

const rt = await gpu();

Deno.test("gradients accumulate where a tensor is used twice (skip connection)", async () => {
  await tidyAsync(async () => {
    const x = tensor([-1, 2, 3]);
    x.requiresGrad = true;
    // y = x + relu(x) + x·x → dy/dx = 1 + [x > 0] + 2x, by hand: (-1, 6, 8).
    const y = add(add(x, relu(x)), mul(x, x));
    backward(y);
    assert.deepEqual([...await x.grad!.data()], [-1, 6, 8]);
  });
});

Deno.test("backward adds into existing .grad like PyTorch, and add(x, x) gives 2", async () => {
  await tidyAsync(async () => {
    const x = tensor([1, 2]);
    x.requiresGrad = true;
    backward(add(x, x));
    backward(scale(x, 3));
    assert.deepEqual([...await x.grad!.data()], [5, 5]);
  });
});

Deno.test("noGrad records no graph; detach stops gradients; frozen tensors get none", async () => {
  await tidyAsync(async () => {
    const x = tensor([1, 2]);
    const w = tensor([3, 4]);
    x.requiresGrad = true;
    w.requiresGrad = true;
    const y = noGrad(() => mul(x, w));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);

    // Discriminator-step pattern: the generator output is a constant.
    const z = mul(x.detach(), w);
    backward(z);
    assert.equal(x.grad, null);
    assertClose(await w.grad!.data(), [1, 2], { atol: 0 }, "grad of w");

    // Generator-step pattern: D's weights frozen, gradient still flows through them to x.
    w.grad!.dispose();
    w.grad = null;
    w.requiresGrad = false;
    backward(mul(x, w));
    assert.equal(w.grad, null);
    assertClose(await x.grad!.data(), [3, 4], { atol: 0 }, "grad of x");
  });
});

Deno.test("tidy frees intermediates, keeps results and kept tensors; backward frees its temporaries", () => {
  const before = liveTensorCount();
  const buffersBefore = rt.pool.info().liveBuffers;
  const kept = tidy(() => {
    const x = tensor([1, 2, 3]);
    x.requiresGrad = true;
    const y = relu(scale(x, 2));
    backward(y);
    keep(x.grad!);
    const r = add(y, y);
    return r;
  });
  // The result survives; x (and with it x.grad) is freed at scope end.
  assert.equal(liveTensorCount(), before + 1);
  assert.equal(rt.pool.info().liveBuffers, buffersBefore + 1);
  kept.dispose();
  assert.equal(liveTensorCount(), before);
  assert.equal(rt.pool.info().liveBuffers, buffersBefore);
});

Deno.test("errors: disposed tensor, backward without grad, mismatched upstream gradient", () => {
  const t = tensor([1]);
  t.dispose();
  assert.throws(() => relu(t), /disposed tensor of shape \[1\]/);
  tidy(() => {
    assert.throws(() => backward(tensor([1, 2])), /backward: tensor of shape \[2\] does not require grad/);
    const x = tensor([1, 2]);
    x.requiresGrad = true;
    assert.throws(() => backward(relu(x), tensor([1, 2, 3])), /backward: gradient of shape \[3\]/);
  });
});

Deno.test("buffer pool reuses freed buffers instead of allocating", () => {
  const step = () => tidy(() => void relu(tensor(new Float32Array(1000))));
  step();
  const created = rt.pool.info().created;
  for (let i = 0; i < 5; i++) step();
  assert.equal(rt.pool.info().created, created);
});
