/**
 * The command line of `deno task train`: the help text, parsing, defaults, and
 * how a `--resume` merges what is given again with the checkpoint's settings.
 */

import { parseCommandLine, UsageError } from "../args.ts";
import type { GanMode } from "../../models/pix2pix.ts";
import type { Checkpoint } from "../../models/checkpoint.ts";
import type { TrainState } from "./state.ts";
import { CROP_MODES, type CropMode } from "../dataset.ts";
import {
  colorSpaceOf,
  describeGenerator,
  type FullGeneratorConfig,
  GENERATOR_KINDS,
  type GeneratorConfig,
  type GeneratorKind,
  sizeMultipleOf,
  sizeMultipleReason,
} from "../../models/generators.ts";
import { UNET_DEFAULTS } from "../../models/unet.ts";
import { RESNET_UNET_DEFAULTS } from "../../models/resnet_unet.ts";
import { DIVERSE_DEFAULTS } from "../../models/diverse.ts";
import { HINT_CHANNELS, hintAdapterMask, takesHints } from "../../models/hints.ts";
import { COLOR_SPACES, type ColorSpace } from "../../engine/color.ts";

// The usage error of every command, exported here too for the train modules that throw it.
export { UsageError };

/** The text of `--help`. */
export const HELP = `Train the pix2pix colorization model on a folder of colour photos.

Usage: deno task train --data DIR [options]

Data
  --data DIR            folder of photos (.jpg .jpeg .png .gif .tif .tiff .webp; searched recursively; grayscale and
                        unreadable files are skipped and counted)
  --cache DIR           where the decoded photos are cached, downscaled to a shorter side of
                        size/0.6 (default DIR/.cache)
  --size N              training image side in pixels, a multiple of 2^n-down for the U-Net, of 32
                        for the ResNet U-Net, any for the diverse generator; at least 24, which the
                        discriminator's three halvings need (default 256)
  --crops fixed|random  training crops: random (default) takes a fresh square crop of each photo
                        every epoch, its side 60–100% of the shorter side, anywhere in the photo;
                        fixed takes the centre square every epoch. Validation always uses the
                        centre square. Kept on --resume
  --val-split F         share of photos held out for validation (default 0.2)
  --val-images N        validation photos used for val L1/PSNR at each checkpoint (default 64)
  --verbose             list every skipped file
  --tune                time the GPU kernel variants once per adapter and layer shape and keep the
                        fastest (cached in ~/.cache/colorize/autotune.json); pays on real GPUs

Model
  --generator unet|resnet-unet|diverse   generator architecture (default unet: pix2pix's U-Net)
  --n-down N            U-Net downsamplings, at least 5 (default 8: 256 px → 1 px)
  --ngf N               U-Net filters in the outermost layer (default 64)
  --encoder resnet18|resnet34   ResNet U-Net encoder (default resnet18); at --size 32 it needs
                        --batch 2 or more (batch norm of a 1×1 map)
  --self-attention      ResNet U-Net: a SAGAN self-attention layer on the encoder's 1/32-size
                        features; its gate starts at 0, so it starts as the identity
  --layers N            diverse generator convolutions (default 6)
  --filters N           diverse generator base width (default 64)
  --noise-channels N    diverse generator noise channels, 0: one colouring per photo (default 1)
  --color-space lab|yuv diverse generator colour space: lab (default: L in, ab out, as pix2pix) or
                        yuv (Y in, UV out, as Cao et al. 2017); kept in the checkpoint, so validation
                        and colorize follow it. Not with --hints-input (hints are Lab-only)
                        (an option of another generator than the chosen one is a usage error)
  --init FILE           start the generator from FILE (a shipped, exported, imported or training
                        checkpoint, as colorize reads it: its moving average if it has one), to
                        fine-tune it on --data; the discriminator and optimizers start fresh and the
                        generator's architecture is the file's (not with --resume)
  --hints-input         train a hint model: the generator also takes a map of colour hints and their
                        mask (4 input channels), sampled from each training image (a quarter of them
                        get none), as Zhang et al. 2017; colorize --hint/--hints feeds it. With
                        --init of a model without hint input, the hint weights start at zero, so
                        the model starts out colouring exactly as the file's
  --hint-adapter        with --hints-input and --init of a U-Net: train only the first layer's
                        weights that read the hints, on the file's model run as colorize runs it
                        (running statistics, no dropout); everything else stays the file's, so
                        without hints the new model colours exactly as the file. Kept on --resume
  --ndf N               discriminator filters in the first layer (default 64)
  --d-norm batch|instance   discriminator normalisation (default batch)
  --gan vanilla|lsgan|hinge adversarial loss (default vanilla: BCE with logits, as pix2pix)

Training
  --epochs N            GAN epochs (default 20)
  --pretrain-epochs N   L1-only generator epochs before the GAN epochs (default 0)
  --batch N             images per step (default 4; the colorization tutorial used 16, which needs a large GPU at 256 px)
  --lr F                Adam learning rate of G and D (default 2e-4, betas 0.5/0.999)
  --decay-epochs N      lower the learning rate linearly over the last N epochs, as pix2pix's
                        n_epochs_decay: epoch k of N runs at lr·(1 − k/(N+1)) (default 0: constant)
  --lambda-l1 F         weight of the L1 term in the generator loss (default 100)
  --ema-decay F         also keep an exponential moving average of G's weights, updated after
                        every step with this decay (e.g. 0.999); colorize, eval and import use
                        the average (default 0: none). Given on --resume, the average starts then
  --d-every K           update D on every K-th step only (default 1)
  --seed N              seed of weights, split, data order, crops, flips and dropout (default 0)
  --max-steps N         stop after N steps in total, the steps before a resume included (not saved:
                        give it again on each --resume)
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
                        --gan and the reporting options may be given again to change them)
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
  crops: CropMode;
  batch: number;
  epochs: number;
  pretrainEpochs: number;
  seed: number;
  /** The generator architecture; the options below it apply to one kind each. */
  generator: GeneratorKind;
  ngf: number;
  nDown: number;
  encoder: "resnet18" | "resnet34";
  /** `--self-attention`: the ResNet U-Net's self-attention layer (models/resnet_unet.ts `attention`). */
  selfAttention: boolean;
  layers: number;
  filters: number;
  noiseChannels: number;
  /** `--color-space`: the diverse generator's colour space (models/diverse.ts `colorSpace`). */
  colorSpace: ColorSpace;
  /** `--hints-input`: the generator takes L and a hint map (models/hints.ts). */
  hintsInput: boolean;
  /** `--hint-adapter`: only the hint weights learn (models/hints.ts `hintAdapterMask`). */
  hintAdapter: boolean;
  /** `--init FILE`: the generator file a fresh run starts from. */
  init?: string;
  /**
   * The complete configuration of the generator trained: the resumed checkpoint's, the --init file's,
   * or the one the options above describe (filled in by {@link resolveConfig}).
   */
  generatorConfig: FullGeneratorConfig;
  ndf: number;
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
  tune: boolean;
  resume: boolean;
  force: boolean;
}

/** The error when neither --data nor a checkpoint to resume names the photos. */
export const DATA_REQUIRED = "--data DIR is required (see --help)";

/** The output folder when --out is not given. */
export const DEFAULT_OUT = "runs/latest";

/** The defaults the help text states. */
const DEFAULTS = {
  size: 256,
  crops: "random",
  batch: 4,
  epochs: 20,
  pretrainEpochs: 0,
  seed: 0,
  generator: "unet",
  ngf: 64,
  ndf: 64,
  nDown: 8,
  encoder: "resnet18",
  selfAttention: false,
  layers: DIVERSE_DEFAULTS.layers,
  filters: DIVERSE_DEFAULTS.filters,
  noiseChannels: DIVERSE_DEFAULTS.noiseChannels,
  colorSpace: DIVERSE_DEFAULTS.colorSpace,
  hintsInput: false,
  hintAdapter: false,
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

/** The number given as `--name v`, checked; undefined when the option was not given. */
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

/** The value of `--name v`, which must be one of `allowed`; undefined when the option was not given. */
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
  const { values: v } = parseCommandLine(args, {
    data: str,
    out: str,
    cache: str,
    size: str,
    crops: str,
    batch: str,
    epochs: str,
    "pretrain-epochs": str,
    seed: str,
    generator: str,
    ngf: str,
    ndf: str,
    "n-down": str,
    encoder: str,
    "self-attention": bool,
    layers: str,
    filters: str,
    "noise-channels": str,
    "color-space": str,
    init: str,
    "hints-input": bool,
    "hint-adapter": bool,
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
    tune: bool,
    resume: bool,
    force: bool,
  });
  const given: Partial<TrainConfig> = {
    data: v.data,
    out: v.out,
    cache: v.cache,
    size: num("size", v.size, { int: true, min: 24 }),
    crops: choice("crops", v.crops, CROP_MODES),
    batch: num("batch", v.batch, { int: true, min: 1 }),
    epochs: num("epochs", v.epochs, { int: true, min: 0 }),
    pretrainEpochs: num("pretrain-epochs", v["pretrain-epochs"], { int: true, min: 0 }),
    seed: num("seed", v.seed, { int: true, min: 0, max: Number.MAX_SAFE_INTEGER }),
    generator: choice("generator", v.generator, GENERATOR_KINDS),
    ngf: num("ngf", v.ngf, { int: true, min: 1 }),
    encoder: choice("encoder", v.encoder, ["resnet18", "resnet34"] as const),
    selfAttention: v["self-attention"],
    layers: num("layers", v.layers, { int: true, min: 2 }),
    filters: num("filters", v.filters, { int: true, min: 1 }),
    noiseChannels: num("noise-channels", v["noise-channels"], { int: true, min: 0 }),
    colorSpace: choice("color-space", v["color-space"], COLOR_SPACES),
    init: v.init,
    hintsInput: v["hints-input"],
    hintAdapter: v["hint-adapter"],
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
    tune: v.tune,
    resume: v.resume,
    force: v.force,
  };
  for (const k of Object.keys(given) as (keyof TrainConfig)[]) if (given[k] === undefined) delete given[k];
  if (given.init !== undefined && given.resume) {
    throw new UsageError(
      "--init FILE starts a new run from a generator, --resume continues the run in --out: give one of them",
    );
  }
  return { help: !!v.help, given };
}

/** The options of one generator kind each: TrainConfig key → [flag, kind]. */
const KIND_OPTIONS = {
  nDown: ["n-down", "unet"],
  ngf: ["ngf", "unet"],
  encoder: ["encoder", "resnet-unet"],
  selfAttention: ["self-attention", "resnet-unet"],
  layers: ["layers", "diverse"],
  filters: ["filters", "diverse"],
  noiseChannels: ["noise-channels", "diverse"],
  colorSpace: ["color-space", "diverse"],
} as const satisfies Record<string, readonly [string, GeneratorKind]>;

/** The architecture options: --generator and those of {@link KIND_OPTIONS}. */
const ARCH_KEYS = ["generator", ...Object.keys(KIND_OPTIONS)] as (
  | "generator"
  | keyof typeof KIND_OPTIONS
)[];

/** The architecture options that describe a generator configuration (those of its kind). */
function archOptions(c: FullGeneratorConfig): Partial<TrainConfig> {
  if (c.kind === "resnet-unet") {
    return { generator: "resnet-unet", encoder: c.encoder, selfAttention: c.attention };
  }
  if (c.kind === "diverse") {
    return {
      generator: "diverse",
      layers: c.layers,
      filters: c.filters,
      noiseChannels: c.noiseChannels,
      colorSpace: colorSpaceOf(c),
    };
  }
  return { generator: "unet", nDown: c.nDown, ngf: c.ngf };
}

/** The complete configuration the architecture options of `c` describe (defaults for the rest). */
function configFromOptions(c: TrainConfig): FullGeneratorConfig {
  const defaults = c.generator === "resnet-unet"
    ? RESNET_UNET_DEFAULTS
    : c.generator === "diverse"
    ? DIVERSE_DEFAULTS
    : UNET_DEFAULTS;
  return { ...defaults, ...freshGeneratorConfig(c) } as FullGeneratorConfig;
}

/**
 * The generator configuration a fresh run builds: `{ nDown, ngf }` for the U-Net, without `kind`, as
 * runs have always passed it (the same seed gives the same weights as before).
 */
export function freshGeneratorConfig(c: TrainConfig): GeneratorConfig {
  // Only a hint model names its input channels, so other runs build exactly what they always did.
  const hints = c.hintsInput ? { inputChannels: 1 + HINT_CHANNELS } : {};
  if (c.generator === "resnet-unet") {
    // Named only when on, so runs without it pass the configuration they always did.
    const attention = c.selfAttention ? { attention: true } : {};
    return { kind: "resnet-unet", encoder: c.encoder, ...attention, ...hints };
  }
  if (c.generator === "diverse") {
    return {
      kind: "diverse",
      layers: c.layers,
      filters: c.filters,
      noiseChannels: c.noiseChannels,
      colorSpace: c.colorSpace,
      ...hints,
    };
  }
  return { nDown: c.nDown, ngf: c.ngf, ...hints };
}

/**
 * Sets the generator of `c`: the one in `file` (the resumed checkpoint, whose architecture wins with a
 * warning, or the --init file, which must agree with every architecture option given), or the one the
 * options describe, each of which must belong to the chosen --generator.
 */
function resolveGenerator(
  c: TrainConfig,
  given: Partial<TrainConfig>,
  file: { config: FullGeneratorConfig; resume: boolean } | null,
  warn: (s: string) => void,
) {
  if (!file) {
    for (const [k, [flag, kind]] of Object.entries(KIND_OPTIONS)) {
      if (given[k as keyof TrainConfig] !== undefined && kind !== c.generator) {
        throw new UsageError(
          `--${flag} is an option of --generator ${kind}, not of --generator ${c.generator}`,
        );
      }
    }
    if (c.hintsInput && c.colorSpace === "yuv") {
      throw new UsageError("--hints-input with --color-space yuv: colour hints are Lab-only for now");
    }
    c.generatorConfig = configFromOptions(c);
    return;
  }
  const saved = archOptions(file.config);
  for (const k of ARCH_KEYS) {
    const g = given[k], s = saved[k];
    if (g === undefined || g === s) continue;
    const flag = k === "generator" ? "generator" : KIND_OPTIONS[k][0];
    if (file.resume) {
      warn(
        s === undefined
          ? `--resume: the model is the checkpoint's ${
            describeGenerator(file.config)
          } (ignoring --${flag} ${g})`
          : `--resume: the model is the checkpoint's, ${k}=${s} (ignoring ${g})`,
      );
    } else {
      throw new UsageError(
        `--init ${c.init}: the generator is the file's ${describeGenerator(file.config)}, ` +
          (s === undefined ? `which has no --${flag}` : `not --${flag} ${g}`) + " (leave the option out)",
      );
    }
  }
  Object.assign(c, saved);
  c.generatorConfig = file.config;
  const fileHints = takesHints(file.config);
  if (file.resume) {
    if (given.hintsInput && !fileHints) {
      warn("--resume: the checkpoint's model takes no hints (ignoring --hints-input)");
    }
    c.hintsInput = fileHints;
  } else if (c.hintsInput && !fileHints) {
    // Fine-tuning an automatic model into a hint model: the same architecture with the hint channels
    // added to its input (their weights start at zero: see widenInputWeights).
    if (file.config.kind === "diverse") {
      throw new UsageError(
        `--init ${c.init} --hints-input: a diverse generator cannot be widened to take hints`,
      );
    }
    c.generatorConfig = { ...file.config, inputChannels: 1 + HINT_CHANNELS };
  } else {
    c.hintsInput = fileHints;
  }
}

/** --hint-adapter needs a U-Net file to keep and a hint input to learn. */
function checkHintAdapter(c: TrainConfig) {
  if (!c.init) throw new UsageError("--hint-adapter needs --init FILE (the model whose colours it keeps)");
  if (!c.hintsInput) {
    throw new UsageError("--hint-adapter needs --hints-input (the hints are what it learns)");
  }
  try {
    hintAdapterMask(c.generatorConfig);
  } catch (e) {
    throw new UsageError(`--init ${c.init} --hint-adapter: ${(e as Error).message}`);
  }
}

/** Fills defaults in; on --resume the data-order settings come from the checkpoint. */
export function resolveConfig(
  given: Partial<TrainConfig>,
  ck: Checkpoint | null,
  warn: (s: string) => void,
  init: Checkpoint | null = null,
): TrainConfig {
  const saved = ck ? (ck.train as Partial<TrainState>) : null;
  const c = {
    ...DEFAULTS,
    out: DEFAULT_OUT,
    maxSteps: null,
    verbose: false,
    tune: false,
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
    // The crops too; a checkpoint from before the option trained on fixed crops.
    const crops = saved.crops ?? "fixed";
    if (given.crops !== undefined && given.crops !== crops) {
      warn(`--resume: keeping the checkpoint's crops=${crops} (ignoring ${given.crops})`);
    }
    c.crops = crops;
    // The architecture is the checkpoint's (the generator's: see resolveGenerator).
    const arch: Partial<TrainConfig> = {
      ndf: ck!.discriminatorConfig?.ndf,
      dNorm: ck!.discriminatorConfig?.norm,
    };
    for (const k of ["ndf", "dNorm"] as const) {
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
    // Which weights learn is part of the model being trained.
    const adapter = saved.hintAdapter ?? false;
    if (given.hintAdapter !== undefined && given.hintAdapter !== adapter) {
      warn(`--resume: keeping the checkpoint's hint-adapter=${adapter} (ignoring ${given.hintAdapter})`);
    }
    c.hintAdapter = adapter;
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
  const file = ck
    ? { config: ck.generatorConfig, resume: true }
    : init
    ? { config: init.generatorConfig, resume: false }
    : null;
  resolveGenerator(c, given, file, warn);
  if (!c.data) throw new UsageError(DATA_REQUIRED);
  if (c.hintAdapter && !c.resume) checkHintAdapter(c);
  if (!(c.emaDecay < 1)) throw new UsageError(`--ema-decay ${c.emaDecay}: must be below 1 (e.g. 0.999)`);
  if (c.decayEpochs > c.pretrainEpochs + c.epochs) {
    throw new UsageError(
      `--decay-epochs ${c.decayEpochs} is more than the ${c.pretrainEpochs + c.epochs} epochs of the run ` +
        `(--pretrain-epochs + --epochs)`,
    );
  }
  const gc = c.generatorConfig, m = sizeMultipleOf(gc);
  if (c.size % m !== 0 && gc.kind !== undefined && gc.kind !== "unet") {
    throw new UsageError(
      `--size ${c.size} must be a multiple of ${m} for the ${describeGenerator(gc)} (${
        sizeMultipleReason(gc)
      })`,
    );
  }
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
  if (gc.kind === "resnet-unet" && gc.norm === "batch" && c.size === 32 && c.batch < 2) {
    throw new UsageError(
      `--batch ${c.batch} with --size 32: the ResNet U-Net's batch norm sees a 1×1 map there, ` +
        "which needs --batch 2 or more (or a larger --size)",
    );
  }
  return c;
}
