/**
 * Colour spaces for colorization: sRGB ⇄ CIE Lab exactly as skimage's
 * rgb2lab/lab2rgb (D65, 2° observer), sRGB ⇄ YUV as skimage's rgb2yuv/yuv2rgb,
 * and the model units of the two spaces a generator can work in ({@link ColorSpace}):
 * pix2pix's normalisation of Lab (L/50−1 and ab/110, both about [−1, 1]) and, for
 * YUV as Cao et al. 2017 ("Unsupervised Diverse Colorization via Generative
 * Adversarial Networks") colour in it, 2Y−1 and U, V over their largest magnitudes.
 *
 * GPU versions work on NCHW tensors, one invocation per pixel (kernels in
 * shaders/color.ts); they are data preparation, not part of a model, so they
 * record no gradients. Besides float planes they read and write packed 8-bit
 * RGBA, and the launchers at the end resample a photo to the generator's square
 * and back, so models/colorize.ts keeps a photo on the GPU from upload to
 * readback. Float64 CPU versions of the same formulas serve as test references
 * and for small conversions in the CLI.
 */

import { grid1d, runtime } from "./gpu.ts";
import { fmtShape, Tensor } from "./tensor.ts";
import type { AxisTable } from "./image.ts";
import {
  AB_TO_IMAGE,
  COLOR,
  type ColorSpace,
  type ColorStep,
  D65_WHITE,
  LAB_LIMIT,
  type Mat3,
  MODEL_AB_SCALE,
  MODEL_INPUT_COLUMNS,
  MODEL_L_SCALE,
  MODEL_UV_SCALE,
  type PixelLayout,
  RESAMPLE_ROWS,
  RGB_FROM_XYZ,
  RGB_FROM_YUV,
  XYZ_FROM_RGB,
  YUV_FROM_RGB,
} from "../shaders/color.ts";

// The constants are defined beside the kernels generated from them; the CPU versions here use the same.
export {
  COLOR_SPACES,
  type ColorSpace,
  D65_WHITE,
  type Mat3,
  MODEL_AB_SCALE,
  MODEL_L_SCALE,
  MODEL_UV_SCALE,
  RGB_FROM_XYZ,
  RGB_FROM_YUV,
  XYZ_FROM_RGB,
  YUV_FROM_RGB,
} from "../shaders/color.ts";

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

/**
 * One YUV colour to sRGB in [0, 1] keeping its luma, as the yuvToRgbInGamut kernel: Y is clipped to
 * [0, 1], and the chroma's share of the colour (RGB_FROM_YUV·(0, U, V), which has zero luma) is
 * scaled down by the least factor that brings every channel into [0, 1]. An out-of-gamut colour
 * desaturates toward its own gray instead of clipping per channel, so Y is kept exactly.
 */
export function yuvToRgbInGamutCpu(y: number, u: number, v: number): [number, number, number] {
  y = Math.min(Math.max(y, 0), 1);
  const c = apply(RGB_FROM_YUV, 0, u, v);
  let k = 1;
  for (const ci of c) {
    const room = ci > 0 ? 1 - y : y;
    if (Math.abs(ci) > room) k = Math.min(k, room / Math.abs(ci));
  }
  return c.map((ci) => Math.min(Math.max(y + k * ci, 0), 1)) as [number, number, number];
}

/** Luma (L or Y) to the generator's input units: L / MODEL_L_SCALE − 1 or 2Y − 1, both [−1, 1]. */
export function lumaToModelCpu(space: ColorSpace, luma: number): number {
  return space === "yuv" ? 2 * luma - 1 : luma / MODEL_L_SCALE - 1;
}

/**
 * One sRGB colour in the model units of `space`, as {@link rgbToModel}: [luma, chroma 1, chroma 2] =
 * [L/50 − 1, a/110, b/110] or [2Y − 1, U/U_max, V/V_max] ({@link MODEL_UV_SCALE}).
 */
export function rgbToModelCpu(space: ColorSpace, r: number, g: number, b: number): [number, number, number] {
  if (space === "yuv") {
    const [y, u, v] = rgbToYuvCpu(r, g, b);
    return [lumaToModelCpu(space, y), u / MODEL_UV_SCALE[0], v / MODEL_UV_SCALE[1]];
  }
  const [L, a, bb] = rgbToLabCpu(r, g, b);
  return [lumaToModelCpu(space, L), a / MODEL_AB_SCALE, bb / MODEL_AB_SCALE];
}

/**
 * Model units of `space` back to sRGB in [0, 1], as {@link modelToRgb}: through {@link labToRgbCpu}
 * (out-of-gamut channels clip) or {@link yuvToRgbInGamutCpu} (out-of-gamut chroma shrinks, luma kept).
 */
export function modelToRgbCpu(
  space: ColorSpace,
  m0: number,
  m1: number,
  m2: number,
): [number, number, number] {
  if (space === "yuv") {
    return yuvToRgbInGamutCpu((m0 + 1) / 2, m1 * MODEL_UV_SCALE[0], m2 * MODEL_UV_SCALE[1]);
  }
  return labToRgbCpu((m0 + 1) * MODEL_L_SCALE, m1 * MODEL_AB_SCALE, m2 * MODEL_AB_SCALE);
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

function run(
  op: string,
  steps: ColorStep[],
  inputs: Tensor[],
  input: PixelLayout,
  output: PixelLayout,
): Tensor[] {
  const [n, , h, w] = inputs[0].shape;
  const outs = output === "rgb"
    ? [Tensor.empty([n, 3, h, w], op)]
    : output === "l+ab"
    ? [Tensor.empty([n, 1, h, w], op), Tensor.empty([n, 2, h, w], op)]
    : [Tensor.empty([n, 1, h, w], op)];
  const pixels = n * h * w;
  if (pixels === 0) return outs;
  const names = { "rgb": ["x"], "l+ab": ["xl", "xab"], "rgba8": ["x"], "l": [] }[input];
  const buffers: Record<string, GPUBuffer> = {};
  names.forEach((name, k) => buffers[name] = inputs[k].buffer);
  if (output === "l+ab") [buffers.yl, buffers.yab] = [outs[0].buffer, outs[1].buffer];
  else buffers[output === "l" ? "yl" : "y"] = outs[0].buffer;
  runtime().dispatch(COLOR, { steps, input, output }, {
    buffers,
    uniforms: { pixels, hw: h * w },
    workgroups: grid1d(pixels),
  });
  return outs;
}

/** sRGB [N,3,H,W] with values in [0, 1] → CIE Lab [N,3,H,W] (L in [0, 100], a and b about ±110). */
export function rgbToLab(rgb: Tensor): Tensor {
  check("rgbToLab", rgb, 3);
  return run("rgbToLab", ["rgbToLab"], [rgb], "rgb", "rgb")[0];
}

/** CIE Lab [N,3,H,W] → sRGB [N,3,H,W] clipped to [0, 1]; out-of-gamut colours clip, never NaN. */
export function labToRgb(lab: Tensor): Tensor {
  check("labToRgb", lab, 3);
  return run("labToRgb", ["labToRgb"], [lab], "rgb", "rgb")[0];
}

/** sRGB [N,3,H,W] → YUV [N,3,H,W] (BT.601 as skimage: Y in [0, 1]). */
export function rgbToYuv(rgb: Tensor): Tensor {
  check("rgbToYuv", rgb, 3);
  return run("rgbToYuv", ["rgbToYuv"], [rgb], "rgb", "rgb")[0];
}

/** YUV [N,3,H,W] → sRGB [N,3,H,W], not clipped (as skimage's yuv2rgb). */
export function yuvToRgb(yuv: Tensor): Tensor {
  check("yuvToRgb", yuv, 3);
  return run("yuvToRgb", ["yuvToRgb"], [yuv], "rgb", "rgb")[0];
}

/**
 * YUV [N,3,H,W] → sRGB [N,3,H,W] in [0, 1] with the luma kept: out-of-gamut chroma is scaled toward
 * gray until the colour fits (see {@link yuvToRgbInGamutCpu}).
 */
export function yuvToRgbInGamut(yuv: Tensor): Tensor {
  check("yuvToRgbInGamut", yuv, 3);
  return run("yuvToRgbInGamut", ["yuvToRgbInGamut"], [yuv], "rgb", "rgb")[0];
}

/** Lab [N,3,H,W] → the generator's input L/50 − 1 [N,1,H,W] and its target ab/110 [N,2,H,W]. */
export function labToModel(lab: Tensor): { L: Tensor; ab: Tensor } {
  check("labToModel", lab, 3);
  const [L, ab] = run("labToModel", ["labToModel"], [lab], "rgb", "l+ab");
  return { L, ab };
}

/** The inverse of {@link labToModel}: L [N,1,H,W] and ab [N,2,H,W] in model units → Lab [N,3,H,W]. */
export function modelToLab(L: Tensor, ab: Tensor): Tensor {
  checkPair("modelToLab", L, ab);
  return run("modelToLab", ["modelToLab"], [L, ab], "l+ab", "rgb")[0];
}

/** The fused conversions between sRGB and the model units of each colour space. */
const MODEL_STEPS: Record<ColorSpace, { toModel: ColorStep[]; toRgb: ColorStep[] }> = {
  lab: { toModel: ["rgbToLab", "labToModel"], toRgb: ["modelToLab", "labToRgb"] },
  yuv: { toModel: ["rgbToYuv", "yuvToModel"], toRgb: ["modelToYuv", "yuvToRgbInGamut"] },
};

/**
 * sRGB [N,3,H,W] → a generator's input luma [N,1,H,W] and its chroma target [N,2,H,W] in the model
 * units of `space` (see {@link rgbToModelCpu}), in one pass: the training data path. For "lab",
 * {@link rgbToLab} then {@link labToModel}; the tensors are named L and ab in either space.
 */
export function rgbToModel(rgb: Tensor, space: ColorSpace = "lab"): { L: Tensor; ab: Tensor } {
  check("rgbToModel", rgb, 3);
  const [L, ab] = run("rgbToModel", MODEL_STEPS[space].toModel, [rgb], "rgb", "l+ab");
  return { L, ab };
}

/**
 * The inverse of {@link rgbToModel} in one pass, generator output to a displayable image in [0, 1]
 * (see {@link modelToRgbCpu}): for "lab", {@link modelToLab} then {@link labToRgb}.
 */
export function modelToRgb(L: Tensor, ab: Tensor, space: ColorSpace = "lab"): Tensor {
  checkPair("modelToRgb", L, ab);
  return run("modelToRgb", MODEL_STEPS[space].toRgb, [L, ab], "l+ab", "rgb")[0];
}

// ---------------------------------------------------------------------------
// Packed 8-bit RGBA on the GPU: one u32 a pixel holding the R, G, B, A bytes (lowest first), in
// a tensor of shape [N,1,H,W]. Its elements are bit patterns, not f32 values: only the colour
// kernels read them. Uploading bytes instead of float planes moves a quarter of the data.

/** Uploads `height`×`width` RGBA pixels (row-major, 4 bytes each) as a packed [1,1,H,W] tensor. */
export function uploadRgba8(rgba: Uint8Array, height: number, width: number): Tensor {
  const hw = height * width;
  if (rgba.length !== 4 * hw) {
    throw new Error(`uploadRgba8: ${rgba.length} bytes are not ${width}×${height} RGBA pixels`);
  }
  // A Float32Array view carries the bytes unchanged (typed-array copies of one type are bitwise);
  // it needs 4-byte alignment, which a subarray of a decoded image may lack.
  const bytes = rgba.byteOffset % 4 === 0 ? rgba : rgba.slice();
  const t = Tensor.empty([1, 1, height, width], "uploadRgba8");
  runtime().upload(t.buffer, new Float32Array(bytes.buffer, bytes.byteOffset, hw));
  return t;
}

/** Reads a packed RGBA tensor back as bytes, 4 a pixel. */
export async function readRgba8(t: Tensor): Promise<Uint8Array> {
  const data = await runtime().read(t.buffer, 4 * t.size);
  return new Uint8Array(data.buffer, data.byteOffset, 4 * t.size);
}

/** Packed RGBA [N,1,H,W] → CIE L [N,1,H,W] (0..100, as skimage's rgb2lab). */
export function rgba8ToL(rgba: Tensor): Tensor {
  check("rgba8ToL", rgba, 1);
  return run("rgba8ToL", ["rgbToLab"], [rgba], "rgba8", "l")[0];
}

/** Packed RGBA [N,1,H,W] → the luma a generator of `space` sees [N,1,H,W]: L (0..100) or Y (0..1). */
export function rgba8ToLuma(rgba: Tensor, space: ColorSpace): Tensor {
  if (space === "lab") return rgba8ToL(rgba);
  check("rgba8ToLuma", rgba, 1);
  return run("rgba8ToLuma", ["rgbToYuv"], [rgba], "rgba8", "l")[0];
}

/**
 * L [N,1,H,W] and ab [N,2,H,W] (Lab units) → opaque packed RGBA [N,1,H,W], as skimage's lab2rgb
 * (out-of-gamut colours clip) then bytes rounded as Math.round(255·v).
 */
export function labToRgba8(L: Tensor, ab: Tensor): Tensor {
  checkPair("labToRgba8", L, ab);
  return run("labToRgba8", ["labToRgb"], [L, ab], "l+ab", "rgba8")[0];
}

// ---------------------------------------------------------------------------
// Resampling between a photo and the generator's square (kernels in shaders/color.ts). The
// weight tables come from engine/image.ts (axisWeights, packAxisWeights) as one u32 tensor.

function plane(t: Tensor): [number, number] {
  return [t.shape[t.rank - 2], t.shape[t.rank - 1]];
}

/**
 * Row pass: the rows of `src` (last two dims [rows, srcWidth]) resampled along x with `table`,
 * written to rows `outRow0…` of `out` (last dim: the output width).
 */
export function runResampleRows(src: Tensor, taps: Tensor, table: AxisTable, out: Tensor, outRow0: number) {
  const [rows, srcWidth] = plane(src);
  const [, outWidth] = plane(out);
  if (rows * outWidth === 0) return;
  runtime().dispatch(RESAMPLE_ROWS, undefined, {
    buffers: { src: src.buffer, taps: taps.buffer, out: out.buffer },
    uniforms: { srcWidth, rows, outWidth, outRow0, ...table },
    workgroups: grid1d(rows * outWidth),
  });
}

/**
 * Column pass of the generator's input: `src` (last dims [srcRows, width]) resampled along y
 * with `table` into `out` (last dims [outRows, width]), then to model units of `space`
 * ({@link lumaToModelCpu}: L / MODEL_L_SCALE − 1, or 2Y − 1).
 */
export function runModelInputColumns(
  src: Tensor,
  taps: Tensor,
  table: AxisTable,
  out: Tensor,
  space: ColorSpace = "lab",
) {
  const [outRows, width] = plane(out);
  if (outRows * width === 0) return;
  runtime().dispatch(MODEL_INPUT_COLUMNS, { space }, {
    buffers: { src: src.buffer, taps: taps.buffer, out: out.buffer },
    uniforms: { width, outRows, ...table },
    workgroups: grid1d(outRows * width),
  });
}

/** Where {@link runAbToImage} reads its weights and which photo rows it makes. */
export interface AbToImageArgs {
  /** The packed weight tables. */
  taps: Tensor;
  /** Table of the photo's columns (into the prediction's columns). */
  x: AxisTable;
  /** Table of the photo's rows (into the prediction's rows). */
  y: AxisTable;
  /** Photo width. */
  width: number;
  /** First photo row of the band. */
  y0: number;
  /** Rows in the band. */
  rows: number;
  /** The generator's colour space (default "lab"): `pred` is ab or UV, the image's luma L or Y. */
  space?: ColorSpace;
}

/**
 * The generator's prediction `pred` [1,2,side,side] resampled to a band of the photo (see
 * AB_TO_IMAGE): with `image` (the band's luma [1,1,rows,W], L or Y as `args.space` says, and packed
 * pixels), a flat tensor of rows·W + 1 u32: the packed RGBA of (luma, chroma) with the pixels'
 * alpha, then the number of those pixels whose chroma is NaN or ±∞ ({@link readRgba8} reads both at
 * once); without, the two chroma planes [1,2,rows,W] in the colour space's units (Lab's a and b, or
 * YUV's U and V).
 */
export function runAbToImage(pred: Tensor, args: AbToImageArgs, image?: { L: Tensor; rgba: Tensor }): Tensor {
  const { taps, x, y, width, y0, rows, space = "lab" } = args;
  const side = pred.shape[3];
  const out = Tensor.empty(image ? [rows * width + 1] : [1, 2, rows, width], "abToImage");
  // The count starts at zero (recorded in order with the dispatches, so no submit of its own).
  if (image) runtime().upload(out.buffer, new Float32Array(1), 4 * rows * width);
  if (rows * width === 0) return out;
  const output = image ? "rgba8" : "ab";
  runtime().dispatch(AB_TO_IMAGE, { output, space }, {
    buffers: {
      l: image?.L.buffer,
      rgba: image?.rgba.buffer,
      pred: pred.buffer,
      taps: taps.buffer,
      out: out.buffer,
    },
    uniforms: {
      width,
      rows,
      y0,
      side,
      xStarts: x.starts,
      xIndex: x.index,
      xWeight: x.weight,
      yStarts: y.starts,
      yIndex: y.index,
      yWeight: y.weight,
    },
    workgroups: grid1d(rows * width),
  });
  return out;
}
