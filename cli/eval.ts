/**
 * `deno task eval --model FILE [--model FILE…] --data DIR`: measures colorization
 * quality on held-out photos. Each photo is reduced to its lightness and
 * colorized; the output is compared with the original by PSNR (RGB, 8-bit) and
 * by Hasler–Süsstrunk colorfulness. The gray image itself (ab = 0) is always
 * the first row, the baseline a model must beat. Grayscale photos are skipped
 * and counted, by the test and tolerance training uses: they have no colour to
 * score, and the gray row would reproduce them exactly (infinite PSNR).
 * With `--hints N` (or a list of counts) a hint model is also given N colour
 * hints per photo sampled from the original (cli/eval_hints.ts), one row per count.
 */

import { basename, join } from "node:path";
import { initGpu } from "../engine/gpu.ts";
import { buildGenerator, checkpointImageSize, decodeCheckpoint } from "../models/checkpoint.ts";
import { colorizeGeometry, colorizeRgba, labToRgba, type RgbaImage, rgbaToL } from "../models/colorize.ts";
import type { Generator } from "../models/generators.ts";
import { type Hint, takesHints } from "../models/hints.ts";
import { parseHintCounts, photoHintRng, sampleHintsFromImage } from "./eval_hints.ts";
import { listImages } from "./dataset.ts";
import { IMAGE_EXTENSIONS, isGrayscale, readImage } from "./image.ts";
import { GRAY_TOLERANCE } from "./corpus/filter.ts";
import { ProgressBar } from "./progress.ts";
import { consoleIo, errorLine, readCommandLine } from "./args.ts";

const HELP = `Usage: deno task eval --data DIR [--model FILE]... [--size N] [--limit N]
                      [--hints N[,N...]] [--seed S] [--no-spread] [--json FILE]

Scores colorization on the photos of DIR (searched recursively): PSNR of the RGB
output against the original, and colorfulness (Hasler & Süsstrunk 2003) of the
output as a share of the originals'. The first row is the gray image (no colour).
Grayscale photos are skipped and counted, as training skips them.

  --data DIR     held-out colour photos (e.g. data/debian/val)
  --model FILE   a checkpoint; repeat to compare models (e.g. L1-only and GAN)
  --size N       model resolution (default: the size each checkpoint was trained at)
  --limit N      use the first N photos only
  --hints N      give each hint model (train --hints-input) N colour hints per
                 photo, sampled from the original: a uniformly random pixel with
                 the original's mean ab over the patch the hint covers in the
                 model's input (as training reveals patches). A list such as
                 0,1,5,10,20 gives one row per count (the table gets a hints
                 column); the first k of N hints are the k hints, so more hints
                 add points. N > 0 with a model without hint input is an error
  --seed S       seed of the hint points (default 1): the same seed and photos
                 give every model the same points
  --no-spread    measure what the network alone does with the hints: skip the
                 edge-aware spreading of hints over its prediction that colorize
                 applies (models/hint_spread.ts)
  --json FILE    also write the table as JSON
  -h, --help     this text

Exit codes: 0 done, 1 some photos could not be read (each reported on one line),
2 nothing could be scored (usage, unusable model, no colour photo, no WebGPU).`;

/** PSNR in dB between two RGBA images of the same size, over the RGB channels (peak 255). */
export function psnr(a: RgbaImage, b: RgbaImage): number {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`psnr: sizes ${a.width}×${a.height} and ${b.width}×${b.height} differ`);
  }
  let se = 0;
  for (let i = 0; i < a.rgba.length; i += 4) {
    for (let c = 0; c < 3; c++) se += (a.rgba[i + c] - b.rgba[i + c]) ** 2;
  }
  const mse = se / (a.width * a.height * 3);
  return mse === 0 ? Infinity : 10 * Math.log10(255 ** 2 / mse);
}

/** Hasler–Süsstrunk colorfulness: σ_rgyb + 0.3·μ_rgyb with rg = R − G, yb = (R + G)/2 − B (0 for gray). */
export function colorfulness(img: RgbaImage): number {
  let n = 0, srg = 0, syb = 0, srg2 = 0, syb2 = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    const r = img.rgba[i], g = img.rgba[i + 1], b = img.rgba[i + 2];
    const rg = r - g, yb = 0.5 * (r + g) - b;
    srg += rg;
    syb += yb;
    srg2 += rg * rg;
    syb2 += yb * yb;
    n++;
  }
  const mrg = srg / n, myb = syb / n;
  const vrg = Math.max(0, srg2 / n - mrg * mrg), vyb = Math.max(0, syb2 / n - myb * myb);
  return Math.sqrt(vrg + vyb) + 0.3 * Math.sqrt(mrg * mrg + myb * myb);
}

/** One row of the quality table: mean PSNR and mean colorfulness over the photos. */
export interface EvalRow {
  name: string;
  /** Hints per photo (eval --hints); absent when hints were not asked for, and on the gray row. */
  hints?: number;
  psnr: number;
  colorfulness: number;
  /** Mean output colorfulness divided by the originals' mean colorfulness. */
  colorfulnessRatio: number;
}

/** The gray baseline: the photo's own lightness with a = b = 0. */
async function grayOf(img: RgbaImage): Promise<RgbaImage> {
  const L = await rgbaToL(img);
  const rgba = await labToRgba(L, new Float32Array(2 * L.length), img.width, img.height);
  return { width: img.width, height: img.height, rgba };
}

/** What {@link evaluate} can vary besides the models. */
export interface EvalOptions {
  /**
   * Hint counts per photo (eval --hints): every model gets one row per count, in this order, each row's
   * `hints` set. Without it every model gets one row without hints (and no `hints` field).
   */
  hints?: readonly number[];
  /** Seed of the hint points (default 1); see cli/eval_hints.ts. */
  seed?: number;
  /** Whether hints are spread over the prediction as colorize does (default true). */
  spreadHints?: boolean;
}

/**
 * Scores every generator (and the gray baseline) on the images; returns one row per model (per hint
 * count with `options.hints`) after the gray row, plus the originals' colorfulness. The images should
 * be in colour: the gray row of a grayscale photo has infinite PSNR. A model without hint input given
 * a count above 0 fails as colorizeRgba does.
 */
export async function evaluate(
  images: RgbaImage[],
  models: { name: string; G: Generator; size: number }[],
  onImage?: () => void,
  options: EvalOptions = {},
): Promise<{ rows: EvalRow[]; originalColorfulness: number }> {
  const counts = options.hints ?? [0];
  const most = Math.max(...counts);
  const seed = options.seed ?? 1;
  const rows: { name: string; hints?: number }[] = [{ name: "gray (ab = 0)" }];
  for (const m of models) {
    for (const n of counts) rows.push(options.hints ? { name: m.name, hints: n } : { name: m.name });
  }
  const sums = rows.map(() => ({ psnr: 0, color: 0 }));
  let original = 0;
  for (const [i, img] of images.entries()) {
    original += colorfulness(img);
    const outputs = [await grayOf(img)];
    for (const m of models) {
      // Drawn once per model with the photo's own generator: the same points for every model, their
      // colours averaged over each model's patch; a count takes the first hints of the list.
      const hints: Hint[] = most > 0
        ? sampleHintsFromImage(
          img,
          most,
          photoHintRng(seed, i),
          colorizeGeometry(img.width, img.height, m.size),
        )
        : [];
      for (const n of counts) {
        outputs.push(
          await colorizeRgba(m.G, img, m.size, {
            hints: hints.slice(0, n),
            spreadHints: options.spreadHints,
          }),
        );
      }
    }
    outputs.forEach((out, k) => {
      sums[k].psnr += psnr(out, img);
      sums[k].color += colorfulness(out);
    });
    onImage?.();
  }
  const n = images.length;
  const originalColorfulness = original / n;
  return {
    rows: rows.map((row, k) => ({
      ...row,
      psnr: sums[k].psnr / n,
      colorfulness: sums[k].color / n,
      colorfulnessRatio: originalColorfulness > 0 ? sums[k].color / n / originalColorfulness : 0,
    })),
    originalColorfulness,
  };
}

/**
 * The table as Markdown (what the README and MODEL.md show). When some row has a hint count (eval
 * --hints) a "hints" column follows the model's name ("—" where no hint is given: the gray row and
 * the originals).
 */
export function formatTable(
  result: { rows: EvalRow[]; originalColorfulness: number },
  count: number,
): string {
  const withHints = result.rows.some((r) => r.hints !== undefined);
  const hintCell = (h?: number) => (withHints ? ` ${h ?? "—"} |` : "");
  const lines = [
    `| model |${withHints ? " hints |" : ""} PSNR (dB) | colorfulness | vs originals |`,
    `| --- |${withHints ? " ---: |" : ""} ---: | ---: | ---: |`,
    ...result.rows.map((r) =>
      `| ${r.name} |${hintCell(r.hints)} ${r.psnr.toFixed(2)} | ${r.colorfulness.toFixed(1)} | ${
        (100 * r.colorfulnessRatio).toFixed(0)
      }% |`
    ),
    `| originals (${count} photos) |${hintCell()} — | ${result.originalColorfulness.toFixed(1)} | 100% |`,
  ];
  return lines.join("\n");
}

/** Entry point; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = readCommandLine("eval", args, {
    data: { type: "string" },
    model: { type: "string", multiple: true },
    size: { type: "string" },
    limit: { type: "string" },
    hints: { type: "string" },
    seed: { type: "string" },
    "no-spread": { type: "boolean" },
    json: { type: "string" },
  }, { help: HELP, io: consoleIo });
  if (typeof parsed === "number") return parsed;
  const opts = parsed.values;
  if (!opts.data) {
    console.error("eval: --data DIR is required (held-out colour photos)");
    return 2;
  }
  const size = opts.size ? Number(opts.size) : undefined;
  if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
    console.error(`eval: --size must be a positive integer (got ${opts.size})`);
    return 2;
  }
  const limit = opts.limit ? Number(opts.limit) : undefined;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    console.error(`eval: --limit must be a positive integer (got ${opts.limit})`);
    return 2;
  }
  let hints: number[] | undefined;
  try {
    hints = opts.hints === undefined ? undefined : parseHintCounts(opts.hints);
  } catch (e) {
    console.error(`eval: ${errorLine(e)}`);
    return 2;
  }
  const seed = opts.seed === undefined ? 1 : /^\d+$/.test(opts.seed) ? Number(opts.seed) : NaN;
  if (!Number.isSafeInteger(seed)) {
    console.error(`eval: --seed must be a whole number ≥ 0 (got ${opts.seed})`);
    return 2;
  }
  if (opts.seed !== undefined && !hints) {
    console.error("eval: --seed chooses the hint points: it needs --hints");
    return 2;
  }
  if (opts["no-spread"] && !hints) {
    console.error("eval: --no-spread is about hints: it needs --hints");
    return 2;
  }
  try {
    await initGpu();
    const models = [];
    for (const file of opts.model ?? []) {
      const ck = decodeCheckpoint(await Deno.readFile(file), file);
      const G = buildGenerator(ck);
      const most = Math.max(...(hints ?? [0]));
      if (most > 0 && !takesHints(G.config)) {
        throw new Error(
          `--hints ${most}: ${file} takes no colour hints (it was trained without --hints-input)`,
        );
      }
      models.push({ name: basename(file), G, size: size ?? checkpointImageSize(ck) ?? 256 });
    }
    // listImages gives paths relative to the folder.
    let files = (await listImages(opts.data)).map((f) => join(opts.data!, f));
    if (limit) files = files.slice(0, limit);
    if (files.length === 0) throw new Error(`${opts.data}: no ${IMAGE_EXTENSIONS.join("/")} photos`);
    const images: RgbaImage[] = [];
    let unreadable = 0, grayscale = 0;
    for (const f of files) {
      let img;
      try {
        img = await readImage(f);
      } catch (e) {
        console.error(`eval: ${errorLine(e)}`);
        unreadable++;
        continue;
      }
      // The rule of training (cli/dataset.ts) and the corpus filter, so the sets agree.
      if (isGrayscale(img, GRAY_TOLERANCE)) grayscale++;
      else images.push(img);
    }
    if (grayscale > 0) {
      console.error(
        `eval: skipped ${grayscale} grayscale photo${grayscale === 1 ? "" : "s"} (no colour to score)`,
      );
    }
    if (images.length === 0) {
      throw new Error(
        grayscale === 0
          ? `${opts.data}: none of the ${files.length} photos could be read`
          : `${opts.data}: none of the ${files.length} photos is a colour photo ` +
            `(${grayscale} grayscale, ${unreadable} unreadable)`,
      );
    }
    const bar = new ProgressBar({ total: images.length, label: "eval", unit: "img" });
    const result = await evaluate(images, models, () => bar.tick(), {
      hints,
      seed,
      spreadHints: !opts["no-spread"],
    });
    bar.done();
    console.log(formatTable(result, images.length));
    if (opts.json) {
      await Deno.writeTextFile(
        opts.json,
        JSON.stringify(
          {
            count: images.length,
            grayscale,
            unreadable,
            ...(hints ? { hints, seed, spread: !opts["no-spread"] } : {}),
            ...result,
          },
          null,
          2,
        ) + "\n",
      );
    }
    return unreadable === 0 ? 0 : 1;
  } catch (e) {
    console.error(`eval: ${errorLine(e)}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
