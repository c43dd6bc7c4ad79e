/**
 * WGSL for the colour pipeline of colorization: per-pixel conversions on NCHW
 * tensors, sRGB ⇄ CIE Lab (as skimage's rgb2lab/lab2rgb), sRGB ⇄ YUV (BT.601,
 * as skimage's rgb2yuv), the model units of each colour space a generator can
 * work in (Lab: pix2pix's L/50−1, ab/110; YUV: 2Y−1 and U, V over their largest
 * magnitudes), and the resampling passes that take a photo to the generator's
 * size and its prediction back to the photo's.
 *
 * Every conversion is a function vec3 → vec3 applied to one pixel; {@link COLOR}
 * reads the pixel from one 3-channel tensor, from an L tensor [N,1,H,W] plus an
 * ab tensor [N,2,H,W], or from packed 8-bit RGBA, and writes it in one of those
 * layouts too, so fused conversions (RGB → model input) cost one pass over memory.
 *
 * The colour constants live here because the kernels are generated from them;
 * engine/color.ts re-exports them for its float64 CPU versions, so CPU and GPU share them.
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, type StorageBinding, write } from "./kernel.ts";

// ---------------------------------------------------------------------------
// Constants, with skimage's values.

/** A 3×3 matrix, row-major. */
export type Mat3 = readonly [number, number, number, number, number, number, number, number, number];

function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    A / det,
    -(b * i - c * h) / det,
    (b * f - c * e) / det,
    B / det,
    (a * i - c * g) / det,
    -(a * f - c * d) / det,
    C / det,
    -(a * h - b * g) / det,
    (a * e - b * d) / det,
  ];
}

/** skimage.color's xyz_from_rgb (sRGB primaries, D65). */
// deno-fmt-ignore
export const XYZ_FROM_RGB: Mat3 = [
  0.412453, 0.357580, 0.180423,
  0.212671, 0.715160, 0.072169,
  0.019334, 0.119193, 0.950227,
];
/** skimage computes rgb_from_xyz as the inverse of xyz_from_rgb, so this does too. */
export const RGB_FROM_XYZ: Mat3 = invert3(XYZ_FROM_RGB);
/** skimage.color's yuv_from_rgb (BT.601: Y in [0, 1], U in ±0.436, V in ±0.615). */
// deno-fmt-ignore
export const YUV_FROM_RGB: Mat3 = [
  0.299, 0.587, 0.114,
  -0.14714119, -0.28886916, 0.43601035,
  0.61497538, -0.51496512, -0.10001026,
];
/** The inverse of {@link YUV_FROM_RGB}, as skimage's rgb_from_yuv. */
export const RGB_FROM_YUV: Mat3 = invert3(YUV_FROM_RGB);
/** D65 reference white for the 2° observer (skimage's default illuminant). */
export const D65_WHITE: readonly [number, number, number] = [0.95047, 1.0, 1.08883];
/** Lab inputs of the inverse conversion are clamped to this range (far outside real colours, see the WGSL). */
export const LAB_LIMIT: readonly [number, number, number] = [1e4, 1e5, 1e5];

/** The generator sees lightness as L / MODEL_L_SCALE − 1, which maps L ∈ [0, 100] to [−1, 1] (pix2pix). */
export const MODEL_L_SCALE = 50;
/** The generator predicts ab / MODEL_AB_SCALE: a and b of sRGB colours stay within about ±110 (pix2pix). */
export const MODEL_AB_SCALE = 110;

/**
 * The colour space a generator works in: it sees the luma of one (L of CIE Lab, or Y of BT.601 YUV)
 * and predicts the two chroma channels of the same (ab, or UV) in model units.
 */
export type ColorSpace = "lab" | "yuv";

/** The colour spaces, in the order messages list them. */
export const COLOR_SPACES: readonly ColorSpace[] = ["lab", "yuv"];

/**
 * The generator predicts U / MODEL_UV_SCALE[0] and V / MODEL_UV_SCALE[1]: the largest |U| and |V| of
 * sRGB colours (blue's U and red's V, the positive entries of their rows of {@link YUV_FROM_RGB}), so
 * tanh's [−1, 1] covers exactly the range of each. Y ∈ [0, 1] is seen as 2Y − 1.
 */
export const MODEL_UV_SCALE: readonly [number, number] = [YUV_FROM_RGB[5], YUV_FROM_RGB[6]];

/** An f32 literal that round-trips the float64 value to its nearest f32. */
function lit(v: number): string {
  const s = Math.fround(v).toPrecision(9);
  return s.includes(".") || s.includes("e") ? s : `${s}.0`;
}

/** WGSL mat3x3 is column-major: transposing the row-major matrix makes `m * v` the usual product. */
function mat(m: Mat3): string {
  const cols = [0, 1, 2].map((c) => `${lit(m[c])}, ${lit(m[3 + c])}, ${lit(m[6 + c])}`);
  return `mat3x3<f32>(${cols.join(", ")})`;
}

/** The per-pixel conversions (one WGSL function per {@link ColorStep}) and RGBA packing. */
const FUNCTIONS = /* wgsl */ `
const XYZ_FROM_RGB = ${mat(XYZ_FROM_RGB)};
const RGB_FROM_XYZ = ${mat(RGB_FROM_XYZ)};
const YUV_FROM_RGB = ${mat(YUV_FROM_RGB)};
const RGB_FROM_YUV = ${mat(RGB_FROM_YUV)};
const WHITE = vec3<f32>(${D65_WHITE.map(lit).join(", ")});
const MODEL_L_SCALE = ${lit(MODEL_L_SCALE)};
const MODEL_AB_SCALE = ${lit(MODEL_AB_SCALE)};
const MODEL_UV_SCALE = vec2<f32>(${MODEL_UV_SCALE.map(lit).join(", ")});

// Lab inputs are clamped to a range far outside any real colour so that cubing and the
// matrix product cannot overflow to inf (inf − inf would give NaN); results there clip anyway.
const LAB_LIMIT = vec3<f32>(${LAB_LIMIT.map(lit).join(", ")});

fn rgbToLab(rgb: vec3<f32>) -> vec3<f32> {
  let lin = select(rgb / 12.92, pow((max(rgb, vec3<f32>(0.04045)) + 0.055) / 1.055, vec3<f32>(2.4)),
                   rgb > vec3<f32>(0.04045));
  let t = (XYZ_FROM_RGB * lin) / WHITE;
  let f = select(7.787 * t + 16.0 / 116.0, pow(max(t, vec3<f32>(0.008856)), vec3<f32>(1.0 / 3.0)),
                 t > vec3<f32>(0.008856));
  return vec3<f32>(116.0 * f.y - 16.0, 500.0 * (f.x - f.y), 200.0 * (f.y - f.z));
}

fn labToRgb(labIn: vec3<f32>) -> vec3<f32> {
  let lab = clamp(labIn, -LAB_LIMIT, LAB_LIMIT);
  let fy = (lab.x + 16.0) / 116.0;
  // skimage clips only z (the one that can go negative for ordinary colours) to 0.
  let f = vec3<f32>(lab.y / 500.0 + fy, fy, max(fy - lab.z / 200.0, 0.0));
  let t = select((f - 16.0 / 116.0) / 7.787, f * f * f, f > vec3<f32>(0.2068966));
  let lin = RGB_FROM_XYZ * (t * WHITE);
  let srgb = select(lin * 12.92, 1.055 * pow(max(lin, vec3<f32>(0.0031308)), vec3<f32>(1.0 / 2.4)) - 0.055,
                    lin > vec3<f32>(0.0031308));
  return clamp(srgb, vec3<f32>(0.0), vec3<f32>(1.0));
}

fn rgbToYuv(rgb: vec3<f32>) -> vec3<f32> { return YUV_FROM_RGB * rgb; }
fn yuvToRgb(yuv: vec3<f32>) -> vec3<f32> { return RGB_FROM_YUV * yuv; }
fn lToModel(l: f32) -> f32 { return l / MODEL_L_SCALE - 1.0; }
fn labToModel(lab: vec3<f32>) -> vec3<f32> { return vec3<f32>(lToModel(lab.x), lab.yz / MODEL_AB_SCALE); }
fn modelToLab(m: vec3<f32>) -> vec3<f32> { return vec3<f32>((m.x + 1.0) * MODEL_L_SCALE, m.yz * MODEL_AB_SCALE); }
fn yToModel(y: f32) -> f32 { return 2.0 * y - 1.0; }
fn yuvToModel(yuv: vec3<f32>) -> vec3<f32> { return vec3<f32>(yToModel(yuv.x), yuv.yz / MODEL_UV_SCALE); }
fn modelToYuv(m: vec3<f32>) -> vec3<f32> { return vec3<f32>((m.x + 1.0) * 0.5, m.yz * MODEL_UV_SCALE); }

// YUV → sRGB in [0, 1] keeping the luma: R = G = B = Y when U = V = 0 (the U and V rows of
// YUV_FROM_RGB sum to 0), so the chroma part c = RGB_FROM_YUV·(0, U, V) is scaled by the largest
// k ≤ 1 that keeps Y + k·c inside [0, 1] on every channel. The colour desaturates toward its own
// gray instead of clipping per channel, and Y (whose row is orthogonal to c) is unchanged.
fn yuvToRgbInGamut(yuv: vec3<f32>) -> vec3<f32> {
  let y = clamp(yuv.x, 0.0, 1.0);
  let c = RGB_FROM_YUV * vec3<f32>(0.0, yuv.yz);
  let room = select(vec3<f32>(y), vec3<f32>(1.0 - y), c > vec3<f32>(0.0));
  let size = abs(c);
  let k = select(vec3<f32>(1.0), room / size, size > room);
  return clamp(y + min(k.x, min(k.y, k.z)) * c, vec3<f32>(0.0), vec3<f32>(1.0));
}

// Packed RGBA: one u32 a pixel, bytes R, G, B, A from the lowest (a little-endian view of RGBA bytes).
fn unpackRgb(px: u32) -> vec3<f32> {
  return vec3<f32>(f32(px & 0xffu), f32((px >> 8u) & 0xffu), f32((px >> 16u) & 0xffu)) / 255.0;
}
// Bytes as Math.round(255·v) of the CPU path: half rounds up (WGSL's round() would round to even).
fn packRgb(rgb: vec3<f32>, alpha: u32) -> u32 {
  let c = vec3<u32>(floor(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)) * 255.0 + 0.5));
  return c.x | (c.y << 8u) | (c.z << 16u) | (alpha << 24u);
}
`;

// ---------------------------------------------------------------------------
// Per-pixel conversions.

/** The conversion steps a kernel can chain, in order. */
export type ColorStep =
  | "rgbToLab"
  | "labToRgb"
  | "rgbToYuv"
  | "yuvToRgb"
  | "yuvToRgbInGamut"
  | "labToModel"
  | "modelToLab"
  | "yuvToModel"
  | "modelToYuv";

/**
 * How the pixels of a kernel's input or output are stored: "rgb" one 3-channel tensor, "l+ab"
 * an L tensor [N,1,H,W] and an ab tensor [N,2,H,W], "rgba8" packed 8-bit RGBA (one u32 a pixel),
 * and, for outputs only, "l" the first channel alone.
 */
export type PixelLayout = "rgb" | "l+ab" | "rgba8" | "l";

/** What a {@link COLOR} kernel is specialised on. */
export interface ColorVariant {
  /** Conversions applied in order. */
  steps: ColorStep[];
  /** Layout of the input ("l" is output-only). */
  input: PixelLayout;
  /** Layout of the output. */
  output: PixelLayout;
}

const INPUTS: Record<PixelLayout, StorageBinding[]> = {
  "rgb": [read("x")],
  "l+ab": [read("xl"), read("xab")],
  "rgba8": [read("x", "u32")],
  "l": [],
};

const OUTPUTS: Record<PixelLayout, StorageBinding[]> = {
  "rgb": [write("y")],
  "l+ab": [write("yl"), write("yab")],
  "rgba8": [write("y", "u32")],
  "l": [write("yl")],
};

const LOADS: Record<PixelLayout, string> = {
  "rgb": "let i3 = n * 3u * p.hw + s; var v = vec3<f32>(x[i3], x[i3 + p.hw], x[i3 + 2u * p.hw]);",
  "l+ab": "let i2 = n * 2u * p.hw + s; var v = vec3<f32>(xl[i], xab[i2], xab[i2 + p.hw]);",
  "rgba8": "var v = unpackRgb(x[i]);",
  "l": "",
};

/**
 * `y = steps(x)` for every pixel i of N·H·W, in the layouts of the variant: inputs `x` ("rgb",
 * "rgba8") or `xl`, `xab` ("l+ab"), then outputs `y` ("rgb", "rgba8") or `yl` (and `yab` for
 * "l+ab"). An "rgba8" output keeps the alpha of an "rgba8" input and is opaque otherwise.
 * Uniforms {pixels: N·H·W, hw: H·W}.
 */
export const COLOR = defineKernel({
  name: "color",
  bindings: (v: ColorVariant) => [...INPUTS[v.input], ...OUTPUTS[v.output]],
  uniforms: { pixels: "u32", hw: "u32" },
  body: (v) => {
    const alpha = v.input === "rgba8" ? "x[i] >> 24u" : "255u";
    const stores: Record<PixelLayout, string> = {
      "rgb": "let o3 = n * 3u * p.hw + s; y[o3] = v.x; y[o3 + p.hw] = v.y; y[o3 + 2u * p.hw] = v.z;",
      "l+ab": "let o2 = n * 2u * p.hw + s; yl[i] = v.x; yab[o2] = v.y; yab[o2 + p.hw] = v.z;",
      "rgba8": `y[i] = packRgb(v, ${alpha});`,
      "l": "yl[i] = v.x;",
    };
    return /* wgsl */ `
${FUNCTIONS}
${flatMain("i", "p.pixels")}
  let n = i / p.hw;
  let s = i - n * p.hw;
  ${LOADS[v.input]}
  ${v.steps.map((st) => `v = ${st}(v);`).join(" ")}
  ${stores[v.output]}
}`;
  },
});

// ---------------------------------------------------------------------------
// Resampling between a photo and the generator's square. Weight tables of one axis
// (engine/image.ts, packAxisWeights) sit in the u32 array `taps`: output k of the axis
// reads taps j in [taps[starts + k], taps[starts + k + 1]), source index taps[index + j]
// with weight bitcast<f32>(taps[weight + j]). Uniform triples (…Starts, …Index, …Weight)
// say where a table starts.

/**
 * Row pass of a separable resampling: for each of `rows` source rows r and output column x
 * (`outWidth` of them), `out[(outRow0 + r)·outWidth + x] = Σ_j w_j · src[r·srcWidth + idx_j]`
 * over the taps of x. Bindings `src`, `taps` (u32), `out`; uniforms {srcWidth, rows, outWidth,
 * outRow0, starts, index, weight}. `outRow0` lets bands of a tall photo fill one output.
 */
export const RESAMPLE_ROWS = defineKernel({
  name: "resampleRows",
  bindings: [read("src"), read("taps", "u32"), write("out")],
  uniforms: {
    srcWidth: "u32",
    rows: "u32",
    outWidth: "u32",
    outRow0: "u32",
    starts: "u32",
    index: "u32",
    weight: "u32",
  },
  body: () => /* wgsl */ `
${flatMain("i", "p.rows * p.outWidth")}
  let r = i / p.outWidth;
  let x = i - r * p.outWidth;
  let row = r * p.srcWidth;
  var s = 0.0;
  for (var j = taps[p.starts + x]; j < taps[p.starts + x + 1u]; j++) {
    s += bitcast<f32>(taps[p.weight + j]) * src[row + taps[p.index + j]];
  }
  out[(p.outRow0 + r) * p.outWidth + x] = s;
}`,
});

/** What each colour space puts into the resampling passes (WGSL names from the functions above). */
const SPACE_WGSL: Record<ColorSpace, { lumaToModel: string; chromaScale: string; toRgb: string }> = {
  lab: { lumaToModel: "lToModel", chromaScale: "MODEL_AB_SCALE", toRgb: "labToRgb" },
  yuv: { lumaToModel: "yToModel", chromaScale: "MODEL_UV_SCALE", toRgb: "yuvToRgbInGamut" },
};

/** What a {@link MODEL_INPUT_COLUMNS} pass is specialised on. */
export interface ModelInputVariant {
  /** The generator's colour space: whether `src` holds L (0..100) or Y (0..1). */
  space: ColorSpace;
}

/**
 * Column pass of the generator's input, after {@link RESAMPLE_ROWS} of the luma: for each
 * output row y (`outRows`) and column x (`width`), `out[y·width + x] = toModel(Σ_j w_j ·
 * src[idx_j·width + x])` over the taps of y, toModel being lToModel(L) = L / MODEL_L_SCALE − 1
 * (Lab) or yToModel(Y) = 2Y − 1 (YUV).
 * Bindings `src`, `taps` (u32), `out`; uniforms {width, outRows, starts, index, weight}.
 */
export const MODEL_INPUT_COLUMNS = defineKernel({
  name: "modelInputColumns",
  bindings: [read("src"), read("taps", "u32"), write("out")],
  uniforms: { width: "u32", outRows: "u32", starts: "u32", index: "u32", weight: "u32" },
  body: (v: ModelInputVariant) => /* wgsl */ `
${FUNCTIONS}
${flatMain("i", "p.outRows * p.width")}
  let y = i / p.width;
  let x = i - y * p.width;
  var s = 0.0;
  for (var j = taps[p.starts + y]; j < taps[p.starts + y + 1u]; j++) {
    s += bitcast<f32>(taps[p.weight + j]) * src[taps[p.index + j] * p.width + x];
  }
  out[i] = ${SPACE_WGSL[v.space].lumaToModel}(s);
}`,
});

/** What an {@link AB_TO_IMAGE} pass writes. */
export interface AbToImageVariant {
  /**
   * "ab": the two chroma planes in the colour space's units; "rgba8": packed sRGB of (luma, chroma)
   * with the photo's alpha, followed by the number of pixels whose chroma is NaN or ±∞.
   */
  output: "ab" | "rgba8";
  /** The generator's colour space: its chroma is Lab's ab or YUV's UV. */
  space: ColorSpace;
}

/**
 * The generator's prediction back at the photo's resolution, for one band of `rows` photo
 * rows starting at row `y0` (`width` pixels each): for pixel (x, y0 + r),
 * `ab = scale · Σ_jy w_jy Σ_jx w_jx · pred[c, idx_jy, idx_jx]` over the y and x taps, `pred`
 * being [1, 2, side, side] and scale MODEL_AB_SCALE (Lab) or MODEL_UV_SCALE (YUV, where ab is
 * UV). Output "ab" writes planar `out` [2, rows, width]; "rgba8" writes `out[i] =
 * pack(toRgb(l[i], ab), alpha of rgba[i])` from the band's luma `l` (L or Y) and packed pixels
 * `rgba` (so the photo's own luma survives at full resolution), toRgb being labToRgb or
 * yuvToRgbInGamut, and adds 1 to `out[rows·width]` (which the caller zeroes) for each pixel
 * whose chroma is NaN or ±∞: clamping would turn those into ordinary-looking colours, and a
 * count read back with the pixels lets the caller refuse the picture without another readback. `out` is atomic u32
 * for that count, so the pixels are stored with atomicStore.
 * Bindings (`l`, `rgba` for "rgba8"), `pred`, `taps` (u32), `out`; uniforms {width, rows, y0,
 * side, xStarts, xIndex, xWeight, yStarts, yIndex, yWeight}.
 */
export const AB_TO_IMAGE = defineKernel({
  name: "abToImage",
  bindings: (v: AbToImageVariant) =>
    v.output === "rgba8"
      ? [read("l"), read("rgba", "u32"), read("pred"), read("taps", "u32"), write("out", "atomic<u32>")]
      : [read("pred"), read("taps", "u32"), write("out")],
  uniforms: {
    width: "u32",
    rows: "u32",
    y0: "u32",
    side: "u32",
    xStarts: "u32",
    xIndex: "u32",
    xWeight: "u32",
    yStarts: "u32",
    yIndex: "u32",
    yWeight: "u32",
  },
  body: (v) => {
    const { chromaScale, toRgb } = SPACE_WGSL[v.space];
    const store = v.output === "rgba8"
      ? /* wgsl */ `atomicStore(&out[i], packRgb(${toRgb}(vec3<f32>(l[i], ab)), rgba[i] >> 24u));
  // All exponent bits set: NaN or ±∞ (tested on the bits, as compilers may assume floats are finite).
  let special = (bitcast<vec2<u32>>(ab) & vec2<u32>(0x7f800000u)) == vec2<u32>(0x7f800000u);
  if (any(special)) { atomicAdd(&out[p.rows * p.width], 1u); }`
      : "out[i] = ab.x; out[p.rows * p.width + i] = ab.y;";
    return /* wgsl */ `
${FUNCTIONS}
${flatMain("i", "p.rows * p.width")}
  let r = i / p.width;
  let x = i - r * p.width;
  let y = p.y0 + r;
  let plane = p.side * p.side;
  var acc = vec2<f32>(0.0);
  for (var jy = taps[p.yStarts + y]; jy < taps[p.yStarts + y + 1u]; jy++) {
    let row = taps[p.yIndex + jy] * p.side;
    var s = vec2<f32>(0.0);
    for (var jx = taps[p.xStarts + x]; jx < taps[p.xStarts + x + 1u]; jx++) {
      let k = row + taps[p.xIndex + jx];
      s += bitcast<f32>(taps[p.xWeight + jx]) * vec2<f32>(pred[k], pred[plane + k]);
    }
    acc += bitcast<f32>(taps[p.yWeight + jy]) * s;
  }
  let ab = acc * ${chromaScale};
  ${store}
}`;
  },
});
