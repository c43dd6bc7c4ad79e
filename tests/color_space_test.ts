/**
 * The colour space a generator works in: Lab (pix2pix) or YUV, as "Unsupervised Diverse Colorization
 * via Generative Adversarial Networks" (Cao et al. 2017) colours. The float64 references of YUV's
 * model units and of the luma-keeping YUV → sRGB, the GPU kernels against them (fused conversions,
 * the luma of packed RGBA, the resampling passes of colorizing), the configuration in checkpoints and
 * on the train command line, and a tiny YUV diverse model trained by `deno task train`, read back and
 * colorizing photos with their own luma.
 * Code: engine/color.ts, shaders/color.ts, models/{diverse,generators,colorize,checkpoint}.ts,
 * cli/dataset.ts (toBatch), cli/train/{options,validation}.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose, gpu, rng } from "./helpers.ts";
import { fakeGenerator, randomRgba, scene } from "./fixtures.ts";
import { tensor, tidy, tidyAsync } from "../engine/tensor.ts";
import {
  MODEL_UV_SCALE,
  modelToRgb,
  modelToRgbCpu,
  rgba8ToL,
  rgba8ToLuma,
  rgbToLabCpu,
  rgbToModel,
  rgbToModelCpu,
  rgbToYuvCpu,
  runAbToImage,
  uploadRgba8,
  yuvToRgbCpu,
  yuvToRgbInGamut,
  yuvToRgbInGamutCpu,
} from "../engine/color.ts";
import { axisWeights, packAxisWeights } from "../engine/image.ts";
import { decodeSafetensors, encodeSafetensors } from "../engine/safetensors.ts";
import { manualSeed } from "../engine/random.ts";
import { type DiverseConfig, DiverseGenerator } from "../models/diverse.ts";
import { colorSpaceOf } from "../models/generators.ts";
import { buildGenerator, decodeCheckpoint, encodeCheckpoint } from "../models/checkpoint.ts";
import {
  colorizeGeometry,
  colorizeLab,
  colorizeRgba,
  modelInput,
  modelOutputToImage,
  resample,
} from "../models/colorize.ts";
import { Pix2Pix } from "../models/pix2pix.ts";
import { toBatch } from "../cli/dataset.ts";
import { writeImage } from "../cli/image.ts";
import {
  freshGeneratorConfig,
  HELP,
  parseTrainArgs,
  resolveConfig,
  UsageError,
} from "../cli/train/options.ts";

await gpu();

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "color-space-test-" });

/** Luma Y (0..1) of the pixels of 8-bit RGBA bytes, float64. */
function lumaY(rgba: Uint8Array): Float64Array {
  return Float64Array.from(
    { length: rgba.length / 4 },
    (_, i) => rgbToYuvCpu(rgba[4 * i] / 255, rgba[4 * i + 1] / 255, rgba[4 * i + 2] / 255)[0],
  );
}

/** The largest |a[i] − b[i]|. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// Each output byte is rounded by at most half a step and Y's weights are positive and sum to 1, so a
// picture whose colours keep Y exactly has 8-bit luma within half a step of it; 1e-5 covers f32.
const LUMA_KEPT = 0.5 / 255 + 1e-5;

// ---------------------------------------------------------------------------
// Float64 references.

Deno.test("MODEL_UV_SCALE is the largest |U| and |V| of sRGB colours (blue's U, red's V): model units of every colour in [−1, 1]", () => {
  // U and V are linear in RGB, so their extremes over the RGB cube are at its corners.
  let maxU = 0, maxV = 0;
  for (let k = 0; k < 8; k++) {
    const [, u, v] = rgbToYuvCpu(k & 1, (k >> 1) & 1, (k >> 2) & 1);
    maxU = Math.max(maxU, Math.abs(u));
    maxV = Math.max(maxV, Math.abs(v));
  }
  // Within float64 rounding: cyan's V is the sum of two entries of the row, red's the third.
  assertClose([maxU, maxV], MODEL_UV_SCALE, { atol: 1e-15 }, "largest |U| and |V|");
  assertClose(rgbToModelCpu("yuv", 0, 0, 1).slice(1, 2), [1], { atol: 1e-15 }, "blue's U");
  assertClose(rgbToModelCpu("yuv", 1, 0, 0).slice(2), [1], { atol: 1e-15 }, "red's V");
  assertClose(rgbToModelCpu("yuv", 0, 0, 0), [-1, 0, 0], { atol: 1e-15 }, "black");
  assertClose(rgbToModelCpu("yuv", 1, 1, 1), [1, 0, 0], { atol: 1e-8 }, "white");
  const r = rng(1).uniform(3 * 5000, 0, 1);
  for (let i = 0; i < r.length; i += 3) {
    const m = rgbToModelCpu("yuv", r[i], r[i + 1], r[i + 2]);
    assert.ok(m.every((x) => Math.abs(x) <= 1 + 1e-15), `colour ${i / 3}: ${m}`);
  }
});

Deno.test("rgbToModelCpu / modelToRgbCpu: Lab is pix2pix's L/50 − 1 and ab/110; both spaces round-trip", () => {
  const r = rng(2).uniform(3 * 2000, 0, 1);
  for (let i = 0; i < r.length; i += 3) {
    const c: [number, number, number] = [r[i], r[i + 1], r[i + 2]];
    const [L, a, b] = rgbToLabCpu(...c);
    assertClose(rgbToModelCpu("lab", ...c), [L / 50 - 1, a / 110, b / 110], { atol: 1e-15 }, "lab units");
    for (const space of ["lab", "yuv"] as const) {
      assertClose(modelToRgbCpu(space, ...rgbToModelCpu(space, ...c)), c, { atol: 1e-9 }, `${space} back`);
    }
  }
});

Deno.test("yuvToRgbInGamutCpu: colours in gamut as yuv2rgb; outside, in [0, 1] with the same Y and the chroma shrunk along itself", () => {
  const r = rng(3);
  let shrunk = 0;
  for (let i = 0; i < 20000; i++) {
    const y = -0.1 + 1.2 * r.next(), u = 1.6 * (r.next() - 0.5), v = 1.6 * (r.next() - 0.5);
    const out = yuvToRgbInGamutCpu(y, u, v);
    assert.ok(out.every((c) => c >= 0 && c <= 1), `${[y, u, v]} → ${out}`);
    const [y2, u2, v2] = rgbToYuvCpu(...out);
    assert.ok(Math.abs(y2 - Math.min(Math.max(y, 0), 1)) < 1e-12, `Y of ${[y, u, v]}: ${y2}`);
    // (U', V') = k·(U, V) with 0 ≤ k ≤ 1: the same hue, desaturated.
    const k = Math.abs(u) > Math.abs(v) ? u2 / u : v2 / v;
    assert.ok(k >= -1e-12 && k <= 1 + 1e-12, `k ${k}`);
    assert.ok(Math.abs(u2 - k * u) < 1e-12 && Math.abs(v2 - k * v) < 1e-12, `${[u2, v2]} vs ${[u, v]}`);
    const plain = yuvToRgbCpu(y, u, v);
    if (y >= 0 && y <= 1 && plain.every((c) => c >= 0 && c <= 1)) {
      assertClose(out, plain, { atol: 1e-15 }, "in gamut: unchanged");
    } else if (k < 1 - 1e-9) shrunk++;
  }
  // Most of these random chroma vectors are out of gamut: the shrinking was exercised.
  assert.ok(shrunk > 5000, `${shrunk} colours shrunk`);
  // sRGB colours come back as they were.
  const c = rng(4).uniform(3 * 1000, 0, 1);
  for (let i = 0; i < c.length; i += 3) {
    const rgb = [c[i], c[i + 1], c[i + 2]] as const;
    assertClose(yuvToRgbInGamutCpu(...rgbToYuvCpu(...rgb)), rgb, { atol: 1e-12 }, "round trip");
  }
});

// ---------------------------------------------------------------------------
// GPU kernels against the references.

/** Planar [N,3,H,W] float64 data of per-pixel triples from `fn`. */
function planar(n: number, hw: number, fn: (s: number) => readonly number[]): Float64Array {
  const out = new Float64Array(3 * n * hw);
  for (let b = 0; b < n; b++) {
    for (let s = 0; s < hw; s++) {
      const v = fn(b * hw + s);
      for (let c = 0; c < 3; c++) out[(3 * b + c) * hw + s] = v[c];
    }
  }
  return out;
}

/** [N,1,…] and [N,2,…] planes of planar [N,3,H,W] data. */
function split(data: ArrayLike<number>, n: number, hw: number): { L: number[]; ab: number[] } {
  const L: number[] = [], ab: number[] = [];
  for (let b = 0; b < n; b++) {
    for (let s = 0; s < hw; s++) L.push(data[3 * b * hw + s]);
    for (let s = 0; s < 2 * hw; s++) ab.push(data[3 * b * hw + hw + s]);
  }
  return { L, ab };
}

Deno.test("rgbToModel / modelToRgb in YUV vs float64, out-of-gamut chroma included; yuvToRgbInGamut op; Lab's default unchanged", async () => {
  await tidyAsync(async () => {
    const [n, h, w] = [2, 3, 7], hw = h * w;
    const rgb = rng(5).uniform(3 * n * hw, 0, 1);
    const shape = [n, 3, h, w];
    const x = tensor(Float32Array.from(rgb), shape);
    const { L, ab } = rgbToModel(x, "yuv");
    const ref = split(
      planar(n, hw, (p) => {
        const b = Math.floor(p / hw), s = p % hw;
        return rgbToModelCpu(
          "yuv",
          rgb[3 * b * hw + s],
          rgb[(3 * b + 1) * hw + s],
          rgb[(3 * b + 2) * hw + s],
        );
      }),
      n,
      hw,
    );
    // A 3×3 product of values ≤ 1 and a scaling, in f32: a few ulps of 1.
    assertClose(await L.data(), ref.L, { atol: 1e-6 }, "Y in model units");
    assertClose(await ab.data(), ref.ab, { atol: 1e-6 }, "UV in model units");
    assertClose(await modelToRgb(L, ab, "yuv").data(), rgb, { atol: 2e-6 }, "round trip");

    // Arbitrary model outputs (tanh's range and a little beyond): mostly out of gamut.
    const m = rng(6).uniform(3 * n * hw, -1.2, 1.2);
    const mp = split(m, n, hw);
    const got = await modelToRgb(tensor(mp.L, [n, 1, h, w]), tensor(mp.ab, [n, 2, h, w]), "yuv").data();
    const want = planar(n, hw, (p) => {
      const b = Math.floor(p / hw), s = p % hw;
      return modelToRgbCpu("yuv", m[3 * b * hw + s], m[(3 * b + 1) * hw + s], m[(3 * b + 2) * hw + s]);
    });
    // f32 matrix product, one division and a clamp, all continuous in the input: ~1e-6.
    assertClose(got, want, { atol: 1e-5 }, "modelToRgb yuv");

    const yuv = rng(7).uniform(3 * n * hw, -0.7, 1.2);
    const direct = await yuvToRgbInGamut(tensor(Float32Array.from(yuv), shape)).data();
    const directRef = planar(n, hw, (p) => {
      const b = Math.floor(p / hw), s = p % hw;
      return yuvToRgbInGamutCpu(yuv[3 * b * hw + s], yuv[(3 * b + 1) * hw + s], yuv[(3 * b + 2) * hw + s]);
    });
    assertClose(direct, directRef, { atol: 1e-5 }, "yuvToRgbInGamut");

    // The Lab path is the default, bit for bit.
    const lab = rgbToModel(x), labExplicit = rgbToModel(x, "lab");
    assert.deepEqual(await lab.L.data(), await labExplicit.L.data());
    assert.deepEqual(await lab.ab.data(), await labExplicit.ab.data());
    assert.deepEqual(await modelToRgb(lab.L, lab.ab).data(), await modelToRgb(lab.L, lab.ab, "lab").data());
  });
});

Deno.test("rgba8ToLuma: Y of packed pixels vs float64; for Lab it is rgba8ToL", async () => {
  await tidyAsync(async () => {
    const [h, w] = [5, 9];
    const r = rng(8);
    const bytes = Uint8Array.from({ length: 4 * h * w }, () => Math.floor(256 * r.next()));
    const t = uploadRgba8(bytes, h, w);
    assertClose(await rgba8ToLuma(t, "yuv").data(), lumaY(bytes), { atol: 1e-6 }, "Y");
    assert.deepEqual(await rgba8ToLuma(t, "lab").data(), await rgba8ToL(t).data());
  });
});

Deno.test("runAbToImage in YUV: the chroma planes are the resampled prediction in U and V units", async () => {
  await tidyAsync(async () => {
    const [size, w, h] = [8, 13, 6];
    const pred = Float32Array.from(rng(9).uniform(2 * size * size, -1, 1));
    const wx = axisWeights(w, size, size / w), wy = axisWeights(h, size, size / h);
    const { data, tables } = packAxisWeights([wx, wy]);
    const taps = tensor(new Float32Array(data.buffer), [data.length]);
    const args = { taps, x: tables[0], y: tables[1], width: w, y0: 0, rows: h };
    const uv = await runAbToImage(tensor(pred, [1, 2, size, size]), { ...args, space: "yuv" }).data();
    const ref = new Float64Array(2 * w * h);
    for (let c = 0; c < 2; c++) {
      const plane = resample(pred.subarray(c * size * size, (c + 1) * size * size), size, size, wx, wy);
      ref.set(plane.map((v) => v * MODEL_UV_SCALE[c]), c * w * h);
    }
    assertClose(uv, ref, { atol: 1e-6 }, "UV");
    // The same prediction read as Lab is ab/110: the colour space decides the units.
    const ab = await runAbToImage(tensor(pred, [1, 2, size, size]), args).data();
    assertClose(ab.subarray(0, w * h), ref.subarray(0, w * h).map((v) => v / MODEL_UV_SCALE[0] * 110), {
      atol: 1e-4,
    }, "a");
  });
});

Deno.test("colorizeRgba of a YUV model: input 2Y − 1 of the photo, UV back at full resolution with the photo's Y, bytes within 1 of float64, luma and alpha kept", async () => {
  for (const [k, [w, h, size]] of [[45, 20, 32], [17, 30, 24], [9, 9, 16]].entries()) {
    const g = colorizeGeometry(w, h, size);
    const img = randomRgba(w, h, 10 + k);
    const pred = Float32Array.from(rng(20 + k).uniform(2 * size * size, -1, 1));
    const { G, input } = fakeGenerator(size, pred, {
      config: { kind: "diverse", colorSpace: "yuv", inputChannels: 1, outputChannels: 2, noiseChannels: 0 },
      sizeMultiple: 1,
    });
    assert.equal(colorSpaceOf(G.config), "yuv");
    const out = await colorizeRgba(G, img, size);
    const Y = lumaY(img.rgba);
    // Weighted means of Y ≤ 1 (weights summing to 1) mapped to 2Y − 1: f32 rounding, a few 1e-7.
    assertClose(await input(), modelInput(Y, g, "yuv"), { atol: 2e-6 }, `${w}×${h}: model input`);
    const u = modelOutputToImage(pred.subarray(0, size * size), g);
    const v = modelOutputToImage(pred.subarray(size * size), g);
    let worst = 0;
    for (let i = 0; i < w * h; i++) {
      const p = 4 * i;
      const rgb = yuvToRgbInGamutCpu(Y[i], u[i] * MODEL_UV_SCALE[0], v[i] * MODEL_UV_SCALE[1]);
      for (let c = 0; c < 3; c++) {
        worst = Math.max(worst, Math.abs(out.rgba[p + c] - Math.round(255 * rgb[c])));
      }
      assert.equal(out.rgba[p + 3], img.rgba[p + 3], `alpha of pixel ${i}`);
    }
    // Only a value within f32 error of a rounding midpoint may round the other way.
    assert.ok(worst <= 1, `${w}×${h}: a byte off by ${worst}`);
    // Random UV in [−1, 1] is mostly out of gamut, yet Y survives (Lab's per-channel clipping would move L).
    assert.ok(
      maxDiff(lumaY(out.rgba), Y) <= LUMA_KEPT,
      `${w}×${h}: luma moved by ${maxDiff(lumaY(out.rgba), Y)}`,
    );
    // Colour, not gray.
    assert.ok(out.rgba.some((b, i) => i % 4 === 0 && Math.abs(b - out.rgba[i + 1]) > 20), "coloured");
    // colorizeLab has only L, which does not give Y.
    await assert.rejects(
      colorizeLab(G, new Float32Array(w * h), w, h, size),
      /colorize: this model colours in YUV, not Lab/,
    );
  }
});

// ---------------------------------------------------------------------------
// Configuration: model, checkpoint, command line.

Deno.test("checkpoints: a YUV diverse model keeps its colour space; a config saved without one reads as Lab; a bad one is one line", async () => {
  manualSeed(1);
  const G = new DiverseGenerator({ layers: 2, filters: 2, colorSpace: "yuv" });
  const bytes = await encodeCheckpoint({ G });
  G.dispose();
  const ck = decodeCheckpoint(bytes, "m.safetensors");
  assert.equal(ck.generatorConfig.kind, "diverse");
  assert.equal(colorSpaceOf(ck.generatorConfig), "yuv");
  const built = buildGenerator(ck);
  assert.equal(colorSpaceOf(built.config), "yuv");
  built.dispose();
  const { tensors, metadata } = decodeSafetensors(bytes);
  const config = JSON.parse(metadata.generator_config);
  const rewrite = (c: Record<string, unknown>) =>
    encodeSafetensors(tensors, { ...metadata, generator_config: JSON.stringify(c) });
  const { colorSpace: _, ...older } = config;
  // Filled in as "lab", not left for colorSpaceOf to guess.
  const read = decodeCheckpoint(rewrite(older), "old.safetensors").generatorConfig as DiverseConfig;
  assert.equal(read.colorSpace, "lab");
  assert.throws(
    () => decodeCheckpoint(rewrite({ ...config, colorSpace: "rgb" }), "m.safetensors"),
    /^Error: m\.safetensors: generator_config: DiverseGenerator: colorSpace must be "lab" or "yuv" \(got "rgb"\)$/,
  );
  assert.throws(
    () => decodeCheckpoint(rewrite({ ...config, inputChannels: 4 }), "m.safetensors"),
    /^Error: m\.safetensors: generator_config: DiverseGenerator: a "yuv" model takes 1 input channel \(Y; colour hints are Lab-only\), got 4$/,
  );
  // Every other kind colours in Lab.
  assert.equal(colorSpaceOf({ nDown: 5 }), "lab");
  assert.equal(colorSpaceOf({ kind: "resnet-unet" }), "lab");
  assert.equal(colorSpaceOf({ kind: "diverse" }), "lab");
});

Deno.test("train options: --color-space is the diverse generator's, saved in its config; with another generator or hints a usage error", () => {
  const data = join(tmp, "nowhere");
  const resolve = (...args: string[]) =>
    resolveConfig(parseTrainArgs(["--data", data, ...args]).given, null, () => {});
  const yuv = resolve("--generator", "diverse", "--color-space", "yuv");
  assert.equal(yuv.colorSpace, "yuv");
  assert.equal(colorSpaceOf(yuv.generatorConfig), "yuv");
  assert.equal(colorSpaceOf(freshGeneratorConfig(yuv)), "yuv");
  assert.equal(colorSpaceOf(resolve("--generator", "diverse").generatorConfig), "lab");
  // A U-Net run's fresh configuration is what it always was.
  assert.deepEqual(freshGeneratorConfig(resolve()), { nDown: 8, ngf: 64 });
  const usage = (args: string[], re: RegExp) => {
    assert.throws(
      () => resolve(...args),
      (e) => e instanceof UsageError && re.test(e.message),
      args.join(" "),
    );
  };
  usage(
    ["--color-space", "yuv"],
    /^--color-space is an option of --generator diverse, not of --generator unet$/,
  );
  usage(
    ["--generator", "resnet-unet", "--color-space", "lab"],
    /^--color-space is an option of --generator diverse, not of --generator resnet-unet$/,
  );
  usage(
    ["--generator", "diverse", "--color-space", "yuv", "--hints-input"],
    /^--hints-input with --color-space yuv: colour hints are Lab-only for now$/,
  );
  usage(["--generator", "diverse", "--color-space", "rgb"], /^--color-space: "rgb" is not one of lab, yuv$/);
  assert.match(HELP, /--color-space lab\|yuv +diverse generator colour space: lab \(default/);
});

// ---------------------------------------------------------------------------
// Training.

/** [N,3,S,S] planes in [0, 1] of the first `n` scenes, as cli/dataset.ts's loadPlanes gives them. */
function scenePlanes(n: number, S: number): Float32Array {
  const hw = S * S;
  const out = new Float32Array(3 * n * hw);
  for (let k = 0; k < n; k++) {
    const { rgba } = scene(k, S);
    for (let s = 0; s < hw; s++) {
      for (let c = 0; c < 3; c++) out[(3 * k + c) * hw + s] = rgba[4 * s + c] / 255;
    }
  }
  return out;
}

Deno.test("toBatch in YUV gives the model's Y input and UV target; a tiny YUV diverse model learns them (L1 pretraining)", async () => {
  const S = 24, n = 2, hw = S * S;
  const planes = scenePlanes(n, S);
  const ref = split(
    planar(n, hw, (p) => {
      const b = Math.floor(p / hw), s = p % hw;
      return rgbToModelCpu(
        "yuv",
        planes[3 * b * hw + s],
        planes[(3 * b + 1) * hw + s],
        planes[(3 * b + 2) * hw + s],
      );
    }),
    n,
    hw,
  );
  await tidyAsync(async () => {
    const b = toBatch(planes, S, "yuv");
    assertClose(await b.L.data(), ref.L, { atol: 1e-6 }, "Y");
    assertClose(await b.ab.data(), ref.ab, { atol: 1e-6 }, "UV");
  });
  manualSeed(3);
  const p = new Pix2Pix({ kind: "diverse", layers: 3, filters: 4, colorSpace: "yuv" }, { ndf: 4 }, {
    lr: 1e-2,
  });
  const losses: number[] = [];
  for (let step = 0; step < 12; step++) {
    const l = tidy(() => {
      const b = toBatch(planes, S, colorSpaceOf(p.G.config));
      return p.pretrainStep(b.L, b.ab).lossL1;
    });
    losses.push(await l.item());
    l.dispose();
  }
  const last = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
  assert.ok(last < 0.6 * losses[0], `L1 ${losses.map((x) => x.toFixed(4))}`);
  p.dispose();
});

Deno.test("deno task train --generator diverse --color-space yuv: a tiny run saves a YUV model that validates, resumes as YUV and colorizes with the photo's luma", async () => {
  const data = join(tmp, "data"), out = join(tmp, "run-yuv");
  await Deno.mkdir(data, { recursive: true });
  for (let k = 0; k < 4; k++) await writeImage(join(data, `scene_${k}.png`), scene(k));
  const args = [
    ...["run", "-A", join(ROOT, "cli/train.ts"), "--data", data, "--out", out],
    ...["--generator", "diverse", "--color-space", "yuv", "--layers", "3", "--filters", "4"],
    ...["--size", "24", "--batch", "2", "--ndf", "8", "--val-split", "0.5", "--max-steps", "3"],
  ];
  const r = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, env: { NO_COLOR: "1" } }).output();
  const dec = new TextDecoder();
  const explain = `exit ${r.code}\n${dec.decode(r.stdout)}\n${dec.decode(r.stderr)}`;
  assert.equal(r.code, 0, explain);
  assert.match(dec.decode(r.stdout), /diverse generator with 3 layers, 4 filters, .*, YUV colour/, explain);
  const path = join(out, "checkpoint.safetensors");
  const ck = decodeCheckpoint(await Deno.readFile(path), path);
  assert.equal(colorSpaceOf(ck.generatorConfig), "yuv");
  assert.equal(ck.train.step, 3);
  // Validation ran in YUV: its PSNR compares the pictures made from the model's Y and UV with the photos.
  const metrics = (await Deno.readTextFile(join(out, "metrics.jsonl"))).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const psnr = metrics.at(-1).valPsnr;
  assert.ok(Number.isFinite(psnr) && psnr > 10, `val PSNR ${psnr}`);

  // --resume keeps the checkpoint's colour space, also when told another.
  const warnings: string[] = [];
  const resumed = resolveConfig({ data, out, resume: true, colorSpace: "lab" }, ck, (s) => warnings.push(s));
  assert.equal(resumed.colorSpace, "yuv");
  assert.equal(colorSpaceOf(resumed.generatorConfig), "yuv");
  assert.ok(warnings.some((w) => /colorSpace=yuv \(ignoring lab\)/.test(w)), warnings.join("\n"));

  const G = buildGenerator(ck);
  for (const img of [scene(7), scene(9, 40)]) {
    const colored = await colorizeRgba(G, img, 24, { seed: 1 });
    const Y = lumaY(img.rgba);
    assert.ok(
      maxDiff(lumaY(colored.rgba), Y) <= LUMA_KEPT,
      `luma moved by ${maxDiff(lumaY(colored.rgba), Y)}`,
    );
  }
  G.dispose();
});

Deno.test("color space: clean up", async () => {
  await Deno.remove(tmp, { recursive: true });
});
