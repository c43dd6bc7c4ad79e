/**
 * Colorizing photos: the padding/resize/crop geometry against hand-computed
 * cases, then `deno task colorize` (its main function, in-process) with a tiny
 * random model on a non-square image: output size, luminance kept, output
 * naming, never overwriting inputs, and one-line errors that do not stop the batch; every
 * generator kind (U-Net, ResNet U-Net, diverse) colorizes, and a model with noise gives --samples N
 * different colourings.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose, gpu, rng } from "./helpers.ts";
import { fakeGenerator, PNG_SIGNATURE, pngChunk, randomRgba } from "./fixtures.ts";
import {
  BORDER_MARGIN,
  colorizeGeometry,
  colorizeLab,
  colorizeRgba,
  labToRgba,
  modelInput,
  modelOutputToImage,
  padPlan,
  rgbaToL,
} from "../models/colorize.ts";
import { axisWeights } from "../engine/image.ts";
import { encodeCheckpoint } from "../models/checkpoint.ts";
import { Unet } from "../models/unet.ts";
import { initPix2pixWeights } from "../models/init.ts";
import { manualSeed } from "../engine/random.ts";
import { labToRgbCpu, MODEL_AB_SCALE, rgbToLabCpu } from "../engine/color.ts";
import { Tensor } from "../engine/tensor.ts";
import { readImage, type RgbaImage, writeImage } from "../cli/image.ts";
import {
  activationBytesPerPixel,
  type CliIo,
  largestSize,
  largestTensorBytes,
  main,
  sizeProblem,
} from "../cli/colorize.ts";
import { buildGeneratorFromConfig, type FullGeneratorConfig, type Generator } from "../models/generators.ts";
import { ResnetUnet } from "../models/resnet_unet.ts";
import { DiverseGenerator } from "../models/diverse.ts";
import { sizeClass } from "../engine/pool.ts";
import { atomicWrite } from "../cli/fsutil.ts";
import { fallbackNote } from "../web/model_note.ts";
import { autotuner } from "../engine/autotune.ts";

await gpu();

// ---------------------------------------------------------------------------
// Geometry.

Deno.test("geometry: padding plan splits equally, reflects, falls back to edge when too elongated", () => {
  assert.deepEqual(padPlan(61, 97), { before: 18, after: 18, mode: "reflect" });
  assert.deepEqual(padPlan(60, 97), { before: 18, after: 19, mode: "reflect" });
  assert.deepEqual(padPlan(97, 97), { before: 0, after: 0, mode: "reflect" });
  // Reflecting 15 rows needs at least 16 source rows (the edge row is not repeated).
  assert.deepEqual(padPlan(10, 40), { before: 15, after: 15, mode: "edge" });
  assert.deepEqual(padPlan(16, 46), { before: 15, after: 15, mode: "reflect" });
  assert.deepEqual(padPlan(1, 4), { before: 1, after: 2, mode: "edge" });
});

Deno.test("geometry: hand-computed model input (reflect pad, identity and area resize)", () => {
  // Margin 0 (the plain square of the longer side): 4×2 image padded to 4×4: one row above and one below, mirrored (numpy "reflect"):
  // padded rows = [row1, row0, row1, row0].
  const L = Float32Array.of(0, 10, 20, 30, 40, 50, 60, 70);
  const x = modelInput(L, colorizeGeometry(4, 2, 4, 0));
  const r0 = [0, 10, 20, 30], r1 = [40, 50, 60, 70];
  const want = [...r1, ...r0, ...r1, ...r0].map((v) => v / 50 - 1);
  // Weights of exactly 1 at scale 1: the only error is f32 rounding of v/50 − 1.
  assertClose(x, want, { atol: 1e-6 }, "4×2 → 4");

  // 4×4 → 2×2 area averaging: each output is the mean of a 2×2 block.
  const sq = Float32Array.from({ length: 16 }, (_, i) => i * 5);
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  assertClose(
    modelInput(sq, colorizeGeometry(4, 4, 2, 0)),
    [mean([0, 5, 20, 25]), mean([10, 15, 30, 35]), mean([40, 45, 60, 65]), mean([50, 55, 70, 75])].map((v) =>
      v / 50 - 1
    ),
    { atol: 1e-6 },
    "4×4 → 2",
  );

  // 3 → 2 covers [0, 1.5) and [1.5, 3): weights (2/3, 1/3) and (1/3, 2/3).
  const w = axisWeights(2, 3, 1.5, 0);
  assert.deepEqual([...w.starts], [0, 2, 4]);
  assert.deepEqual([...w.index], [0, 1, 1, 2]);
  assertClose(w.weight, [2 / 3, 1 / 3, 1 / 3, 2 / 3], { atol: 1e-7 }, "3 → 2 weights");
});

Deno.test("geometry: output crop at scale 1 is exact; enlarging is bilinear with clamped edges", () => {
  // A 4×2 image at size 4: rows 1 and 2 of the model's output are the image (padding 1 above).
  const plane = Float32Array.from({ length: 16 }, (_, i) => i);
  assert.deepEqual([...modelOutputToImage(plane, colorizeGeometry(4, 2, 4, 0))], [4, 5, 6, 7, 8, 9, 10, 11]);
  // A 2×4 image: columns 1 and 2 (padding 1 on the left).
  assert.deepEqual([...modelOutputToImage(plane, colorizeGeometry(2, 4, 4, 0))], [1, 2, 5, 6, 9, 10, 13, 14]);
  // 2×2 model output → 4×4 image: pixel centres at model coordinates −0.25, 0.25, 0.75, 1.25 (clamped),
  // so each axis interpolates with fractions f = [0, 0.25, 0.75, 1].
  const small = Float32Array.of(0, 1, 2, 3);
  const f = [0, 0.25, 0.75, 1];
  const want = f.flatMap((fy) => f.map((fx) => fx + 2 * fy));
  assertClose(modelOutputToImage(small, colorizeGeometry(4, 4, 2, 0)), want, { atol: 1e-6 }, "2 → 4");
});

Deno.test("geometry: a margin of reflected context on every side, and the crop maps back exactly", () => {
  // The default keeps every picture edge away from the network's zero-padded border (MODEL.md, Failure cases).
  assert.ok(BORDER_MARGIN > 0);
  for (const [w, h] of [[100, 60], [61, 97], [33, 33]]) {
    const long = Math.max(w, h), m = Math.round(BORDER_MARGIN * long);
    const g = colorizeGeometry(w, h, 32);
    assert.equal(g.side, long + 2 * m, `${w}×${h}`);
    assert.deepEqual(g, colorizeGeometry(w, h, 32, BORDER_MARGIN));
  }
  // 4×2 with margin 1/4 (1 pixel) in a square of side 6, at size 6 (scale 1).
  const g = colorizeGeometry(4, 2, 6, 0.25);
  assert.equal(g.side, 6);
  assert.deepEqual(g.padX, { before: 1, after: 1, mode: "reflect" });
  assert.deepEqual(g.padY, { before: 2, after: 2, mode: "edge" });
  // Input: columns [1, 0, 1, 2, 3, 2] (reflected), rows [0, 0, 0, 1, 1, 1] (replicated).
  const L = Float32Array.of(0, 10, 20, 30, 40, 50, 60, 70);
  const cols = [1, 0, 1, 2, 3, 2], rows = [0, 0, 0, 1, 1, 1];
  const want = rows.flatMap((r) => cols.map((c) => L[4 * r + c] / 50 - 1));
  assertClose(modelInput(L, g), want, { atol: 1e-6 }, "4×2 in a 6-square");
  // Output: the image is model rows 2–3, columns 1–4, picked exactly.
  const plane = Float32Array.from({ length: 36 }, (_, i) => i);
  assert.deepEqual([...modelOutputToImage(plane, g)], [13, 14, 15, 16, 19, 20, 21, 22]);
  // Margin 0 is the plain square of the longer side.
  assert.equal(colorizeGeometry(100, 60, 32, 0).side, 100);
});

Deno.test("geometry: constants stay constant through pad, resize and crop for any aspect", () => {
  for (
    const [w, h, size, margin] of [[97, 61, 32], [200, 7, 64], [5, 300, 32], [33, 33, 64], [1, 1, 32], [
      97,
      61,
      32,
      0,
    ]]
  ) {
    const g = colorizeGeometry(w, h, size, margin);
    const x = modelInput(new Float32Array(w * h).fill(40), g);
    // Weights sum to 1 up to f32 rounding of a few terms.
    assertClose(x, new Float32Array(size * size).fill(40 / 50 - 1), { atol: 1e-5 }, `${w}×${h} in`);
    const y = modelOutputToImage(new Float32Array(size * size).fill(-17), g);
    assertClose(y, new Float32Array(w * h).fill(-17), { atol: 1e-4 }, `${w}×${h} out`);
  }
});

Deno.test("colorizeLab: full-resolution ab from a tiny model; size must be a multiple of 2^nDown", async () => {
  manualSeed(2);
  const G = new Unet({ nDown: 5, ngf: 4 });
  const L = Float32Array.from({ length: 45 * 20 }, (_, i) => (i * 7) % 100);
  await assert.rejects(colorizeLab(G, L, 45, 20, 48), /size 48 must be a positive multiple of 32/);
  await assert.rejects(colorizeLab(G, L, 45, 21, 32), /900 L values for a 45×21 image/);
  const ab = await colorizeLab(G, L, 45, 20, 32);
  assert.equal(ab.length, 2 * 45 * 20);
  assert.ok(ab.every(Number.isFinite));
  // ab is tanh·110: |ab| ≤ 110, and a random model does not give all zeros.
  assert.ok(ab.every((v) => Math.abs(v) <= 110) && ab.some((v) => v !== 0));
  assert.equal(G.training, true, "mode restored after eval");
  G.dispose();
});

// ---------------------------------------------------------------------------
// The GPU passes (RESAMPLE_ROWS, MODEL_INPUT_COLUMNS, AB_TO_IMAGE) against the float64 references.

/** What the stand-in generators (tests/fixtures.ts's fakeGenerator) show: a U-Net's configuration, sizes multiples of 32. */
const FAKE_UNET = { config: { inputChannels: 1, outputChannels: 2, nDown: 5 }, sizeMultiple: 32 };

// Shrinking with reflect padding both ways, enlarging with edge padding, no padding, a long strip.
const CASES: [number, number, number][] = [[45, 20, 32], [20, 45, 32], [10, 7, 32], [33, 33, 64], [
  97,
  61,
  32,
], [
  200,
  7,
  64,
]];

Deno.test("GPU model input and output resampling vs float64 references (stand-in generator)", async () => {
  for (const [k, [w, h, size]] of CASES.entries()) {
    const g = colorizeGeometry(w, h, size);
    const L = Float32Array.from(rng(30 + k).uniform(w * h, 0, 100));
    const pred = Float32Array.from(rng(40 + k).uniform(2 * size * size, -1, 1));
    const { G, input } = fakeGenerator(size, pred, FAKE_UNET);
    const ab = await colorizeLab(G, L, w, h, size);
    // The input is L/50 − 1 of weighted sums of L ≤ 100 with weights summing to 1: f32 rounding of the
    // weights (6e-8 relative) and of the sums, scaled by 1/50, gives a few 1e-7; measured ≤ 5.1e-7 on
    // lavapipe over these cases and 640×480 at 256. 2e-6 leaves 4×.
    assertClose(await input(), modelInput(L, g), { atol: 2e-6 }, `${w}×${h} at ${size}: model input`);
    const ref = new Float64Array(2 * w * h);
    for (let c = 0; c < 2; c++) {
      const plane = modelOutputToImage(pred.subarray(c * size * size, (c + 1) * size * size), g);
      ref.set(plane.map((v) => v * MODEL_AB_SCALE), c * w * h);
    }
    // ab up to 110 in Lab units, where an f32 ulp is 7.6e-6; measured ≤ 1.9e-5 (as above). 1e-4 leaves 5×.
    assertClose(ab, ref, { atol: 1e-4 }, `${w}×${h} at ${size}: ab`);
    assert.equal(G.training, true, "mode restored");
  }
});

Deno.test("colorizeRgba on the GPU vs float64 Lab of the photo and the reference ab: bytes within 1, alpha kept, one submit", async () => {
  const rt = await gpu();
  for (const [k, [w, h, size]] of CASES.entries()) {
    const g = colorizeGeometry(w, h, size);
    const img = randomRgba(w, h, 50 + k);
    const pred = Float32Array.from(rng(60 + k).uniform(2 * size * size, -0.3, 0.3));
    const { G } = fakeGenerator(size, pred, FAKE_UNET);
    const submits = rt.submits;
    const out = await colorizeRgba(G, img, size);
    // Upload, conversion, resampling, generator, recombination: all recorded, then one readback.
    assert.equal(rt.submits - submits, 1, "one submit");
    assert.deepEqual([out.width, out.height], [w, h]);
    const a = modelOutputToImage(pred.subarray(0, size * size), g);
    const b = modelOutputToImage(pred.subarray(size * size), g);
    let worst = 0;
    for (let i = 0; i < w * h; i++) {
      const p = 4 * i;
      const [L] = rgbToLabCpu(img.rgba[p] / 255, img.rgba[p + 1] / 255, img.rgba[p + 2] / 255);
      const rgb = labToRgbCpu(L, a[i] * MODEL_AB_SCALE, b[i] * MODEL_AB_SCALE);
      for (let c = 0; c < 3; c++) {
        worst = Math.max(worst, Math.abs(out.rgba[p + c] - Math.round(255 * rgb[c])));
      }
      assert.equal(out.rgba[p + 3], img.rgba[p + 3], `alpha of pixel ${i}`);
    }
    // The f32 pipeline's RGB is ~6e-6 (of 1) off the float64 one (tests/color_test.ts), a few 1e-3 of a
    // byte step, so only a value that close to a rounding midpoint rounds the other way: one step at
    // most (measured: 24 of 1M bytes, over these cases and 640×480 at 256).
    assert.ok(worst <= 1, `${w}×${h}: a byte off by ${worst}`);
  }
});

Deno.test("bands of rows (photos larger than a storage binding) give the same bytes as one band", async () => {
  const [w, h, size] = [45, 37, 32];
  const img = randomRgba(w, h, 70);
  const pred = Float32Array.from(rng(71).uniform(2 * size * size, -0.3, 0.3));
  const { G } = fakeGenerator(size, pred, FAKE_UNET);
  const same = (x: ArrayLike<number>, y: ArrayLike<number>, label: string) =>
    assertClose(x, y, { atol: 0 }, label);
  same(
    (await colorizeRgba(G, img, size, { bandRows: 5 })).rgba,
    (await colorizeRgba(G, img, size)).rgba,
    "rgba",
  );
  const L = await rgbaToL(img);
  same(await rgbaToL(img, { bandRows: 4 }), L, "L");
  const ab = await colorizeLab(G, L, w, h, size);
  same(await colorizeLab(G, L, w, h, size, { bandRows: 6 }), ab, "ab");
  same(
    await labToRgba(L, ab, w, h, img.rgba, { bandRows: 3 }),
    await labToRgba(L, ab, w, h, img.rgba),
    "labToRgba",
  );
});

Deno.test("largestTensorBytes is the largest tensor colorizing allocates (input, output, widest activation or weight)", async () => {
  // ngf 8: the outermost concat (16 channels at size/2) is widest; ngf 2: the 2-channel output.
  for (const config of [{ nDown: 5, ngf: 8 }, { nDown: 5, ngf: 2 }, { nDown: 6, ngf: 4 }]) {
    manualSeed(3);
    const G = new Unet(config);
    const size = 2 * G.sizeMultiple;
    const empty = Tensor.empty;
    let largest = 0;
    Tensor.empty = (shape, op) => {
      largest = Math.max(largest, 4 * shape.reduce((a, b) => a * b, 1));
      return empty.call(Tensor, shape, op);
    };
    try {
      // A photo smaller than the model, so the photo's own tensors are not the largest.
      await colorizeRgba(G, randomRgba(30, 20, 80), size);
    } finally {
      Tensor.empty = empty;
    }
    assert.equal(largest, largestTensorBytes(G.config, size), `ngf ${config.ngf}, nDown ${config.nDown}`);
    G.dispose();
  }
});

/** The largest tensor (bytes) allocated while `fn` runs. */
async function largestAllocation(fn: () => Promise<unknown>): Promise<number> {
  const empty = Tensor.empty;
  let largest = 0;
  Tensor.empty = (shape, op) => {
    largest = Math.max(largest, 4 * shape.reduce((a, b) => a * b, 1));
    return empty.call(Tensor, shape, op);
  };
  try {
    await fn();
  } finally {
    Tensor.empty = empty;
  }
  return largest;
}

Deno.test("largestTensorBytes for the ResNet U-Net and the diverse generator: the widest activation as recorded, the largest weight as built", async () => {
  const configs: [FullGeneratorConfig, number][] = [
    // The ResNet at 64: its largest weight (middle.0, 1024×512×3×3) outweighs the activations, so the two
    // terms are compared one by one.
    [{
      kind: "resnet-unet",
      encoder: "resnet18",
      inputChannels: 1,
      outputChannels: 2,
      attention: false,
      norm: "batch",
    }, 64],
    [{
      kind: "diverse",
      inputChannels: 1,
      outputChannels: 2,
      layers: 4,
      filters: 8,
      noiseChannels: 2,
      norm: "batch",
    }, 24],
    [{
      kind: "diverse",
      inputChannels: 1,
      outputChannels: 2,
      layers: 2,
      filters: 2,
      noiseChannels: 0,
      norm: "instance",
    }, 16],
  ];
  for (const [config, size] of configs) {
    manualSeed(3);
    const G = buildGeneratorFromConfig(config);
    const recorded = await largestAllocation(() => colorizeRgba(G, randomRgba(15, 10, 81), size));
    const what = `${config.kind} at ${size}`;
    assert.equal(recorded, activationBytesPerPixel(config) * size * size, `${what}: activations`);
    let weight = 0;
    for (const t of G.stateDict().values()) weight = Math.max(weight, 4 * t.size);
    assert.equal(largestTensorBytes(config, 0), weight, `${what}: weights`);
    assert.equal(largestTensorBytes(config, size), Math.max(recorded, weight), what);
    G.dispose();
  }
});

Deno.test("largestSize: the largest multiple of 2^nDown within both limits; sizeProblem names the limit", () => {
  const config = new Unet({ nDown: 5, ngf: 4 }).config;
  const MiB = 2 ** 20;
  const fits = (s: number, binding: number, buffer: number) => {
    const bytes = largestTensorBytes(config, s);
    return bytes <= binding && sizeClass(bytes) <= buffer;
  };
  // 8 bytes a model pixel: 128 MiB holds 4096²; a 100 MiB buffer limit (size classes round up) less.
  for (const [binding, buffer, want] of [[128 * MiB, 2048 * MiB, 4096], [128 * MiB, 100 * MiB, 0]]) {
    const got = largestSize(config, { bindingBytes: binding, bufferBytes: buffer });
    if (want) assert.equal(got, want);
    assert.equal(got % 32, 0);
    assert.ok(got > 0 && fits(got, binding, buffer) && !fits(got + 32, binding, buffer), `${got}`);
  }
  assert.equal(largestSize(config, { bindingBytes: 1000, bufferBytes: 1000 }), 0);
  const limits = { bindingBytes: 128 * MiB, bufferBytes: 2048 * MiB };
  assert.equal(sizeProblem(config, 4096, limits, "m.safetensors"), null);
  assert.equal(
    sizeProblem(config, 4128, limits, "m.safetensors"),
    "too large for this GPU: the generator's largest tensor would need 130.0 MiB, more than the " +
      "adapter's maxStorageBufferBindingSize (134217728 bytes); the largest size for m.safetensors here is 4096",
  );
  assert.match(
    sizeProblem(config, 4096, { bindingBytes: 128 * MiB, bufferBytes: 100 * MiB }, "m")!,
    /maxBufferSize \(104857600 bytes\); the largest size for m here is 3520$/,
  );
  assert.match(
    sizeProblem(config, 32, { bindingBytes: 1000, bufferBytes: 1000 }, "m")!,
    /m fits at no size here$/,
  );
});

// ---------------------------------------------------------------------------
// The web page's note when it falls back to a random generator: advice for the case that failed.

Deno.test("web page: the fallback note's advice matches the model that failed", () => {
  const parameters = 123456;
  const arbitrary =
    "page uses a small U-Net with random weights (123,456 parameters): the colours are arbitrary.";
  const save = 'Train one with "deno task train" and save it as models/default.safetensors for real colours.';
  // No shipped model: train one and save it there.
  assert.equal(
    fallbackNote({
      source: "default",
      why: "no trained model at /models/default.safetensors",
      missing: true,
      parameters,
    }),
    `No trained model at /models/default.safetensors, so this ${arbitrary} ${save}`,
  );
  // A shipped model that cannot be used: replace it.
  const broken = fallbackNote({
    source: "default",
    why: "default.safetensors could not be used: truncated",
    parameters,
  });
  assert.match(broken, /^Default\.safetensors could not be used: truncated, so this page uses/);
  assert.match(
    broken,
    /Replace models\/default\.safetensors with a model from "deno task train" or "deno task import"/,
  );
  // The ?model= URL failed while the shipped model is there: fix the URL or drop it, not "save one".
  const param = fallbackNote({
    source: "param",
    why: "no trained model at /out/x.safetensors",
    missing: true,
    defaultExists: true,
    parameters,
  });
  assert.ok(!param.includes("save it as"), param);
  assert.match(param, /^No trained model at \/out\/x\.safetensors, so this page uses/);
  assert.match(
    param,
    /Check \?model= \(it must name a model from "deno task train" or "deno task import"\), or remove it to use models\/default\.safetensors\.$/,
  );
  // ... and while there is no shipped model either.
  const neither = fallbackNote({ source: "param", why: "x.safetensors could not be used: bad", parameters });
  assert.match(
    neither,
    /Check \?model= .*, or save such a model as models\/default\.safetensors and remove it\.$/,
  );
  // ?model=random asked for it.
  assert.match(
    fallbackNote({ source: "random", defaultExists: true, parameters }),
    /^\?model=random: this page uses .* Remove \?model=random from the address to use models\/default\.safetensors\.$/,
  );
  assert.equal(fallbackNote({ source: "random", parameters }), `?model=random: this ${arbitrary} ${save}`);
});

// ---------------------------------------------------------------------------
// The CLI.

const dir = await Deno.makeTempDir({ prefix: "colorize_test_" });
const modelPath = join(dir, "tiny.safetensors");
const W = 97, H = 61;

/**
 * Colourful gradients with a one-pixel checkerboard in green (±25), so the
 * lightness has detail at full resolution that a model at 64×64 cannot carry:
 * losing it (using model-resolution L) or shifting it shows up at once.
 * Channels stay in [15, 240], away from the black and white ends where chroma
 * clips out of the sRGB gamut.
 */
function gradient(w: number, h: number): RgbaImage {
  const rgba = new Uint8Array(4 * w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = 4 * (y * w + x);
      rgba[p] = Math.round(40 + 175 * x / Math.max(w - 1, 1));
      rgba[p + 1] = Math.round(65 + 125 * y / Math.max(h - 1, 1)) + ((x + y) & 1 ? 25 : -25);
      rgba[p + 2] = Math.round(127.5 + 80 * Math.sin(x * 0.21 + y * 0.13));
      rgba[p + 3] = 255;
    }
  }
  return { width: w, height: h, rgba };
}

function lightness(img: RgbaImage): Float64Array {
  const out = new Float64Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) {
    out[i] = rgbToLabCpu(img.rgba[4 * i] / 255, img.rgba[4 * i + 1] / 255, img.rgba[4 * i + 2] / 255)[0];
  }
  return out;
}

{
  manualSeed(5);
  const G = new Unet({ nDown: 5, ngf: 4 });
  initPix2pixWeights(G);
  // pix2pix's N(0, 0.02) init predicts |ab| < 0.3, i.e. gray: scaling the last layer 100× gives
  // |ab| up to ~27, real colour, while staying mostly inside the sRGB gamut.
  const last = G.stateDict().get("model.model.3.weight")!;
  G.loadStateDict(new Map([["model.model.3.weight", (await last.data()).map((v) => 100 * v)]]), false);
  // train.size 64 becomes colorize's default --size.
  await Deno.writeFile(modelPath, await encodeCheckpoint({ G, train: { size: 64 } }));
  G.dispose();
}

/** Captures what the CLI writes. */
function capture(): CliIo & { errors: string[]; infos: string[] } {
  const errors: string[] = [], infos: string[] = [];
  return { errors, infos, error: (l) => errors.push(l), info: (l) => infos.push(l), progress: false };
}

async function fresh(name: string): Promise<string> {
  const d = join(dir, name);
  await Deno.mkdir(d, { recursive: true });
  return d;
}

Deno.test("colorize CLI: NAME.color.png beside the input, same size, L kept within 1", async () => {
  const d = await fresh("basic");
  const input = join(d, "photo.png");
  const img = gradient(W, H);
  await writeImage(input, img);
  const io = capture();
  assert.equal(await main([input, "--model", modelPath], io), 0, io.errors.join("\n"));
  assert.deepEqual(io.errors, []);
  const out = await readImage(join(d, "photo.color.png"));
  assert.equal(out.width, W);
  assert.equal(out.height, H);
  // The output is Lab(original L, predicted ab) → sRGB → 8 bits. Rounding to 8 bits moves L by
  // ≤ 0.4 (measured max 0.19 here; gamut clipping would move it more, but the colours stay inside).
  // 1 unit of L is about the smallest visible lightness step; the checkerboard's neighbours differ
  // by ~15, so a shifted or low-resolution L fails by far.
  assertClose(lightness(out), lightness(img), { atol: 1 }, "L of output vs input");
  // And it is really colourised: a chroma of several units somewhere (the input's own colour is
  // discarded, so this comes from the model).
  let chroma = 0;
  for (let i = 0; i < W * H; i++) {
    const [, a, b] = rgbToLabCpu(out.rgba[4 * i] / 255, out.rgba[4 * i + 1] / 255, out.rgba[4 * i + 2] / 255);
    chroma = Math.max(chroma, Math.hypot(a, b));
  }
  assert.ok(chroma > 5, `max chroma ${chroma}`);
});

Deno.test("colorize CLI: -o file (JPEG by extension), -o folder for a folder input, *.color.png skipped", async () => {
  const d = await fresh("outputs");
  const input = join(d, "a.png");
  await writeImage(input, gradient(40, 70));
  const io = capture();
  const jpg = join(d, "result.jpg");
  assert.equal(await main([input, "-o", jpg, "--model", modelPath], io), 0, io.errors.join("\n"));
  const bytes = await Deno.readFile(jpg);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], "a JPEG");
  const out = await readImage(jpg);
  assert.deepEqual([out.width, out.height], [40, 70]);

  // A folder: recursion into sub/, earlier outputs skipped, structure mirrored under -o.
  const src = await fresh("outputs/src");
  await Deno.mkdir(join(src, "sub"));
  await writeImage(join(src, "one.png"), gradient(33, 20));
  await writeImage(join(src, "sub", "two.jpg"), gradient(20, 33));
  await writeImage(join(src, "old.color.png"), gradient(8, 8));
  await Deno.writeTextFile(join(src, "notes.txt"), "not an image");
  const outDir = join(d, "out");
  const io2 = capture();
  assert.equal(await main([src, "-o", outDir, "--model", modelPath], io2), 0, io2.errors.join("\n"));
  const names: string[] = [];
  for await (const e of Deno.readDir(outDir)) names.push(e.name);
  assert.deepEqual(names.sort(), ["one.color.png", "sub"]);
  const two = await readImage(join(outDir, "sub", "two.color.png"));
  assert.deepEqual([two.width, two.height], [20, 33]);
});

Deno.test("colorize CLI: never overwrites an input", async () => {
  const d = await fresh("overwrite");
  const input = join(d, "x.png");
  await writeImage(input, gradient(30, 30));
  const before = await Deno.readFile(input);
  const io = capture();
  assert.equal(await main([input, "-o", input, "--model", modelPath], io), 1);
  assert.deepEqual(io.errors, [`colorize: ${input}: output ${input} is an input; refusing to overwrite it`]);
  assert.deepEqual(await Deno.readFile(input), before);
});

/** Whether two byte arrays are equal (a boolean, so a failure does not print every byte). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("colorize CLI: an input reached through a hard link is not overwritten", async () => {
  const d = await fresh("hardlink");
  const input = join(d, "in.png"), output = join(d, "out.png");
  await writeImage(input, gradient(30, 20));
  await Deno.link(input, output);
  const before = await Deno.readFile(input);
  const io = capture();
  assert.equal(await main([input, "-o", output, "--model", modelPath], io), 1);
  assert.deepEqual(io.errors, [`colorize: ${input}: output ${output} is an input; refusing to overwrite it`]);
  assert.ok(sameBytes(await Deno.readFile(input), before), "the input keeps its bytes");
  // Also when the link is an output of a folder input (same name, other folder).
  const src = await fresh("hardlink/src"), outDir = await fresh("hardlink/out");
  await Deno.link(input, join(src, "a.png"));
  await Deno.link(input, join(outDir, "a.color.png"));
  const io2 = capture();
  assert.equal(await main([src, "-o", outDir, "--model", modelPath], io2), 1);
  assert.match(io2.errors[0], /is an input; refusing to overwrite it$/);
  assert.ok(sameBytes(await Deno.readFile(input), before), "the input keeps its bytes");
});

Deno.test("colorize CLI: outputs are written to a temporary file and renamed (a hard-linked old output's other name keeps its bytes)", async () => {
  const d = await fresh("rename");
  const input = join(d, "in.png"), output = join(d, "out.png"), other = join(d, "keep.png");
  await writeImage(input, gradient(30, 20));
  await writeImage(other, gradient(8, 8));
  await Deno.link(other, output);
  const kept = await Deno.readFile(other);
  const io = capture();
  assert.equal(await main([input, "-o", output, "--model", modelPath], io), 0, io.errors.join("\n"));
  // Writing in place would have changed keep.png too; a rename gives out.png a new file.
  assert.ok(sameBytes(await Deno.readFile(other), kept), "keep.png keeps its bytes");
  const out = await readImage(output);
  assert.deepEqual([out.width, out.height], [30, 20]);
  const names: string[] = [];
  for await (const e of Deno.readDir(d)) names.push(e.name);
  assert.deepEqual(names.sort(), ["in.png", "keep.png", "out.png"], "no temporary file left");
});

Deno.test("colorize CLI: a --size beyond the adapter's limits is a usage error before any file", async () => {
  const d = await fresh("huge");
  const input = join(d, "p.png");
  await writeImage(input, gradient(20, 20));
  const io = capture();
  assert.equal(await main([join(d, "missing.png"), input, "--model", modelPath, "--size", "99968"], io), 2);
  assert.equal(io.errors.length, 1, io.errors.join("\n"));
  assert.match(io.errors[0], /^colorize: --size 99968: .*maxStorageBufferBindingSize/);
  assert.ok(!io.errors[0].includes("missing.png"), "no file was looked at");
  const names: string[] = [];
  for await (const e of Deno.readDir(d)) names.push(e.name);
  assert.deepEqual(names, ["p.png"]);
});

Deno.test("colorize CLI: -o mistakes get one clear line, exit 2, and write nothing", async () => {
  const d = await fresh("oerrors");
  const input = join(d, "p.png");
  await writeImage(input, gradient(20, 20));
  const run = async (output: string) => {
    const io = capture();
    const code = await main([input, "-o", output, "--model", modelPath], io);
    return { code, errors: io.errors };
  };
  // A new folder for one input needs a trailing slash (otherwise it reads as a file name).
  const sub = join(d, "newdir", "sub");
  const r1 = await run(sub);
  assert.equal(r1.code, 2);
  assert.equal(r1.errors.length, 1);
  assert.match(r1.errors[0], /must end in \.png, \.jpg or \.jpeg/);
  assert.ok(r1.errors[0].includes(`${sub}/`), `suggests the trailing /: ${r1.errors[0]}`);
  // A file where a folder should be.
  const file = join(d, "file.jpg");
  await Deno.writeTextFile(file, "not a folder");
  assert.deepEqual(await run(join(file, "x.png")), {
    code: 2,
    errors: [`colorize: -o ${join(file, "x.png")}: ${file} is a file, not a folder`],
  });
  assert.deepEqual(await run(`${file}/`), {
    code: 2,
    errors: [`colorize: -o ${file}/: ${file} is a file, not a folder`],
  });
  const names: string[] = [];
  for await (const e of Deno.readDir(d)) names.push(e.name);
  assert.deepEqual(names.sort(), ["file.jpg", "p.png"]);
});

Deno.test("colorize CLI: the same file given twice is colorized once", async () => {
  const d = await fresh("twice");
  const input = join(d, "p.png");
  await writeImage(input, gradient(20, 20));
  const io = capture();
  // Spelled differently the second time, and once more through the folder.
  const again = `${d}/./p.png`;
  const code = await main([input, again, d, "-o", join(d, "out/"), "--model", modelPath], io);
  assert.equal(code, 0, io.errors.join("\n"));
  assert.deepEqual(io.errors, [
    `colorize: ${again}: given twice; colorized once`,
    `colorize: ${input}: given twice; colorized once`,
  ]);
  assert.match(io.infos.at(-1)!, /^colorize: 1 of 1 done$/);
  const out = await readImage(join(d, "out", "p.color.png"));
  assert.deepEqual([out.width, out.height], [20, 20]);
});

Deno.test("atomicWrite: never writes through an entry already there, and leaves no temporary file on failure", async () => {
  const d = await fresh("atomic");
  const target = join(d, "x.png"), precious = join(d, "precious.png");
  await Deno.writeTextFile(precious, "keep me");
  // A link where a fixed temporary name would be: opening it for writing would write into precious.png.
  await Deno.symlink(precious, `${target}.tmp`);
  await atomicWrite(target, new TextEncoder().encode("new"));
  assert.equal(await Deno.readTextFile(target), "new");
  assert.equal(await Deno.readTextFile(precious), "keep me");
  assert.equal(await Deno.readLink(`${target}.tmp`), precious);
  // The rename fails (a folder with files is in the way): the error comes through and no temporary
  // file is left beside it.
  const blocked = join(d, "blocked");
  await Deno.mkdir(blocked);
  await Deno.writeTextFile(join(blocked, "inside"), "");
  await assert.rejects(atomicWrite(blocked, new TextEncoder().encode("x")));
  const names: string[] = [];
  for await (const e of Deno.readDir(d)) names.push(e.name);
  assert.deepEqual(names.sort(), ["blocked", "precious.png", "x.png", "x.png.tmp"]);
});

/** A PNG whose header says 0×0 (valid chunks and CRCs, so only the size is wrong). */
function zeroPng(): Uint8Array {
  const ihdr = new Uint8Array(13);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, width = height = 0
  const parts = [Uint8Array.from(PNG_SIGNATURE), pngChunk("IHDR", ihdr), pngChunk("IEND", new Uint8Array())];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

Deno.test("colorize CLI: bad inputs each get one line, the batch goes on, exit code 1", async () => {
  const d = await fresh("bad");
  const good = join(d, "good.png");
  await writeImage(good, gradient(W, H));
  const missing = join(d, "missing.png");
  const text = join(d, "text.png");
  await Deno.writeTextFile(text, "hello, not a picture");
  const jpg = join(d, "full.jpg");
  await writeImage(jpg, gradient(64, 48));
  const cut = join(d, "cut.jpg");
  const jbytes = await Deno.readFile(jpg);
  await Deno.writeFile(cut, jbytes.subarray(0, Math.floor(jbytes.length / 2)));
  const zero = join(d, "zero.png");
  await Deno.writeFile(zero, zeroPng());

  const io = capture();
  const code = await main([missing, text, cut, zero, good, "--model", modelPath], io);
  assert.equal(code, 1);
  assert.equal(io.errors.length, 4, io.errors.join("\n"));
  for (const [file, line] of [missing, text, cut, zero].map((f, i) => [f, io.errors[i]] as const)) {
    assert.ok(line.startsWith(`colorize: ${file}: `), line);
    assert.ok(
      !line.includes("\n") && !line.slice(`colorize: ${file}: `.length).includes(file),
      `names it once: ${line}`,
    );
  }
  assert.match(io.errors[0], /no such file or directory$/);
  assert.match(io.errors[1], /not a JPEG, PNG, GIF, TIFF or WebP image/);
  assert.match(io.errors[2], /truncat/i);
  assert.match(io.errors[3], /0×0|0x0|empty|zero|size/i);
  // The good file after them was still done.
  const out = await readImage(join(d, "good.color.png"));
  assert.deepEqual([out.width, out.height], [W, H]);
  assert.match(io.infos.at(-1)!, /1 of 5 done, 4 failed/);
});

Deno.test("colorize CLI: unusable models and options stop with exit code 2 and one line", async () => {
  const d = await fresh("models");
  const input = join(d, "p.png");
  await writeImage(input, gradient(20, 20));
  const run = async (args: string[], opts = {}) => {
    const io = capture();
    const code = await main(args, io, opts);
    return { code, errors: io.errors };
  };
  // A PNG passed as the model.
  assert.deepEqual(await run([input, "--model", input]), {
    code: 2,
    errors: [`colorize: ${input}: not a safetensors file, so not a pix2pix-colorize checkpoint`],
  });
  const bytes = await Deno.readFile(modelPath);
  const cut = join(d, "cut.safetensors");
  await Deno.writeFile(cut, bytes.subarray(0, bytes.length - 100));
  const r1 = await run([input, "--model", cut]);
  assert.equal(r1.code, 2);
  assert.match(
    r1.errors[0],
    new RegExp(`^colorize: ${cut.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: truncated`),
  );
  const r2 = await run([input], { defaultModel: new URL("file:///nonexistent/default.safetensors") });
  assert.deepEqual(r2, {
    code: 2,
    errors: ["colorize: no shipped model yet: pass --model FILE (train one with deno task train)"],
  });
  const r3 = await run([input, "--model", modelPath, "--size", "48"]);
  assert.equal(r3.code, 2);
  assert.match(r3.errors[0], /--size 48 must be a multiple of 32/);
  const r4 = await run([input, "--model", join(d, "nope.safetensors")]);
  assert.deepEqual(r4.errors, [`colorize: ${join(d, "nope.safetensors")}: no such file or directory`]);
  assert.equal((await run([])).code, 2);
  const io = capture();
  assert.equal(await main(["--help"], io), 0);
  assert.match(io.infos[0], /^Usage: deno task colorize/);
  // Nothing was written next to the input by the failed runs.
  const names: string[] = [];
  for await (const e of Deno.readDir(d)) names.push(e.name);
  assert.deepEqual(names.sort(), ["cut.safetensors", "p.png"]);
});

Deno.test("colorize CLI: --tune decides each layer's kernel once, keeps the choices in the cache folder, same bytes", async () => {
  const d = await fresh("tune");
  const input = join(d, "photo.png");
  await writeImage(input, gradient(W, H));
  const io = capture();
  assert.equal(
    await main([input, "-o", join(d, "plain.png"), "--model", modelPath], io),
    0,
    io.errors.join("\n"),
  );
  const cacheHome = join(d, "cache");
  const before = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", cacheHome);
  try {
    assert.equal(await main([input, "-o", join(d, "tuned.png"), "--model", modelPath, "--tune"], io), 0);
    assert.deepEqual(io.errors, []);
    assert.equal(autotuner.pending, 0);
    const cache = JSON.parse(await Deno.readTextFile(join(cacheHome, "colorize", "autotune.json")));
    const tables = Object.values(cache.adapters as Record<string, Record<string, Record<string, unknown>>>);
    const shapes = Object.keys(Object.values(tables[0])[0]);
    assert.ok(shapes.some((k) => k.startsWith("conv ")), `cached shapes: ${shapes.join("; ")}`);
    // The conv variants sum in the same order, so tuning never changes a colorized byte.
    assert.deepEqual(
      (await readImage(join(d, "tuned.png"))).rgba,
      (await readImage(join(d, "plain.png"))).rgba,
    );
    // A second run finds every shape decided: nothing is timed again.
    const timed = autotuner.timedLaunches;
    assert.equal(await main([input, "-o", join(d, "again.png"), "--model", modelPath, "--tune"], io), 0);
    assert.equal(autotuner.timedLaunches, timed);
  } finally {
    autotuner.enabled = false;
    if (before === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", before);
  }
});

// ---------------------------------------------------------------------------
// Every generator kind; several colourings from a model with noise.

/**
 * A diverse generator with PyTorch's default init (activations of order 1, so the colour varies with the
 * noise), its output layer scaled to keep |ab| within ~40, inside the sRGB gamut (clipping moves L).
 */
async function diverseModel(seed: number, noiseChannels = 1): Promise<DiverseGenerator> {
  manualSeed(seed);
  const G = new DiverseGenerator({ layers: 3, filters: 6, noiseChannels });
  const w = await G.stateDict().get("conv3.weight")!.data();
  G.loadStateDict(new Map([["conv3.weight", w.map((v) => 0.3 * v)]]), false);
  return G;
}

Deno.test("colorizeRgba works with every generator kind; sizes are multiples of each model's sizeMultiple", async () => {
  const img = gradient(45, 20);
  manualSeed(11);
  const models: [Generator, number, number | null][] = [
    [new Unet({ nDown: 5, ngf: 4 }), 32, 48],
    [new ResnetUnet(), 32, 48],
    // Any size: no down-sampling.
    [await diverseModel(12), 24, null],
  ];
  for (const [G, size, bad] of models) {
    const name = G.constructor.name;
    // Margin 0: with the default margin this random U-Net's ab at pixel 0 lands out of gamut and the
    // clipping moves L by 1.25; this test is about generator kinds, the geometry tests cover the margin.
    const out = await colorizeRgba(G, img, size, { seed: 3, margin: 0 });
    assert.equal(out.width, 45, name);
    assert.equal(out.height, 20, name);
    assertClose(lightness(out), lightness(img), { atol: 1 }, `${name}: L kept`);
    assert.equal(G.training, true, `${name}: mode restored`);
    if (bad !== null) {
      await assert.rejects(
        colorizeRgba(G, img, bad),
        new RegExp(`size ${bad} must be a positive multiple of ${G.sizeMultiple} \\(for this model: `),
        name,
      );
    }
    await assert.rejects(colorizeRgba(G, img, 0), /size 0 must be a positive/, name);
    G.dispose();
  }
});

Deno.test("colorizeRgba with noise: each seed its own colouring, the same seed the same bytes; a model without noise ignores seeds", async () => {
  const img = gradient(40, 30);
  const G = await diverseModel(13);
  const [a, a2, b] = [
    await colorizeRgba(G, img, 32, { seed: 1 }),
    await colorizeRgba(G, img, 32, { seed: 1 }),
    await colorizeRgba(G, img, 32, { seed: 2 }),
  ];
  assert.deepEqual(a.rgba, a2.rgba);
  let differ = 0;
  for (let i = 0; i < a.rgba.length; i++) if (Math.abs(a.rgba[i] - b.rgba[i]) > 2) differ++;
  assert.ok(differ > a.rgba.length / 20, `${differ} bytes differ by more than 2`);
  // Without a seed the noise comes from the global generator: reproducible after manualSeed.
  manualSeed(5);
  const c = await colorizeRgba(G, img, 32);
  manualSeed(5);
  assert.deepEqual((await colorizeRgba(G, img, 32)).rgba, c.rgba);
  G.dispose();
  const quiet = await diverseModel(14, 0);
  assert.deepEqual(
    (await colorizeRgba(quiet, img, 32, { seed: 1 })).rgba,
    (await colorizeRgba(quiet, img, 32, { seed: 2 })).rgba,
  );
  quiet.dispose();
});

const diversePath = join(dir, "diverse.safetensors");
{
  const G = await diverseModel(15);
  await Deno.writeFile(diversePath, await encodeCheckpoint({ G, train: { size: 32 } }));
  G.dispose();
}

Deno.test("colorize CLI: --samples N writes N different colourings NAME.color-1.png … from a model with noise, reproducibly", async () => {
  const d = await fresh("samples");
  const input = join(d, "photo.png");
  await writeImage(input, gradient(W, H));
  const io = capture();
  assert.equal(await main([input, "--model", diversePath, "--samples", "3"], io), 0, io.errors.join("\n"));
  assert.deepEqual(io.errors, []);
  const outs = [];
  for (const k of [1, 2, 3]) {
    const out = await readImage(join(d, `photo.color-${k}.png`));
    assert.equal(out.width, W);
    assert.equal(out.height, H);
    assertClose(lightness(out), lightness(gradient(W, H)), { atol: 1 }, `sample ${k}: L kept`);
    outs.push(out.rgba);
  }
  for (const [i, j] of [[0, 1], [0, 2], [1, 2]]) {
    assert.notDeepEqual(outs[i], outs[j], `samples ${i + 1}, ${j + 1}`);
  }
  // Without --samples the model colours with the first seed: the same picture as NAME.color-1.png.
  assert.equal(await main([input, "--model", diversePath], io), 0);
  assert.deepEqual((await readImage(join(d, "photo.color.png"))).rgba, outs[0]);
  // A second run gives the same bytes; -o FILE numbers FILE's name.
  assert.equal(await main([input, "--model", diversePath, "--samples", "2", "-o", join(d, "x.png")], io), 0);
  assert.deepEqual((await readImage(join(d, "x-2.png"))).rgba, outs[1]);
  // Earlier outputs, numbered or not, are skipped when a folder is colorized.
  const o = join(d, "again") + "/";
  assert.equal(await main([d, "--model", diversePath, "--samples", "2", "-o", o], io), 0);
  const names: string[] = [];
  for await (const e of Deno.readDir(o)) names.push(e.name);
  assert.deepEqual(names.sort(), [
    "photo.color-1.png",
    "photo.color-2.png",
    "x-1.color-1.png",
    "x-1.color-2.png",
    "x-2.color-1.png",
    "x-2.color-2.png",
  ]);
  assert.deepEqual(io.errors, []);
});

Deno.test("colorize CLI: --samples with a model without noise is one line, exit 2, nothing written; bad counts are usage errors", async () => {
  const d = await fresh("samples-unet");
  const input = join(d, "p.png");
  await writeImage(input, gradient(20, 20));
  const run = async (args: string[]) => {
    const io = capture();
    return { code: await main(args, io), errors: io.errors };
  };
  assert.deepEqual(await run([input, "--model", modelPath, "--samples", "4"]), {
    code: 2,
    errors: [
      `colorize: --samples 4: ${modelPath} gives one coloring per photo (its U-Net with nDown=5, ngf=4, batch norm takes no noise)`,
    ],
  });
  for (const bad of ["0", "-1", "two", "1.5", "1001"]) {
    const r = await run([input, "--model", diversePath, `--samples=${bad}`]);
    assert.equal(r.code, 2, bad);
    assert.deepEqual(r.errors, [`colorize: --samples ${bad}: expected a whole number from 1 to 1000`]);
  }
  const names: string[] = [];
  for await (const e of Deno.readDir(d)) names.push(e.name);
  assert.deepEqual(names, ["p.png"]);
  // One colouring is what such a model gives: --samples 1 is fine, and numbered like the others.
  assert.deepEqual(await run([input, "--model", modelPath, "--samples", "1", "-q"]), { code: 0, errors: [] });
  assert.ok((await Deno.stat(join(d, "p.color-1.png"))).isFile);
});

Deno.test("colorize CLI: clean up", async () => {
  await Deno.remove(dir, { recursive: true });
});
