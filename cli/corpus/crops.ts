/**
 * What the debian command writes: random square crops of photos, and
 * cut-outs (objects on transparent backgrounds) composited onto photo crops.
 */

import type { Rng } from "../../engine/random.ts";
import { resizeRgba, type RgbaImage } from "../image.ts";

/** A square region of an image. */
export interface Rect {
  x: number;
  y: number;
  side: number;
}

/**
 * How many crops a photo gets: `crops` when its short side is at least four
 * times the output size, proportionally fewer for smaller photos (their crops
 * would mostly overlap), at least 1.
 */
export function cropCount(width: number, height: number, size: number, crops: number): number {
  return Math.max(1, Math.min(crops, Math.round((crops * Math.min(width, height)) / (4 * size))));
}

/**
 * `n` random square crops: sides uniform between max(size, 40% of the short
 * side) and the short side (clamped to the short side for small photos), so
 * crops show both whole scenes and details; positions uniform.
 */
export function randomCrops(width: number, height: number, size: number, n: number, rng: Rng): Rect[] {
  const short = Math.min(width, height);
  const lo = Math.min(short, Math.max(size, Math.round(0.4 * short)));
  const out: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const side = lo + Math.floor(rng.next() * (short - lo + 1));
    const x = Math.floor(rng.next() * (width - side + 1));
    const y = Math.floor(rng.next() * (height - side + 1));
    out.push({ x, y, side });
  }
  return out;
}

/** Copies a rectangle out of an image. */
export function cropRgba(img: RgbaImage, x: number, y: number, w: number, h: number): RgbaImage {
  if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > img.width || y + h > img.height) {
    throw new Error(`cropRgba: rectangle ${x},${y} ${w}×${h} outside ${img.width}×${img.height}`);
  }
  const rgba = new Uint8Array(w * h * 4);
  for (let r = 0; r < h; r++) {
    const from = 4 * ((y + r) * img.width + x);
    rgba.set(img.rgba.subarray(from, from + 4 * w), 4 * r * w);
  }
  return { width: w, height: h, rgba };
}

/** The crop resized to size×size, opaque. */
export function cropSquare(img: RgbaImage, r: Rect, size: number): RgbaImage {
  return resizeRgba(cropRgba(img, r.x, r.y, r.side, r.side), size, size);
}

/** The bounding box of pixels with alpha ≥ 16, or null when the image is transparent. */
export function alphaBox(img: RgbaImage): { x: number; y: number; w: number; h: number } | null {
  let x0 = img.width, y0 = img.height, x1 = -1, y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.rgba[4 * (y * img.width + x) + 3] >= 16) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/**
 * Pastes a cut-out (trimmed to its opaque part) onto a copy of an opaque
 * background: its longer side becomes 50–90% of the background's, mirrored
 * half of the time, at a random position where it fits. Returns the
 * composite and where the cut-out went.
 */
export function compositeCutout(
  bg: RgbaImage,
  cutout: RgbaImage,
  rng: Rng,
): { image: RgbaImage; placed: { x: number; y: number; w: number; h: number; mirrored: boolean } } {
  const box = alphaBox(cutout);
  if (!box) throw new Error("compositeCutout: the cut-out is fully transparent");
  const trimmed = cropRgba(cutout, box.x, box.y, box.w, box.h);
  const side = Math.min(bg.width, bg.height) * (0.5 + 0.4 * rng.next());
  const scale = side / Math.max(box.w, box.h);
  const w = Math.max(1, Math.min(bg.width, Math.round(box.w * scale)));
  const h = Math.max(1, Math.min(bg.height, Math.round(box.h * scale)));
  const st = resizeRgba(trimmed, w, h);
  const mirrored = rng.next() < 0.5;
  const x0 = Math.floor(rng.next() * (bg.width - w + 1));
  const y0 = Math.floor(rng.next() * (bg.height - h + 1));
  const out = bg.rgba.slice();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = mirrored ? w - 1 - x : x;
      const s = 4 * (y * w + sx), d = 4 * ((y0 + y) * bg.width + x0 + x);
      const a = st.rgba[s + 3] / 255;
      for (let c = 0; c < 3; c++) out[d + c] = Math.round(st.rgba[s + c] * a + out[d + c] * (1 - a));
      out[d + 3] = 255;
    }
  }
  return {
    image: { width: bg.width, height: bg.height, rgba: out },
    placed: { x: x0, y: y0, w, h, mirrored },
  };
}
