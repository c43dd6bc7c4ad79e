/**
 * The pix2pix models (U-Net, PatchGAN, training step): parameter counts, output shapes and input checks;
 * a Pix2Pix with each generator kind (U-Net, ResNet U-Net, diverse) builds, trains and averages it.
 */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import { Unet } from "../models/unet.ts";
import { PatchGan } from "../models/patchgan.ts";
import { Pix2Pix } from "../models/pix2pix.ts";
import { initPix2pixWeights } from "../models/init.ts";
import type { GeneratorConfig } from "../models/generators.ts";
import { ResnetUnet } from "../models/resnet_unet.ts";
import { DiverseGenerator } from "../models/diverse.ts";
import type { Module } from "../engine/nn/module.ts";
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

async function values(m: Module): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of m.stateDict()) out.set(k, await t.data());
  return out;
}

Deno.test("Pix2Pix with a U-Net config starts from the weights it always did: build G, build D, init G, init D", async () => {
  const g = { nDown: 5, ngf: 4 }, d = { ndf: 4 };
  manualSeed(41);
  const m = new Pix2Pix(g, d);
  // The construction order of every earlier version, written out.
  manualSeed(41);
  const G = new Unet(g);
  const D = new PatchGan({ inputChannels: 3, ...d });
  initPix2pixWeights(G);
  initPix2pixWeights(D);
  for (const [what, a, b] of [["G", m.G, G], ["D", m.D, D]] as const) {
    const [va, vb] = [await values(a), await values(b)];
    assert.deepEqual([...va.keys()], [...vb.keys()], what);
    for (const [k, v] of va) assert.ok(v.every((x, i) => Object.is(x, vb.get(k)![i])), `${what} ${k}`);
  }
  assert.ok(m.G instanceof Unet);
  for (const x of [m, G, D]) x.dispose();
});

Deno.test("Pix2Pix trains every generator kind: D reads L and G's output, a GAN step changes both, the average is the same kind", async () => {
  const kinds: [GeneratorConfig, new (...a: never[]) => Module, number][] = [
    [{ nDown: 5, ngf: 2 }, Unet, 1],
    [{ kind: "resnet-unet" }, ResnetUnet, 1],
    // Two output channels and three L channels: D's input follows G's config.
    [{ kind: "diverse", layers: 3, filters: 4, inputChannels: 3 }, DiverseGenerator, 3],
  ];
  for (const [config, Kind, inputChannels] of kinds) {
    manualSeed(42);
    const m = new Pix2Pix(config, { ndf: 4 });
    assert.ok(m.G instanceof Kind, Kind.name);
    assert.equal(m.D.config.inputChannels, inputChannels + 2, Kind.name);
    const avg = m.enableEma(0.5);
    assert.ok(avg instanceof Kind, `${Kind.name} average`);
    assert.equal(avg.training, false);
    // Batch 2: at 32×32 the ResNet's layer4 is 1×1, and batch norm needs two values per channel to train.
    const n = 2, s = 32;
    const L = tensor(Float32Array.from({ length: n * inputChannels * s * s }, (_, i) => Math.sin(i) * 0.9), [
      n,
      inputChannels,
      s,
      s,
    ]);
    const ab = tensor(Float32Array.from({ length: n * 2 * s * s }, (_, i) => Math.cos(i) * 0.3), [
      n,
      2,
      s,
      s,
    ]);
    const [g0, d0, a0] = [await values(m.G), await values(m.D), await values(avg)];
    const losses = m.trainStep(L, ab);
    for (const t of Object.values(losses)) assert.ok(Number.isFinite(await t!.item()), Kind.name);
    for (const t of Object.values(losses)) t?.dispose();
    const pre = m.pretrainStep(L, ab);
    assert.ok(Number.isFinite(await pre.lossL1.item()));
    pre.lossL1.dispose();
    // Something moved in each network (the first weight alone may not: ICNR-started layers, say).
    for (const [what, net, before] of [["G", m.G, g0], ["D", m.D, d0], ["average", avg, a0]] as const) {
      const after = await values(net);
      assert.ok(
        [...after].some(([k, v]) => v.some((x, i) => x !== before.get(k)![i])),
        `${Kind.name}: ${what} changed`,
      );
    }
    L.dispose();
    ab.dispose();
    m.dispose();
  }
});
