/**
 * Hints for training a hint model (`--hints-input`), sampled from each training image itself as
 * "Real-Time User-Guided Image Colorization with Learned Deep Priors" (Zhang et al., SIGGRAPH 2017)
 * does: a random number of points, each a square patch of random side whose mean ab is revealed in
 * the hint map (layout: models/hints.ts).
 */

import { MODEL_AB_SCALE, rgbToLabCpu } from "../../engine/color.ts";
import type { Rng } from "../../engine/random.ts";
import { HINT_CHANNELS } from "../../models/hints.ts";

/**
 * Share of training images that get no hint at all, so the model stays a good automatic colorizer.
 * Zhang et al. drew the count from a geometric distribution alone (p = 1/8 gives 12.5% without
 * hints); a hint model here also replaces the automatic one, so a larger share trains that case.
 */
export const NO_HINT_SHARE = 0.25;

/** Parameter of the geometric distribution of the number of hints of an image that has some (mean 1/p). */
export const HINT_COUNT_P = 1 / 8;

/** Largest side of a revealed patch, in pixels (sides are drawn uniformly from 1 to this). */
export const MAX_PATCH = 9;

/** The number of hints of one image: 0 with {@link NO_HINT_SHARE}, otherwise 1 + Geometric(p) − 1 ≥ 1. */
export function hintCount(rng: Rng): number {
  if (rng.next() < NO_HINT_SHARE) return 0;
  let k = 1;
  while (rng.next() >= HINT_COUNT_P && k < 256) k++;
  return k;
}

/**
 * The hint maps [N, 3, S, S] of a batch of RGB planes ([N, 3, S, S], 0..1): per image
 * {@link hintCount} patches of side 1–{@link MAX_PATCH} at uniform positions inside the image, each
 * revealing the mean Lab ab of its pixels (in model units) with mask 1; zero elsewhere.
 */
export function sampleHints(planes: Float32Array, size: number, rng: Rng): Float32Array {
  const hw = size * size, n = planes.length / (3 * hw);
  const maps = new Float32Array(n * HINT_CHANNELS * hw);
  for (let i = 0; i < n; i++) {
    const rgb = planes.subarray(3 * hw * i, 3 * hw * (i + 1));
    const map = maps.subarray(HINT_CHANNELS * hw * i, HINT_CHANNELS * hw * (i + 1));
    for (let k = hintCount(rng); k > 0; k--) {
      const side = Math.min(size, 1 + Math.floor(rng.next() * MAX_PATCH));
      const x0 = Math.floor(rng.next() * (size - side + 1)), y0 = Math.floor(rng.next() * (size - side + 1));
      let a = 0, b = 0;
      for (let y = y0; y < y0 + side; y++) {
        for (let x = x0; x < x0 + side; x++) {
          const p = y * size + x;
          const [, pa, pb] = rgbToLabCpu(rgb[p], rgb[hw + p], rgb[2 * hw + p]);
          a += pa, b += pb;
        }
      }
      const count = side * side;
      for (let y = y0; y < y0 + side; y++) {
        for (let x = x0; x < x0 + side; x++) {
          const p = y * size + x;
          map[p] = a / count / MODEL_AB_SCALE;
          map[hw + p] = b / count / MODEL_AB_SCALE;
          map[2 * hw + p] = 1;
        }
      }
    }
  }
  return maps;
}
