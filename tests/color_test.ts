/**
 * Colour conversions: float64 CPU formulas against published values, GPU
 * kernels against the CPU formulas, round trips and out-of-gamut inputs.
 * Code: engine/color.ts (CPU and ops), shaders/color.ts (kernels).
 */
import { assertClose, gpu, rng } from "./helpers.ts";
import { AssertionError } from "node:assert/strict";
import { type Tensor, tensor, tidyAsync } from "../engine/tensor.ts";
import {
  convertPlanesCpu,
  labToModel,
  labToRgb,
  labToRgba8,
  labToRgbCpu,
  modelToLab,
  modelToRgb,
  planesToRgba,
  readRgba8,
  rgba8ToL,
  rgbaToPlanes,
  rgbToLab,
  rgbToLabCpu,
  rgbToModel,
  rgbToYuv,
  rgbToYuvCpu,
  uploadRgba8,
  yuvToRgb,
  yuvToRgbCpu,
} from "../engine/color.ts";

await gpu();

// GPU kernels run the same formulas in f32. L = 116·f − 16 with f ≤ ~1.1 carries ~1e-5 of rounding;
// a = 500·(fx − fy) and b = 200·(fy − fz) amplify the few-ulp error of pow/cbrt (~2e-7) by 500.
// Measured on lavapipe over 200k random colours: 3.5e-5 (L), 1.3e-4 (a), 6.5e-5 (b). 1e-3 Lab units
// leaves ~8× for GPUs with coarser pow and is still 10× below the 0.01 the application needs.
const LAB_GPU = { atol: 1e-3 };
// RGB outputs are in [0, 1]; measured 5.6e-6 on lavapipe (f32 pow and the inverse matrix). 3e-5 leaves
// ~5× and stays 130× below one 8-bit step.
const RGB_GPU = { atol: 3e-5 };

/** Planar [N,3,H,W] data of `n` random colours in [0, 1] laid out as one row image, plus extremes. */
function randomColors(count: number, seed: number): { data: Float64Array; shape: number[] } {
  const r = rng(seed).uniform(3 * count, 0, 1);
  // A few exact extremes and values right at the gamma breakpoint 0.04045.
  r.set([0, 1, 0.04045, 1, 0, 0.04045], 0);
  return { data: r, shape: [1, 3, 1, count] };
}

function upload(x: { data: ArrayLike<number>; shape: number[] }): Tensor {
  return tensor(Float32Array.from(x.data), x.shape);
}

function assertFinite(values: ArrayLike<number>, label: string) {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new AssertionError({ message: `${label}: value ${i} is ${values[i]}` });
    }
  }
}

Deno.test("rgbToLabCpu: published values of white, black, primaries and mid gray", () => {
  // Bruce Lindbloom's calculator (sRGB, D65), which skimage's own tests compare against at 0.01.
  // skimage's rounded matrix and white point move a and b of the primaries by up to 0.003 from these.
  const cases: [number[], number[]][] = [
    [[1, 1, 1], [100, 0, 0]],
    [[0, 0, 0], [0, 0, 0]],
    [[1, 0, 0], [53.2408, 80.0925, 67.2032]],
    [[0, 1, 0], [87.7347, -86.1827, 83.1793]],
    [[0, 0, 1], [32.2970, 79.1875, -107.8602]],
    // Mid gray by hand: linear = ((128/255 + 0.055)/1.055)^2.4 = 0.2158605; the matrix rows of
    // Y sum to exactly 1, so Y = 0.2158605 and L = 116·0.2158605^(1/3) − 16 = 53.585. X and Z
    // rows sum to 0.950456 and 1.088754 vs white 0.95047 and 1.08883, so a = −0.0015, b = 0.0028.
    [[128 / 255, 128 / 255, 128 / 255], [53.585, 0, 0]],
  ];
  for (const [rgb, lab] of cases) {
    assertClose(rgbToLabCpu(rgb[0], rgb[1], rgb[2]), lab, { atol: 0.01 }, `Lab of ${rgb}`);
  }
});

Deno.test("rgbToLab (GPU): the same published values", async () => {
  await tidyAsync(async () => {
    const colors = [[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [128 / 255, 128 / 255, 128 / 255]];
    const expected = [[100, 0, 0], [0, 0, 0], [53.2408, 80.0925, 67.2032], [87.7347, -86.1827, 83.1793], [
      32.2970,
      79.1875,
      -107.8602,
    ], [53.585, 0, 0]];
    const n = colors.length;
    const planar = new Float32Array(3 * n);
    colors.forEach((c, i) => c.forEach((v, ch) => (planar[ch * n + i] = v)));
    const lab = await rgbToLab(tensor(planar, [1, 3, 1, n])).data();
    for (let i = 0; i < n; i++) {
      assertClose(
        [lab[i], lab[n + i], lab[2 * n + i]],
        expected[i],
        { atol: 0.01 },
        `GPU Lab of ${colors[i]}`,
      );
    }
  });
});

Deno.test("labToRgbCpu: inverts rgbToLabCpu on all 8-bit grays and 10k random colours", () => {
  const grays = Array.from({ length: 256 }, (_, v) => v / 255);
  const r = rng(5).uniform(30000, 0, 1);
  const colors: number[][] = [...grays.map((v) => [v, v, v])];
  for (let i = 0; i < 10000; i++) colors.push([r[3 * i], r[3 * i + 1], r[3 * i + 2]]);
  for (const c of colors) {
    const lab = rgbToLabCpu(c[0], c[1], c[2]);
    // In float64 the round trip is exact to ~1e-12; 1e-9 proves the inverse formulas match.
    assertClose(labToRgbCpu(lab[0], lab[1], lab[2]), c, { atol: 1e-9 }, `round trip of ${c}`);
  }
});

Deno.test("rgbToLab and labToRgb (GPU) vs float64 CPU, batch 2 with odd H and W", async () => {
  await tidyAsync(async () => {
    const shape = [2, 3, 5, 7];
    const data = rng(11).uniform(2 * 3 * 35, 0, 1);
    data.set([0, 1, 0.04045, 0.0404, 0.0405], 0);
    const x = tensor(Float32Array.from(data), shape);
    const lab = rgbToLab(x);
    const labRef = convertPlanesCpu(rgbToLabCpu, data, 35);
    assertClose(await lab.data(), labRef, LAB_GPU, "rgbToLab");
    // Feed the float64 Lab (rounded to f32) to the GPU inverse so its error is measured alone.
    const back = labToRgb(tensor(Float32Array.from(labRef), shape));
    assertClose(
      await back.data(),
      convertPlanesCpu(labToRgbCpu, Float32Array.from(labRef), 35),
      RGB_GPU,
      "labToRgb",
    );
  });
});

Deno.test("GPU round trip RGB → Lab → RGB: 256 grays and 10k random colours within 1/255, bytes exact", async () => {
  await tidyAsync(async () => {
    const count = 256 + 10000;
    const data = new Float64Array(3 * count);
    const r = rng(7).uniform(3 * 10000, 0, 1);
    for (let i = 0; i < count; i++) {
      for (let c = 0; c < 3; c++) {
        // 8-bit values: the CLI's inputs. Grays first, then random bytes.
        data[c * count + i] = i < 256 ? i / 255 : Math.round(r[3 * (i - 256) + c] * 255) / 255;
      }
    }
    const x = tensor(Float32Array.from(data), [1, 3, 1, count]);
    const back = await labToRgb(rgbToLab(x)).data();
    // The brief's bound; the actual error is ~1e-6.
    assertClose(back, data, { atol: 1 / 255 }, "round trip");
    // Stronger: rounding back to bytes reproduces every input byte, the property the CLI relies on.
    assertClose(
      back.map((v) => Math.round(v * 255)),
      data.map((v) => Math.round(v * 255)),
      { atol: 0 },
      "bytes",
    );
  });
});

Deno.test("labToRgb: out-of-gamut Lab gives finite clipped values on CPU and GPU", async () => {
  await tidyAsync(async () => {
    const labs = [
      [50, 200, -200],
      [-10, 0, 0],
      [120, 0, 0],
      [50, -300, 300],
      [0, 0, 500], // z = fy − b/200 < 0: skimage clips it to 0
      [100, 0, -1000],
      [1e30, -1e30, 1e30], // absurd: clamped before cubing so no inf − inf
      [-1e30, 1e30, -1e30],
    ];
    // Hand-checked: L = −10 is below black and L = 120 above white, both with a = b = 0.
    assertClose(labToRgbCpu(-10, 0, 0), [0, 0, 0], { atol: 0 }, "L=-10");
    assertClose(labToRgbCpu(120, 0, 0), [1, 1, 1], { atol: 0 }, "L=120");
    const n = labs.length;
    const planar = new Float32Array(3 * n);
    labs.forEach((c, i) => c.forEach((v, ch) => (planar[ch * n + i] = v)));
    const got = await labToRgb(tensor(planar, [1, 3, 1, n])).data();
    assertFinite(got, "GPU labToRgb");
    const ref = convertPlanesCpu(labToRgbCpu, planar, n);
    assertFinite(ref, "CPU labToRgbCpu");
    for (const v of [...got, ...ref]) {
      if (v < 0 || v > 1) throw new AssertionError({ message: `labToRgb value ${v} outside [0, 1]` });
    }
    assertClose(got, ref, RGB_GPU, "GPU vs CPU out of gamut");
  });
});

Deno.test("labToModel / modelToLab: hand values and inverse", async () => {
  await tidyAsync(async () => {
    // Two pixels: (L, a, b) = (50, 110, −55) → (0, 1, −0.5) and (100, −22, 0) → (1, −0.2, 0).
    const lab = tensor([50, 100, 110, -22, -55, 0], [1, 3, 1, 2]);
    const { L, ab } = labToModel(lab);
    if (L.shape.join() !== "1,1,1,2" || ab.shape.join() !== "1,2,1,2") {
      throw new AssertionError({ message: `labToModel shapes ${L.shape} and ${ab.shape}` });
    }
    // The scalings are a division and an add: exact to an ulp of values near 1.
    assertClose(await L.data(), [0, 1], { atol: 1e-7 }, "L");
    assertClose(await ab.data(), [1, -0.2, -0.5, 0], { atol: 1e-7 }, "ab");
    assertClose(await modelToLab(L, ab).data(), [50, 100, 110, -22, -55, 0], { atol: 1e-5 }, "modelToLab");
  });
});

Deno.test("rgbToModel and modelToRgb (fused) vs CPU, batch 3", async () => {
  await tidyAsync(async () => {
    const hw = 3 * 5;
    const shape = [3, 3, 3, 5];
    const data = rng(13).uniform(3 * 3 * hw, 0, 1);
    const { L, ab } = rgbToModel(tensor(Float32Array.from(data), shape));
    const lab = convertPlanesCpu(rgbToLabCpu, data, hw);
    const expL: number[] = [], expAb: number[] = [];
    for (let n = 0; n < 3; n++) {
      for (let s = 0; s < hw; s++) expL.push(lab[n * 3 * hw + s] / 50 - 1);
      for (let s = 0; s < 2 * hw; s++) expAb.push(lab[n * 3 * hw + hw + s] / 110);
    }
    // LAB_GPU scaled by 1/50 and 1/110: the scaling adds only an ulp.
    assertClose(await L.data(), expL, { atol: LAB_GPU.atol / 50 }, "rgbToModel L");
    assertClose(await ab.data(), expAb, { atol: LAB_GPU.atol / 110 }, "rgbToModel ab");
    const rgb = await modelToRgb(L, ab).data();
    // Back to RGB through the f32 Lab above: the RGB_GPU error of each step, twice.
    assertClose(rgb, data, { atol: 2 * RGB_GPU.atol }, "modelToRgb");
  });
});

Deno.test("rgbToYuv / yuvToRgb: hand values, GPU vs CPU, round trip", async () => {
  // Red is the first column of skimage's yuv_from_rgb; white has Y = 1 and U = V = 0 (rows sum to 0).
  assertClose(rgbToYuvCpu(1, 0, 0), [0.299, -0.14714119, 0.61497538], { atol: 1e-12 }, "red");
  assertClose(rgbToYuvCpu(1, 1, 1), [1, 0, 0], { atol: 1e-8 }, "white");
  assertClose(yuvToRgbCpu(0.299, -0.14714119, 0.61497538), [1, 0, 0], { atol: 1e-8 }, "red back");
  await tidyAsync(async () => {
    const x = randomColors(101, 17);
    const yuv = rgbToYuv(upload(x));
    // A 3×3 product of values ≤ 1 in f32: a few ulps, ~1e-7.
    assertClose(await yuv.data(), convertPlanesCpu(rgbToYuvCpu, x.data, 101), { atol: 1e-6 }, "rgbToYuv");
    assertClose(await yuvToRgb(yuv).data(), x.data, { atol: 1e-6 }, "yuvToRgb round trip");
  });
});

Deno.test("color ops: wrong shapes throw errors naming the op and shapes", async () => {
  await tidyAsync(async () => {
    const expectThrow = (fn: () => unknown, text: string) => {
      let msg = "";
      try {
        fn();
      } catch (e) {
        msg = (e as Error).message;
      }
      if (!msg.includes(text)) throw new AssertionError({ message: `expected "${text}" in "${msg}"` });
    };
    const four = tensor(new Float32Array(16), [1, 4, 2, 2]);
    const flat = tensor(new Float32Array(12), [12]);
    expectThrow(() => rgbToLab(four), "rgbToLab: expected a tensor of shape [N, 3, H, W], got [1, 4, 2, 2]");
    expectThrow(() => labToRgb(flat), "labToRgb: expected a tensor of shape [N, 3, H, W], got [12]");
    expectThrow(() => rgbToYuv(four), "rgbToYuv");
    const L = tensor(new Float32Array(4), [1, 1, 2, 2]);
    const ab = tensor(new Float32Array(12), [1, 2, 2, 3]);
    expectThrow(() => modelToLab(L, ab), "modelToLab: L [1, 1, 2, 2] and ab [1, 2, 2, 3] differ");
    expectThrow(
      () => modelToRgb(ab, L),
      "modelToRgb: expected a tensor of shape [N, 1, H, W], got [1, 2, 2, 3]",
    );
    await Promise.resolve();
  });
});

Deno.test("rgbaToPlanes / planesToRgba: layout, rounding, alpha", () => {
  // 2×1 image: pixel 0 = (255, 0, 51, 10), pixel 1 = (0, 128, 255, 255).
  const rgba = new Uint8Array([255, 0, 51, 10, 0, 128, 255, 255]);
  const planes = rgbaToPlanes(rgba, 2, 1);
  assertClose(planes, [1, 0, 0, 128 / 255, 51 / 255, 1], { atol: 1e-7 }, "planes");
  assertClose(planesToRgba(planes, 2, 1, rgba), rgba, { atol: 0 }, "back with alpha");
  // R plane (−1, 0.5), G plane (2, 0): values outside [0, 1] clip, 0.5 → 127.5 rounds to 128, alpha opaque.
  assertClose(
    planesToRgba([-1, 0.5, 2, 0, 0, 0], 2, 1),
    [0, 255, 0, 255, 128, 0, 0, 255],
    { atol: 0 },
    "clip",
  );
});

Deno.test("packed RGBA: every byte survives upload and readback; rgba8ToL vs float64 L", async () => {
  await tidyAsync(async () => {
    const [h, w] = [5, 7];
    const r = rng(19);
    // One byte more than needed, so the image is an unaligned subarray, as a decoder may return.
    const bytes = Uint8Array.from({ length: 4 * h * w + 1 }, () => Math.floor(256 * r.next()));
    // Pixels whose 32 bits are NaN patterns as f32 (signalling 0xff800001, quiet 0x7fc00000): they
    // travel through Float32Array views, which must copy bits, not values.
    bytes.set([1, 0, 0x80, 0xff, 0, 0, 0xc0, 0x7f, 255, 255, 255, 255, 0, 0, 0, 0], 1);
    const img = bytes.subarray(1);
    const t = uploadRgba8(img, h, w);
    assertClose(await readRgba8(t), img, { atol: 0 }, "bytes");
    const ref = Array.from(
      { length: h * w },
      (_, i) => rgbToLabCpu(img[4 * i] / 255, img[4 * i + 1] / 255, img[4 * i + 2] / 255)[0],
    );
    assertClose(await rgba8ToL(t).data(), ref, LAB_GPU, "L");
  });
});

Deno.test("labToRgba8: bytes of float64 lab2rgb within one step, opaque; 8-bit colours round-trip exactly", async () => {
  await tidyAsync(async () => {
    const n = 2000;
    const r = rng(23);
    const L = Float32Array.from({ length: n }, () => -10 + 120 * r.next());
    const ab = Float32Array.from({ length: 2 * n }, () => -150 + 300 * r.next());
    const got = await readRgba8(labToRgba8(tensor(L, [1, 1, 1, n]), tensor(ab, [1, 2, 1, n])));
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const rgb = labToRgbCpu(L[i], ab[i], ab[n + i]);
      for (let c = 0; c < 3; c++) {
        worst = Math.max(worst, Math.abs(got[4 * i + c] - Math.round(255 * rgb[c])));
      }
      if (got[4 * i + 3] !== 255) {
        throw new AssertionError({ message: `alpha of pixel ${i} is ${got[4 * i + 3]}` });
      }
    }
    // RGB_GPU is ~1e-2 of a byte step: only values that close to a rounding midpoint may round the other way.
    if (worst > 1) throw new AssertionError({ message: `a byte differs by ${worst}` });

    // 8-bit colours (grays first) → GPU Lab → packed bytes: every byte comes back, as the CLI relies on.
    const count = 256 + 5000;
    const bytes = new Uint8Array(4 * count);
    for (let i = 0; i < count; i++) {
      for (let c = 0; c < 3; c++) bytes[4 * i + c] = i < 256 ? i : Math.floor(256 * r.next());
      bytes[4 * i + 3] = 255;
    }
    const lab = await rgbToLab(tensor(rgbaToPlanes(bytes, count, 1), [1, 3, 1, count])).data();
    const back = labToRgba8(
      tensor(lab.subarray(0, count), [1, 1, 1, count]),
      tensor(lab.subarray(count), [1, 2, 1, count]),
    );
    assertClose(await readRgba8(back), bytes, { atol: 0 }, "round trip");
  });
});
