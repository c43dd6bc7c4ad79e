/**
 * User colour hints, as in "Real-Time User-Guided Image Colorization with Learned Deep Priors" (Zhang
 * et al., SIGGRAPH 2017): a hint model's generator takes, besides L, a sparse map of given ab values
 * and a mask of where they are. Its input is [L, hint a, hint b, hint mask] (4 channels, in that
 * order); a generator with 1 input channel is an automatic one. Hints are given in a photo's pixel
 * coordinates with an sRGB colour whose ab is used (the lightness is the photo's own).
 *
 * This module is the one place that knows the hint map's layout: the training sampler
 * (cli/train/hints.ts), the colorizer (models/colorize.ts), the CLI and the web page all go through it.
 */

import { MODEL_AB_SCALE, rgbToLabCpu } from "../engine/color.ts";
import { concat } from "../engine/ops/shape.ts";
import { zeros } from "../engine/ops/buffers.ts";
import { fmtShape, type Tensor, tensor } from "../engine/tensor.ts";
import { generatorTensorShapes } from "./checkpoint.ts";
import type { FullGeneratorConfig } from "./generators.ts";

/** Channels of the hint map that follow L in a hint model's input: a, b (model units) and the mask. */
export const HINT_CHANNELS = 3;

/**
 * Side, in model pixels, of the square a user's hint covers in the hint map. Training reveals squares
 * of 1–9 pixels; 3 is small enough to place a hint on a narrow object and large enough to be more than
 * a single pixel at the model's 128×128.
 */
export const HINT_PATCH = 3;

/** One hint: a point of the photo (pixels, origin top-left) and the Lab a and b it should have. */
export interface Hint {
  /** Column of the photo pixel, from 0 at the left. */
  x: number;
  /** Row of the photo pixel, from 0 at the top. */
  y: number;
  /** CIE Lab a the colour should have there (green − / red +, about ±110). */
  a: number;
  /** CIE Lab b the colour should have there (blue − / yellow +, about ±110). */
  b: number;
}

/** A hint as users write it, in a hints file, on the command line or in the web page. */
export interface HintSpec {
  /** Column of the photo pixel, from 0 at the left. */
  x: number;
  /** Row of the photo pixel, from 0 at the top. */
  y: number;
  /** "#rrggbb" (or "#rgb"). */
  color: string;
}

/** True when a generator of this configuration takes hints (L plus the hint map). */
export function takesHints(config: { inputChannels: number }): boolean {
  return config.inputChannels === 1 + HINT_CHANNELS;
}

/** "#rrggbb" or "#rgb" as sRGB bytes; null when it is not such a colour. */
export function parseHexColor(s: string): [number, number, number] | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(s);
  if (!m) return null;
  const h = m[1].length === 3 ? [...m[1]].map((c) => c + c).join("") : m[1];
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

/** sRGB bytes as "#rrggbb". */
export function toHexColor(r: number, g: number, b: number): string {
  return "#" + [r, g, b].map((v) => Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, "0"))
    .join("");
}

/** The Lab a and b of an sRGB colour given as bytes. */
export function colorAb(r: number, g: number, b: number): { a: number; b: number } {
  const [, a, bb] = rgbToLabCpu(r / 255, g / 255, b / 255);
  return { a, b: bb };
}

/**
 * Checks hints written as {@link HintSpec}s against a `width`×`height` photo and converts them; throws
 * an Error whose message names the hint (1-based) and its problem. `value` is anything parsed from
 * JSON: it must be an array of `{ "x", "y", "color" }` objects.
 */
export function parseHints(value: unknown, width: number, height: number): Hint[] {
  return parseHintSpecs(value).map((spec, i) => hintFromSpec(spec, width, height, `hint ${i + 1}`));
}

/**
 * The checks of {@link parseHints} that need no photo: `value` is an array of `{ "x", "y", "color" }`
 * objects with numbers for x and y and a valid colour. Whether each point lies inside a photo is left to
 * {@link hintFromSpec}, so one hints file can be checked once and then applied to photos of any size.
 */
export function parseHintSpecs(value: unknown): HintSpec[] {
  if (!Array.isArray(value)) {
    throw new Error('hints must be a JSON array of {"x": …, "y": …, "color": "#rrggbb"} objects');
  }
  return value.map((h, i) => {
    const where = `hint ${i + 1}`;
    if (h === null || typeof h !== "object" || Array.isArray(h)) {
      throw new Error(`${where} is not an object {"x": …, "y": …, "color": "#rrggbb"}`);
    }
    const { x, y, color } = h as Record<string, unknown>;
    for (const [k, v] of [["x", x], ["y", y]] as const) {
      if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${where}: "${k}" must be a number`);
    }
    if (typeof color !== "string") throw new Error(`${where}: "color" must be a string like "#b03a2e"`);
    const spec = { x: x as number, y: y as number, color };
    specRgb(spec, where);
    return spec;
  });
}

/** One {@link HintSpec} checked against the photo's size and converted; `where` names it in errors. */
export function hintFromSpec(spec: HintSpec, width: number, height: number, where = "hint"): Hint {
  const rgb = specRgb(spec, where);
  if (!(spec.x >= 0 && spec.x < width && spec.y >= 0 && spec.y < height)) {
    throw new Error(
      `${where}: (${spec.x}, ${spec.y}) is outside the ${width}×${height} photo ` +
        `(x from 0 to ${width - 1}, y from 0 to ${height - 1})`,
    );
  }
  return { x: spec.x, y: spec.y, ...colorAb(...rgb) };
}

/** A spec's colour as sRGB bytes, or an Error naming it (`where`) when it is malformed. */
function specRgb(spec: HintSpec, where: string): [number, number, number] {
  const rgb = parseHexColor(spec.color);
  if (!rgb) throw new Error(`${where}: colour ${JSON.stringify(spec.color)} is not #rrggbb or #rgb`);
  return rgb;
}

/**
 * Where photo pixel (x, y) falls in the model's size×size square: the square is the photo padded by
 * `padX`/`padY` pixels before it to a side of `side`, then resized to `size` (see models/colorize.ts).
 */
export function squareCell(
  x: number,
  y: number,
  g: { side: number; size: number; padX: { before: number }; padY: { before: number } },
): [number, number] {
  const s = g.size / g.side;
  const cell = (v: number, pad: number) => Math.min(g.size - 1, Math.max(0, Math.floor((v + 0.5 + pad) * s)));
  return [cell(x, g.padX.before), cell(y, g.padY.before)];
}

/**
 * The model cells a hint at `cell` covers in a size×size hint map: the {@link HINT_PATCH}-pixel square
 * around it, clipped to the map (inclusive bounds).
 */
export function hintPatchCells(
  [cx, cy]: readonly [number, number],
  size: number,
): { x0: number; x1: number; y0: number; y1: number } {
  const r = (HINT_PATCH - 1) >> 1;
  const clip = (v: number) => Math.min(size - 1, Math.max(0, v));
  return {
    x0: clip(cx - r),
    x1: clip(cx - r + HINT_PATCH - 1),
    y0: clip(cy - r),
    y1: clip(cy - r + HINT_PATCH - 1),
  };
}

/**
 * The photo pixels (inclusive bounds) a hint at photo pixel (x, y) colours in the hint map: those whose
 * {@link squareCell} lies in its {@link hintPatchCells}, clipped to the photo. About
 * HINT_PATCH·side/size pixels a side; never empty (the hint's own pixel is in it). Revealing the mean ab
 * of these pixels matches training, where a revealed patch shows its mean ab.
 */
export function hintPatchPixels(
  x: number,
  y: number,
  g: {
    width: number;
    height: number;
    side: number;
    size: number;
    padX: { before: number };
    padY: { before: number };
  },
): { x0: number; x1: number; y0: number; y1: number } {
  const cells = hintPatchCells(squareCell(x, y, g), g.size);
  // squareCell is monotonic along each axis, so the pixels form one interval per axis: grow it from
  // the hint's own pixel while the next pixel's cell is still inside (exactly squareCell's rounding).
  const grow = (v: number, n: number, lo: number, hi: number, cellOf: (v: number) => number) => {
    let a = Math.floor(v), b = Math.floor(v);
    while (a > 0 && cellOf(a - 1) >= lo) a--;
    while (b < n - 1 && cellOf(b + 1) <= hi) b++;
    return [a, b];
  };
  const [x0, x1] = grow(x, g.width, cells.x0, cells.x1, (v) => squareCell(v, y, g)[0]);
  const [y0, y1] = grow(y, g.height, cells.y0, cells.y1, (v) => squareCell(x, v, g)[1]);
  return { x0, x1, y0, y1 };
}

/**
 * The hint map [3, size, size] (a / MODEL_AB_SCALE, b / MODEL_AB_SCALE, mask) of hints at the given
 * cells: each covers its {@link hintPatchCells}; later hints win where squares overlap.
 */
export function hintMap(hints: readonly { cell: [number, number]; a: number; b: number }[], size: number) {
  const hw = size * size, map = new Float32Array(HINT_CHANNELS * hw);
  for (const { cell, a, b } of hints) {
    const { x0, x1, y0, y1 } = hintPatchCells(cell, size);
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const p = y * size + x;
        map[p] = a / MODEL_AB_SCALE;
        map[hw + p] = b / MODEL_AB_SCALE;
        map[2 * hw + p] = 1;
      }
    }
  }
  return map;
}

/**
 * A generator's input from L [N, 1, H, W]: L itself for an automatic generator; for a hint model L
 * followed by `hints` [N, 3, H, W] (as {@link hintMap} lays it out; no hints: zeros).
 */
export function generatorInput(config: { inputChannels: number }, L: Tensor, hints?: Tensor | Float32Array) {
  if (!takesHints(config)) {
    if (hints) {
      throw new Error("colorize: this model takes no colour hints (it was trained without --hints-input)");
    }
    return L;
  }
  const [n, , h, w] = L.shape;
  const shape = [n, HINT_CHANNELS, h, w];
  const map = hints === undefined
    ? zeros(shape)
    : hints instanceof Float32Array
    ? tensor(hints, shape)
    : hints;
  if (map.shape.join() !== shape.join()) {
    throw new Error(`hint map ${fmtShape(map.shape)} does not match ${fmtShape(shape)}`);
  }
  return concat([L, map], 1);
}

/**
 * The weights of an automatic generator (1 input channel) made to fit `target`, the same architecture
 * taking hints, so that the widened model colours exactly as the automatic one (whatever the hints)
 * until training moves the new weights. The hint channels follow the existing ones wherever the input
 * is read: in the U-Net the first convolution; in the ResNet U-Net the stem and, because the input is
 * concatenated back before the last residual block, that block's two convolutions and norms (whose
 * channels grow on both axes) and the head. The old tensor is copied into the leading corner of the
 * new one; weights reading new channels are zero, so no old channel depends on a hint. New output
 * channels (the residual block's) get zero weights and identity norms (scale 1, running variance 1):
 * they carry the hint channels through the block's skip unchanged, and the head reads them with zero
 * weights. The diverse generator, whose input is followed by noise channels, cannot be widened.
 * Tensors whose shape does not change are returned as they are.
 */
export function widenForHints(
  weights: Map<string, Float32Array>,
  target: { config: FullGeneratorConfig; stateDict(): Map<string, Tensor> },
): Map<string, Float32Array> {
  const config = target.config;
  if (!takesHints(config)) throw new Error("widenForHints: the target model takes no hints");
  if (config.kind === "diverse") {
    throw new Error("a diverse generator cannot be widened to take hints (its noise follows the input)");
  }
  const before = generatorTensorShapes({ ...config, inputChannels: config.inputChannels - HINT_CHANNELS });
  const out = new Map(weights);
  for (const [name, t] of target.stateDict()) {
    const w = weights.get(name), from = before.get(name);
    if (!w || !from || from.join() === t.shape.join()) continue;
    // Sizes that do not match the automatic model's are left for loadStateDict to report.
    if (w.length !== from.reduce((a, b) => a * b, 1)) continue;
    const last = name.slice(name.lastIndexOf(".") + 1);
    const fill = t.shape.length === 1 && (last === "weight" || last === "running_var") ? 1 : 0;
    out.set(name, embed(w, from, t.shape, fill));
  }
  return out;
}

/**
 * What a hint adapter learns (`train --hint-adapter`): the weights of a widened U-Net (see
 * {@link widenForHints}) that read the hint channels, as the name of that tensor (the first
 * convolution's) and a 0/1 mask over it. Everything else stays the automatic model's; without hints
 * those weights multiply zeros, so the adapted model colours a photo without hints exactly as the
 * automatic one did (the idea of ControlNet's zero-initialised paths on a locked network, Zhang et
 * al. 2023, at its smallest). Other generators pass the hint channels through more than one layer,
 * where they would also change the automatic path, so they cannot have an adapter.
 */
export function hintAdapterMask(config: FullGeneratorConfig): { name: string; mask: Float32Array } {
  if (!takesHints(config)) throw new Error("hintAdapterMask: the model takes no hints");
  if (config.kind !== undefined && config.kind !== "unet") {
    throw new Error("a hint adapter needs a U-Net (other generators pass the hints through more layers)");
  }
  const before = generatorTensorShapes({ ...config, inputChannels: config.inputChannels - HINT_CHANNELS });
  const after = generatorTensorShapes(config);
  const widened = [...after].filter(([name, shape]) => before.get(name)!.join() !== shape.join());
  if (widened.length !== 1) throw new Error(`hintAdapterMask: ${widened.length} widened tensors, expected 1`);
  const [name, shape] = widened[0], from = before.get(name)!;
  // 0 where the automatic model's weights sit, 1 on the entries the widening added.
  return { name, mask: embed(new Float32Array(from.reduce((a, b) => a * b, 1)), from, shape, 1) };
}

/** `w` of shape `from` in the leading corner of a tensor of shape `to` (each side at least as long), the rest `fill`. */
function embed(w: Float32Array, from: readonly number[], to: readonly number[], fill: number): Float32Array {
  const wide = new Float32Array(to.reduce((a, b) => a * b, 1)).fill(fill);
  // Row-major strides; copy the old tensor one innermost run at a time.
  const rank = to.length, inner = from[rank - 1];
  const outer = w.length / inner;
  for (let i = 0; i < outer; i++) {
    let rest = i, dst = 0, stride = to[rank - 1];
    for (let d = rank - 2; d >= 0; d--) {
      dst += (rest % from[d]) * stride;
      rest = Math.floor(rest / from[d]);
      stride *= to[d];
    }
    wide.set(w.subarray(i * inner, (i + 1) * inner), dst);
  }
  return wide;
}
