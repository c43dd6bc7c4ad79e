/**
 * The ResNet U-Net generator (models/resnet_unet.ts) and the generator factory (models/generators.ts):
 * ICNR upsampling without checkerboard, encoder parameter counts and state-dict names against
 * torchvision's resnet18/34, the decoder's parameter count from fastai's DynamicUnet arithmetic,
 * output shapes, input checks, a short training run and a state-dict round trip; the factory's
 * kinds (U-Net, ResNet U-Net, diverse), their size multiples and training initialisation, and the
 * ResNet U-Net's tensor layout computed without building it.
 */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import {
  PixelShuffleICNR,
  RESNET_UNET_DEFAULTS,
  ResnetEncoder,
  ResnetUnet,
  type ResnetUnetConfig,
  resnetUnetTensorShapes,
} from "../models/resnet_unet.ts";
import {
  buildGeneratorFromConfig,
  describeGenerator,
  type FullGeneratorConfig,
  type Generator,
  generatorConfigOf,
  generatorKind,
  initGeneratorWeights,
  noiseChannelsOf,
  sizeMultipleOf,
  sizeMultipleReason,
} from "../models/generators.ts";
import { DIVERSE_DEFAULTS, DiverseGenerator } from "../models/diverse.ts";
import { Unet } from "../models/unet.ts";
import { Conv2d, PixelShuffle } from "../engine/nn/layers.ts";
import { icnr_, zeros_ } from "../engine/init.ts";
import { manualSeed } from "../engine/random.ts";
import { backward, noGrad } from "../engine/autograd.ts";
import { Adam } from "../engine/optim.ts";
import { l1Loss } from "../engine/ops/loss.ts";
import { fill } from "../engine/ops/buffers.ts";
import { type Tensor, tensor, tidy, tidyAsync } from "../engine/tensor.ts";

await gpu();

/** The largest difference inside any r×r block of each plane of y [N, C, H, W]. */
function blockSpread(y: Float32Array, [n, c, h, w]: readonly number[], r: number): number {
  let worst = 0;
  for (let q = 0; q < n * c; q++) {
    for (let by = 0; by < h; by += r) {
      for (let bx = 0; bx < w; bx += r) {
        const first = y[(q * h + by) * w + bx];
        for (let i = 0; i < r; i++) {
          for (let j = 0; j < r; j++) {
            worst = Math.max(worst, Math.abs(y[(q * h + by + i) * w + bx + j] - first));
          }
        }
      }
    }
  }
  return worst;
}

/** A smooth, non-constant test image [n, c, s, s] in [-1, 1]. */
function image(n: number, c: number, s: number, phase = 0): Tensor {
  return tensor(
    Float32Array.from({ length: n * c * s * s }, (_, i) => Math.sin(i * 0.37 + phase) * Math.cos(i * 0.011)),
    [n, c, s, s],
  );
}

Deno.test("ICNR: conv + PixelShuffle starts without checkerboard (every r×r block equal); default init does not", async () => {
  for (const r of [2, 3]) {
    manualSeed(r);
    const icnr = new Conv2d(4, 3 * r * r, 3, { padding: 1 });
    icnr_(icnr.weight, r);
    zeros_(icnr.bias!);
    const plain = new Conv2d(4, 3 * r * r, 3, { padding: 1 });
    const shuffle = new PixelShuffle(r);
    await tidyAsync(async () => {
      // A constant input (its zero-padded border makes the conv output vary near the edges) and a
      // varying one: after ICNR each r×r block is one value, i.e. nearest-neighbour upsampling.
      for (const x of [fill([2, 4, 5, 5], 0.7), image(2, 4, 5)]) {
        const y = shuffle.forward(icnr.forward(x));
        assert.deepEqual(y.shape, [2, 3, 5 * r, 5 * r]);
        const data = await y.data();
        assert.ok(data.some((v) => Math.abs(v) > 0.05), "not trivially zero");
        assert.ok(blockSpread(data, y.shape, r) <= 1e-6, `r=${r}: ICNR blocks constant`);
        const z = shuffle.forward(plain.forward(x));
        assert.ok(blockSpread(await z.data(), z.shape, r) > 0.05, `r=${r}: default init has a checkerboard`);
      }
    });
    icnr.dispose();
    plain.dispose();
  }
  // The fastai upsampler (1×1 conv, ReLU, shuffle) is flat in each 2×2 block at initialisation too.
  const up = new PixelShuffleICNR(8, 4);
  await tidyAsync(async () => {
    const y = up.forward(image(1, 8, 4));
    assert.deepEqual(y.shape, [1, 4, 8, 8]);
    assert.ok(blockSpread(await y.data(), y.shape, 2) <= 1e-6);
  });
  up.dispose();
  tidy(() => {
    const bad = tensor(new Float32Array(6 * 2), [6, 2, 1, 1]);
    assert.throws(
      () => icnr_(bad, 2),
      /icnr_: weight \[6, 2, 1, 1\] must be \[C·4, Cin, kH, kW\] for scale 2/,
    );
  });
});

/** torchvision's resnet state_dict names (fc excluded) from its definition, in its order. */
function torchvisionKeys(blocks: readonly number[]): string[] {
  const bn = (p: string) =>
    ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map((k) => `${p}.${k}`);
  const keys = ["conv1.weight", ...bn("bn1")];
  blocks.forEach((n, i) => {
    for (let b = 0; b < n; b++) {
      const p = `layer${i + 1}.${b}`;
      keys.push(`${p}.conv1.weight`, ...bn(`${p}.bn1`), `${p}.conv2.weight`, ...bn(`${p}.bn2`));
      if (b === 0 && i > 0) keys.push(`${p}.downsample.0.weight`, ...bn(`${p}.downsample.1`));
    }
  });
  return keys;
}

// torchvision.models.resnet18().parameters() sum to 11,689,512 and resnet34's to 21,797,672; the
// classifier fc (512·1000 + 1000 = 513,000) is not part of the encoder.
for (
  const [encoder, total, blocks] of [["resnet18", 11_689_512, [2, 2, 2, 2]], ["resnet34", 21_797_672, [
    3,
    4,
    6,
    3,
  ]]] as const
) {
  Deno.test(`${encoder} encoder (3-channel stem): ${total - 513_000} parameters and torchvision's state-dict names`, () => {
    const e = new ResnetEncoder(encoder, 3, "batch");
    assert.equal(e.parameterCount(), total - 513_000);
    assert.deepEqual([...e.stateDict().keys()], torchvisionKeys(blocks));
    assert.deepEqual(e.stateDict().get("layer2.0.downsample.0.weight")!.shape, [128, 64, 1, 1]);
    assert.deepEqual(e.stateDict().get("layer4.1.conv2.weight")!.shape, [512, 512, 3, 3]);
    e.dispose();
  });
}

Deno.test("ResnetUnet resnet18: encoder under 'encoder.' with a 1-channel stem; decoder as fastai's DynamicUnet", () => {
  const g = new ResnetUnet();
  assert.deepEqual(g.config, RESNET_UNET_DEFAULTS);
  const sd = g.stateDict();
  const enc = [...sd.keys()].filter((k) => k.startsWith("encoder.")).map((k) => k.slice(8));
  assert.deepEqual(enc, torchvisionKeys([2, 2, 2, 2]));
  assert.deepEqual(sd.get("encoder.conv1.weight")!.shape, [64, 1, 7, 7]);
  // Decoder, from DynamicUnet's arithmetic: conv_layer(ni, nf) = 3×3 conv without bias + BN (2·nf);
  // PixelShuffle_ICNR(ni, nf) = 1×1 conv to 4·nf with bias; a block upsamples to up/2 channels,
  // adds a BN'd skip and keeps ni = up/2 + skip channels (halved in the last block).
  const convLayer = (ni: number, nf: number) => ni * nf * 9 + 2 * nf;
  const shuf = (ni: number, nf: number) => ni * 4 * nf + 4 * nf;
  let decoder = 2 * 512 + convLayer(512, 1024) + convLayer(1024, 512);
  let up = 512;
  for (const [skip, last] of [[256, false], [128, false], [64, false], [64, true]] as const) {
    const ni = up / 2 + skip, nf = last ? ni / 2 : ni;
    decoder += shuf(up, up / 2) + 2 * skip + convLayer(ni, nf) + convLayer(nf, nf);
    up = nf;
  }
  assert.equal(up, 96);
  // Full-size upsampling, the input concatenated back (97 channels), res block, 1×1 head to ab.
  decoder += shuf(96, 96) + 2 * convLayer(97, 97) + 97 * 2 + 2;
  assert.equal(decoder, 19_933_658);
  assert.equal(g.parameterCount(), 11_176_512 - 2 * 64 * 49 + decoder);
  assert.deepEqual(sd.get("decoder.0.shuf.conv.weight")!.shape, [1024, 512, 1, 1]);
  assert.deepEqual(sd.get("res.layers.1.0.weight")!.shape, [97, 97, 3, 3]);
  assert.deepEqual(sd.get("head.weight")!.shape, [2, 97, 1, 1]);
  g.dispose();
});

Deno.test("ResnetUnet maps [N,1,H,W] to [N,2,H,W] in [-1, 1] for 64×64 and 128×128; rejects other shapes", async () => {
  manualSeed(11);
  const g = new ResnetUnet().eval();
  await tidyAsync(async () => {
    for (const [n, s] of [[2, 64], [1, 128]]) {
      const y = noGrad(() => g.forward(image(n, 1, s)));
      assert.deepEqual(y.shape, [n, 2, s, s]);
      const d = await y.data();
      assert.ok(d.every((v) => v >= -1 && v <= 1), `${s}: values in [-1, 1]`);
      assert.ok(d.some((v) => Math.abs(v) > 1e-3), `${s}: not all zero`);
    }
    assert.throws(
      () => g.forward(fill([1, 1, 48, 64], 0)),
      /ResnetUnet: input \[1, 1, 48, 64\] must be \[N, 1, H, W\] with H and W multiples of 32/,
    );
    assert.throws(() => g.forward(fill([1, 3, 32, 32], 0)), /ResnetUnet: input \[1, 3, 32, 32\]/);
  });
  g.dispose();
});

Deno.test("ResnetUnet: a few Adam steps on a fixed batch reduce the L1 loss", async () => {
  manualSeed(12);
  const g = new ResnetUnet({ encoder: "resnet18" });
  const opt = new Adam(g.parameters(), { lr: 1e-3, betas: [0.5, 0.999] });
  const L = image(2, 1, 32);
  const ab = tensor(
    Float32Array.from({ length: 2 * 2 * 32 * 32 }, (_, i) => 0.5 * Math.sin(i * 0.05) * Math.cos(i * 0.003)),
    [2, 2, 32, 32],
  );
  const losses: number[] = [];
  for (let step = 0; step < 5; step++) {
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = l1Loss(g.forward(L), ab);
      backward(l);
      opt.step();
      return l;
    });
    losses.push(await loss.item());
    loss.dispose();
  }
  assert.ok(losses.every(Number.isFinite), `finite losses ${losses}`);
  assert.ok(losses[4] < 0.8 * losses[0], `L1 ${losses.map((l) => l.toFixed(4)).join(" → ")} fell by 20%`);
  L.dispose();
  ab.dispose();
  opt.dispose();
  g.dispose();
});

Deno.test("ResnetUnet state dict round trip: loading A's tensors into B gives A's outputs exactly", async () => {
  const x = image(2, 1, 32, 1);
  manualSeed(21);
  const a = new ResnetUnet({ norm: "batch" });
  // A training-mode pass moves the running statistics off their initial values.
  await tidyAsync(async () => void await noGrad(() => a.forward(x)).data());
  a.eval();
  manualSeed(22);
  const b = new ResnetUnet().eval();
  const state = new Map<string, Float32Array>();
  for (const [name, t] of a.stateDict()) state.set(name, await t.data());
  await tidyAsync(async () => {
    const ya = await noGrad(() => a.forward(x)).data();
    const before = await noGrad(() => b.forward(x)).data();
    assert.notDeepEqual(before, ya);
    b.loadStateDict(state);
    assert.deepEqual(await noGrad(() => b.forward(x)).data(), ya);
  });
  assert.equal(state.get("encoder.bn1.num_batches_tracked")![0], 1);
  a.dispose();
  b.dispose();
  x.dispose();
});

Deno.test("ResnetUnet with attention: starts as the same model without it (γ = 0); γ gets a gradient", async () => {
  // 64 px: layer4's map is 2×2, so the attention has 4 positions to mix.
  const x = image(2, 1, 64, 2);
  manualSeed(31);
  const withAttention = new ResnetUnet({ attention: true }).eval();
  assert.ok(withAttention.attention);
  const plain = new ResnetUnet().eval();
  const state = new Map<string, Float32Array>();
  for (const [name, t] of withAttention.stateDict()) {
    if (!name.startsWith("attention.")) state.set(name, await t.data());
  }
  plain.loadStateDict(state);
  await tidyAsync(async () => {
    // Exact: the attention block adds 0·o to layer4's output.
    const y = await noGrad(() => withAttention.forward(x)).data();
    assert.deepEqual(y, await noGrad(() => plain.forward(x)).data());
    backward(l1Loss(withAttention.forward(x), fill([2, 2, 64, 64], 0.25)));
    const g = await withAttention.attention!.gamma.grad!.data();
    assert.ok(Number.isFinite(g[0]) && g[0] !== 0, `γ's gradient ${g[0]}`);
  });
  assert.equal(
    describeGenerator(withAttention.config),
    "ResNet U-Net (resnet18, batch norm, self-attention)",
  );
  withAttention.dispose();
  plain.dispose();
  x.dispose();
});

Deno.test("generators: configs pick the architecture; U-Net configs without kind stay U-Nets; bad configs are named", () => {
  assert.equal(generatorKind({}), "unet");
  assert.equal(generatorKind({ kind: "resnet-unet" }), "resnet-unet");
  assert.equal(generatorKind({ kind: "diverse" }), "diverse");
  assert.throws(
    () => generatorKind({ kind: "vgg" }),
    /generator config: kind "vgg" is not one of "unet", "resnet-unet", "diverse"/,
  );
  const u = buildGeneratorFromConfig({ nDown: 5, ngf: 4 });
  assert.ok(u instanceof Unet);
  assert.equal("kind" in u.config, false);
  assert.deepEqual(generatorConfigOf(u), { kind: "unet", ...u.config });
  initGeneratorWeights(u);
  u.dispose();
  const cfg = JSON.parse(JSON.stringify({ ...RESNET_UNET_DEFAULTS, encoder: "resnet34" }));
  const r = buildGeneratorFromConfig(cfg);
  assert.ok(r instanceof ResnetUnet);
  assert.deepEqual(generatorConfigOf(r), cfg);
  r.dispose();
  const bad = (c: Partial<ResnetUnetConfig>) => () => new ResnetUnet(c);
  assert.throws(
    bad({ encoder: "resnet50" as "resnet18" }),
    /ResnetUnet: config.encoder is "resnet50", not one of resnet18, resnet34/,
  );
  assert.throws(bad({ inputChannels: 0 }), /ResnetUnet: config.inputChannels is 0, not a positive integer/);
  assert.throws(bad({ norm: "group" as "batch" }), /ResnetUnet: config.norm is "group"/);
  assert.throws(
    bad({ attention: "yes" as unknown as boolean }),
    /ResnetUnet: config.attention is "yes", not true or false/,
  );
});

Deno.test("generators: the diverse kind is built from its config, keeps its kind, and every kind has its size multiple", () => {
  const d = buildGeneratorFromConfig({ kind: "diverse", layers: 3, filters: 4 });
  assert.ok(d instanceof DiverseGenerator);
  assert.deepEqual(d.config, { ...DIVERSE_DEFAULTS, layers: 3, filters: 4 });
  // The kind travels in the config (a checkpoint's generator_config), so a saved config builds it again.
  const saved = JSON.parse(JSON.stringify(generatorConfigOf(d)));
  assert.equal(saved.kind, "diverse");
  const again = buildGeneratorFromConfig(saved);
  assert.ok(again instanceof DiverseGenerator);
  assert.deepEqual(again.config, d.config);
  const u = buildGeneratorFromConfig({ nDown: 6, ngf: 2 });
  const r = buildGeneratorFromConfig({ kind: "resnet-unet" });
  const cases: [Generator, number, RegExp, RegExp][] = [
    [u, 64, /^2\^nDown, nDown=6$/, /^U-Net with nDown=6, ngf=2, batch norm$/],
    [r, 32, /ResNet encoder halves the size 5 times/, /^ResNet U-Net \(resnet18, batch norm\)$/],
    [d, 1, /any size/, /^diverse generator with 3 layers, 4 filters, 1 noise channel, batch norm$/],
  ];
  for (const [G, multiple, reason, description] of cases) {
    assert.equal(G.sizeMultiple, multiple, G.constructor.name);
    // The config alone says the same (colorize checks --size before building the model).
    const c = G.config as FullGeneratorConfig;
    assert.equal(sizeMultipleOf(c), multiple, G.constructor.name);
    assert.match(sizeMultipleReason(c), reason);
    assert.match(describeGenerator(c), description);
  }
  assert.equal(noiseChannelsOf(u.config), 0);
  assert.equal(noiseChannelsOf(r.config), 0);
  assert.equal(noiseChannelsOf(d.config), 1);
  assert.equal(noiseChannelsOf({ ...d.config, noiseChannels: 0 }), 0);
  for (const G of [d, again, u, r]) G.dispose();
});

/** Mean and standard deviation of an array. */
function stats(v: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const x of v) s += x, s2 += x * x;
  const mean = s / v.length;
  return { mean, std: Math.sqrt(Math.max(0, s2 / v.length - mean * mean)) };
}

Deno.test("generators: initGeneratorWeights gives the diverse generator pix2pix's N(0, 0.02): conv weights, N(1, 0.02) scales, zero biases", async () => {
  manualSeed(31);
  const G = buildGeneratorFromConfig({ kind: "diverse", layers: 4, filters: 16 });
  // PyTorch's default conv init (uniform, bound 1/√fan-in) is ~3× wider for conv1 (fan-in 2·7·7): the
  // pass shows.
  const before = stats(await G.stateDict().get("conv1.weight")!.data()).std;
  assert.ok(before > 0.04, `default init std ${before}`);
  initGeneratorWeights(G);
  const conv: number[] = [], scales: number[] = [];
  for (const [name, t] of G.namedParameters()) {
    const v = await t.data();
    if (name.endsWith(".bias")) assert.ok(v.every((x) => x === 0), `${name} zero`);
    else (t.rank === 1 ? scales : conv).push(...v);
  }
  // 20,836 conv weights: the sample mean and std are within 2.5% of N(0, 0.02)'s (3σ); 56 norm scales: the
  // mean within ~0.003 (1σ), the std within ~20%.
  const c = stats(Float32Array.from(conv)), n = stats(Float32Array.from(scales));
  assert.ok(
    conv.length === 20836 && scales.length === 56,
    `${conv.length} conv weights, ${scales.length} scales`,
  );
  assert.ok(Math.abs(c.mean) < 5e-4 && Math.abs(c.std - 0.02) < 5e-4, `conv weights ${JSON.stringify(c)}`);
  assert.ok(
    Math.abs(n.mean - 1) < 0.01 && Math.abs(n.std - 0.02) < 0.008,
    `norm scales ${JSON.stringify(n)}`,
  );
  G.dispose();
});

Deno.test("ResnetUnet layout: resnetUnetTensorShapes gives a built model's state-dict names, shapes and order without building it", () => {
  for (
    const c of [
      RESNET_UNET_DEFAULTS,
      { ...RESNET_UNET_DEFAULTS, encoder: "resnet34", norm: "instance", inputChannels: 3, outputChannels: 3 },
      { ...RESNET_UNET_DEFAULTS, attention: true },
    ] as ResnetUnetConfig[]
  ) {
    const G = new ResnetUnet(c);
    const built = [...G.stateDict()].map(([k, t]) => [k, [...t.shape]]);
    assert.deepEqual([...resnetUnetTensorShapes(G.config)], built, JSON.stringify(c));
    // docs/CHECKPOINTS.md quotes the default's size.
    if (c === RESNET_UNET_DEFAULTS) assert.equal(G.parameterCount(), 31_103_898);
    G.dispose();
  }
});
