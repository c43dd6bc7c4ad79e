/**
 * What a run opens before training: the checkpoint it resumes, its settings,
 * the output folder, the GPU and the photos.
 */

import { dirname, resolve } from "node:path";
import { initGpu, type Runtime } from "../../engine/gpu.ts";
import { autotuner } from "../../engine/autotune.ts";
import { loadTuneCache } from "../tune_cache.ts";
import { type Checkpoint, decodeCheckpoint } from "../../models/checkpoint.ts";
import { type Dataset, prepareDataset } from "../dataset.ts";
import { errorLine } from "../args.ts";
import { exists } from "../fsutil.ts";
import { ProgressBar } from "../progress.ts";
import { DATA_REQUIRED, DEFAULT_OUT, resolveConfig, type TrainConfig, UsageError } from "./options.ts";
import { RunFiles } from "./files.ts";

/** A run ready to build its model; the caller closes `ds`. */
export interface OpenedRun {
  cfg: TrainConfig;
  /** The checkpoint resumed, null for a fresh run. */
  ck: Checkpoint | null;
  /** The --init file whose generator a fresh run starts from, null without --init. */
  init: Checkpoint | null;
  rt: Runtime;
  ds: Dataset;
  files: RunFiles;
  /** For a start that fails after this: removes the folders this start created (while still empty). */
  discardFolders(): Promise<void>;
}

/**
 * Opens a run from the options `given` on the command line. The checkpoint comes first: on
 * --resume its train state fixes the data settings. Then the output folder, so that a place where
 * nothing can be written is said before the GPU starts and the photos are decoded. Setup problems
 * are {@link UsageError}s, and a start that fails leaves no folder it created behind.
 */
export async function openRun(given: Partial<TrainConfig>, err: (s: string) => void): Promise<OpenedRun> {
  if (!given.data && !given.resume) throw new UsageError(DATA_REQUIRED);
  const files = new RunFiles(given.out ?? DEFAULT_OUT);
  const ck = await readResumedCheckpoint(given, files);
  const init = given.init === undefined ? null : await readInitFile(given.init);
  const cfg = resolveConfig(given, ck, (s) => err(`train: ${s}`), init);
  const discardFolders = await createRunFolder(files.dir);
  try {
    let rt;
    try {
      rt = await initGpu();
    } catch (e) {
      throw new UsageError(`no WebGPU adapter: ${errorLine(e)}`);
    }
    if (cfg.tune) {
      autotuner.enabled = true;
      const cache = await loadTuneCache();
      if (cache.warning) err(`train: ${cache.warning}`);
    }
    const ds = await openDataset(cfg, err);
    return { cfg, ck, init, rt, ds, files, discardFolders };
  } catch (e) {
    await discardFolders();
    throw e;
  }
}

/**
 * Creates the run folder `dir` (with the folders above it that are missing) and writes a file in
 * it, so that an --out where nothing can be written fails at once, as a {@link UsageError} naming
 * the folder and the problem (a file in the way, a read-only or virtual file system), instead of
 * after the setup or at the first checkpoint. Returns what removes the folders it created; a failure
 * here removes them itself.
 */
async function createRunFolder(dir: string): Promise<() => Promise<void>> {
  const missing = await missingFolders(dir);
  const discard = async () => {
    // Deepest first, and only empty ones (remove is not recursive): nothing written there is lost.
    for (const folder of missing) await Deno.remove(folder).catch(() => {});
  };
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    await discard();
    throw new UsageError(`--out ${dir}: cannot create the folder: ${osProblem(e)}`);
  }
  try {
    // mkdir of a folder that exists succeeds even where nothing can be written (/proc, a read-only mount).
    await Deno.remove(await Deno.makeTempFile({ dir, prefix: ".write-test-" }));
  } catch (e) {
    await discard();
    throw new UsageError(`--out ${dir}: cannot write in the folder: ${osProblem(e)}`);
  }
  return discard;
}

/** The folders from `dir` up that do not exist yet, deepest first; a {@link UsageError} if one is a file. */
async function missingFolders(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let path = resolve(dir);; path = dirname(path)) {
    try {
      // lstat: a link (even a broken one) exists, so it is never in the list of folders to remove.
      await Deno.lstat(path);
    } catch (e) {
      // Anything else (no access) is left for mkdir to report.
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) break;
      missing.push(path);
      if (dirname(path) === path) break;
      continue;
    }
    const info = await Deno.stat(path).catch(() => null);
    if (!info?.isDirectory) throw new UsageError(`--out ${dir}: ${path} is not a folder`);
    break;
  }
  return missing;
}

/** A file system error's problem without the operation and path Deno appends (the line names the folder). */
function osProblem(e: unknown): string {
  return errorLine(e).replace(/( \(os error \d+\)).*$/, "$1");
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
    // A path below a file holds no checkpoint; creating the run folder then says what is wrong.
    const taken = !given.force && await exists(ckPath).catch((e) => {
      if (e instanceof Deno.errors.NotADirectory) return false;
      throw e;
    });
    if (taken) {
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
    throw new UsageError(`--resume: ${errorLine(e)}`);
  }
  if (!ck.discriminator || !ck.optimizerG) {
    throw new UsageError(
      `--resume: ${ckPath} holds no discriminator/optimizer state (an exported generator?)`,
    );
  }
  return ck;
}

/**
 * The generator file of --init: any file colorize reads (a shipped or exported model, a training
 * checkpoint, an imported or PyTorch generator); a problem is a {@link UsageError} naming it.
 */
async function readInitFile(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new UsageError(`--init ${path}: ${osProblem(e)}`);
  }
  try {
    return decodeCheckpoint(bytes, path);
  } catch (e) {
    throw new UsageError(`--init: ${errorLine(e)}`);
  }
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
    throw new UsageError(errorLine(e));
  });
}
