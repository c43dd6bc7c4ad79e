/**
 * The diverse-colorization generator (models/diverse.ts): any input size, the
 * parameter count by formula, noise that changes the colouring while seeds
 * reproduce it, training on a tiny task, and state-dict round trips.
 */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import {
  checkDiverseConfig,
  DIVERSE_DEFAULTS,
  type DiverseConfig,
  DiverseGenerator,
  diverseTensorShapes,
  noiseChannels,
} from "../models/diverse.ts";
import { Unet } from "../models/unet.ts";
import { manualSeed } from "../engine/random.ts";
import { backward, noGrad } from "../engine/autograd.ts";
import { type Tensor, tensor, tidy, tidyAsync } from "../engine/tensor.ts";
import { l1Loss } from "../engine/ops/loss.ts";
import { Adam } from "../engine/optim.ts";

await gpu();

const SMALL: Partial<DiverseConfig> = { layers: 3, filters: 4, noiseChannels: 1 };

/** A smooth luminance-like test image in [−1, 1]. */
function luminance(n: number, h: number, w: number, phase = 0): Tensor {
  const data = new Float32Array(n * h * w);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        data[(b * h + y) * w + x] = 0.9 * Math.sin(0.37 * x + 0.23 * y + 1.7 * b + phase);
      }
    }
  }
  return tensor(data, [n, 1, h, w]);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * The count written out from the architecture: hidden widths 2f, f, …, f, ⌊f/2⌋;
 * a k×k kernel (7 first, then 5) over inputChannels + noiseChannels + the previous
 * width; no conv bias before a norm; γ and β per hidden channel; a bias on the output.
 */
function expectedParameters(config: Partial<DiverseConfig>): number {
  const c = { ...DIVERSE_DEFAULTS, ...config };
  const hidden = Array.from(
    { length: c.layers - 1 },
    (_, i) => i === 0 ? 2 * c.filters : i === c.layers - 2 ? Math.floor(c.filters / 2) : c.filters,
  );
  const side = c.inputChannels + c.noiseChannels;
  let total = 0, prev = 0;
  hidden.forEach((w, i) => {
    const k = i === 0 ? 7 : 5;
    total += (side + prev) * w * k * k + 2 * w;
    prev = w;
  });
  return total + (side + prev) * c.outputChannels * 25 + c.outputChannels;
}

Deno.test("diverse: the paper's generator (128, 64, 64, 64, 32, 2 filters) has 486,950 parameters", () => {
  const g = new DiverseGenerator();
  assert.deepEqual(g.config, DIVERSE_DEFAULTS);
  // Written out by hand: conv weights 2·128·49 + 130·64·25 + 2·66·64·25 + 66·32·25 + 34·2·25,
  // the output bias 2, and γ, β of 128 + 64 + 64 + 64 + 32 channels.
  const byHand = 2 * 128 * 49 + 130 * 64 * 25 + 2 * 66 * 64 * 25 + 66 * 32 * 25 + 34 * 2 * 25 + 2 +
    2 * (128 + 64 + 64 + 64 + 32);
  assert.equal(byHand, 486_950);
  assert.equal(g.parameterCount(), byHand);
  assert.deepEqual(g.namedParameters().map(([n, p]) => `${n} [${p.shape}]`), [
    "conv1.weight [128,2,7,7]",
    "norm1.weight [128]",
    "norm1.bias [128]",
    "conv2.weight [64,130,5,5]",
    "norm2.weight [64]",
    "norm2.bias [64]",
    "conv3.weight [64,66,5,5]",
    "norm3.weight [64]",
    "norm3.bias [64]",
    "conv4.weight [64,66,5,5]",
    "norm4.weight [64]",
    "norm4.bias [64]",
    "conv5.weight [32,66,5,5]",
    "norm5.weight [32]",
    "norm5.bias [32]",
    "conv6.weight [2,34,5,5]",
    "conv6.bias [2]",
  ]);
  g.dispose();
});

Deno.test("diverse: parameter count follows the formula for other depths, widths, noise and norms", () => {
  const configs: Partial<DiverseConfig>[] = [
    { layers: 2, filters: 8, noiseChannels: 0 },
    { layers: 3, filters: 5, noiseChannels: 2, norm: "instance" },
    { layers: 8, filters: 16, noiseChannels: 3, inputChannels: 2, outputChannels: 3 },
  ];
  for (const config of configs) {
    const g = new DiverseGenerator(config);
    assert.equal(g.parameterCount(), expectedParameters(config), JSON.stringify(config));
    g.dispose();
  }
});

Deno.test("diverse: any H×W works (no down-sampling): 32×32 and 64×48 in, same size out, in [−1, 1]", async () => {
  manualSeed(3);
  // The paper's model at one small size (lavapipe is slow); small ones at both sizes and norms.
  const cases: [Partial<DiverseConfig>, number[][]][] = [
    [{}, [[1, 32, 32]]],
    [SMALL, [[2, 32, 32], [1, 64, 48]]],
    [{ ...SMALL, norm: "instance" }, [[2, 32, 32], [1, 64, 48]]],
  ];
  for (const [config, sizes] of cases) {
    const g = new DiverseGenerator(config);
    for (const [n, h, w] of sizes) {
      await tidyAsync(async () => {
        const y = noGrad(() => g.forward(luminance(n, h, w)));
        assert.deepEqual(y.shape, [n, 2, h, w], JSON.stringify(config));
        const v = await y.data();
        assert.ok(v.every((x) => Number.isFinite(x) && x >= -1 && x <= 1));
      });
    }
    g.dispose();
  }
});

Deno.test("diverse: different noise colours differently; the same seed or map reproduces a colouring", async () => {
  manualSeed(4);
  const g = new DiverseGenerator(SMALL).eval();
  await tidyAsync(async () => {
    const L = luminance(2, 16, 12);
    const run = (noise?: Tensor | number) => noGrad(() => g.forward(L, noise)).data();
    const a1 = await run(1), a2 = await run(1), b = await run(2);
    assert.equal(maxAbsDiff(a1, a2), 0, "same seed");
    assert.ok(maxAbsDiff(a1, b) > 1e-3, "different seeds");
    // An explicit map equals the seeded draw it came from.
    assert.equal(maxAbsDiff(await run(g.sampleNoise(L, 1)!), a1), 0, "explicit map");
    // Without noise each call draws afresh from the global generator, reproducibly after manualSeed.
    manualSeed(9);
    const c1 = await run(), c2 = await run();
    manualSeed(9);
    const c3 = await run();
    assert.ok(maxAbsDiff(c1, c2) > 1e-3, "fresh draws");
    assert.equal(maxAbsDiff(c1, c3), 0, "manualSeed");
  });
  g.dispose();
});

Deno.test("diverse: noiseChannels 0 gives one colouring; noiseChannels() tells models apart", async () => {
  manualSeed(5);
  const g = new DiverseGenerator({ ...SMALL, noiseChannels: 0 }).eval();
  assert.equal(noiseChannels(g), 0);
  await tidyAsync(async () => {
    const L = luminance(1, 8, 8);
    const a = await noGrad(() => g.forward(L, 1)).data();
    const b = await noGrad(() => g.forward(L)).data();
    assert.equal(maxAbsDiff(a, b), 0);
    assert.equal(g.sampleNoise(L, 1), null);
  });
  g.dispose();
  const noisy = new DiverseGenerator({ ...SMALL, noiseChannels: 3 });
  assert.equal(noiseChannels(noisy), 3);
  noisy.dispose();
  const unet = new Unet({ nDown: 5, ngf: 2 });
  assert.equal(noiseChannels(unet), 0);
  unet.dispose();
});

Deno.test("diverse: bad configurations, inputs and noise maps are rejected with the shapes named", () => {
  assert.throws(() => new DiverseGenerator({ layers: 1 }), /layers must be an integer ≥ 2 \(got 1\)/);
  assert.throws(() => new DiverseGenerator({ filters: 0 }), /filters must be an integer ≥ 1/);
  assert.throws(() => new DiverseGenerator({ noiseChannels: -1 }), /noiseChannels must be an integer ≥ 0/);
  assert.throws(() => new DiverseGenerator({ layers: 2.5 }), /layers must be an integer/);
  assert.throws(
    () => new DiverseGenerator({ norm: "group" as DiverseConfig["norm"] }),
    /norm must be "batch" or "instance" \(got group\)/,
  );
  assert.throws(
    () => new DiverseGenerator({ colorSpace: "rgb" as DiverseConfig["colorSpace"] }),
    /colorSpace must be "lab" or "yuv" \(got "rgb"\)/,
  );
  assert.throws(
    () => new DiverseGenerator({ colorSpace: "yuv", inputChannels: 4 }),
    /a "yuv" model takes 1 input channel \(Y; colour hints are Lab-only\), got 4/,
  );
  const g = new DiverseGenerator(SMALL);
  const quiet = new DiverseGenerator({ ...SMALL, noiseChannels: 0 });
  tidy(() => {
    assert.throws(
      () => g.forward(tensor(new Float32Array(2 * 64), [1, 2, 8, 8])),
      /DiverseGenerator: input \[1, 2, 8, 8\] must be \[N, 1, H, W\]/,
    );
    assert.throws(() => g.forward(tensor(new Float32Array(64), [1, 8, 8])), /input \[1, 8, 8\]/);
    const L = luminance(2, 8, 8);
    assert.throws(
      () => g.forward(L, tensor(new Float32Array(64), [1, 1, 8, 8])),
      /DiverseGenerator: noise \[1, 1, 8, 8\] must be \[2, 1, 8, 8\]/,
    );
    assert.throws(() => quiet.forward(L, tensor(new Float32Array(128), [2, 1, 8, 8])), /takes no noise/);
  });
  g.dispose();
  quiet.dispose();
});

Deno.test("diverse: a few Adam steps on a tiny synthetic task reduce the L1 loss", async () => {
  manualSeed(6);
  const g = new DiverseGenerator(SMALL);
  const opt = new Adam(g.parameters(), { lr: 1e-2 });
  const L = luminance(2, 16, 16);
  // Chroma that is a smooth function of the luminance: learnable by a local model.
  const Lv = await L.data();
  const target = tensor(
    Float32Array.from({ length: 2 * 2 * 256 }, (_, i) => {
      const b = Math.floor(i / 512), c = Math.floor(i / 256) % 2, p = i % 256;
      const l = Lv[b * 256 + p];
      return c === 0 ? 0.5 * l : 0.3 - 0.4 * l * l;
    }),
    [2, 2, 16, 16],
  );
  const losses: number[] = [];
  for (let step = 0; step < 12; step++) {
    const loss = tidy(() => {
      const l = l1Loss(g.forward(L), target);
      backward(l);
      opt.step();
      opt.zeroGrad();
      return l;
    });
    losses.push(await loss.item());
    loss.dispose();
  }
  const last = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  assert.ok(
    last < 0.6 * losses[0],
    `L1 went from ${losses[0]} to ${last}: ${losses.map((x) => x.toFixed(3))}`,
  );
  for (const t of [L, target]) t.dispose();
  opt.dispose();
  g.dispose();
});

Deno.test("diverse: a state dict (weights and batch-norm statistics) round-trips into a fresh model", async () => {
  for (const norm of ["batch", "instance"] as const) {
    manualSeed(7);
    const a = new DiverseGenerator({ ...SMALL, norm });
    // A training-mode pass moves the running statistics off their initial values.
    tidy(() => {
      noGrad(() => a.forward(luminance(2, 8, 8)));
    });
    const saved = new Map<string, Float32Array>();
    for (const [name, t] of a.stateDict()) saved.set(name, await t.data());
    if (norm === "batch") {
      assert.ok(saved.has("norm1.running_mean") && saved.has("norm2.num_batches_tracked"));
      assert.ok(saved.get("norm1.running_mean")!.some((v) => v !== 0), "running mean moved");
    } else {
      assert.ok(![...saved.keys()].some((k) => k.includes("running")));
    }
    manualSeed(8);
    const b = new DiverseGenerator({ ...SMALL, norm });
    b.loadStateDict(saved);
    assert.deepEqual([...b.stateDict().keys()], [...a.stateDict().keys()]);
    for (const [name, t] of b.stateDict()) {
      assert.equal(maxAbsDiff(await t.data(), saved.get(name)!), 0, name);
    }
    a.eval(), b.eval();
    await tidyAsync(async () => {
      const L = luminance(1, 12, 10, 0.5);
      const ya = await noGrad(() => a.forward(L, 11)).data();
      const yb = await noGrad(() => b.forward(L, 11)).data();
      assert.equal(maxAbsDiff(ya, yb), 0, `${norm}: outputs after loading`);
    });
    // A different architecture does not load it.
    const wider = new DiverseGenerator({ ...SMALL, norm, filters: 6 });
    assert.throws(() => wider.loadStateDict(saved), /loadStateDict: "conv1.weight" has/);
    for (const m of [a, b, wider]) m.dispose();
  }
});

Deno.test("diverse: diverseTensorShapes gives a built model's state-dict names, shapes and order without building it", () => {
  const configs: Partial<DiverseConfig>[] = [
    {},
    { layers: 2, filters: 3, noiseChannels: 0, norm: "instance" },
    { layers: 4, filters: 5, noiseChannels: 3, inputChannels: 2, outputChannels: 3 },
  ];
  for (const config of configs) {
    const g = new DiverseGenerator(config);
    assert.equal(g.sizeMultiple, 1);
    const built = [...g.stateDict()].map(([k, t]) => [k, [...t.shape]]);
    assert.deepEqual([...diverseTensorShapes(g.config)], built, JSON.stringify(config));
    g.dispose();
  }
});

Deno.test('diverse: the config carries kind "diverse" (a checkpoint tells the generators apart by it)', () => {
  assert.equal(DIVERSE_DEFAULTS.kind, "diverse");
  // Lab unless asked: the colour space changes the units around the network, not the network.
  assert.equal(DIVERSE_DEFAULTS.colorSpace, "lab");
  const yuv = new DiverseGenerator({ ...SMALL, colorSpace: "yuv" });
  assert.equal(yuv.config.colorSpace, "yuv");
  assert.deepEqual([...diverseTensorShapes(yuv.config)], [
    ...diverseTensorShapes({ ...yuv.config, colorSpace: "lab" }),
  ]);
  yuv.dispose();
  assert.throws(
    () => checkDiverseConfig({ ...DIVERSE_DEFAULTS, kind: "unet" as "diverse" }),
    /DiverseGenerator: kind must be "diverse" \(got "unet"\)/,
  );
  // A saved config misses a field: the field is named.
  const { layers: _, ...partial } = DIVERSE_DEFAULTS;
  assert.throws(
    () => checkDiverseConfig(partial as DiverseConfig),
    /layers must be an integer ≥ 2 \(got undefined\)/,
  );
});
