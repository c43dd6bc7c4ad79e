/** The pix2pix models (U-Net, PatchGAN, training step): parameter counts, output shapes and input checks. */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import { Unet } from "../models/unet.ts";
import { PatchGan } from "../models/patchgan.ts";
import { Pix2Pix } from "../models/pix2pix.ts";
import { manualSeed } from "../engine/random.ts";
import { noGrad } from "../engine/autograd.ts";
import { tensor, tidyAsync } from "../engine/tensor.ts";
import { fill } from "../engine/ops/buffers.ts";

const rt = await gpu();

Deno.test("U-Net nDown=8, ngf=64 has exactly the PyTorch original's 54,409,858 parameters", () => {
  const g = new Unet({ nDown: 8, ngf: 64 });
  assert.equal(g.parameterCount(), 54_409_858);
  g.dispose();
});

Deno.test("PatchGAN ndf=64 has 2,765,633 parameters and gives 30×30 logits for 256×256 input", async () => {
  const d = new PatchGan({ ndf: 64 });
  assert.equal(d.parameterCount(), 2_765_633);
  d.eval();
  await tidyAsync(async () => {
    const y = noGrad(() => d.forward(fill([1, 3, 256, 256], 0.5)));
    assert.deepEqual(y.shape, [1, 1, 30, 30]);
    assert.ok((await y.data()).every(Number.isFinite));
  });
  d.dispose();
});

Deno.test("U-Net maps [N,1,H,W] to [N,2,H,W] in [-1, 1] and rejects sizes that are not multiples of 2^nDown", async () => {
  manualSeed(4);
  const g = new Unet({ nDown: 5, ngf: 4 });
  await tidyAsync(async () => {
    const y = g.forward(fill([2, 1, 64, 32], 0.1));
    assert.deepEqual(y.shape, [2, 2, 64, 32]);
    assert.ok((await y.data()).every((v) => v >= -1 && v <= 1));
    assert.throws(
      () => g.forward(fill([1, 1, 48, 40], 0)),
      /Unet: input \[1, 1, 48, 40\] must be \[N, 1, H, W\] with H and W multiples of 32/,
    );
    assert.throws(() => g.forward(fill([1, 3, 32, 32], 0)), /Unet: input \[1, 3, 32, 32\]/);
  });
  g.dispose();
});

Deno.test("a pix2pix GAN step is one submit, changes G and D, and leaves D untouched by the G update", async () => {
  manualSeed(5);
  const m = new Pix2Pix({ nDown: 5, ngf: 4 }, { ndf: 4 });
  const L = tensor(Float32Array.from({ length: 2 * 32 * 32 }, (_, i) => Math.sin(i) * 0.9), [2, 1, 32, 32]);
  const ab = tensor(Float32Array.from({ length: 2 * 2 * 32 * 32 }, (_, i) => Math.cos(i) * 0.3), [
    2,
    2,
    32,
    32,
  ]);
  // Warm-up compiles every pipeline and creates the optimizer state.
  for (const t of Object.values(m.trainStep(L, ab))) t?.dispose();
  await rt.sync();
  const g0 = await m.G.parameters()[0].data();
  const d0 = await m.D.parameters()[0].data();
  const submits = rt.submits;
  const losses = m.trainStep(L, ab);
  rt.flush();
  assert.equal(rt.submits - submits, 1);
  for (const t of Object.values(losses)) assert.ok(Number.isFinite(await t!.item()));
  assert.notDeepEqual(await m.G.parameters()[0].data(), g0);
  assert.notDeepEqual(await m.D.parameters()[0].data(), d0);
  for (const t of Object.values(losses)) t?.dispose();

  // With updateD false, only G learns (for updating D only every k steps).
  const d1 = await m.D.parameters()[0].data();
  const r = m.trainStep(L, ab, false);
  assert.equal(r.lossD, undefined);
  assert.deepEqual(await m.D.parameters()[0].data(), d1);
  for (const t of Object.values(r)) t?.dispose();
  L.dispose();
  ab.dispose();
  m.dispose();
});
