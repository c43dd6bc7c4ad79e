/**
 * The hints `deno task eval --hints N` gives a hint model: N points per photo, sampled from the original
 * the way a hint model is trained ("Real-Time User-Guided Image Colorization with Learned Deep Priors",
 * Zhang et al., SIGGRAPH 2017: a revealed patch shows its mean ab), and seeded so that every model
 * scored on the same photos with the same seed gets the same points.
 */

import { rgbToLabCpu } from "../engine/color.ts";
import type { RgbaImage } from "../engine/image.ts";
import { Rng } from "../engine/random.ts";
import type { ColorizeGeometry } from "../models/colorize.ts";
import { type Hint, hintPatchPixels } from "../models/hints.ts";
import { mixSeed } from "./dataset.ts";

/** Stream of the per-photo hint generators, apart from every other use of the seed. */
const EVAL_HINT_STREAM = 0xe7a1;

/**
 * The hint generator of the `index`-th photo of a list: a function of (seed, index) only, so the points
 * do not depend on the model, its size or the other hint counts asked for.
 */
export function photoHintRng(seed: number, index: number): Rng {
  return new Rng(mixSeed(seed, EVAL_HINT_STREAM, index));
}

/**
 * `n` hints for `img`: each at a uniformly random pixel (two draws of `rng`, x then y, and nothing else,
 * so the points do not depend on `g`), with the mean Lab ab of the original over the photo pixels its
 * patch covers in the model's hint map (models/hints.ts `hintPatchPixels`, which depends on the
 * colorizing geometry `g`). The first k of n hints are the k hints of the same generator: asking for
 * more hints adds points.
 */
export function sampleHintsFromImage(img: RgbaImage, n: number, rng: Rng, g: ColorizeGeometry): Hint[] {
  if (img.width !== g.width || img.height !== g.height) {
    throw new Error(
      `sampleHintsFromImage: a ${img.width}×${img.height} photo with a ${g.width}×${g.height} geometry`,
    );
  }
  const hints: Hint[] = [];
  for (let k = 0; k < n; k++) {
    const x = Math.floor(rng.next() * img.width), y = Math.floor(rng.next() * img.height);
    const { x0, x1, y0, y1 } = hintPatchPixels(x, y, g);
    let a = 0, b = 0;
    for (let py = y0; py <= y1; py++) {
      for (let px = x0; px <= x1; px++) {
        const i = 4 * (py * img.width + px);
        const [, pa, pb] = rgbToLabCpu(img.rgba[i] / 255, img.rgba[i + 1] / 255, img.rgba[i + 2] / 255);
        a += pa;
        b += pb;
      }
    }
    const count = (x1 - x0 + 1) * (y1 - y0 + 1);
    hints.push({ x, y, a: a / count, b: b / count });
  }
  return hints;
}

/**
 * The value of `--hints`: one count or a comma-separated list ("0,1,5,10,20"), each a whole number
 * ≥ 0, in the order given (a repeated count is an error). Throws a one-line Error naming the problem.
 */
export function parseHintCounts(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  const counts = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (parts.length === 0 || counts.some((c) => !Number.isSafeInteger(c))) {
    throw new Error(`--hints must be a number of hints per photo or a list like 0,1,5,10,20 (got "${text}")`);
  }
  const repeated = counts.find((c, i) => counts.indexOf(c) !== i);
  if (repeated !== undefined) throw new Error(`--hints lists ${repeated} twice (got "${text}")`);
  return counts;
}
