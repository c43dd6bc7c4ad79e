/** The layout of a run's output folder (described in cli/train.ts). */

import { join } from "node:path";

/** Paths of the files a run writes under its output folder `dir`. */
export class RunFiles {
  /** Latest weights, optimizer states and train state. */
  readonly checkpoint: string;
  /** One JSON line per checkpoint. */
  readonly metrics: string;
  /** Loss curves of metrics.jsonl. */
  readonly lossCurve: string;
  /** The sample grid of the latest checkpoint. */
  readonly latestSamples: string;
  /** The sample grid of every checkpoint. */
  readonly samplesDir: string;
  /** With --keep-generators: the generator of every end-of-epoch checkpoint. */
  readonly generatorsDir: string;

  constructor(readonly dir: string) {
    this.checkpoint = join(dir, "checkpoint.safetensors");
    this.metrics = join(dir, "metrics.jsonl");
    this.lossCurve = join(dir, "loss.png");
    this.latestSamples = join(dir, "samples.png");
    this.samplesDir = join(dir, "samples");
    this.generatorsDir = join(dir, "generators");
  }

  /** The sample grid of the checkpoint at `step`. */
  samplesAt(step: number): string {
    return join(this.samplesDir, `step-${String(step).padStart(7, "0")}.png`);
  }

  /** The generator kept when epoch `epoch` (1-based: the count of epochs done) ended. */
  generatorAt(epoch: number): string {
    return join(this.generatorsDir, `epoch-${String(epoch).padStart(3, "0")}.safetensors`);
  }
}
