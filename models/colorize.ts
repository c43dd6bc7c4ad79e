/**
 * Colorizing one photo of any size with a generator trained on size×size
 * squares: pad the L channel to a square with reflected image content (not
 * black bars, which the model never saw) with a margin of the same on every side
 * (BORDER_MARGIN), shrink it to the model's size,
 * predict ab, cut the padding back out and enlarge ab to the photo's
 * resolution. ab is recombined with the photo's ORIGINAL L, so luminance detail
 * survives at full resolution and only chroma is low-res. A model that colours in
 * YUV (models/generators.ts `colorSpaceOf`) goes the same way with Y and UV.
 *
 * The photo stays on the GPU from upload to readback: its packed 8-bit RGBA goes
 * up once, becomes L (engine/color.ts), is resampled to the model's square (a
 * row pass, then a column pass that also normalises), goes through the
 * generator, and one last pass resamples the prediction back to the photo and
 * converts (L, a, b) to packed RGBA, which is read back once. Padding, resize
 * and crop are folded into per-axis weight tables (engine/image.ts, the weights
 * the CLI's resize uses too), so the padded square of a large photo is never
 * built (a 6000×4000 photo would need a 6000×6000 buffer). The tables are the
 * one step left on the CPU: a few entries per pixel of one axis (kilobytes, one
 * small upload), and computing them on the GPU would write the weight rules twice.
 *
 * A photo whose tensors would exceed one storage binding is processed in bands
 * of rows, each uploaded and read back once; any photo that fits is one band.
 *
 * Any generator of models/generators.ts works; one that takes noise (the diverse
 * generator) colours a photo differently for each noise seed (ColorizeOptions.seed).
 */

import { colorSpaceOf, type Generator, sizeMultipleReason } from "./generators.ts";
import { DiverseGenerator } from "./diverse.ts";
import { generatorInput, type Hint, hintMap, squareCell, takesHints } from "./hints.ts";
import { spreadHints } from "./hint_spread.ts";
import { noGrad } from "../engine/autograd.ts";
import { runtime } from "../engine/gpu.ts";
import { Tensor, tensor, tidy } from "../engine/tensor.ts";
import {
  type ColorSpace,
  labToRgba8,
  lumaToModelCpu,
  readRgba8,
  rgba8ToL,
  rgba8ToLuma,
  runAbToImage,
  runModelInputColumns,
  runResampleRows,
  uploadRgba8,
} from "../engine/color.ts";
import {
  type AxisTable,
  type AxisWeights,
  axisWeights,
  packAxisWeights,
  type RgbaImage,
} from "../engine/image.ts";

// Callers of the colorizer use the image type from here; it is declared once, in engine/image.ts.
export type { RgbaImage } from "../engine/image.ts";

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

/**
 * Reflected context added on every side of the photo, as a fraction of its longer side (see
 * {@link colorizeGeometry}), so no edge of the picture lies on the generator's zero-padded border.
 * Measured on train photos (MODEL.md, "Failure cases"): error along the edges down by about 0.2–0.6
 * |Δab|, the interior unchanged.
 */
export const BORDER_MARGIN = 1 / 8;

/**
 * Padding plan for a `width`×`height` image colorized at `size`: the square has side
 * max(width, height) + 2·round(margin·max(width, height)).
 */
export function colorizeGeometry(
  width: number,
  height: number,
  size: number,
  margin: number = BORDER_MARGIN,
): ColorizeGeometry {
  if (!(margin >= 0 && margin <= 1)) throw new Error(`colorize: margin ${margin} must be between 0 and 1`);
  const long = Math.max(width, height);
  const side = long + 2 * Math.round(margin * long);
  return { width, height, side, padX: padPlan(width, side), padY: padPlan(height, side), size };
}

/** The four weight tables of one colorization: photo → model square (x, y) and back (x, y). */
interface GeometryWeights {
  inX: AxisWeights;
  inY: AxisWeights;
  outX: AxisWeights;
  outY: AxisWeights;
}

/**
 * Model input: output i of an axis covers padded coordinates [i·side/size, (i+1)·side/size),
 * mapped to the photo through the padding. Output: photo pixel x covers padded coordinates
 * [x + pad, x + pad + 1), i.e. model coordinates scaled by size/side, so crop and resize are
 * one resampling (no rounding of the crop edges to whole model pixels).
 */
function geometryWeights(g: ColorizeGeometry): GeometryWeights {
  const { width: w, height: h, side, size, padX, padY } = g;
  return {
    inX: axisWeights(size, side, side / size, 0, (v) => padIndex(v, w, padX.before, padX.mode)),
    inY: axisWeights(size, side, side / size, 0, (v) => padIndex(v, h, padY.before, padY.mode)),
    outX: axisWeights(w, size, size / side, padX.before),
    outY: axisWeights(h, size, size / side, padY.before),
  };
}

// ---------------------------------------------------------------------------
// Float64 CPU references of the GPU passes below (tests compare against them).

/**
 * Separable resampling of a `srcW`×`srcH` plane with per-axis weights
 * (`wx`: output columns, `wy`: output rows), in float64. Rows are filtered
 * first, as the GPU does, so the intermediate has the source's height and the
 * output's width.
 */
export function resample(
  src: ArrayLike<number>,
  srcW: number,
  srcH: number,
  wx: AxisWeights,
  wy: AxisWeights,
): Float64Array {
  const outW = wx.starts.length - 1, outH = wy.starts.length - 1;
  const tmp = new Float64Array(outW * srcH);
  for (let y = 0; y < srcH; y++) {
    const row = y * srcW, trow = y * outW;
    for (let x = 0; x < outW; x++) {
      let s = 0;
      for (let j = wx.starts[x]; j < wx.starts[x + 1]; j++) s += wx.weight[j] * src[row + wx.index[j]];
      tmp[trow + x] = s;
    }
  }
  const out = new Float64Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const orow = y * outW;
    for (let j = wy.starts[y]; j < wy.starts[y + 1]; j++) {
      const w = wy.weight[j], trow = wy.index[j] * outW;
      for (let x = 0; x < outW; x++) out[orow + x] += w * tmp[trow + x];
    }
  }
  return out;
}

/**
 * The generator's input: the luma (`width`×`height`; L in 0..100, or Y in 0..1 for a YUV model)
 * padded to a square, resized to size×size and normalised to L/50 − 1 or 2Y − 1 (float64 reference
 * of the GPU path).
 */
export function modelInput(
  L: ArrayLike<number>,
  g: ColorizeGeometry,
  space: ColorSpace = "lab",
): Float64Array {
  const { inX, inY } = geometryWeights(g);
  const x = resample(L, g.width, g.height, inX, inY);
  for (let i = 0; i < x.length; i++) x[i] = lumaToModelCpu(space, x[i]);
  return x;
}

/**
 * The inverse geometry: one size×size plane of model output back to the
 * `width`×`height` image, keeping only the unpadded region (float64 reference of the GPU path).
 */
export function modelOutputToImage(plane: ArrayLike<number>, g: ColorizeGeometry): Float64Array {
  const { outX, outY } = geometryWeights(g);
  return resample(plane, g.size, g.size, outX, outY);
}

// ---------------------------------------------------------------------------
// GPU.

function checkSize(G: Generator, size: number) {
  const m = G.sizeMultiple;
  if (!Number.isInteger(size) || size <= 0 || size % m !== 0) {
    throw new Error(
      m === 1
        ? `colorize: size ${size} must be a positive whole number`
        : `colorize: size ${size} must be a positive multiple of ${m} (for this model: ${
          sizeMultipleReason(G.config)
        })`,
    );
  }
}

function checkGenerator(G: Generator, options: ColorizeOptions) {
  const hints = takesHints(G.config);
  if ((G.config.inputChannels !== 1 && !hints) || G.config.outputChannels !== 2) {
    throw new Error(
      `colorize: the generator maps ${G.config.inputChannels} to ${G.config.outputChannels} channels, ` +
        "not L (or L and colour hints) to ab (1 or 4 to 2)",
    );
  }
  if (options.hints?.length && !hints) {
    throw new Error("colorize: this model takes no colour hints (it was trained without --hints-input)");
  }
}

/** Options of the colorizing functions. */
export interface ColorizeOptions {
  /**
   * Photo rows per band (default: as many as keep every band tensor within the adapter's
   * maxStorageBufferBindingSize, so nearly every photo is one band). Results do not depend on
   * it; each band costs one more upload and readback.
   */
  bandRows?: number;
  /**
   * The noise seed of a generator that takes noise (the diverse generator): each seed gives its own
   * colouring, the same seed (at the same size) the same one. Without it the noise comes from the
   * global generator (engine/random.ts), so every call colours differently. Generators without noise
   * ignore it.
   */
  seed?: number;
  /** Reflected context on every side as a fraction of the longer side (default {@link BORDER_MARGIN}). */
  margin?: number;
  /**
   * Colour hints in the photo's pixel coordinates (models/hints.ts), for a model trained with hint
   * input; such a model without hints colours on its own. A model without hint input refuses them.
   */
  hints?: readonly Hint[];
  /**
   * Whether the hints are also spread over the prediction by the edge-aware blend of
   * models/hint_spread.ts (default true); false shows what the network alone does with them.
   */
  spreadHints?: boolean;
}

interface Band {
  y0: number;
  rows: number;
}

/**
 * Bands of rows whose tensors of `bytesPerPixel` per pixel, plus `extraBytes` each, fit one storage
 * binding.
 */
function rowBands(
  width: number,
  height: number,
  bytesPerPixel: number,
  options: ColorizeOptions,
  extraBytes = 0,
): Band[] {
  const fit = Math.floor((runtime().maxBindingBytes - extraBytes) / (bytesPerPixel * width));
  const step = Math.max(1, Math.floor(Math.min(options.bandRows ?? fit, fit)));
  const bands: Band[] = [];
  for (let y0 = 0; y0 < height; y0 += step) bands.push({ y0, rows: Math.min(step, height - y0) });
  return bands;
}

/** The weight tables as one u32 tensor (one small upload), and where each table is in it. */
function uploadWeights(
  g: ColorizeGeometry,
): { taps: Tensor; tables: Record<keyof GeometryWeights, AxisTable> } {
  const w = geometryWeights(g);
  const { data, tables } = packAxisWeights([w.inX, w.inY, w.outX, w.outY]);
  // The tensor holds u32 bit patterns; a Float32Array view uploads them unchanged.
  const taps = tensor(new Float32Array(data.buffer), [data.length]);
  return { taps, tables: { inX: tables[0], inY: tables[1], outX: tables[2], outY: tables[3] } };
}

/**
 * Records the generator's prediction [1,2,size,size] (model units) for a photo given as bands
 * of its luma [1,1,rows,W] (L, or Y for a YUV model): rows pass of every band into one [H, size]
 * plane, column pass with the normalisation, the hint map (a hint model), G, then the hints spread
 * over its prediction (models/hint_spread.ts, unless options.spreadHints is false). Runs
 * inside noGrad and tidy, G in eval mode.
 */
function predict(
  G: Generator,
  g: ColorizeGeometry,
  bands: readonly Band[],
  L: readonly Tensor[],
  taps: Tensor,
  tables: Record<keyof GeometryWeights, AxisTable>,
  options: ColorizeOptions,
): Tensor {
  const rows = Tensor.empty([g.height, g.size], "colorize");
  bands.forEach((b, k) => runResampleRows(L[k], taps, tables.inX, rows, b.y0));
  const L0 = Tensor.empty([1, 1, g.size, g.size], "colorize");
  runModelInputColumns(rows, taps, tables.inY, L0, colorSpaceOf(G.config));
  const placed = takesHints(G.config)
    ? (options.hints ?? []).map((h) => ({ cell: squareCell(h.x, h.y, g), a: h.a, b: h.b }))
    : [];
  const x = generatorInput(G.config, L0, takesHints(G.config) ? hintMap(placed, g.size) : undefined);
  const pred = G instanceof DiverseGenerator ? G.forward(x, options.seed) : G.forward(x);
  return options.spreadHints === false ? pred : spreadHints(pred, L0, placed);
}

/** Runs `fn` with G in eval mode (running statistics, no dropout) and no gradients; restores G's mode. */
function inEval<T>(G: Generator, fn: () => T): T {
  const wasTraining = G.training;
  G.eval();
  try {
    return noGrad(fn);
  } finally {
    G.train(wasTraining);
  }
}

/**
 * Predicts the a and b channels (Lab units, about ±110) of a `width`×`height`
 * photo from its L channel (0..100, row-major), following the procedure in the
 * module comment. Returns planar [a plane, b plane], each width·height values.
 * G runs in eval mode (running statistics, no dropout); its mode is restored.
 * Throws when the prediction holds NaN or ±∞ (weights that overflow on this photo).
 */
export async function colorizeLab(
  G: Generator,
  L: Float32Array,
  width: number,
  height: number,
  size: number,
  options: ColorizeOptions = {},
): Promise<Float32Array> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`colorize: image is ${width}×${height}; it needs at least one pixel`);
  }
  if (L.length !== width * height) {
    throw new Error(`colorize: ${L.length} L values for a ${width}×${height} image`);
  }
  if (colorSpaceOf(G.config) !== "lab") {
    // Its input is Y, which L alone does not determine: only the photo's colours give it.
    throw new Error("colorize: this model colours in YUV, not Lab; colorize its RGBA image instead");
  }
  checkGenerator(G, options);
  checkSize(G, size);
  const g = colorizeGeometry(width, height, size, options.margin);
  // The largest band tensor is the output's a and b: 8 bytes a pixel.
  const bands = rowBands(width, height, 8, options);
  const outs = inEval(G, () =>
    tidy(() => {
      const { taps, tables } = uploadWeights(g);
      const Ls = bands.map((b) =>
        tensor(L.subarray(b.y0 * width, (b.y0 + b.rows) * width), [1, 1, b.rows, width])
      );
      const pred = predict(G, g, bands, Ls, taps, tables, options);
      return bands.map((b) => runAbToImage(pred, { taps, x: tables.outX, y: tables.outY, width, ...b }));
    }));
  const hw = width * height;
  const result = new Float32Array(2 * hw);
  try {
    for (const [k, b] of bands.entries()) {
      const ab = await outs[k].data();
      const n = b.rows * width;
      result.set(ab.subarray(0, n), b.y0 * width);
      result.set(ab.subarray(n, 2 * n), hw + b.y0 * width);
    }
  } finally {
    for (const t of outs) t.dispose();
  }
  // x − x is 0 for every finite x and NaN for NaN and ±∞.
  for (let i = 0; i < result.length; i++) {
    if (result[i] - result[i] !== 0) throw new Error("model output holds NaN or infinite values");
  }
  return result;
}

/** L (0..100) of every pixel of an RGBA image, converted on the GPU as skimage's rgb2lab. */
export async function rgbaToL(img: RgbaImage, options: ColorizeOptions = {}): Promise<Float32Array> {
  const { width, height } = img;
  const L = new Float32Array(width * height);
  for (const b of rowBands(width, height, 4, options)) {
    const t = tidy(() => rgba8ToL(uploadRgba8(bandBytes(img.rgba, width, b), b.rows, width)));
    try {
      L.set(await t.data(), b.y0 * width);
    } finally {
      t.dispose();
    }
  }
  return L;
}

/** The RGBA bytes of a band of rows. */
function bandBytes(rgba: Uint8Array, width: number, b: Band): Uint8Array {
  return rgba.subarray(4 * b.y0 * width, 4 * (b.y0 + b.rows) * width);
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
  options: ColorizeOptions = {},
): Promise<Uint8Array> {
  const hw = width * height;
  const out = new Uint8Array(4 * hw);
  // The largest band tensor is ab: 8 bytes a pixel.
  for (const b of rowBands(width, height, 8, options)) {
    const start = b.y0 * width, n = b.rows * width;
    const t = tidy(() => {
      const abBand = Tensor.empty([1, 2, b.rows, width], "labToRgba");
      runtime().upload(abBand.buffer, ab.subarray(start, start + n));
      runtime().upload(abBand.buffer, ab.subarray(hw + start, hw + start + n), 4 * n);
      return labToRgba8(tensor(L.subarray(start, start + n), [1, 1, b.rows, width]), abBand);
    });
    try {
      out.set(await readRgba8(t), 4 * start);
    } finally {
      t.dispose();
    }
  }
  // The alpha bytes are already here: copying them costs less than uploading them.
  if (alpha) { for (let p = 3; p < out.length; p += 4) out[p] = alpha[p]; }
  return out;
}

/**
 * Colorizes an RGBA image (colour or gray: only its lightness is used) with
 * generator `G` at model resolution `size`; returns an image of the same size
 * whose luma (L, or Y for a model that colours in YUV) is the input's, up to
 * 8-bit rounding and Lab's gamut clipping, and whose alpha is the input's. Throws "model
 * output holds NaN or infinite values" rather than return colours made of them.
 */
export async function colorizeRgba(
  G: Generator,
  img: RgbaImage,
  size: number,
  options: ColorizeOptions = {},
): Promise<RgbaImage> {
  const { width, height } = img;
  if (!(width > 0 && height > 0)) throw new Error(`colorize: image is ${width}×${height}; it has no pixels`);
  if (img.rgba.length !== 4 * width * height) {
    throw new Error(`colorize: ${img.rgba.length} bytes are not ${width}×${height} RGBA pixels`);
  }
  checkGenerator(G, options);
  checkSize(G, size);
  const g = colorizeGeometry(width, height, size, options.margin);
  const space = colorSpaceOf(G.config);
  // Every band tensor (packed pixels, luma, packed output) has 4 bytes a pixel; the output has 4
  // more for its count of non-finite pixels.
  const bands = rowBands(width, height, 4, options, 4);
  const outs = inEval(G, () =>
    tidy(() => {
      const { taps, tables } = uploadWeights(g);
      const pixels = bands.map((b) => uploadRgba8(bandBytes(img.rgba, width, b), b.rows, width));
      // The photo's own luma, L or Y as the model's colour space says, kept at full resolution.
      const Ls = pixels.map((p) => rgba8ToLuma(p, space));
      const pred = predict(G, g, bands, Ls, taps, tables, options);
      return bands.map((b, k) =>
        runAbToImage(pred, { taps, x: tables.outX, y: tables.outY, width, space, ...b }, {
          L: Ls[k],
          rgba: pixels[k],
        })
      );
    }));
  const rgba = new Uint8Array(4 * width * height);
  try {
    for (const [k, b] of bands.entries()) {
      // The band's pixels, then the pass's count of pixels whose predicted a or b is NaN or ±∞.
      const bytes = await readRgba8(outs[k]);
      const n = 4 * b.rows * width;
      if (new DataView(bytes.buffer, bytes.byteOffset + n, 4).getUint32(0, true) !== 0) {
        throw new Error("model output holds NaN or infinite values");
      }
      rgba.set(bytes.subarray(0, n), 4 * b.y0 * width);
    }
  } finally {
    for (const t of outs) t.dispose();
  }
  return { width, height, rgba };
}
