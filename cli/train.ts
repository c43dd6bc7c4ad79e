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
 * replaced by rename (a kill -9 leaves the previous one intact), the data order
 * is a function of (seed, epoch), and dropout masks of (seed, step), so the
 * resumed run sees the same batches an uninterrupted run would have.
 *
 * Exit status: 0 done, 1 training failed (non-finite loss), 2 usage or setup
 * error, 130 interrupted (checkpoint saved).
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { initGpu } from "../engine/gpu.ts";
import { manualSeed } from "../engine/random.ts";
import { keep, type Tensor, tidy } from "../engine/tensor.ts";
import { noGrad } from "../engine/autograd.ts";
import { modelToRgb, planesToRgba } from "../engine/color.ts";
import { add, mul, sub } from "../engine/ops/elementwise.ts";
import { zeros } from "../engine/ops/buffers.ts";
import { l1Loss } from "../engine/ops/loss.ts";
import { sum, sumChannelsKernel } from "../engine/ops/reduce.ts";
import type { Module } from "../engine/nn/module.ts";
import { type GanMode, Pix2Pix } from "../models/pix2pix.ts";
import type { Unet } from "../models/unet.ts";
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint, restorePix2Pix } from "../models/checkpoint.ts";
import {
  type Dataset,
  epochPlan,
  loadPlanes,
  mixSeed,
  prepareDataset,
  splitTrainVal,
  toBatch,
} from "./data.ts";
import { formatDuration, formatNumber, ProgressBar } from "./progress.ts";
import { renderLossCurve, renderSampleGrid, type RgbaImage, type SampleRow } from "./plot.ts";
import { writeImage } from "./image.ts";
import { appendLine, atomicWrite, atomicWriteText, exists, readJsonLines } from "./fsutil.ts";
import { colorfulness } from "./eval.ts";

const HELP = `Train the pix2pix colorization model on a folder of colour photos.

Usage: deno task train --data DIR [options]

Data
  --data DIR            folder of .jpg/.jpeg/.png photos (searched recursively; grayscale and
                        unreadable files are skipped and counted)
  --cache DIR           where the decoded, resized images are cached (default DIR/.cache)
  --size N              training image side in pixels, a multiple of 2^n-down (default 256)
  --val-split F         share of photos held out for validation (default 0.2)
  --val-images N        validation photos used for val L1/PSNR at each checkpoint (default 64)
  --verbose             list every skipped file

Model
  --ngf N               generator filters in the outermost layer (default 64)
  --ndf N               discriminator filters in the first layer (default 64)
  --n-down N            generator downsamplings, at least 5 (default 8: 256 px → 1 px)
  --d-norm batch|instance   discriminator normalisation (default batch)
  --gan vanilla|lsgan|hinge adversarial loss (default vanilla: BCE with logits, as pix2pix)

Training
  --epochs N            GAN epochs (default 20)
  --pretrain-epochs N   L1-only generator epochs before the GAN epochs (default 0)
  --batch N             images per step (default 4; the seeds used 16, which needs a large GPU at 256 px)
  --lr F                Adam learning rate of G and D (default 2e-4, betas 0.5/0.999)
  --decay-epochs N      lower the learning rate linearly over the last N epochs, as pix2pix's
                        n_epochs_decay: epoch k of N runs at lr·(1 − k/(N+1)) (default 0: constant)
  --lambda-l1 F         weight of the L1 term in the generator loss (default 100)
  --ema-decay F         also keep an exponential moving average of G's weights, updated after
                        every step with this decay (e.g. 0.999); colorize, eval and import use
                        the average (default 0: none). Given on --resume, the average starts then
  --d-every K           update D on every K-th step only (default 1)
  --seed N              seed of weights, split, data order, flips and dropout (default 0)
  --max-steps N         stop after N steps in total (counting steps before a resume)
  --sample-every N      checkpoint + samples + metrics every N steps (default 200; 0: epoch ends only)
  --save-epochs K       checkpoint + samples + metrics at the end of every K-th epoch and the last one
                        (default 1; raise it for tiny datasets with very short epochs)
  --log-every N         read losses back for the progress bar every N steps (default 10)
  --keep-generators     also keep the generator (and its average) of every end-of-epoch
                        checkpoint as DIR/generators/epoch-NNN.safetensors, to compare epochs

Output
  --out DIR             output folder (default runs/latest)
  --resume              continue from DIR/checkpoint.safetensors: model, optimizers, data order and
                        settings come from it (--data, --epochs, --pretrain-epochs, --decay-epochs, --lr, --lambda-l1,
                        --gan and the reporting options may be given again to change them;
                        --max-steps is per invocation)
  --force               start afresh even if DIR already holds a checkpoint (it is overwritten)
  -h, --help            this help

Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and exits with status 130;
run again with --resume to continue.`;

/** Everything a run is configured with; what is saved in the checkpoint's train state. */
export interface TrainConfig {
  data: string;
  out: string;
  cache?: string;
  size: number;
  batch: number;
  epochs: number;
  pretrainEpochs: number;
  seed: number;
  ngf: number;
  ndf: number;
  nDown: number;
  dNorm: "batch" | "instance";
  gan: GanMode;
  dEvery: number;
  lambdaL1: number;
  lr: number;
  decayEpochs: number;
  emaDecay: number;
  keepGenerators: boolean;
  valSplit: number;
  valImages: number;
  sampleEvery: number;
  saveEpochs: number;
  logEvery: number;
  maxSteps: number | null;
  verbose: boolean;
  resume: boolean;
  force: boolean;
}

/** Where training stands; saved in every checkpoint. */
export interface TrainState {
  /** Epoch in progress (0-based; pretrain epochs come first). */
  epoch: number;
  /** Steps done in that epoch. */
  stepInEpoch: number;
  /** Steps done in total. */
  step: number;
  /** Seconds spent training, summed over resumed runs. */
  time: number;
  seed: number;
  size: number;
  batch: number;
  valSplit: number;
  epochs: number;
  pretrainEpochs: number;
  /** The last `decayEpochs` epochs lower the learning rate (see {@link lrFactor}). */
  decayEpochs: number;
  dEvery: number;
  /** Settings a plain `--resume` reuses unless given again. */
  data: string;
  sampleEvery: number;
  saveEpochs: number;
  valImages: number;
  logEvery: number;
  keepGenerators?: boolean;
}

/** One line of metrics.jsonl. Training losses are means over the steps since the previous line. */
export interface MetricsRecord {
  step: number;
  /** Epochs completed, fractional (2.5: half-way through the third). */
  epoch: number;
  phase: "pretrain" | "gan";
  lossD: number | null;
  lossGGan: number | null;
  lossL1: number | null;
  valL1: number | null;
  valPsnr: number | null;
  /** Mean validation colorfulness over the originals' (absent in files written before it existed). */
  valColorfulness?: number | null;
  /** The same three for the moving average of G, when the run keeps one. */
  emaValL1?: number | null;
  emaValPsnr?: number | null;
  emaValColorfulness?: number | null;
  /** Learning rate of the epoch the record belongs to (absent in files written before it existed). */
  lr?: number;
  /** Seconds of training so far. */
  time: number;
}

/** A usage error: reported without a stack trace, exit status 2. */
class UsageError extends Error {}
/** Training diverged: exit status 1, the last good checkpoint stays. */
class DivergedError extends Error {}

const DEFAULTS = {
  size: 256,
  batch: 4,
  epochs: 20,
  pretrainEpochs: 0,
  seed: 0,
  ngf: 64,
  ndf: 64,
  nDown: 8,
  dNorm: "batch",
  gan: "vanilla",
  dEvery: 1,
  lambdaL1: 100,
  lr: 2e-4,
  decayEpochs: 0,
  emaDecay: 0,
  keepGenerators: false,
  valSplit: 0.2,
  valImages: 64,
  sampleEvery: 200,
  saveEpochs: 1,
  logEvery: 10,
} as const;

/**
 * Learning-rate multiplier of 0-based `epoch` in a run of `total` epochs whose last `decay` epochs
 * decay linearly (pix2pix's `lambda_rule`): 1 before them, then 1 − k/(decay + 1) in the k-th
 * (1-based) decaying epoch, so the rate gets small but never reaches 0.
 */
export function lrFactor(epoch: number, total: number, decay: number): number {
  if (decay <= 0) return 1;
  return 1 - Math.max(0, epoch - (total - decay) + 1) / (decay + 1);
}

function num(name: string, v: string | undefined, opts: { int?: boolean; min?: number; max?: number } = {}) {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || (opts.int && !Number.isInteger(x))) {
    throw new UsageError(`--${name}: "${v}" is not ${opts.int ? "an integer" : "a number"}`);
  }
  if (opts.min !== undefined && x < opts.min) {
    throw new UsageError(`--${name}: must be at least ${opts.min}, got ${v}`);
  }
  if (opts.max !== undefined && x > opts.max) {
    throw new UsageError(`--${name}: must be at most ${opts.max}, got ${v}`);
  }
  return x;
}

function choice<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) {
    throw new UsageError(`--${name}: "${v}" is not one of ${allowed.join(", ")}`);
  }
  return v as T;
}

/** Parses the command line; values not given are undefined here (so --resume can tell them apart). */
export function parseTrainArgs(args: string[]): { help: boolean; given: Partial<TrainConfig> } {
  const str = { type: "string" } as const, bool = { type: "boolean" } as const;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        data: str,
        out: str,
        cache: str,
        size: str,
        batch: str,
        epochs: str,
        "pretrain-epochs": str,
        seed: str,
        ngf: str,
        ndf: str,
        "n-down": str,
        "d-norm": str,
        gan: str,
        "d-every": str,
        "lambda-l1": str,
        lr: str,
        "val-split": str,
        "val-images": str,
        "sample-every": str,
        "save-epochs": str,
        "log-every": str,
        "max-steps": str,
        "decay-epochs": str,
        "ema-decay": str,
        "keep-generators": bool,
        verbose: bool,
        resume: bool,
        force: bool,
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split("\n")[0]} (see --help)`);
  }
  const v = values;
  const given: Partial<TrainConfig> = {
    data: v.data,
    out: v.out,
    cache: v.cache,
    size: num("size", v.size, { int: true, min: 32 }),
    batch: num("batch", v.batch, { int: true, min: 1 }),
    epochs: num("epochs", v.epochs, { int: true, min: 0 }),
    pretrainEpochs: num("pretrain-epochs", v["pretrain-epochs"], { int: true, min: 0 }),
    seed: num("seed", v.seed, { int: true, min: 0, max: Number.MAX_SAFE_INTEGER }),
    ngf: num("ngf", v.ngf, { int: true, min: 1 }),
    ndf: num("ndf", v.ndf, { int: true, min: 1 }),
    nDown: num("n-down", v["n-down"], { int: true, min: 5, max: 12 }),
    dNorm: choice("d-norm", v["d-norm"], ["batch", "instance"] as const),
    gan: choice("gan", v.gan, ["vanilla", "lsgan", "hinge"] as const),
    dEvery: num("d-every", v["d-every"], { int: true, min: 1 }),
    lambdaL1: num("lambda-l1", v["lambda-l1"], { min: 0 }),
    lr: num("lr", v.lr, { min: 0 }),
    decayEpochs: num("decay-epochs", v["decay-epochs"], { int: true, min: 0 }),
    emaDecay: num("ema-decay", v["ema-decay"], { min: 0 }),
    keepGenerators: v["keep-generators"],
    valSplit: num("val-split", v["val-split"], { min: 0, max: 0.95 }),
    valImages: num("val-images", v["val-images"], { int: true, min: 0 }),
    sampleEvery: num("sample-every", v["sample-every"], { int: true, min: 0 }),
    saveEpochs: num("save-epochs", v["save-epochs"], { int: true, min: 1 }),
    logEvery: num("log-every", v["log-every"], { int: true, min: 1 }),
    maxSteps: num("max-steps", v["max-steps"], { int: true, min: 0 }),
    verbose: v.verbose,
    resume: v.resume,
    force: v.force,
  };
  for (const k of Object.keys(given) as (keyof TrainConfig)[]) if (given[k] === undefined) delete given[k];
  return { help: !!v.help, given };
}

/** Fills defaults in; on --resume the data-order settings come from the checkpoint. */
function resolveConfig(
  given: Partial<TrainConfig>,
  ck: Checkpoint | null,
  warn: (s: string) => void,
) {
  const saved = ck ? (ck.train as Partial<TrainState>) : null;
  const c = {
    ...DEFAULTS,
    out: "runs/latest",
    maxSteps: null,
    verbose: false,
    resume: false,
    force: false,
    ...given,
  } as TrainConfig;
  if (saved) {
    // These decide the data order and the model's input; changing them mid-run would silently break
    // "resume continues the same run", so the checkpoint wins.
    for (const k of ["size", "batch", "seed", "valSplit", "dEvery"] as const) {
      const s = saved[k];
      if (typeof s !== "number") continue;
      if (given[k] !== undefined && given[k] !== s) {
        warn(`--resume: keeping the checkpoint's ${k}=${s} (ignoring ${given[k]})`);
      }
      c[k] = s;
    }
    // The architecture is the checkpoint's.
    const arch: Partial<TrainConfig> = {
      nDown: ck!.generatorConfig.nDown,
      ngf: ck!.generatorConfig.ngf,
      ndf: ck!.discriminatorConfig?.ndf,
      dNorm: ck!.discriminatorConfig?.norm,
    };
    for (const k of ["nDown", "ngf", "ndf", "dNorm"] as const) {
      const s = arch[k];
      if (s === undefined) continue;
      if (given[k] !== undefined && given[k] !== s) {
        warn(`--resume: the model is the checkpoint's, ${k}=${s} (ignoring ${given[k]})`);
      }
      (c as unknown as Record<string, unknown>)[k] = s;
    }
    // Training length and reporting may change on resume; by default they are the saved ones.
    for (
      const k of [
        "epochs",
        "pretrainEpochs",
        "decayEpochs",
        "sampleEvery",
        "saveEpochs",
        "valImages",
        "logEvery",
      ] as const
    ) {
      const s = saved[k];
      if (given[k] === undefined && typeof s === "number") c[k] = s;
    }
    if (given.data === undefined && typeof saved.data === "string") c.data = saved.data;
    if (given.keepGenerators === undefined && typeof saved.keepGenerators === "boolean") {
      c.keepGenerators = saved.keepGenerators;
    }
    // A saved average keeps its decay; mixing two decays in one average would describe neither.
    if (ck!.generatorEma) {
      if (given.emaDecay !== undefined && given.emaDecay !== ck!.emaDecay) {
        warn(`--resume: keeping the checkpoint's ema-decay=${ck!.emaDecay} (ignoring ${given.emaDecay})`);
      }
      c.emaDecay = ck!.emaDecay!;
    }
  }
  if (!c.data) throw new UsageError("--data DIR is required (see --help)");
  if (!(c.emaDecay < 1)) throw new UsageError(`--ema-decay ${c.emaDecay}: must be below 1 (e.g. 0.999)`);
  if (c.decayEpochs > c.pretrainEpochs + c.epochs) {
    throw new UsageError(
      `--decay-epochs ${c.decayEpochs} is more than the ${c.pretrainEpochs + c.epochs} epochs of the run ` +
        `(--pretrain-epochs + --epochs)`,
    );
  }
  const m = 2 ** c.nDown;
  if (c.size % m !== 0) {
    const p = Math.log2(c.size & -c.size); // the largest power of two dividing the size
    throw new UsageError(
      `--size ${c.size} must be a multiple of 2^n-down = ${m} (` +
        (p >= 5
          ? `with --size ${c.size} use --n-down ${p} or less`
          : "the U-Net needs n-down ≥ 5, so a multiple of 32") +
        ")",
    );
  }
  return c;
}

/** Adds up losses read back from the GPU; `mean()` gives null for a loss that never occurred. */
class LossMeans {
  #sum = { lossD: 0, lossGGan: 0, lossL1: 0 };
  #n = { lossD: 0, lossGGan: 0, lossL1: 0 };
  add(l: Partial<Record<keyof LossMeans["mean"], number>>) {
    for (const k of ["lossD", "lossGGan", "lossL1"] as const) {
      const v = l[k];
      if (v !== undefined) this.#sum[k] += v, this.#n[k]++;
    }
  }
  get mean(): { lossD: number | null; lossGGan: number | null; lossL1: number | null } {
    const m = (k: "lossD" | "lossGGan" | "lossL1") => (this.#n[k] ? this.#sum[k] / this.#n[k] : null);
    return { lossD: m("lossD"), lossGGan: m("lossGGan"), lossL1: m("lossL1") };
  }
  reset() {
    this.#sum = { lossD: 0, lossGGan: 0, lossL1: 0 };
    this.#n = { lossD: 0, lossGGan: 0, lossL1: 0 };
  }
}

/** Losses of steps not yet read back (GPU scalars). */
interface PendingStep {
  step: number;
  lossD?: Tensor;
  lossGGan?: Tensor;
  lossL1: Tensor;
}

/** Whether every parameter and buffer is finite: one summed scalar, one readback. */
async function allFinite(modules: Module[]): Promise<boolean> {
  const total = noGrad(() =>
    tidy(() => {
      let acc: Tensor | null = null;
      for (const m of modules) {
        for (const t of m.stateDict().values()) {
          const s = sum(t);
          acc = acc ? add(acc, s) : s;
        }
      }
      return acc;
    })
  );
  if (!total) return true;
  const v = await total.item();
  total.dispose();
  // A sum of finite weights only overflows for weights near 1e38, which is divergence anyway.
  return Number.isFinite(v);
}

function planesToImage(planes: Float32Array | Uint8Array, size: number, n: number): RgbaImage {
  const hw = size * size;
  const p = planes instanceof Uint8Array
    ? Float32Array.from(planes.subarray(3 * hw * n, 3 * hw * (n + 1)), (b) => b / 255)
    : planes.subarray(3 * hw * n, 3 * hw * (n + 1));
  return { width: size, height: size, rgba: planesToRgba(p, size, size) };
}

/** Validation metrics of one generator (see {@link MetricsRecord}). */
interface ValMetrics {
  valL1: number | null;
  valPsnr: number | null;
  valColorfulness: number | null;
}

/**
 * Validation L1 (model units), RGB PSNR (dB) and colorfulness relative to the originals', in eval
 * mode, plus sample-grid rows when `sampleSet` is not empty. `G` is the trained generator or its
 * moving average (which is always in eval mode).
 */
async function evaluate(
  G: Unet,
  ds: Dataset,
  metricSet: number[],
  sampleSet: number[],
  batch: number,
): Promise<ValMetrics & { rows: SampleRow[] }> {
  const S = ds.size;
  const wasTraining = G.training;
  G.eval();
  try {
    let l1Sum = 0, psnrSum = 0, count = 0, colorFake = 0, colorReal = 0;
    for (let i = 0; i < metricSet.length; i += batch) {
      const idx = metricSet.slice(i, i + batch);
      const planes = await loadPlanes(ds, idx);
      const [l1, sq, rgb] = noGrad(() =>
        tidy(() => {
          const b = toBatch(planes, S);
          const fake = G.forward(b.L);
          const rgbFake = modelToRgb(b.L, fake);
          const d = sub(rgbFake, b.rgb);
          // Per-image sums of squared errors: view [N,3,S,S] as [1, N, 3S, S] and sum per "channel".
          const se = sumChannelsKernel(mul(d, d).view([1, idx.length, 3 * S, S]));
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
          const b = toBatch(planes, S);
          const fake = G.forward(b.L);
          // The gray column is exactly what the generator sees: L with zero chroma.
          return [modelToRgb(b.L, fake), modelToRgb(b.L, zeros(b.ab.shape))];
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

/** "L1 0.0712 PSNR 21.30 dB colour 64%": one generator's validation line. */
function valText(m: ValMetrics): string {
  return `L1 ${formatNumber(Number(m.valL1!.toFixed(4)))} PSNR ${m.valPsnr!.toFixed(2)} dB` +
    (m.valColorfulness !== null ? ` colour ${Math.round(100 * m.valColorfulness)}%` : "");
}

/** Writes an image atomically (a temp name with the same extension, then rename). */
async function writeImageAtomic(path: string, img: RgbaImage) {
  const tmp = path.replace(/(\.[^./]+)$/, ".tmp$1");
  await writeImage(tmp, img);
  await Deno.rename(tmp, path);
}

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

function fmtLr(x: number) {
  const r = Number(x.toPrecision(4)); // a decayed rate such as 3e-4/3 prints as 1e-4
  return r === 0 ? "0" : Math.abs(r) < 0.01 || Math.abs(r) >= 1e4 ? r.toExponential() : String(r);
}

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

async function train(given: Partial<TrainConfig>, out: (s: string) => void, err: (s: string) => void) {
  if (!given.data && !given.resume) throw new UsageError("--data DIR is required (see --help)");
  const outDir = given.out ?? "runs/latest";
  const ckPath = join(outDir, "checkpoint.safetensors");
  const metricsPath = join(outDir, "metrics.jsonl");

  // --- Checkpoint to resume from (read before anything else: its train state fixes the data settings).
  let ck: Checkpoint | null = null;
  if (given.resume) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(ckPath);
    } catch {
      throw new UsageError(`--resume: no checkpoint at ${ckPath}`);
    }
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
  } else if (!given.force && (await exists(ckPath))) {
    throw new UsageError(
      `${outDir} already holds a checkpoint: pass --resume to continue it, --force to start over, or another --out`,
    );
  }
  const saved = ck ? (ck.train as Partial<TrainState>) : null;
  const cfg = resolveConfig(given, ck, (s) => err(`train: ${s}`));

  let rt;
  try {
    rt = await initGpu();
  } catch (e) {
    throw new UsageError(`no WebGPU adapter: ${(e as Error).message}`);
  }
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.mkdir(join(outDir, "samples"), { recursive: true });

  // --- Data.
  let decodeBar: ProgressBar | null = null;
  const ds = await prepareDataset({
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
  try {
    out(ds.summary(cfg.verbose));
    const { train: trainIdx, val: valIdx } = splitTrainVal(ds.count, cfg.seed, cfg.valSplit);
    if (trainIdx.length === 0) {
      throw new UsageError("data: no training images left after the validation split");
    }
    const metricSet = valIdx.slice(0, cfg.valImages);
    // Samples come from validation photos (never trained on); a run without a split shows training photos.
    const sampleSet = (valIdx.length ? valIdx : trainIdx).slice(0, 4);
    const stepsPerEpoch = epochPlan(trainIdx, cfg.seed, 0, cfg.batch).batches.length;
    const totalEpochs = cfg.pretrainEpochs + cfg.epochs;

    // --- Model.
    let model: Pix2Pix;
    const overrides: Record<string, unknown> = {};
    for (const k of ["lr", "lambdaL1", "gan"] as const) if (given[k] !== undefined) overrides[k] = given[k];
    if (ck) {
      model = restorePix2Pix(ck, overrides);
    } else {
      manualSeed(cfg.seed);
      model = new Pix2Pix(
        { nDown: cfg.nDown, ngf: cfg.ngf },
        { ndf: cfg.ndf, norm: cfg.dNorm },
        { lr: cfg.lr, lambdaL1: cfg.lambdaL1, gan: cfg.gan },
      );
    }
    const o = model.options, gc = model.G.config, dc = model.D.config;
    const state: TrainState = {
      epoch: 0,
      stepInEpoch: 0,
      step: 0,
      time: 0,
      ...(saved ?? {}),
      seed: cfg.seed,
      size: cfg.size,
      batch: cfg.batch,
      valSplit: cfg.valSplit,
      epochs: cfg.epochs,
      pretrainEpochs: cfg.pretrainEpochs,
      decayEpochs: cfg.decayEpochs,
      dEvery: cfg.dEvery,
      data: resolve(cfg.data),
      sampleEvery: cfg.sampleEvery,
      saveEpochs: cfg.saveEpochs,
      valImages: cfg.valImages,
      logEvery: cfg.logEvery,
      keepGenerators: cfg.keepGenerators,
    } as TrainState;
    if (cfg.emaDecay > 0 && !model.ema) {
      model.enableEma(cfg.emaDecay);
      if (ck) out(`ema: the moving average of G (decay ${cfg.emaDecay}) starts at step ${state.step}`);
    }

    out(
      `train: data=${cfg.data} out=${outDir} size=${cfg.size} batch=${cfg.batch} ` +
        `epochs=${cfg.epochs} pretrain-epochs=${cfg.pretrainEpochs} seed=${cfg.seed}` +
        (cfg.maxSteps !== null ? ` max-steps=${cfg.maxSteps}` : ""),
    );
    out(
      `model: G U-Net n-down=${gc.nDown} ngf=${gc.ngf} ${gc.norm} norm (${
        (model.G.parameterCount() / 1e6).toFixed(2)
      }M params); D PatchGAN ndf=${dc.ndf} ${dc.norm} norm (${
        (model.D.parameterCount() / 1e6).toFixed(2)
      }M); ` +
        `gan=${o.gan} lambda-l1=${o.lambdaL1} lr=${
          fmtLr(o.lr)
        } betas=${o.beta1}/${o.beta2} d-every=${cfg.dEvery}`,
    );
    out(
      `split: ${trainIdx.length} train / ${valIdx.length} val (val metrics on ${metricSet.length}), ` +
        `${stepsPerEpoch} step${stepsPerEpoch === 1 ? "" : "s"} per epoch; device: ${rt.adapterName}`,
    );
    if (ck) {
      out(
        `resume: ${ckPath} at step ${state.step} (epoch ${state.epoch + 1}, step ${state.stepInEpoch} in it)`,
      );
    }

    // --- Metrics history: lines past the checkpoint's step belong to work that was lost; drop them.
    let history = await readJsonLines<MetricsRecord>(metricsPath);
    if (!ck) history = [];
    const kept = history.filter((r) => typeof r.step === "number" && r.step <= state.step);
    if (kept.length !== history.length || !ck) {
      await atomicWriteText(metricsPath, kept.map((r) => JSON.stringify(r) + "\n").join(""));
    }
    history = kept;

    // --- Signals: finish the step, save, exit 130. A second signal exits at once (the checkpoint on
    // disk is always whole thanks to the atomic rename).
    let stopSignal: string | null = null;
    const onSignal = (name: string) => () => {
      if (stopSignal) Deno.exit(130);
      stopSignal = name;
      err(`\ntrain: ${name}: finishing the current step and saving a checkpoint (again to quit now)`);
    };
    const handlers: [Deno.Signal, () => void][] = [["SIGINT", onSignal("SIGINT")], [
      "SIGTERM",
      onSignal("SIGTERM"),
    ]];
    for (const [s, h] of handlers) {
      try {
        Deno.addSignalListener(s, h);
      } catch {
        // SIGTERM is not supported on Windows.
      }
    }

    const runStart = performance.now(), timeBase = state.time;
    const timeNow = () => timeBase + (performance.now() - runStart) / 1000;
    const windowMeans = new LossMeans(); // since the last metrics line
    const epochMeans = new LossMeans(); // for the progress bar
    let pending: PendingStep[] = [];
    let inFlight: Promise<void> = Promise.resolve();
    let bar: ProgressBar | null = null;
    let lastSavedStep = ck ? state.step : -1;
    // The phase of the latest step (an epoch-end record belongs to the epoch that just ended).
    let lastPhase: MetricsRecord["phase"] =
      state.epoch - (state.stepInEpoch === 0 ? 1 : 0) < cfg.pretrainEpochs ? "pretrain" : "gan";

    const readPending = async () => {
      if (!pending.length) return;
      const steps = pending;
      pending = [];
      const values = await Promise.all(
        steps.map(async (p) => ({
          step: p.step,
          lossD: p.lossD ? await p.lossD.item() : undefined,
          lossGGan: p.lossGGan ? await p.lossGGan.item() : undefined,
          lossL1: await p.lossL1.item(),
        })),
      );
      for (const p of steps) p.lossD?.dispose(), p.lossGGan?.dispose(), p.lossL1.dispose();
      for (const v of values) {
        const bad = (["lossD", "lossGGan", "lossL1"] as const).filter((k) =>
          v[k] !== undefined && !Number.isFinite(v[k])
        );
        if (bad.length) {
          throw new DivergedError(
            `non-finite loss at step ${v.step} (${bad.map((k) => `${k}=${v[k]}`).join(", ")}); ` +
              `training stopped. ${
                lastSavedStep >= 0
                  ? `The last good checkpoint (step ${lastSavedStep}) is kept`
                  : "No checkpoint was saved"
              }; try a lower --lr (now ${fmtLr(model.options.lr)}).`,
          );
        }
        windowMeans.add(v);
        epochMeans.add(v);
      }
    };

    const barFields = () => {
      const m = epochMeans.mean;
      const f: Record<string, number> = {};
      if (m.lossD !== null) f.D = m.lossD;
      if (m.lossGGan !== null) f.G = m.lossGGan;
      if (m.lossL1 !== null) f.L1 = m.lossL1;
      return f;
    };
    // Messages go to stdout; on a terminal the bar (stderr) is erased first and redrawn after.
    const log = (s: string) => (bar ? bar.log(s, out) : out(s));

    /** Checkpoint (+ validation, samples, metrics and curve unless `quick`). Never saves a non-finite model. */
    const save = async (quick: boolean) => {
      await readPending();
      if (!(await allFinite([model.G, model.D]))) {
        throw new DivergedError(
          `non-finite weights at step ${state.step}; training stopped. ` +
            (lastSavedStep >= 0
              ? `The last good checkpoint (step ${lastSavedStep}) is kept`
              : "No checkpoint was saved") +
            `; try a lower --lr (now ${fmtLr(model.options.lr)}).`,
        );
      }
      let ev = null, evEma = null;
      if (!quick) {
        const avg = model.ema?.average;
        // The samples show the model colorize would use: the average when there is one.
        ev = await evaluate(model.G, ds, metricSet, avg ? [] : sampleSet, cfg.batch);
        if (avg) evEma = await evaluate(avg, ds, metricSet, sampleSet, cfg.batch);
      }
      state.time = timeNow();
      const bytes = await encodeCheckpoint({
        G: model.G,
        ema: model.ema ?? undefined,
        D: model.D,
        optG: model.optG,
        optD: model.optD,
        options: { ...model.options, dEvery: cfg.dEvery },
        train: { ...state },
      });
      await atomicWrite(ckPath, bytes);
      lastSavedStep = state.step;
      if (!ev) return;
      if (cfg.keepGenerators && state.stepInEpoch === 0) {
        const gen = await encodeCheckpoint({
          G: model.G,
          ema: model.ema ?? undefined,
          options: { ...model.options },
          train: { ...state },
        });
        await Deno.mkdir(join(outDir, "generators"), { recursive: true });
        await atomicWrite(
          join(outDir, "generators", `epoch-${String(state.epoch).padStart(3, "0")}.safetensors`),
          gen,
        );
      }
      const m = windowMeans.mean;
      windowMeans.reset();
      const rec: MetricsRecord = {
        step: state.step,
        epoch: Number((state.epoch + state.stepInEpoch / Math.max(1, stepsPerEpoch)).toFixed(4)),
        phase: lastPhase,
        ...m,
        valL1: ev.valL1,
        valPsnr: ev.valPsnr,
        valColorfulness: ev.valColorfulness,
        ...(evEma
          ? { emaValL1: evEma.valL1, emaValPsnr: evEma.valPsnr, emaValColorfulness: evEma.valColorfulness }
          : {}),
        lr: model.optG.lr,
        time: Number(state.time.toFixed(2)),
      };
      await appendLine(metricsPath, JSON.stringify(rec));
      history.push(rec);
      await writeImageAtomic(join(outDir, "loss.png"), curve(history));
      const rows = evEma?.rows ?? ev.rows;
      if (rows.length) {
        const grid = renderSampleGrid(rows);
        await writeImageAtomic(
          join(outDir, "samples", `step-${String(state.step).padStart(7, "0")}.png`),
          grid,
        );
        await writeImageAtomic(join(outDir, "samples.png"), grid);
      }
      const f = (x: number | null, d = 4) => (x === null ? "-" : formatNumber(Number(x.toFixed(d))));
      log(
        `step ${state.step}: L1 ${f(m.lossL1)}${m.lossD !== null ? ` D ${f(m.lossD)}` : ""}` +
          `${m.lossGGan !== null ? ` G ${f(m.lossGGan)}` : ""}` +
          (ev.valL1 !== null ? `  val ${valText(ev)}` : "") +
          (evEma?.valL1 != null ? `  ema ${valText(evEma)}` : "") +
          `  [checkpoint saved]`,
      );
    };

    let reason: "done" | "max-steps" | "signal" = "done";
    try {
      if (state.epoch >= totalEpochs) {
        out(`train: nothing to do, ${totalEpochs} epochs already done (raise --epochs to train longer)`);
      }
      outer: for (; state.epoch < totalEpochs; state.epoch++, state.stepInEpoch = 0) {
        if (cfg.maxSteps !== null && state.step >= cfg.maxSteps) {
          reason = "max-steps";
          break;
        }
        const e = state.epoch;
        const pretrain = e < cfg.pretrainEpochs;
        lastPhase = pretrain ? "pretrain" : "gan";
        // The checkpoint keeps the base rate (model.options.lr); the schedule scales it per epoch.
        model.optG.lr = model.optD.lr = o.lr * lrFactor(e, totalEpochs, cfg.decayEpochs);
        const plan = epochPlan(trainIdx, cfg.seed, e, cfg.batch);
        epochMeans.reset();
        bar = new ProgressBar({
          total: plan.batches.length * Math.min(cfg.batch, trainIdx.length),
          label: `epoch ${e + 1}/${totalEpochs}${pretrain ? " (L1 pretrain)" : ""}` +
            (model.optG.lr !== o.lr ? ` lr ${fmtLr(model.optG.lr)}` : ""),
          unit: "img",
        });
        bar.count = state.stepInEpoch * Math.min(cfg.batch, trainIdx.length);
        const load = (s: number) => loadPlanes(ds, plan.batches[s].indices, plan.batches[s].flips);
        let next: Promise<Float32Array> | null = state.stepInEpoch < plan.batches.length
          ? load(state.stepInEpoch)
          : null;
        try {
          while (state.stepInEpoch < plan.batches.length) {
            if (cfg.maxSteps !== null && state.step >= cfg.maxSteps) {
              reason = "max-steps";
              break outer;
            }
            const s = state.stepInEpoch;
            const planes = await next!;
            // Read the next batch from disk while the GPU works on this one.
            next = s + 1 < plan.batches.length ? load(s + 1) : null;
            // Dropout masks from (seed, step): the same on a resumed run as on an uninterrupted one.
            manualSeed(mixSeed(cfg.seed, 0xd50, state.step));
            const losses = tidy(() => {
              const b = toBatch(planes, cfg.size);
              const l = pretrain
                ? model.pretrainStep(b.L, b.ab)
                : model.trainStep(b.L, b.ab, state.step % cfg.dEvery === 0);
              return { lossD: l.lossD, lossGGan: l.lossGGan, lossL1: l.lossL1 };
            });
            for (const t of Object.values(losses)) if (t) keep(t);
            rt.flush();
            // Let the GPU run at most one step ahead: the CPU records step s+1 while step s runs, yet
            // queued work (and memory) stays bounded and the bar's rate is real GPU throughput, not
            // just recording speed.
            const submitted = rt.device.queue.onSubmittedWorkDone();
            await inFlight;
            inFlight = submitted;
            pending.push({ step: state.step + 1, ...losses });
            state.step++;
            state.stepInEpoch++;
            if (pending.length >= cfg.logEvery || state.stepInEpoch === plan.batches.length) {
              await readPending();
            }
            bar.tick(planes.length / (3 * cfg.size * cfg.size), barFields());
            if (stopSignal) {
              reason = "signal";
              break outer;
            }
            if (
              cfg.sampleEvery > 0 && state.step % cfg.sampleEvery === 0 &&
              state.stepInEpoch < plan.batches.length
            ) {
              await save(false);
            }
          }
        } finally {
          // A prefetch still in flight must not reject unobserved.
          next?.catch(() => {});
        }
        await readPending();
        bar.done(barFields());
        bar = null;
        // The epoch is complete: the checkpoint says "next epoch, step 0".
        state.epoch++, state.stepInEpoch = 0;
        try {
          const atMax = cfg.maxSteps !== null && state.step >= cfg.maxSteps;
          const due = state.epoch % cfg.saveEpochs === 0 || state.epoch === totalEpochs || atMax ||
            (cfg.sampleEvery > 0 && state.step % cfg.sampleEvery === 0);
          if (due) await save(false);
        } finally {
          state.epoch--;
        }
      }
    } finally {
      bar?.done(barFields());
      bar = null;
      for (const [s, h] of handlers) {
        try {
          Deno.removeSignalListener(s, h);
        } catch {
          // not registered
        }
      }
    }
    if (reason === "signal") {
      await save(true);
      out(`train: interrupted at step ${state.step}; checkpoint saved to ${ckPath} (continue with --resume)`);
      return 130;
    }
    if (reason === "max-steps") {
      if (lastSavedStep !== state.step) await save(false);
      out(`train: reached --max-steps ${cfg.maxSteps} at step ${state.step}; checkpoint ${ckPath}`);
      return 0;
    }
    out(`train: done, ${state.step} steps in ${formatDuration(timeNow())}; checkpoint ${ckPath}`);
    return 0;
  } finally {
    ds.close();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
