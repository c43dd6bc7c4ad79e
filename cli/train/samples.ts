/** The pictures a run draws: the loss curves and the sample grids. */

import { renderLossCurve, renderSampleGrid, type RgbaImage, type SampleRow } from "../plot.ts";
import { writeImage } from "../image.ts";
import type { MetricsRecord } from "./metrics.ts";
import type { RunFiles } from "./files.ts";

/** The training and validation losses of `records` against the step, log scale. */
function curve(records: MetricsRecord[]): RgbaImage {
  const steps = records.map((r) => r.step);
  return renderLossCurve(
    [
      { name: "D", values: records.map((r) => r.lossD), steps, color: "#d62728" },
      { name: "G GAN", values: records.map((r) => r.lossGGan), steps, color: "#1f77b4" },
      { name: "L1", values: records.map((r) => r.lossL1), steps, color: "#2ca02c" },
      { name: "VAL L1", values: records.map((r) => r.valL1), steps, color: "#ff7f0e" },
    ],
    800,
    400,
    { logY: true },
  );
}

/** Draws loss.png from the whole metrics history. */
export async function writeLossCurve(files: RunFiles, history: MetricsRecord[]): Promise<void> {
  await writeImage(files.lossCurve, curve(history));
}

/** Draws the sample grid of the checkpoint at `step`: its own file, then a copy as samples.png. */
export async function writeSamples(files: RunFiles, step: number, rows: SampleRow[]): Promise<void> {
  const grid = renderSampleGrid(rows);
  // Made with the first grid, not at the start: a start that fails leaves no empty folder.
  await Deno.mkdir(files.samplesDir, { recursive: true });
  await writeImage(files.samplesAt(step), grid);
  await writeImage(files.latestSamples, grid);
}
