/**
 * `deno task colorize IN… [-o OUT] [--model FILE] [--size N] [--samples N] [--hints FILE]
 * [--hint X,Y,#RRGGBB]`: colorizes photos with a trained generator (any kind of models/generators.ts).
 * Inputs are files or folders (searched recursively for .jpg/.jpeg/.png/.gif/.tif/.tiff/.webp,
 * skipping earlier outputs *.color.png and *.color-K.png). A bad input is reported on one line and the
 * others are still done; the exit code says whether everything worked. A model that takes noise (the
 * diverse generator) writes --samples N different colourings, noise seeds 1 … N. A hint model (trained
 * with --hints-input, as the shipped default is) takes colour hints (cli/hints_file.ts), the same
 * ones for every photo.
 */

import { fileURLToPath } from "node:url";
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import { initGpu, type Runtime } from "../engine/gpu.ts";
import { sizeClass } from "../engine/pool.ts";
import {
  buildGenerator,
  type Checkpoint,
  checkpointImageSize,
  decodeCheckpoint,
  generatorTensorShapes,
} from "../models/checkpoint.ts";
import { colorizeRgba } from "../models/colorize.ts";
import { type Hint, takesHints } from "../models/hints.ts";
import { type GivenHint, hintsForPhoto, readGivenHints } from "./hints_file.ts";
import { autotuner } from "../engine/autotune.ts";
import { loadTuneCache, saveTuneCache } from "./tune_cache.ts";
import {
  describeGenerator,
  type FullGeneratorConfig,
  type Generator,
  noiseChannelsOf,
  sizeMultipleOf,
  sizeMultipleReason,
} from "../models/generators.ts";
import { encodeImage, formatOf, isImageName, readImage } from "./image.ts";
import { ProgressBar } from "./progress.ts";
import { atomicWrite, enterCallerDirectory, fileIdentity, listFiles, notAFolder } from "./fsutil.ts";
import { errorLine, readCommandLine } from "./args.ts";

/** Where the project's shipped model lives, relative to this file (so it works from any directory). */
export const DEFAULT_MODEL_URL: URL = new URL("../models/default.safetensors", import.meta.url);

/** The size colorize uses when neither --size nor the checkpoint names one (256×256, as in the pix2pix paper and the colorization tutorial). */
export const DEFAULT_SIZE = 256;

/** Outputs of earlier runs (NAME.color.png, NAME.color-2.jpg, …), skipped when walking folders. */
const OUTPUT_NAME = /\.color(-\d+)?\.(png|jpe?g)$/i;

/** The most colourings --samples writes per photo. */
const MAX_SAMPLES = 1000;

const HELP = `Usage: deno task colorize IN... [-o OUT] [--model FILE] [--size N] [--samples N]
                             [--hints FILE] [--hint X,Y,#RRGGBB]...

Colorizes black-and-white (or colour) photos with a trained generator (pix2pix U-Net,
ResNet U-Net or diverse generator). Only the lightness of each input is used; the
output keeps it exactly, at full resolution, and adds predicted colour.

Arguments:
  IN...              image files (.png, .jpg, .jpeg, .gif, .tif, .tiff, .webp; a GIF's first
                     frame, a TIFF's first image) or folders, searched recursively;
                     files named *.color.png / *.color.jpg / *.color-K.png (earlier outputs)
                     are skipped

Options:
  -o, --output OUT   output file (one input: .png or .jpg/.jpeg decides the format) or
                     folder (several inputs, or OUT ends with / or is a folder);
                     default: NAME.color.png beside each input. A new folder for one input
                     needs the trailing /. Inputs are never overwritten (hard links and
                     symbolic links included); each output is written to a temporary file
                     and renamed, so it is either complete or absent.
  -m, --model FILE   checkpoint (.safetensors) from deno task train, or a PyTorch generator
                     state dict saved with safetensors; default: models/default.safetensors
                     (a hint model: without hints it colours on its own)
  -s, --size N       model resolution (a multiple of 2^nDown for a U-Net, of 32 for a ResNet
                     U-Net, any for the diverse generator; small enough for the GPU's buffer
                     limits); default: the size the checkpoint was trained at, else ${DEFAULT_SIZE}
      --samples N    N different colourings of each photo, from a model that takes noise (the
                     diverse generator): NAME.color-1.png … NAME.color-N.png (with -o FILE:
                     FILE's name with -1 … -N before the extension), noise seeds 1 … N, so each
                     is reproducible. Without it such a model colours with seed 1. A model
                     without noise gives one colouring: N > 1 is refused (exit 2)
      --hints FILE   colour hints for a hint model (Zhang et al. 2017): the shipped
                     default, or a --model trained with --hints-input. A
                     JSON array of {"x": 120, "y": 64, "color": "#b03a2e"}, x and y in the
                     input photo's pixels from its top-left corner (as the web page saves
                     them). A hint gives the colour's a and b near its point; the
                     lightness stays the photo's. Repeatable (the files' hints in order)
      --hint X,Y,#RRGGBB
                     one hint on the command line (#RGB too), e.g. --hint 120,64,#b03a2e;
                     repeatable; applied after --hints FILE's, later hints winning where they
                     overlap. With several photos every photo gets the same hints at the same
                     pixel coordinates; a photo that some hint lies outside is reported on
                     one line and not colorized, and the others still are. A malformed file
                     or hint, or hints for a model without hint input, is refused (exit 2)
  -q, --quiet        no progress bar
      --tune         time the GPU kernel variants once per adapter and layer shape and keep
                     the fastest (the choices are cached in ~/.cache/colorize/autotune.json)
  -h, --help         this text

Exit codes: 0 all done, 1 some inputs failed (each reported as "colorize: FILE: problem"),
2 nothing could be done (usage, bad hints, missing or unusable model, no WebGPU; also when
every photo was refused because a hint lies outside it).`;

/** Where the CLI writes: lines on stderr and stdout, and whether to draw a progress bar. */
export interface CliIo {
  error(line: string): void;
  info(line: string): void;
  progress: boolean;
}

const encoder = new TextEncoder();

/** The terminal: messages on stderr/stdout; the bar redraws in place on a terminal, else prints lines. */
export const denoIo: CliIo = {
  error: (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
  info: (line) => Deno.stdout.writeSync(encoder.encode(line + "\n")),
  progress: true,
};

/** "FILE: problem" without naming FILE twice when the error already starts with it. */
function problem(file: string, e: unknown): string {
  let m = errorLine(e);
  for (const prefix of [`${file}: `, `${resolve(file)}: `]) {
    if (m.startsWith(prefix)) m = m.slice(prefix.length);
  }
  if (e instanceof Deno.errors.NotFound) m = "no such file or directory";
  else if (e instanceof Deno.errors.PermissionDenied) m = "permission denied";
  return `colorize: ${file}: ${m}`;
}

/** One image to colorize and where its result goes. */
interface Job {
  input: string;
  output: string;
}

/** An input that could not even be listed, reported with the others at the end of the batch. */
interface Failure {
  input: string;
  error: unknown;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Image files under `dir` as paths relative to `dir`, leaving out earlier outputs: depth first, each
 * folder's entries sorted by name (hidden files included, links followed).
 */
function walk(dir: string): Promise<string[]> {
  return listFiles(dir, {
    match: (name) => isImageName(name) && !OUTPUT_NAME.test(name),
    followLinks: true,
    order: "tree",
  });
}

/** The name of colouring `k` of --samples: `k` after a dash before the extension (a.color.png → a.color-2.png). */
function sampleName(output: string, k: number): string {
  const ext = extname(output);
  return `${output.slice(0, output.length - ext.length)}-${k}${ext}`;
}

function colorName(file: string): string {
  const b = basename(file);
  const ext = extname(b);
  return `${ext ? b.slice(0, -ext.length) : b}.color.png`;
}

/**
 * A key equal for two output paths that name one file: the file's identity where it exists,
 * else the path with its folder's real path (so `d/./x` and `link-to-d/x` agree).
 */
async function outputKey(path: string): Promise<string> {
  const id = await fileIdentity(path);
  if (id !== null) return id;
  try {
    return join(await Deno.realPath(dirname(path)), basename(path));
  } catch {
    return resolve(path);
  }
}

/**
 * Expands inputs into jobs. `outDir` is the folder outputs go to (null: beside
 * each input); `outFile` the single output file of a single input.
 */
async function plan(
  inputs: string[],
  output: string | undefined,
): Promise<{ jobs: Job[]; failures: Failure[]; usage?: string }> {
  const found: { input: string; rel: string }[] = [];
  const failures: Failure[] = [];
  let anyDir = false;
  for (const inp of inputs) {
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(inp);
    } catch (e) {
      failures.push({ input: inp, error: e });
      continue;
    }
    if (stat.isDirectory) {
      anyDir = true;
      try {
        const files = await walk(inp);
        if (files.length === 0) {
          failures.push({ input: inp, error: new Error("folder has no JPEG, PNG, GIF, TIFF or WebP files") });
        }
        for (const r of files) found.push({ input: join(inp, r), rel: dirname(r) === "." ? "" : dirname(r) });
      } catch (e) {
        failures.push({ input: inp, error: e });
      }
    } else {
      found.push({ input: inp, rel: "" });
    }
  }
  const several = inputs.length > 1 || anyDir;
  let outDir: string | null = null, outFile: string | null = null;
  if (output !== undefined) {
    const dirLike = output.endsWith("/") || output.endsWith(sep) || await isDirectory(output);
    if (several || dirLike) {
      if (!dirLike && await Deno.stat(output).then(() => true, () => false)) {
        return { jobs: [], failures, usage: `-o ${output}: with several inputs -o must be a folder` };
      }
      outDir = output;
    } else {
      if (!/\.(png|jpe?g)$/i.test(output)) {
        // Without an extension it was most likely meant as a new folder.
        const hint = extname(output) === "" ? ` (a folder needs a trailing /: -o ${output}/)` : "";
        return {
          jobs: [],
          failures,
          usage: `-o ${output}: the output must end in .png, .jpg or .jpeg${hint}`,
        };
      }
      outFile = output;
    }
    // A file where a folder of the output should be would fail every job with a raw mkdir error.
    const blocked = await notAFolder(outDir ?? dirname(output));
    if (blocked) return { jobs: [], failures, usage: `-o ${output}: ${blocked}` };
  }
  const jobs = found.map(({ input, rel }) => ({
    input,
    output: outFile ??
      (outDir !== null ? join(outDir, rel, colorName(input)) : join(dirname(input), colorName(input))),
  }));
  return { jobs, failures };
}

/** A failed mkdir or write in a few words. */
function ioReason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  return errorLine(e);
}

/** What one tensor may take on an adapter. */
export interface TensorLimits {
  /** maxStorageBufferBindingSize: the bytes one tensor may span (kernels bind whole tensors). */
  bindingBytes: number;
  /** maxBufferSize: the bytes of one buffer (a tensor's buffer is its pool size class). */
  bufferBytes: number;
}

function adapterLimits(rt: Runtime): TensorLimits {
  return { bindingBytes: rt.maxBindingBytes, bufferBytes: rt.device.limits.maxBufferSize };
}

/** The limit a tensor of `bytes` exceeds, named for the message, or null if it fits. */
function overLimit(bytes: number, limits: TensorLimits): string | null {
  if (bytes > limits.bindingBytes) return `maxStorageBufferBindingSize (${limits.bindingBytes} bytes)`;
  if (sizeClass(bytes) > limits.bufferBytes) return `maxBufferSize (${limits.bufferBytes} bytes)`;
  return null;
}

/**
 * Bytes of the largest tensor that colorizing at model size `size` allocates, from the generator's
 * configuration: the widest activation ({@link activationBytesPerPixel} × size²) or, whatever the
 * size, the largest weight (every weight is bound whole; each transposed convolution of the U-Net
 * also regroups its weights into a copy of the same size). The photo's own tensors are cut into
 * bands of rows that fit, and what `size` costs on the CPU is the resampling tables, a few numbers
 * per model pixel of one side (kilobytes to megabytes), so this tensor is the bound that matters.
 * tests/colorize_test.ts records every tensor colorizing allocates, for each kind, and compares.
 */
export function largestTensorBytes(config: FullGeneratorConfig, size: number): number {
  return Math.max(activationBytesPerPixel(config) * size * size, largestWeightBytes(config));
}

/**
 * Bytes a model pixel of the widest activation takes: the input (inputChannels), the output
 * (outputChannels), or
 * - U-Net: the outermost level's concat of the inner levels' result with the first convolution's
 *   (2·ngf channels at size/2 × size/2, so ngf/2 a model pixel; deeper levels halve the side as they
 *   double the channels, so they are smaller);
 * - ResNet U-Net: the last upsampling's output concatenated with the input at full size, which the
 *   residual block keeps (the head's input channels; every earlier feature is at most half as wide
 *   per model pixel: the 1×1 convolution before that upsampling has 4× the channels at a quarter of
 *   the pixels);
 * - diverse generator: the widest concat of the luminance, the noise and a hidden layer, all at full
 *   size (the widest convolution input).
 */
export function activationBytesPerPixel(c: FullGeneratorConfig): number {
  const io = Math.max(c.inputChannels, c.outputChannels);
  if (c.kind === "resnet-unet") return 4 * Math.max(io, generatorTensorShapes(c).get("head.weight")![1]);
  if (c.kind === "diverse") {
    const convInputs = [...generatorTensorShapes(c)].filter(([n]) => /^conv\d+\.weight$/.test(n)).map((
      [, s],
    ) => s[1]);
    return 4 * Math.max(io, ...convInputs);
  }
  return 4 * Math.max(io, (2 * c.ngf) / 4);
}

function largestWeightBytes(config: FullGeneratorConfig): number {
  const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  return 4 * Math.max(...[...generatorTensorShapes(config).values()].map(numel));
}

/** The largest model size (a multiple of the generator's size multiple) whose largest tensor fits `limits`; 0 if none. */
export function largestSize(config: FullGeneratorConfig, limits: TensorLimits): number {
  const m = sizeMultipleOf(config);
  const fits = (s: number) => overLimit(largestTensorBytes(config, s), limits) === null;
  // The activations grow as size²: start at the binding limit's bound for them, then step down past
  // the buffer limit and rounding (a step or two), or to 0 when the weights alone do not fit.
  let s = Math.floor(Math.sqrt(limits.bindingBytes / activationBytesPerPixel(config)) / m) * m;
  while (s > 0 && !fits(s)) s -= m;
  while (fits(s + m)) s += m;
  return s;
}

function sizeInUnits(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * Why colorizing at `size` with a generator of `config` cannot fit `limits` (a clause naming the
 * limit and the largest size that fits, for a one-line usage error), or null when it fits.
 */
export function sizeProblem(
  config: FullGeneratorConfig,
  size: number,
  limits: TensorLimits,
  source: string,
): string | null {
  const bytes = largestTensorBytes(config, size);
  const over = overLimit(bytes, limits);
  if (over === null) return null;
  const max = largestSize(config, limits);
  return `too large for this GPU: the generator's largest tensor would need ${sizeInUnits(bytes)}, more ` +
    `than the adapter's ${over}; ${
      max > 0 ? `the largest size for ${source} here is ${max}` : `${source} fits at no size here`
    }`;
}

/** The checkpoint of --model, or the shipped one at `shipped`; a one-line reason when there is none. */
async function readCheckpoint(
  path: string | undefined,
  shipped: URL,
): Promise<{ ck: Checkpoint; source: string } | { error: string }> {
  let source: string;
  let bytes: Uint8Array;
  if (path === undefined) {
    const file = fileURLToPath(shipped);
    source = relative(Deno.cwd(), file) || file;
    try {
      bytes = await Deno.readFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        return {
          error: "colorize: no shipped model yet: pass --model FILE (train one with deno task train)",
        };
      }
      return { error: problem(source, e) };
    }
  } else {
    source = path;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      return { error: problem(path, e) };
    }
  }
  try {
    return { ck: decodeCheckpoint(bytes, source), source };
  } catch (e) {
    return { error: problem(source, e) };
  }
}

/**
 * Runs the CLI on `args`; returns the exit code instead of exiting, so tests can call it in-process
 * (and point `defaultModel` elsewhere than the shipped file).
 */
export async function main(
  args: string[],
  io: CliIo = denoIo,
  opts: { defaultModel?: URL } = {},
): Promise<number> {
  const parsed = readCommandLine("colorize", args, {
    output: { type: "string", short: "o" },
    model: { type: "string", short: "m" },
    size: { type: "string", short: "s" },
    quiet: { type: "boolean", short: "q" },
    tune: { type: "boolean" },
    samples: { type: "string" },
    hints: { type: "string", multiple: true },
    hint: { type: "string", multiple: true },
  }, { positionals: true, help: HELP, io });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length === 0) {
    io.error("colorize: no input images (see --help)");
    return 2;
  }
  let size: number | undefined;
  if (values.size !== undefined) {
    size = Number(values.size);
    if (!/^\d+$/.test(values.size) || size <= 0) {
      io.error(`colorize: --size ${values.size}: expected a positive whole number`);
      return 2;
    }
  }
  let samples: number | undefined;
  if (values.samples !== undefined) {
    samples = Number(values.samples);
    if (!/^\d+$/.test(values.samples) || samples < 1 || samples > MAX_SAMPLES) {
      io.error(`colorize: --samples ${values.samples}: expected a whole number from 1 to ${MAX_SAMPLES}`);
      return 2;
    }
  }

  // The hints are checked, all but whether they fit each photo, before the model or any photo is read.
  const hintFiles = values.hints ?? [], hintFlags = values.hint ?? [];
  let given: GivenHint[];
  try {
    given = await readGivenHints(hintFiles, hintFlags);
  } catch (e) {
    io.error(`colorize: ${errorLine(e)}`);
    return 2;
  }

  const hinted = hintFiles.length > 0 || hintFlags.length > 0;
  const option = hintFiles.length ? "--hints" : "--hint";
  const model = await readCheckpoint(values.model, opts.defaultModel ?? DEFAULT_MODEL_URL);
  if ("error" in model) {
    io.error(model.error);
    return 2;
  }
  const { ck, source } = model;
  const config = ck.generatorConfig;
  // Asking for hints is refused even when the file holds none: the model would silently ignore them.
  if (hinted && !takesHints(config)) {
    io.error(`colorize: ${option}: ${source} takes no colour hints (trained without --hints-input)`);
    return 2;
  }
  if (samples !== undefined && samples > 1 && noiseChannelsOf(config) === 0) {
    io.error(
      `colorize: --samples ${samples}: ${source} gives one coloring per photo (its ${
        describeGenerator(config)
      } takes no noise)`,
    );
    return 2;
  }
  const m = sizeMultipleOf(config);
  const sizeGiven = size !== undefined;
  if (size === undefined) size = checkpointImageSize(ck) ?? Math.ceil(DEFAULT_SIZE / m) * m;
  if (size % m !== 0) {
    io.error(
      `colorize: --size ${size} must be a multiple of ${m} (for ${source}: ${sizeMultipleReason(config)})`,
    );
    return 2;
  }
  let rt: Runtime;
  try {
    rt = await initGpu();
  } catch (e) {
    io.error(`colorize: ${errorLine(e)}`);
    return 2;
  }
  if (values.tune) {
    autotuner.enabled = true;
    const cache = await loadTuneCache();
    if (cache.warning) io.error(`colorize: ${cache.warning}`);
  }
  const tooLarge = sizeProblem(ck.generatorConfig, size, adapterLimits(rt), source);
  if (tooLarge) {
    io.error(
      `colorize: ${sizeGiven ? `--size ${size}` : `size ${size} (the default for ${source})`}: ${tooLarge}`,
    );
    return 2;
  }
  const { jobs: planned, failures, usage } = await plan(positionals, values.output);
  if (usage) {
    io.error(`colorize: ${usage}`);
    return 2;
  }
  if (planned.length === 0) {
    for (const f of failures) io.error(problem(f.input, f.error));
    if (failures.length === 0) io.error("colorize: no input images found");
    return failures.length ? 1 : 2;
  }
  let G: Generator;
  try {
    G = buildGenerator(ck);
  } catch (e) {
    io.error(problem(source, e));
    return 2;
  }

  // Files are compared by identity (device and inode), so no spelling, symbolic link or hard link
  // of an input can be taken for a new name and overwritten. A file given twice for the same output
  // (as itself, through a folder, or spelled otherwise) is done once.
  const inputIds = new Set<string>();
  const jobs: Job[] = [];
  const twice: string[] = [];
  const seen = new Set<string>();
  for (const job of planned) {
    const id = await fileIdentity(job.input);
    if (id !== null) inputIds.add(id);
    const key = `${id ?? resolve(job.input)}\0${await outputKey(job.output)}`;
    if (seen.has(key)) {
      twice.push(job.input);
    } else {
      seen.add(key);
      jobs.push(job);
    }
  }

  let failed = 0;
  // Photos refused because a hint lies outside them: when they are all that failed and nothing
  // was done, the command line was at fault (exit 2).
  let hintRefusals = 0;
  const report = (line: string) => {
    // Erase a half-drawn bar so the message gets its own line; the next tick redraws the bar.
    if (bar?.tty) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
    io.error(line);
    failed++;
  };
  let bar: ProgressBar | null = null;
  for (const f of failures) report(problem(f.input, f.error));
  // Not a failure: everything asked for gets done.
  for (const input of twice) io.error(`colorize: ${input}: given twice; colorized once`);
  bar = io.progress && !values.quiet
    ? new ProgressBar({ total: jobs.length, label: "colorize", unit: "img" })
    : null;
  const written = new Map<string, string>();
  for (const job of jobs) {
    try {
      // One output, or --samples numbered ones, each with its noise seed (1 … N; seed 1 alone).
      const outputs = samples === undefined
        ? [{ path: job.output, seed: 1 }]
        : Array.from({ length: samples }, (_, i) => ({ path: sampleName(job.output, i + 1), seed: i + 1 }));
      // Every output is checked before any is written, so a refused job writes nothing.
      for (const { path } of outputs) {
        const outId = await fileIdentity(path);
        if (outId !== null && inputIds.has(outId)) {
          throw new Error(`output ${path} is an input; refusing to overwrite it`);
        }
        const earlier = outId === null ? undefined : written.get(outId);
        if (earlier !== undefined) {
          throw new Error(`output ${path} would overwrite the output of ${earlier}`);
        }
      }
      const img = await readImage(job.input);
      if (!(img.width > 0 && img.height > 0)) throw new Error(`empty image (${img.width}×${img.height})`);
      let hints: Hint[] | undefined;
      try {
        hints = given.length ? hintsForPhoto(given, img.width, img.height) : undefined;
      } catch (e) {
        hintRefusals++;
        throw e;
      }
      for (const { path, seed } of outputs) {
        const out = await colorizeRgba(G, img, size, { seed, hints });
        if (autotuner.pending) {
          // New layer shapes were met: time their kernel variants now, between photos.
          await autotuner.tune();
          await saveTuneCache();
        }
        // The planned names all end in .png, .jpg or .jpeg.
        const bytes = encodeImage(out, formatOf(path) ?? "png");
        const folder = dirname(path);
        await Deno.mkdir(folder, { recursive: true }).catch((e) => {
          throw new Error(`cannot create folder ${folder} (${ioReason(e)})`);
        });
        await atomicWrite(path, bytes).catch((e) => {
          throw new Error(`cannot write ${path} (${ioReason(e)})`);
        });
        const id = await fileIdentity(path);
        if (id !== null) written.set(id, job.input);
      }
    } catch (e) {
      report(problem(job.input, e));
    }
    bar?.tick(1, { file: basename(job.input) });
  }
  bar?.done();
  const ok = jobs.length - (failed - failures.length);
  if (!values.quiet) {
    io.info(`colorize: ${ok} of ${jobs.length + failures.length} done${failed ? `, ${failed} failed` : ""}`);
  }
  G.dispose();
  if (ok === 0 && failed > 0 && hintRefusals === failed) return 2;
  return failed ? 1 : 0;
}

if (import.meta.main) {
  enterCallerDirectory();
  Deno.exit(await main(Deno.args));
}
