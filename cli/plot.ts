/**
 * Training pictures drawn straight into RGBA buffers (no canvas, no font
 * files): a loss-curve chart and a sample grid. Text uses a built-in 5×7
 * bitmap font (digits, capitals and a few signs), enough for axis labels and
 * a legend.
 */

import type { RgbaImage } from "../engine/image.ts";

export type { RgbaImage } from "../engine/image.ts";

/** A colour as [r, g, b] (0–255) or "#rrggbb". */
export type Color = readonly [number, number, number] | string;

/** One line of a chart. `steps` gives the x of each value (default 0, 1, 2, …); non-finite values leave gaps. */
export interface Series {
  name: string;
  values: readonly (number | null | undefined)[];
  color: Color;
  steps?: readonly number[];
}

/** Chart options. */
export interface ChartOptions {
  /** Logarithmic y axis (losses that fall over decades); values ≤ 0 are skipped then. Default false. */
  logY?: boolean;
  /** Text scale of the 5×7 font in pixels per dot; default 1, or 2 for charts at least 1000 px wide. */
  fontScale?: number;
}

// ---------------------------------------------------------------------------
// 5×7 font: five column bytes per glyph, bit 0 is the top row (the layout of the classic
// HD44780 / Adafruit GFX "glcdfont"), so glyphs can be checked against that table.

const FONT: Record<string, number[]> = {
  " ": [0x00, 0x00, 0x00, 0x00, 0x00],
  "0": [0x3e, 0x51, 0x49, 0x45, 0x3e],
  "1": [0x00, 0x42, 0x7f, 0x40, 0x00],
  "2": [0x42, 0x61, 0x51, 0x49, 0x46],
  "3": [0x21, 0x41, 0x45, 0x4b, 0x31],
  "4": [0x18, 0x14, 0x12, 0x7f, 0x10],
  "5": [0x27, 0x45, 0x45, 0x45, 0x39],
  "6": [0x3c, 0x4a, 0x49, 0x49, 0x30],
  "7": [0x01, 0x71, 0x09, 0x05, 0x03],
  "8": [0x36, 0x49, 0x49, 0x49, 0x36],
  "9": [0x06, 0x49, 0x49, 0x29, 0x1e],
  "A": [0x7e, 0x11, 0x11, 0x11, 0x7e],
  "B": [0x7f, 0x49, 0x49, 0x49, 0x36],
  "C": [0x3e, 0x41, 0x41, 0x41, 0x22],
  "D": [0x7f, 0x41, 0x41, 0x22, 0x1c],
  "E": [0x7f, 0x49, 0x49, 0x49, 0x41],
  "F": [0x7f, 0x09, 0x09, 0x09, 0x01],
  "G": [0x3e, 0x41, 0x49, 0x49, 0x7a],
  "H": [0x7f, 0x08, 0x08, 0x08, 0x7f],
  "I": [0x00, 0x41, 0x7f, 0x41, 0x00],
  "J": [0x20, 0x40, 0x41, 0x3f, 0x01],
  "K": [0x7f, 0x08, 0x14, 0x22, 0x41],
  "L": [0x7f, 0x40, 0x40, 0x40, 0x40],
  "M": [0x7f, 0x02, 0x0c, 0x02, 0x7f],
  "N": [0x7f, 0x04, 0x08, 0x10, 0x7f],
  "O": [0x3e, 0x41, 0x41, 0x41, 0x3e],
  "P": [0x7f, 0x09, 0x09, 0x09, 0x06],
  "Q": [0x3e, 0x41, 0x51, 0x21, 0x5e],
  "R": [0x7f, 0x09, 0x19, 0x29, 0x46],
  "S": [0x46, 0x49, 0x49, 0x49, 0x31],
  "T": [0x01, 0x01, 0x7f, 0x01, 0x01],
  "U": [0x3f, 0x40, 0x40, 0x40, 0x3f],
  "V": [0x1f, 0x20, 0x40, 0x20, 0x1f],
  "W": [0x3f, 0x40, 0x38, 0x40, 0x3f],
  "X": [0x63, 0x14, 0x08, 0x14, 0x63],
  "Y": [0x07, 0x08, 0x70, 0x08, 0x07],
  "Z": [0x61, 0x51, 0x49, 0x45, 0x43],
  ".": [0x00, 0x60, 0x60, 0x00, 0x00],
  ",": [0x00, 0x50, 0x30, 0x00, 0x00],
  ":": [0x00, 0x36, 0x36, 0x00, 0x00],
  "-": [0x08, 0x08, 0x08, 0x08, 0x08],
  "+": [0x08, 0x08, 0x3e, 0x08, 0x08],
  "_": [0x40, 0x40, 0x40, 0x40, 0x40],
  "/": [0x20, 0x10, 0x08, 0x04, 0x02],
  "(": [0x00, 0x1c, 0x22, 0x41, 0x00],
  ")": [0x00, 0x41, 0x22, 0x1c, 0x00],
  "=": [0x14, 0x14, 0x14, 0x14, 0x14],
  "%": [0x23, 0x13, 0x08, 0x64, 0x62],
  "|": [0x00, 0x00, 0x7f, 0x00, 0x00],
  "?": [0x02, 0x01, 0x51, 0x09, 0x06],
};

/** Pixel width of `text` in the built-in font (6 dots a glyph, the last column is spacing). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * 6 - 1) * scale;
}

function parseColor(c: Color): [number, number, number] {
  if (typeof c !== "string") return [c[0], c[1], c[2]];
  const m = /^#?([0-9a-f]{6})$/i.exec(c);
  if (!m) throw new Error(`plot: colour "${c}" is not #rrggbb`);
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** A blank canvas with pixel helpers (clipped, so callers need no bounds checks). */
class Canvas {
  readonly rgba: Uint8Array;
  constructor(readonly width: number, readonly height: number, bg: [number, number, number]) {
    this.rgba = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) this.rgba.set([bg[0], bg[1], bg[2], 255], 4 * i);
  }
  set(x: number, y: number, c: readonly number[]) {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = 4 * (y * this.width + x);
    this.rgba[i] = c[0];
    this.rgba[i + 1] = c[1];
    this.rgba[i + 2] = c[2];
    this.rgba[i + 3] = 255;
  }
  rect(x: number, y: number, w: number, h: number, c: readonly number[]) {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }
  hline(x0: number, x1: number, y: number, c: readonly number[]) {
    for (let x = Math.min(x0, x1); x <= Math.max(x0, x1); x++) this.set(x, y, c);
  }
  vline(x: number, y0: number, y1: number, c: readonly number[]) {
    for (let y = Math.min(y0, y1); y <= Math.max(y0, y1); y++) this.set(x, y, c);
  }
  /** Bresenham line, `thick` pixels wide (extra pixels below/right of the 1-px line). */
  line(x0: number, y0: number, x1: number, y1: number, c: readonly number[], thick = 1) {
    x0 = Math.round(x0), y0 = Math.round(y0), x1 = Math.round(x1), y1 = Math.round(y1);
    const dx = Math.abs(x1 - x0), dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      for (let t = 0; t < thick; t++) {
        this.set(x0, y0 + t, c);
        this.set(x0 + t, y0, c);
      }
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }
  /** Draws text with its top-left corner at (x, y); unknown characters draw as "?". */
  text(x: number, y: number, s: string, c: readonly number[], scale = 1) {
    for (const ch of s.toUpperCase()) {
      const g = FONT[ch] ?? FONT["?"];
      for (let col = 0; col < 5; col++) {
        for (let row = 0; row < 7; row++) {
          if ((g[col] >> row) & 1) this.rect(x + col * scale, y + row * scale, scale, scale, c);
        }
      }
      x += 6 * scale;
    }
  }
  blit(img: RgbaImage, x0: number, y0: number) {
    for (let y = 0; y < img.height; y++) {
      const ty = y0 + y;
      if (ty < 0 || ty >= this.height) continue;
      for (let x = 0; x < img.width; x++) {
        const tx = x0 + x;
        if (tx < 0 || tx >= this.width) continue;
        const s = 4 * (y * img.width + x), d = 4 * (ty * this.width + tx);
        this.rgba[d] = img.rgba[s];
        this.rgba[d + 1] = img.rgba[s + 1];
        this.rgba[d + 2] = img.rgba[s + 2];
        this.rgba[d + 3] = 255;
      }
    }
  }
  image(): RgbaImage {
    return { width: this.width, height: this.height, rgba: this.rgba };
  }
}

/** "Nice" step (1, 2 or 5 × 10^k) giving about `count` intervals over `range`. */
export function niceStep(range: number, count: number): number {
  if (!(range > 0)) return 1;
  const raw = range / Math.max(1, count);
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Short tick label: integers plainly, small/large magnitudes in exponent form. */
export function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential(0).split("e");
    return `${m}E${e.replace("+", "")}`;
  }
  // Round away binary noise (0.30000000000000004) before printing.
  return String(Number(v.toPrecision(6)));
}

/**
 * Draws the series as a line chart: axes, a light grid with tick labels, and a
 * legend (colour swatch + name) in the top-right corner. Empty or all-gap
 * series still get a legend entry; an empty chart draws just the frame.
 */
export function renderLossCurve(
  series: readonly Series[],
  width: number,
  height: number,
  opts: ChartOptions = {},
): RgbaImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 64 || height < 48) {
    throw new Error(`renderLossCurve: size ${width}×${height} is too small (at least 64×48)`);
  }
  const fs = opts.fontScale ?? (width >= 1000 ? 2 : 1);
  const logY = !!opts.logY;
  const cv = new Canvas(width, height, [255, 255, 255]);
  const axis = [60, 60, 60], grid = [228, 228, 228], label = [80, 80, 80];

  // Data ranges.
  const fy = (v: number) => (logY ? Math.log10(v) : v);
  let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
  const points = series.map((s) =>
    s.values.map((v, i) => {
      const x = s.steps?.[i] ?? i;
      if (v === null || v === undefined || !Number.isFinite(v) || (logY && v <= 0) || !Number.isFinite(x)) {
        return null;
      }
      const y = fy(v);
      xMin = Math.min(xMin, x), xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, y), yMax = Math.max(yMax, y);
      return [x, y] as [number, number];
    })
  );
  if (!Number.isFinite(xMin)) xMin = 0, xMax = 1, yMin = 0, yMax = 1;
  if (xMax === xMin) xMax = xMin + 1;
  if (yMax === yMin) {
    const pad = logY ? 0.5 : Math.abs(yMin) * 0.1 || 1;
    yMin -= pad;
    yMax += pad;
  }

  // Y ticks (in transformed units) decide the left margin, which must fit their labels.
  let yTicks: number[] = [];
  if (logY) {
    const lo = Math.floor(yMin), hi = Math.ceil(yMax);
    const mult = hi - lo <= 3 ? [1, 2, 5] : [1];
    for (let e = lo; e <= hi; e++) for (const m of mult) yTicks.push(Math.log10(m) + e);
    yTicks = yTicks.filter((t) => t >= yMin - 1e-9 && t <= yMax + 1e-9);
    if (yTicks.length < 2) yTicks = [yMin, yMax];
  } else {
    const st = niceStep(yMax - yMin, 5);
    for (let t = Math.ceil(yMin / st) * st; t <= yMax + st * 1e-9; t += st) yTicks.push(t);
  }
  const yLabel = (t: number) => tickLabel(logY ? Number((10 ** t).toPrecision(3)) : t);
  const left = Math.max(...yTicks.map((t) => textWidth(yLabel(t), fs))) + 8 * fs;
  const top = 6 * fs, right = 10 * fs, bottom = 14 * fs;
  const pw = width - left - right, ph = height - top - bottom;
  const px = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (pw - 1);
  const py = (y: number) => top + (1 - (y - yMin) / (yMax - yMin)) * (ph - 1);

  // Grid and labels.
  for (const t of yTicks) {
    const y = Math.round(py(t));
    cv.hline(left, left + pw - 1, y, grid);
    const s = yLabel(t);
    cv.text(left - 4 * fs - textWidth(s, fs), y - 3 * fs, s, label, fs);
  }
  const xs = niceStep(xMax - xMin, Math.max(2, Math.floor(pw / (60 * fs))));
  for (let t = Math.ceil(xMin / xs) * xs; t <= xMax + xs * 1e-9; t += xs) {
    const x = Math.round(px(t));
    cv.vline(x, top, top + ph - 1, grid);
    const s = tickLabel(t);
    const tx = Math.min(Math.max(x - textWidth(s, fs) / 2, 0), width - textWidth(s, fs));
    cv.text(tx, top + ph + 4 * fs, s, label, fs);
  }
  cv.vline(left, top, top + ph - 1, axis);
  cv.hline(left, left + pw - 1, top + ph - 1, axis);

  // Lines: consecutive finite points are joined; a gap (non-finite value) breaks the line.
  const thick = Math.max(1, Math.round(fs * 1.5));
  series.forEach((s, k) => {
    const c = parseColor(s.color);
    let prev: [number, number] | null = null;
    const pts = points[k];
    pts.forEach((p, i) => {
      if (!p) {
        prev = null;
        return;
      }
      const [x, y] = [px(p[0]), py(p[1])];
      if (prev) cv.line(prev[0], prev[1], x, y, c, thick);
      else if (!pts[i + 1]) cv.rect(x - thick, y - thick, 2 * thick + 1, 2 * thick + 1, c); // isolated point
      prev = [x, y];
    });
  });

  // Legend: a white box with a swatch and the name per series, top-right inside the plot.
  if (series.length) {
    const lineH = 10 * fs, sw = 10 * fs;
    const boxW = Math.max(...series.map((s) => textWidth(s.name, fs))) + sw + 12 * fs;
    const boxH = series.length * lineH + 6 * fs;
    const bx = left + pw - boxW - 4 * fs, by = top + 4 * fs;
    cv.rect(bx, by, boxW, boxH, [255, 255, 255]);
    cv.hline(bx, bx + boxW - 1, by, grid), cv.hline(bx, bx + boxW - 1, by + boxH - 1, grid);
    cv.vline(bx, by, by + boxH - 1, grid), cv.vline(bx + boxW - 1, by, by + boxH - 1, grid);
    series.forEach((s, k) => {
      const y = by + 4 * fs + k * lineH;
      cv.rect(bx + 4 * fs, y, sw, 7 * fs, parseColor(s.color));
      cv.text(bx + 8 * fs + sw, y, s.name, axis, fs);
    });
  }
  return cv.image();
}

/** One row of a sample grid: the gray input, the generated colours and the original photo. */
export interface SampleRow {
  gray: RgbaImage;
  fake: RgbaImage;
  real: RgbaImage;
}

/**
 * Lays rows out as gray | generated | original with a 4 px dark gutter, and
 * column titles on top when the cells are wide enough for them.
 */
export function renderSampleGrid(rows: readonly SampleRow[]): RgbaImage {
  if (rows.length === 0) throw new Error("renderSampleGrid: no rows");
  const cells = rows.flatMap((r) => [r.gray, r.fake, r.real]);
  for (const c of cells) {
    if (c.rgba.length !== c.width * c.height * 4) {
      throw new Error(`renderSampleGrid: an image of ${c.width}×${c.height} has ${c.rgba.length} bytes`);
    }
  }
  const cw = Math.max(...cells.map((c) => c.width)), ch = Math.max(...cells.map((c) => c.height));
  const gap = 4;
  const titles = ["GRAY", "GENERATED", "ORIGINAL"];
  const titleH = textWidth("GENERATED") <= cw ? 12 : 0;
  const width = 3 * cw + 4 * gap, height = titleH + rows.length * ch + (rows.length + 1) * gap;
  const cv = new Canvas(width, height, [32, 32, 32]);
  if (titleH) {
    titles.forEach((t, i) => {
      cv.text(gap + i * (cw + gap) + Math.floor((cw - textWidth(t)) / 2), gap + 1, t, [230, 230, 230]);
    });
  }
  rows.forEach((r, j) => {
    [r.gray, r.fake, r.real].forEach((img, i) => {
      // Smaller images are centred in their cell.
      const x = gap + i * (cw + gap) + Math.floor((cw - img.width) / 2);
      const y = titleH + gap + j * (ch + gap) + Math.floor((ch - img.height) / 2);
      cv.blit(img, x, y);
    });
  });
  return cv.image();
}
