/**
 * `deno task train --data DIR [options]`: trains the pix2pix colorization GAN
 * (U-Net generator, PatchGAN discriminator) on a folder of colour photos.
 *
 * Output folder (--out, default runs/latest):
 *   checkpoint.safetensors  latest weights + optimizer state + train state (atomic replace)
 *   metrics.jsonl           one JSON line per checkpoint: losses, validation L1/PSNR, time
 *   loss.png                loss curves from metrics.jsonl
 *   samples.png             gray | generated | original for 4 fixed validation photos (latest)
 *   samples/step-NNNNNNN.png  the same for every checkpoint, to watch progress
 *
 * A run can stop at any moment and continue with --resume: checkpoints are
 * replaced by rename (a kill -9 leaves the previous one intact), the data order,
 * crops and flips are functions of (seed, epoch), and dropout masks of (seed, step), so the
 * resumed run sees the same batches an uninterrupted run would have.
 *
 * Exit status: 0 done, 1 training failed (non-finite loss), 2 usage or setup
 * error, 130 interrupted (checkpoint saved).
 *
 * The modules under cli/train/: options.ts (command line, help, defaults,
 * --resume rules), setup.ts (resumed checkpoint, GPU, data), trainer.ts (the
 * loop, checkpoints, how a run ends), state.ts (what a checkpoint says about
 * where training stands), schedule.ts (learning rate), metrics.ts (losses and
 * metrics.jsonl), validation.ts, samples.ts (loss curve, sample grids),
 * files.ts (the output folder's layout), divergence.ts, signals.ts.
 */

import { HELP, parseTrainArgs, type TrainConfig, UsageError } from "./train/options.ts";
import { openRun } from "./train/setup.ts";
import { Trainer } from "./train/trainer.ts";
import { DivergedError } from "./train/divergence.ts";

/** Runs the CLI; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const out = (s: string) => console.log(s);
  const err = (s: string) => console.error(s);
  let parsed;
  try {
    parsed = parseTrainArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`train: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (parsed.help) {
    out(HELP);
    return 0;
  }
  try {
    return await train(parsed.given, out, err);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`train: ${e.message}`);
      return 2;
    }
    if (e instanceof DivergedError) {
      err(`train: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

/** Opens the run the options `given` describe, trains it and closes its data; returns the exit status. */
async function train(given: Partial<TrainConfig>, out: (s: string) => void, err: (s: string) => void) {
  const run = await openRun(given, err);
  try {
    let trainer;
    try {
      trainer = await Trainer.start(run, given, out, err);
    } catch (e) {
      await run.discardFolders();
      throw e;
    }
    return await trainer.run();
  } finally {
    run.ds.close();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
