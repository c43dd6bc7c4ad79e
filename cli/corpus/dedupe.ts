/**
 * Near-duplicate detection: the same picture shipped by two packages, or in
 * two sizes or encodings, is compared through small normalised thumbnails.
 */

import { resizeRgba, type RgbaImage } from "../image.ts";

/** Side of the luminance thumbnail used to find duplicates. */
const THUMB = 16;

/**
 * A 16×16 luminance thumbnail (transparent pixels as mid-grey), normalised to
 * zero mean and unit variance so a re-encoded or re-exposed copy of a picture
 * lands close to the original.
 */
export function thumbnail(img: RgbaImage): Float32Array {
  const t = resizeRgba(img, THUMB, THUMB).rgba;
  const v = new Float32Array(THUMB * THUMB);
  for (let i = 0; i < v.length; i++) {
    const a = t[4 * i + 3] / 255;
    const y = 0.299 * t[4 * i] + 0.587 * t[4 * i + 1] + 0.114 * t[4 * i + 2];
    v[i] = a * y + (1 - a) * 128;
  }
  let mean = 0;
  for (const x of v) mean += x;
  mean /= v.length;
  let sd = 0;
  for (const x of v) sd += (x - mean) ** 2;
  sd = Math.sqrt(sd / v.length) || 1;
  for (let i = 0; i < v.length; i++) v[i] = (v[i] - mean) / sd;
  return v;
}

/** Mean absolute difference of two thumbnails, in standard deviations. */
export function thumbDistance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d / a.length;
}

/**
 * Below this {@link thumbDistance} (and with aspect ratios within 10%) two
 * images count as one picture. Same pictures in different packages or sizes
 * measured 0.01–0.1; different photos of one monument 0.4 and more.
 */
export const DUPLICATE_DISTANCE = 0.2;
