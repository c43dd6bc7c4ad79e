/**
 * Colorizing one photo of any size with a generator trained on size×size
 * squares, as in seed 003: pad the L channel to a square with reflected image
 * content (not black bars, which the model never saw), shrink it to the model's
 * size, predict ab, cut the padding back out and enlarge ab to the photo's
 * resolution. The caller recombines ab with the photo's ORIGINAL L, so
 * luminance detail survives at full resolution and only chroma is low-res.
 *
 * Resampling runs on the CPU: it is a separable pass with a few taps per pixel
 * (cheap next to the generator), and folding the padding, the resize and the
 * crop into per-axis weight tables avoids ever building the padded square of a
 * large photo (a 6000×4000 photo would need a 6000×6000 buffer). Colour
 * conversion, which has GPU kernels (engine/color.ts), runs on the GPU in
 * chunks of pixels so that no tensor exceeds a binding-size limit.
 */

import type { Unet } from "./unet.ts";
import { noGrad } from "../engine/autograd.ts";
import { tensor, tidy } from "../engine/tensor.ts";
import { labToRgb, rgbToLab } from "../engine/color.ts";

/** An 8-bit RGBA image, row-major, 4 bytes a pixel (the shape cli/image.ts reads and writes). */
export interface RgbaImage {
  /** Pixels per row. */
  width: number;
  /** Number of rows. */
  height: number;
  /** width·height·4 bytes, R, G, B, A per pixel (alpha is passed through by colorization). */
  rgba: Uint8Array;
}

/**
 * Resampling weights of one axis in compressed rows: output i reads source
 * indices `index[starts[i]..starts[i+1])` with the matching `weight`s (summing to 1).
 */
export interface AxisWeights {
  starts: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

/** How a padded (virtual) coordinate maps back to a real source index. */
export type PadMode = "reflect" | "edge";

/**
 * Padding of one side of length `n` up to `side`, split equally (the extra
 * pixel of an odd difference goes after). numpy-style "reflect" (mirror without
 * repeating the edge pixel) needs each pad ≤ n−1; beyond that (very elongated
 * images) it would have to reflect twice, so "edge" (replicate) is used instead.
 */
export function padPlan(n: number, side: number): { before: number; after: number; mode: PadMode } {
  const total = side - n;
  const before = Math.floor(total / 2);
  const after = total - before;
  return { before, after, mode: after <= n - 1 ? "reflect" : "edge" };
}

/** Maps padded coordinate v (0 ≤ v < n + before + after) to a source index in [0, n). */
function padIndex(v: number, n: number, before: number, mode: PadMode): number {
  const s = v - before;
  if (s >= 0 && s < n) return s;
  if (mode === "edge") return s < 0 ? 0 : n - 1;
  return s < 0 ? -s : 2 * (n - 1) - s;
}

/**
 * Weights taking a virtual axis of `virtLen` samples to `outLen` samples, where
 * output i covers the virtual interval [(i + offset)·scale, (i + 1 + offset)·scale).
 * When an output pixel covers one source pixel or more (shrinking) the weights
 * average the covered area exactly (fractional edges included: "area" resize,
 * which does not alias); when it covers less (enlarging) they interpolate
 * linearly between pixel centres (half-pixel convention, clamped at the edges,
 * like PyTorch's bilinear with align_corners=False). `toSrc` maps a virtual
 * index to the real array index (padding).
 */
export function axisWeights(
  outLen: number,
  virtLen: number,
  scale: number,
  offset: number,
  toSrc: (v: number) => number = (v) => v,
): AxisWeights {
  const starts = new Int32Array(outLen + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < outLen; i++) {
    starts[i] = index.length;
    if (scale >= 1) {
      const a = (i + offset) * scale, b = (i + 1 + offset) * scale;
      const k0 = Math.max(0, Math.floor(a)), k1 = Math.min(virtLen, Math.ceil(b));
      let total = 0;
      const first = index.length;
      for (let k = k0; k < k1; k++) {
        const w = Math.min(b, k + 1) - Math.max(a, k);
        if (w <= 1e-9) continue;
        index.push(toSrc(k));
        weight.push(w);
        total += w;
      }
      if (index.length === first) {
        // Only reachable through rounding at the very end of the axis.
        index.push(toSrc(Math.min(virtLen - 1, Math.max(0, Math.floor(a)))));
        weight.push(1);
        total = 1;
      }
      for (let j = first; j < index.length; j++) weight[j] /= total;
    } else {
      const c = Math.min(Math.max((i + offset + 0.5) * scale - 0.5, 0), virtLen - 1);
      const k0 = Math.floor(c), f = c - k0;
      const k1 = Math.min(k0 + 1, virtLen - 1);
      index.push(toSrc(k0));
      weight.push(1 - f);
      if (f > 0 && k1 !== k0) {
        index.push(toSrc(k1));
        weight.push(f);
      }
    }
  }
  starts[outLen] = index.length;
  return { starts, index: Int32Array.from(index), weight: Float32Array.from(weight) };
}

/**
 * Separable resampling of a `srcW`×`srcH` plane with per-axis weights
 * (`wx`: output columns, `wy`: output rows). Rows are filtered first, so the
 * intermediate has the source's height and the output's width.
 */
export function resample(
  src: Float32Array,
  srcW: number,
  srcH: number,
  wx: AxisWeights,
  wy: AxisWeights,
): Float32Array {
  const outW = wx.starts.length - 1, outH = wy.starts.length - 1;
  const tmp = new Float32Array(outW * srcH);
  for (let y = 0; y < srcH; y++) {
    const row = y * srcW, trow = y * outW;
    for (let x = 0; x < outW; x++) {
      let s = 0;
      for (let j = wx.starts[x]; j < wx.starts[x + 1]; j++) s += wx.weight[j] * src[row + wx.index[j]];
      tmp[trow + x] = s;
    }
  }
  const out = new Float32Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const orow = y * outW;
    for (let j = wy.starts[y]; j < wy.starts[y + 1]; j++) {
      const w = wy.weight[j], trow = wy.index[j] * outW;
      for (let x = 0; x < outW; x++) out[orow + x] += w * tmp[trow + x];
    }
  }
  return out;
}

/** The geometry of one colorization: the padded square and the model's input size. */
export interface ColorizeGeometry {
  width: number;
  height: number;
  /** Side of the padded square: max(width, height). */
  side: number;
  padX: { before: number; after: number; mode: PadMode };
  padY: { before: number; after: number; mode: PadMode };
  size: number;
}

/** Padding plan for a `width`×`height` image colorized at `size`. */
export function colorizeGeometry(width: number, height: number, size: number): ColorizeGeometry {
  const side = Math.max(width, height);
  return { width, height, side, padX: padPlan(width, side), padY: padPlan(height, side), size };
}

/**
 * The generator's input: L (0..100, `width`×`height`) padded to a square,
 * resized to size×size and normalised to L/50 − 1.
 */
export function modelInput(L: Float32Array, g: ColorizeGeometry): Float32Array {
  const { width: w, height: h, side, size, padX, padY } = g;
  const scale = side / size;
  const wx = axisWeights(size, side, scale, 0, (v) => padIndex(v, w, padX.before, padX.mode));
  const wy = axisWeights(size, side, scale, 0, (v) => padIndex(v, h, padY.before, padY.mode));
  const x = resample(L, w, h, wx, wy);
  for (let i = 0; i < x.length; i++) x[i] = x[i] / 50 - 1;
  return x;
}

/**
 * The inverse geometry: one size×size plane of model output back to the
 * `width`×`height` image, keeping only the unpadded region. Output pixel x
 * covers padded coordinates [x + padX, x + padX + 1), i.e. model coordinates
 * scaled by size/side, so crop and resize are one resampling (no rounding of
 * the crop edges to whole model pixels).
 */
export function modelOutputToImage(plane: Float32Array, g: ColorizeGeometry): Float32Array {
  const { width: w, height: h, side, size, padX, padY } = g;
  const scale = size / side;
  const wx = axisWeights(w, size, scale, padX.before);
  const wy = axisWeights(h, size, scale, padY.before);
  return resample(plane, size, size, wx, wy);
}

function checkSize(G: Unet, size: number) {
  const m = G.sizeMultiple;
  if (!Number.isInteger(size) || size <= 0 || size % m !== 0) {
    throw new Error(
      `colorize: size ${size} must be a positive multiple of ${m} (2^nDown for this model, nDown=${G.config.nDown})`,
    );
  }
}

/**
 * Predicts the a and b channels (Lab units, about ±110) of a `width`×`height`
 * photo from its L channel (0..100, row-major), following the procedure in the
 * module comment. Returns planar [a plane, b plane], each width·height values.
 * G runs in eval mode (running statistics, no dropout); its mode is restored.
 */
export async function colorizeLab(
  G: Unet,
  L: Float32Array,
  width: number,
  height: number,
  size: number,
): Promise<Float32Array> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`colorize: image is ${width}×${height}; it needs at least one pixel`);
  }
  if (L.length !== width * height) {
    throw new Error(`colorize: ${L.length} L values for a ${width}×${height} image`);
  }
  if (G.config.inputChannels !== 1 || G.config.outputChannels !== 2) {
    throw new Error(
      `colorize: the generator maps ${G.config.inputChannels} to ${G.config.outputChannels} channels, not L to ab (1 to 2)`,
    );
  }
  checkSize(G, size);
  const g = colorizeGeometry(width, height, size);
  const input = modelInput(L, g);
  const wasTraining = G.training;
  G.eval();
  let ab: Float32Array;
  try {
    const out = noGrad(() => tidy(() => G.forward(tensor(input, [1, 1, size, size]))));
    try {
      ab = await out.data();
    } finally {
      out.dispose();
    }
  } finally {
    G.train(wasTraining);
  }
  const hw = width * height, ss = size * size;
  const result = new Float32Array(2 * hw);
  for (let c = 0; c < 2; c++) {
    const plane = ab.subarray(c * ss, (c + 1) * ss).map((v) => v * 110);
    result.set(modelOutputToImage(plane, g), c * hw);
  }
  return result;
}

/** Pixels converted per GPU pass: 2^20 pixels are 12 MiB per 3-channel tensor, far below binding limits. */
const CHUNK = 1 << 20;

/** L (0..100) of every pixel of an RGBA image, converted on the GPU as skimage's rgb2lab. */
export async function rgbaToL(img: RgbaImage): Promise<Float32Array> {
  const hw = img.width * img.height;
  const L = new Float32Array(hw);
  for (let start = 0; start < hw; start += CHUNK) {
    const n = Math.min(CHUNK, hw - start);
    const planes = new Float32Array(3 * n);
    for (let s = 0; s < n; s++) {
      const p = 4 * (start + s);
      planes[s] = img.rgba[p] / 255;
      planes[n + s] = img.rgba[p + 1] / 255;
      planes[2 * n + s] = img.rgba[p + 2] / 255;
    }
    // A row of n pixels: the conversion is per pixel, so any NCHW shape with H·W = n works.
    const lab = tidy(() => rgbToLab(tensor(planes, [1, 3, 1, n])));
    try {
      L.set((await lab.data()).subarray(0, n), start);
    } finally {
      lab.dispose();
    }
  }
  return L;
}

/**
 * Lab planes (L and planar ab, full resolution) to 8-bit RGBA on the GPU, as
 * skimage's lab2rgb (out-of-gamut colours clip). Alpha is copied from `alpha`
 * (an RGBA buffer of the same size) or opaque.
 */
export async function labToRgba(
  L: Float32Array,
  ab: Float32Array,
  width: number,
  height: number,
  alpha?: Uint8Array,
): Promise<Uint8Array> {
  const hw = width * height;
  const out = new Uint8Array(4 * hw);
  for (let start = 0; start < hw; start += CHUNK) {
    const n = Math.min(CHUNK, hw - start);
    const planes = new Float32Array(3 * n);
    planes.set(L.subarray(start, start + n), 0);
    planes.set(ab.subarray(start, start + n), n);
    planes.set(ab.subarray(hw + start, hw + start + n), 2 * n);
    const rgb = tidy(() => labToRgb(tensor(planes, [1, 3, 1, n])));
    let v: Float32Array;
    try {
      v = await rgb.data();
    } finally {
      rgb.dispose();
    }
    for (let s = 0; s < n; s++) {
      const p = 4 * (start + s);
      out[p] = Math.round(v[s] * 255);
      out[p + 1] = Math.round(v[n + s] * 255);
      out[p + 2] = Math.round(v[2 * n + s] * 255);
      out[p + 3] = alpha ? alpha[p + 3] : 255;
    }
  }
  return out;
}

/**
 * Colorizes an RGBA image (colour or gray: only its lightness is used) with
 * generator `G` at model resolution `size`; returns an image of the same size
 * whose L channel is the input's and whose alpha is the input's.
 */
export async function colorizeRgba(G: Unet, img: RgbaImage, size: number): Promise<RgbaImage> {
  const { width, height } = img;
  if (!(width > 0 && height > 0)) throw new Error(`colorize: image is ${width}×${height}; it has no pixels`);
  if (img.rgba.length !== 4 * width * height) {
    throw new Error(`colorize: ${img.rgba.length} bytes are not ${width}×${height} RGBA pixels`);
  }
  checkSize(G, size);
  const L = await rgbaToL(img);
  const ab = await colorizeLab(G, L, width, height, size);
  return { width, height, rgba: await labToRgba(L, ab, width, height, img.rgba) };
}
