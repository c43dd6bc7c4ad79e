/**
 * Colour spaces for colorization: sRGB ⇄ CIE Lab exactly as skimage's
 * rgb2lab/lab2rgb (D65, 2° observer), sRGB ⇄ YUV as skimage's rgb2yuv/yuv2rgb,
 * and the pix2pix normalisation of Lab (L/50−1 and ab/110, both about [−1, 1]).
 *
 * GPU versions work on NCHW tensors, one invocation per pixel (kernels in
 * shaders/color.ts); they are data preparation, not part of a model, so they
 * record no gradients. Float64 CPU versions of the same formulas serve as test
 * references and for small conversions in the CLI.
 */

import { grid1d, Params, runtime } from "./gpu.ts";
import { fmtShape, Tensor } from "./tensor.ts";
import {
  type ColorConstants,
  colorShader,
  type ColorStep,
  type Mat3,
  type PixelLayout,
} from "../shaders/color.ts";

// ---------------------------------------------------------------------------
// Constants, with skimage's values.

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

const CONSTANTS: ColorConstants = {
  xyzFromRgb: XYZ_FROM_RGB,
  rgbFromXyz: RGB_FROM_XYZ,
  yuvFromRgb: YUV_FROM_RGB,
  rgbFromYuv: RGB_FROM_YUV,
  white: D65_WHITE,
};

/** Lab inputs of the inverse conversion are clamped to this range (far outside real colours, see WGSL). */
const LAB_LIMIT = [1e4, 1e5, 1e5];

// ---------------------------------------------------------------------------
// CPU, float64.

/** sRGB gamma expansion of one channel in [0, 1]. */
export function srgbToLinear(c: number): number {
  return c > 0.04045 ? Math.pow((c + 0.055) / 1.055, 2.4) : c / 12.92;
}

/** sRGB gamma compression of one linear channel (not clipped). */
export function linearToSrgb(c: number): number {
  return c > 0.0031308 ? 1.055 * Math.pow(c, 1 / 2.4) - 0.055 : c * 12.92;
}

function labF(t: number): number {
  return t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116;
}

function labFInv(f: number): number {
  return f > 0.2068966 ? f * f * f : (f - 16 / 116) / 7.787;
}

function apply(m: Mat3, x: number, y: number, z: number): [number, number, number] {
  return [
    m[0] * x + m[1] * y + m[2] * z,
    m[3] * x + m[4] * y + m[5] * z,
    m[6] * x + m[7] * y + m[8] * z,
  ];
}

/** One sRGB colour (channels in [0, 1]) to CIE Lab, as skimage.color.rgb2lab. */
export function rgbToLabCpu(r: number, g: number, b: number): [number, number, number] {
  const [x, y, z] = apply(XYZ_FROM_RGB, srgbToLinear(r), srgbToLinear(g), srgbToLinear(b));
  const fx = labF(x / D65_WHITE[0]), fy = labF(y / D65_WHITE[1]), fz = labF(z / D65_WHITE[2]);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** One CIE Lab colour to sRGB clipped to [0, 1], as skimage.color.lab2rgb (never NaN for finite input). */
export function labToRgbCpu(L: number, a: number, b: number): [number, number, number] {
  L = Math.min(Math.max(L, -LAB_LIMIT[0]), LAB_LIMIT[0]);
  a = Math.min(Math.max(a, -LAB_LIMIT[1]), LAB_LIMIT[1]);
  b = Math.min(Math.max(b, -LAB_LIMIT[2]), LAB_LIMIT[2]);
  const fy = (L + 16) / 116;
  const fx = a / 500 + fy;
  const fz = Math.max(fy - b / 200, 0);
  const x = labFInv(fx) * D65_WHITE[0], y = labFInv(fy) * D65_WHITE[1], z = labFInv(fz) * D65_WHITE[2];
  const rgb = apply(RGB_FROM_XYZ, x, y, z);
  return rgb.map((c) => Math.min(Math.max(linearToSrgb(c), 0), 1)) as [number, number, number];
}

/** One sRGB colour to YUV (BT.601), as skimage.color.rgb2yuv. */
export function rgbToYuvCpu(r: number, g: number, b: number): [number, number, number] {
  return apply(YUV_FROM_RGB, r, g, b);
}

/** One YUV colour to sRGB, as skimage.color.yuv2rgb (not clipped, like skimage). */
export function yuvToRgbCpu(y: number, u: number, v: number): [number, number, number] {
  return apply(RGB_FROM_YUV, y, u, v);
}

/** A per-colour conversion such as {@link rgbToLabCpu}. */
export type PixelFn = (c0: number, c1: number, c2: number) => [number, number, number];

/**
 * Applies a per-colour conversion to planar data laid out as [N,3,H,W] (the
 * tensor layout), e.g. `convertPlanesCpu(rgbToLabCpu, rgb, hw)`; float64 out.
 */
export function convertPlanesCpu(fn: PixelFn, data: ArrayLike<number>, hw: number): Float64Array {
  if (hw <= 0 || data.length % (3 * hw) !== 0) {
    throw new Error(`convertPlanesCpu: ${data.length} values are not whole [N,3,${hw}] planes`);
  }
  const out = new Float64Array(data.length);
  for (let base = 0; base < data.length; base += 3 * hw) {
    for (let s = 0; s < hw; s++) {
      const i = base + s;
      const v = fn(data[i], data[i + hw], data[i + 2 * hw]);
      out[i] = v[0];
      out[i + hw] = v[1];
      out[i + 2 * hw] = v[2];
    }
  }
  return out;
}

/** 8-bit RGBA pixels (row-major, 4 bytes a pixel) to [1,3,H,W] planes in [0, 1] for {@link tensor}. */
export function rgbaToPlanes(rgba: Uint8Array, width: number, height: number): Float32Array {
  const hw = width * height;
  if (rgba.length !== 4 * hw) {
    throw new Error(`rgbaToPlanes: ${rgba.length} bytes are not ${width}×${height} RGBA pixels`);
  }
  const out = new Float32Array(3 * hw);
  for (let s = 0; s < hw; s++) {
    out[s] = rgba[4 * s] / 255;
    out[s + hw] = rgba[4 * s + 1] / 255;
    out[s + 2 * hw] = rgba[4 * s + 2] / 255;
  }
  return out;
}

/**
 * [1,3,H,W] planes in [0, 1] (clipped, rounded to nearest) back to 8-bit RGBA.
 * `alpha` (one byte a pixel, or an RGBA image whose alpha is copied) defaults to opaque.
 */
export function planesToRgba(
  planes: ArrayLike<number>,
  width: number,
  height: number,
  alpha?: Uint8Array,
): Uint8Array {
  const hw = width * height;
  if (planes.length !== 3 * hw) {
    throw new Error(`planesToRgba: ${planes.length} values are not [1,3,${height},${width}]`);
  }
  const stride = alpha ? alpha.length / hw : 0;
  if (alpha && stride !== 1 && stride !== 4) {
    throw new Error(`planesToRgba: alpha of ${alpha.length} bytes fits neither ${hw} nor ${4 * hw}`);
  }
  const out = new Uint8Array(4 * hw);
  const byte = (v: number) => Math.round(Math.min(Math.max(v, 0), 1) * 255) || 0;
  for (let s = 0; s < hw; s++) {
    out[4 * s] = byte(planes[s]);
    out[4 * s + 1] = byte(planes[s + hw]);
    out[4 * s + 2] = byte(planes[s + 2 * hw]);
    out[4 * s + 3] = alpha ? alpha[stride * s + stride - 1] : 255;
  }
  return out;
}

// ---------------------------------------------------------------------------
// GPU.

function check(op: string, t: Tensor, channels: number) {
  if (t.rank !== 4 || t.shape[1] !== channels) {
    throw new Error(`${op}: expected a tensor of shape [N, ${channels}, H, W], got ${fmtShape(t.shape)}`);
  }
}

function checkPair(op: string, L: Tensor, ab: Tensor) {
  check(op, L, 1);
  check(op, ab, 2);
  if (L.shape[0] !== ab.shape[0] || L.shape[2] !== ab.shape[2] || L.shape[3] !== ab.shape[3]) {
    throw new Error(`${op}: L ${fmtShape(L.shape)} and ab ${fmtShape(ab.shape)} differ in N, H or W`);
  }
}

function run(op: string, steps: ColorStep[], inputs: Tensor[], outLayout: PixelLayout): Tensor[] {
  const [n, , h, w] = inputs[0].shape;
  const outs = outLayout === "rgb"
    ? [Tensor.empty([n, 3, h, w], op)]
    : [Tensor.empty([n, 1, h, w], op), Tensor.empty([n, 2, h, w], op)];
  const pixels = n * h * w;
  if (pixels === 0) return outs;
  const inLayout: PixelLayout = inputs.length === 1 ? "rgb" : "l+ab";
  const key = `color:${steps.join(">")}:${inLayout}:${outLayout}`;
  runtime().dispatch({
    key,
    wgsl: colorShader(CONSTANTS, steps, inLayout, outLayout),
    buffers: [...inputs.map((t) => t.buffer), ...outs.map((t) => t.buffer)],
    params: new Params().u32(pixels, h * w, 0, 0),
    workgroups: grid1d(pixels),
  });
  return outs;
}

/** sRGB [N,3,H,W] with values in [0, 1] → CIE Lab [N,3,H,W] (L in [0, 100], a and b about ±110). */
export function rgbToLab(rgb: Tensor): Tensor {
  check("rgbToLab", rgb, 3);
  return run("rgbToLab", ["rgbToLab"], [rgb], "rgb")[0];
}

/** CIE Lab [N,3,H,W] → sRGB [N,3,H,W] clipped to [0, 1]; out-of-gamut colours clip, never NaN. */
export function labToRgb(lab: Tensor): Tensor {
  check("labToRgb", lab, 3);
  return run("labToRgb", ["labToRgb"], [lab], "rgb")[0];
}

/** sRGB [N,3,H,W] → YUV [N,3,H,W] (BT.601 as skimage: Y in [0, 1]). */
export function rgbToYuv(rgb: Tensor): Tensor {
  check("rgbToYuv", rgb, 3);
  return run("rgbToYuv", ["rgbToYuv"], [rgb], "rgb")[0];
}

/** YUV [N,3,H,W] → sRGB [N,3,H,W], not clipped (as skimage's yuv2rgb). */
export function yuvToRgb(yuv: Tensor): Tensor {
  check("yuvToRgb", yuv, 3);
  return run("yuvToRgb", ["yuvToRgb"], [yuv], "rgb")[0];
}

/** Lab [N,3,H,W] → the generator's input L/50 − 1 [N,1,H,W] and its target ab/110 [N,2,H,W]. */
export function labToModel(lab: Tensor): { L: Tensor; ab: Tensor } {
  check("labToModel", lab, 3);
  const [L, ab] = run("labToModel", ["labToModel"], [lab], "l+ab");
  return { L, ab };
}

/** The inverse of {@link labToModel}: L [N,1,H,W] and ab [N,2,H,W] in model units → Lab [N,3,H,W]. */
export function modelToLab(L: Tensor, ab: Tensor): Tensor {
  checkPair("modelToLab", L, ab);
  return run("modelToLab", ["modelToLab"], [L, ab], "rgb")[0];
}

/** {@link rgbToLab} then {@link labToModel} in one pass: the training data path. */
export function rgbToModel(rgb: Tensor): { L: Tensor; ab: Tensor } {
  check("rgbToModel", rgb, 3);
  const [L, ab] = run("rgbToModel", ["rgbToLab", "labToModel"], [rgb], "l+ab");
  return { L, ab };
}

/** {@link modelToLab} then {@link labToRgb} in one pass: generator output to a displayable image. */
export function modelToRgb(L: Tensor, ab: Tensor): Tensor {
  checkPair("modelToRgb", L, ab);
  return run("modelToRgb", ["modelToLab", "labToRgb"], [L, ab], "rgb")[0];
}
