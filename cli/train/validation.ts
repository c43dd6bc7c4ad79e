/**
 * Validation at a checkpoint: L1, PSNR and colourfulness of a generator on the
 * held-out photos, and the rows of the sample grid.
 */

import { tidy } from "../../engine/tensor.ts";
import { noGrad } from "../../engine/autograd.ts";
import { modelToRgb, planesToRgba } from "../../engine/color.ts";
import { mul, sub } from "../../engine/ops/elementwise.ts";
import { zeros } from "../../engine/ops/buffers.ts";
import { l1Loss } from "../../engine/ops/loss.ts";
import { runSumChannels } from "../../engine/ops/reduce.ts";
import { colorSpaceOf, type Generator } from "../../models/generators.ts";
import { generatorInput } from "../../models/hints.ts";
import { type Dataset, loadPlanes, toBatch } from "../dataset.ts";
import type { RgbaImage, SampleRow } from "../plot.ts";
import { colorfulness } from "../eval.ts";
import type { ValMetrics } from "./metrics.ts";

/** Image `n` of a batch of RGB planes ([N,3,S,S], floats in 0..1 or bytes) as an 8-bit image. */
function planesToImage(planes: Float32Array | Uint8Array, size: number, n: number): RgbaImage {
  const hw = size * size;
  const p = planes instanceof Uint8Array
    ? Float32Array.from(planes.subarray(3 * hw * n, 3 * hw * (n + 1)), (b) => b / 255)
    : planes.subarray(3 * hw * n, 3 * hw * (n + 1));
  return { width: size, height: size, rgba: planesToRgba(p, size, size) };
}

/** One generator's validation metrics and sample-grid rows. */
export interface Evaluation extends ValMetrics {
  rows: SampleRow[];
}

/**
 * Validation L1 (model units of the generator's colour space), RGB PSNR (dB) and colorfulness
 * relative to the originals', in eval mode, plus sample-grid rows when `sampleSet` is not empty. A
 * hint model is measured without hints. `G` is the trained generator or its moving average (which
 * is always in eval mode).
 */
export async function evaluate(
  G: Generator,
  ds: Dataset,
  metricSet: number[],
  sampleSet: number[],
  batch: number,
): Promise<Evaluation> {
  const S = ds.size;
  // Targets and pictures in the units of the generator's own colour space.
  const space = colorSpaceOf(G.config);
  const wasTraining = G.training;
  G.eval();
  try {
    let l1Sum = 0, psnrSum = 0, count = 0, colorFake = 0, colorReal = 0;
    for (let i = 0; i < metricSet.length; i += batch) {
      const idx = metricSet.slice(i, i + batch);
      const planes = await loadPlanes(ds, idx);
      const [l1, sq, rgb] = noGrad(() =>
        tidy(() => {
          const b = toBatch(planes, S, space);
          const fake = G.forward(generatorInput(G.config, b.L));
          const rgbFake = modelToRgb(b.L, fake, space);
          const d = sub(rgbFake, b.rgb);
          // Per-image sums of squared errors: view [N,3,S,S] as [1, N, 3S, S] and sum per "channel".
          const se = runSumChannels(mul(d, d).view([1, idx.length, 3 * S, S]));
          return [l1Loss(fake, b.ab), se, rgbFake];
        })
      );
      const [l1v, sev, rgbv] = await Promise.all([l1.item(), sq.data(), rgb.data()]);
      l1.dispose(), sq.dispose(), rgb.dispose();
      l1Sum += l1v * idx.length;
      for (const e of sev) {
        const mse = e / (3 * S * S);
        // Identical images have infinite PSNR; cap at 100 dB (8-bit rounding alone gives ~59 dB).
        psnrSum += mse > 0 ? Math.min(100, 10 * Math.log10(1 / mse)) : 100;
      }
      // Measured on 8-bit images, as deno task eval does, so the two ratios compare.
      idx.forEach((_, n) => {
        colorFake += colorfulness(planesToImage(rgbv, S, n));
        colorReal += colorfulness(planesToImage(planes, S, n));
      });
      count += idx.length;
    }
    const rows: SampleRow[] = [];
    if (sampleSet.length) {
      const planes = await loadPlanes(ds, sampleSet);
      const [fakeRgb, grayRgb] = noGrad(() =>
        tidy(() => {
          const b = toBatch(planes, S, space);
          const fake = G.forward(generatorInput(G.config, b.L));
          // The gray column is exactly what the generator sees: its luma with zero chroma.
          return [modelToRgb(b.L, fake, space), modelToRgb(b.L, zeros(b.ab.shape), space)];
        })
      );
      const [f, g] = await Promise.all([fakeRgb.data(), grayRgb.data()]);
      fakeRgb.dispose(), grayRgb.dispose();
      sampleSet.forEach((_, n) => {
        rows.push({
          gray: planesToImage(g, S, n),
          fake: planesToImage(f, S, n),
          real: planesToImage(planes, S, n),
        });
      });
    }
    return {
      valL1: count ? l1Sum / count : null,
      valPsnr: count ? psnrSum / count : null,
      valColorfulness: count && colorReal > 0 ? colorFake / colorReal : null,
      rows,
    };
  } finally {
    G.train(wasTraining);
  }
}
