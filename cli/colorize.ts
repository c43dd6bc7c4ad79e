/**
 * `deno task colorize IN… [-o OUT] [--model FILE] [--size N]`: colorizes
 * photos with a trained generator. Inputs are files or folders (searched
 * recursively for .jpg/.jpeg/.png, skipping earlier outputs *.color.png). A bad
 * input is reported on one line and the others are still done; the exit code
 * says whether everything worked.
 */

import { fileURLToPath } from "node:url";
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import { initGpu } from "../engine/gpu.ts";
import {
  buildGenerator,
  type Checkpoint,
  checkpointImageSize,
  decodeCheckpoint,
} from "../models/checkpoint.ts";
import { colorizeRgba } from "../models/colorize.ts";
import type { Unet } from "../models/unet.ts";
import { readImage, writeImage } from "./image.ts";
import { ProgressBar } from "./progress.ts";
import { enterCallerDirectory, listFiles } from "./fsutil.ts";
import { errorLine, readCommandLine } from "./args.ts";

/** Where the project's shipped model lives, relative to this file (so it works from any directory). */
export const DEFAULT_MODEL_URL: URL = new URL("../models/default.safetensors", import.meta.url);

/** The size colorize uses when neither --size nor the checkpoint names one (256×256, as in the pix2pix paper and the colorization tutorial). */
export const DEFAULT_SIZE = 256;

const IMAGE_EXT = /\.(jpe?g|png)$/i;
const OUTPUT_NAME = /\.color\.(png|jpe?g)$/i;

const HELP = `Usage: deno task colorize IN... [-o OUT] [--model FILE] [--size N]

Colorizes black-and-white (or colour) photos with a pix2pix generator. Only the
lightness of each input is used; the output keeps it exactly, at full
resolution, and adds predicted colour.

Arguments:
  IN...              image files (.png, .jpg, .jpeg) or folders, searched recursively;
                     files named *.color.png / *.color.jpg (earlier outputs) are skipped

Options:
  -o, --output OUT   output file (one input: .png or .jpg/.jpeg decides the format) or
                     folder (several inputs, or OUT ends with / or is a folder);
                     default: NAME.color.png beside each input. Inputs are never overwritten.
  -m, --model FILE   checkpoint (.safetensors) from deno task train, or a PyTorch generator
                     state dict saved with safetensors; default: models/default.safetensors
  -s, --size N       model resolution (a multiple of 2^nDown); default: the size the
                     checkpoint was trained at, else ${DEFAULT_SIZE}
  -q, --quiet        no progress bar
  -h, --help         this text

Exit codes: 0 all done, 1 some inputs failed (each reported as "colorize: FILE: problem"),
2 nothing could be done (usage, missing or unusable model, no WebGPU).`;

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
    match: (name) => IMAGE_EXT.test(name) && !OUTPUT_NAME.test(name),
    followLinks: true,
    order: "tree",
  });
}

function colorName(file: string): string {
  const b = basename(file);
  const ext = extname(b);
  return `${ext ? b.slice(0, -ext.length) : b}.color.png`;
}

async function realOrResolved(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
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
          failures.push({ input: inp, error: new Error("folder has no .png/.jpg/.jpeg images") });
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
        return { jobs: [], failures, usage: `-o ${output}: the output must end in .png, .jpg or .jpeg` };
      }
      outFile = output;
    }
  }
  const jobs = found.map(({ input, rel }) => ({
    input,
    output: outFile ??
      (outDir !== null ? join(outDir, rel, colorName(input)) : join(dirname(input), colorName(input))),
  }));
  return { jobs, failures };
}

/** The checkpoint of --model, or the shipped default; a one-line reason when there is none. */
async function readCheckpoint(
  path: string | undefined,
  defaultModel: URL,
): Promise<{ ck: Checkpoint; source: string } | { error: string }> {
  let source: string;
  let bytes: Uint8Array;
  if (path === undefined) {
    const file = fileURLToPath(defaultModel);
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

  const model = await readCheckpoint(values.model, opts.defaultModel ?? DEFAULT_MODEL_URL);
  if ("error" in model) {
    io.error(model.error);
    return 2;
  }
  const { ck, source } = model;
  const nDown = ck.generatorConfig.nDown;
  const m = 2 ** nDown;
  if (size === undefined) size = checkpointImageSize(ck) ?? Math.ceil(DEFAULT_SIZE / m) * m;
  if (size % m !== 0) {
    io.error(`colorize: --size ${size} must be a multiple of ${m} (2^nDown of ${source}, nDown=${nDown})`);
    return 2;
  }
  const { jobs, failures, usage } = await plan(positionals, values.output);
  if (usage) {
    io.error(`colorize: ${usage}`);
    return 2;
  }
  if (jobs.length === 0) {
    for (const f of failures) io.error(problem(f.input, f.error));
    if (failures.length === 0) io.error("colorize: no input images found");
    return failures.length ? 1 : 2;
  }
  try {
    await initGpu();
  } catch (e) {
    io.error(`colorize: ${errorLine(e)}`);
    return 2;
  }
  let G: Unet;
  try {
    G = buildGenerator(ck);
  } catch (e) {
    io.error(problem(source, e));
    return 2;
  }

  const inputSet = new Set(await Promise.all(positionals.map(realOrResolved)));
  for (const j of jobs) inputSet.add(await realOrResolved(j.input));

  let failed = 0;
  const report = (line: string) => {
    // Erase a half-drawn bar so the message gets its own line; the next tick redraws the bar.
    if (bar?.tty) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
    io.error(line);
    failed++;
  };
  let bar: ProgressBar | null = null;
  for (const f of failures) report(problem(f.input, f.error));
  bar = io.progress && !values.quiet
    ? new ProgressBar({ total: jobs.length, label: "colorize", unit: "img" })
    : null;
  const written = new Map<string, string>();
  for (const job of jobs) {
    try {
      const outReal = await realOrResolved(job.output);
      if (inputSet.has(outReal)) {
        throw new Error(`output ${job.output} is an input; refusing to overwrite it`);
      }
      const earlier = written.get(outReal);
      if (earlier !== undefined) {
        throw new Error(`output ${job.output} would overwrite the output of ${earlier}`);
      }
      const img = await readImage(job.input);
      if (!(img.width > 0 && img.height > 0)) throw new Error(`empty image (${img.width}×${img.height})`);
      const out = await colorizeRgba(G, img, size);
      await Deno.mkdir(dirname(job.output), { recursive: true });
      await writeImage(job.output, out);
      written.set(outReal, job.input);
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
  return failed ? 1 : 0;
}

if (import.meta.main) {
  enterCallerDirectory();
  Deno.exit(await main(Deno.args));
}
