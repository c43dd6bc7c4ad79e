/**
 * What a run opens before training: the checkpoint it resumes, its settings,
 * the GPU, the output folder and the photos.
 */

import { initGpu, type Runtime } from "../../engine/gpu.ts";
import { type Checkpoint, decodeCheckpoint } from "../../models/checkpoint.ts";
import { type Dataset, prepareDataset } from "../dataset.ts";
import { exists } from "../fsutil.ts";
import { ProgressBar } from "../progress.ts";
import { DATA_REQUIRED, DEFAULT_OUT, resolveConfig, type TrainConfig, UsageError } from "./options.ts";
import { RunFiles } from "./files.ts";

/** A run ready to build its model; the caller closes `ds`. */
export interface OpenedRun {
  cfg: TrainConfig;
  /** The checkpoint resumed, null for a fresh run. */
  ck: Checkpoint | null;
  rt: Runtime;
  ds: Dataset;
  files: RunFiles;
}

/**
 * Opens a run from the options `given` on the command line. The checkpoint comes first: on
 * --resume its train state fixes the data settings. Setup problems are {@link UsageError}s.
 */
export async function openRun(given: Partial<TrainConfig>, err: (s: string) => void): Promise<OpenedRun> {
  if (!given.data && !given.resume) throw new UsageError(DATA_REQUIRED);
  const files = new RunFiles(given.out ?? DEFAULT_OUT);
  const ck = await readResumedCheckpoint(given, files);
  const cfg = resolveConfig(given, ck, (s) => err(`train: ${s}`));
  let rt;
  try {
    rt = await initGpu();
  } catch (e) {
    throw new UsageError(`no WebGPU adapter: ${(e as Error).message}`);
  }
  await Deno.mkdir(files.dir, { recursive: true });
  await Deno.mkdir(files.samplesDir, { recursive: true });
  const ds = await openDataset(cfg, err);
  return { cfg, ck, rt, ds, files };
}

/**
 * The checkpoint --resume continues (it must hold the discriminator and optimizer states, which an
 * exported generator lacks); null for a fresh run, which must not overwrite one unless --force.
 */
async function readResumedCheckpoint(
  given: Partial<TrainConfig>,
  files: RunFiles,
): Promise<Checkpoint | null> {
  const ckPath = files.checkpoint;
  if (!given.resume) {
    if (!given.force && (await exists(ckPath))) {
      throw new UsageError(
        `${files.dir} already holds a checkpoint: pass --resume to continue it, --force to start over, or another --out`,
      );
    }
    return null;
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(ckPath);
  } catch {
    throw new UsageError(`--resume: no checkpoint at ${ckPath}`);
  }
  let ck: Checkpoint;
  try {
    ck = decodeCheckpoint(bytes, ckPath);
  } catch (e) {
    throw new UsageError(`--resume: ${(e as Error).message}`);
  }
  if (!ck.discriminator || !ck.optimizerG) {
    throw new UsageError(
      `--resume: ${ckPath} holds no discriminator/optimizer state (an exported generator?)`,
    );
  }
  return ck;
}

/** Decodes (or reads from the cache) the photos of `cfg.data`, with a progress bar. */
async function openDataset(cfg: TrainConfig, err: (s: string) => void): Promise<Dataset> {
  let decodeBar: ProgressBar | null = null;
  return await prepareDataset({
    dataDir: cfg.data,
    size: cfg.size,
    cacheDir: cfg.cache,
    verbose: cfg.verbose,
    log: err,
    onProgress: (done, total) => {
      decodeBar ??= new ProgressBar({ total, label: "decoding", unit: "img" });
      decodeBar.tick(1);
      if (done === total) decodeBar.done();
    },
  }).catch((e) => {
    throw new UsageError((e as Error).message);
  });
}
