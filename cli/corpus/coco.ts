/**
 * The coco command: downloads the COCO sample archive that the fastai library
 * uses, picks `--count` images with a seeded shuffle and splits them 80/20 into
 * train/ and val/ — by default the recipe of the colorization tutorial
 * "Colorizing black & white images with U-Net and conditional GAN" (10,000
 * images, 8,000 train and 2,000 validation).
 */

import { basename, join } from "node:path";
import { Rng, shuffle } from "../../engine/random.ts";
import { ProgressBar } from "../progress.ts";
import { atomicWriteText, exists } from "../fsutil.ts";
import { readTar, type TarHeader } from "./tar.ts";
import { consoleLog, type Log, prepareOut } from "./output.ts";

/** Where `coco` downloads from by default: the address the fastai library uses. */
export const COCO_URL = "https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz";

/** Options of {@link buildCocoDataset}. */
export interface CocoOptions {
  url: string;
  out: string;
  work: string;
  count: number;
  seed: number;
  log?: Log;
}

/** Downloads `url` to `dest` (via a .part file, so an interrupted download is never taken for complete). */
export async function download(url: string, dest: string, log: Log): Promise<void> {
  if (await exists(dest)) {
    log.info(`using ${dest} (downloaded before; delete it to download again)`);
    return;
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`cannot download ${url}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new Error(`cannot download ${url}: HTTP ${res.status} ${res.statusText}`);
  }
  const total = Number(res.headers.get("content-length") ?? 0);
  const bar = new ProgressBar({ total: Math.max(1, Math.round(total / 1e6)), label: "download", unit: "MB" });
  const part = `${dest}.part`;
  const file = await Deno.open(part, { write: true, create: true, truncate: true });
  let got = 0, shown = 0;
  try {
    for await (const chunk of res.body) {
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
      got += chunk.length;
      const mb = Math.round(got / 1e6);
      if (mb > shown) {
        bar.tick(mb - shown);
        shown = mb;
      }
    }
  } finally {
    file.close();
  }
  bar.done();
  if (total && got !== total) {
    throw new Error(`download of ${url} stopped at ${got} of ${total} bytes; run the command again`);
  }
  await Deno.rename(part, dest);
}

function isImageName(n: string): boolean {
  return /\.(jpe?g|png)$/i.test(n) && !basename(n).startsWith("._");
}

/** Streams a .tgz file through gzip decompression, counting compressed bytes for a progress bar. */
async function tgzStream(path: string, onBytes: (n: number) => void): Promise<ReadableStream<Uint8Array>> {
  const file = await Deno.open(path, { read: true });
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      onBytes(chunk.length);
      ctl.enqueue(chunk);
    },
  });
  // The DOM typings declare a BufferSource input; chunks are Uint8Arrays.
  const gunzip = new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
  return file.readable.pipeThrough(counter).pipeThrough(gunzip);
}

/**
 * Picks the images: archive names sorted by code unit, a seeded shuffle, the
 * first `count`; the first 80% of those train, the rest validation.
 */
export function pickCoco(names: string[], count: number, seed: number): { train: string[]; val: string[] } {
  const sorted = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const chosen = shuffle(sorted, new Rng(seed)).slice(0, count);
  const nTrain = Math.round(chosen.length * 0.8);
  return { train: chosen.slice(0, nTrain), val: chosen.slice(nTrain) };
}

/**
 * Builds the COCO corpus: download (once), list the archive's images, pick,
 * then stream the archive again writing the picked images into train/ and val/.
 * Two passes over the archive keep memory flat for the 3 GB sample.
 */
export async function buildCocoDataset(
  opts: CocoOptions,
): Promise<{ train: number; val: number; total: number }> {
  const log = opts.log ?? consoleLog;
  await prepareOut(opts.out);
  await Deno.mkdir(opts.work, { recursive: true });
  const name = basename(new URL(opts.url).pathname) || "coco_sample.tgz";
  const archive = join(opts.work, name);
  await download(opts.url, archive, log);
  const compressed = (await Deno.stat(archive)).size;

  const pass = async (
    label: string,
    want: (h: TarHeader) => boolean,
    got: (h: TarHeader, b: Uint8Array) => Promise<void>,
  ) => {
    const bar = new ProgressBar({ total: Math.max(1, Math.round(compressed / 1e6)), label, unit: "MB" });
    let bytes = 0, shown = 0;
    const stream = await tgzStream(archive, (n) => {
      bytes += n;
      const mb = Math.round(bytes / 1e6);
      if (mb > shown) {
        bar.tick(mb - shown);
        shown = mb;
      }
    });
    try {
      await readTar(stream, want, got, archive);
    } catch (e) {
      throw new Error(
        `${archive}: ${(e as Error).message.replace(`${archive}: `, "")} (delete it to download again)`,
      );
    }
    bar.done();
  };

  const names: string[] = [];
  await pass("list", (h) => {
    if (isImageName(h.name)) names.push(h.name);
    return false;
  }, async () => {});
  if (names.length === 0) throw new Error(`${archive} holds no .jpg/.png images`);
  if (names.length < opts.count) {
    log.info(`the archive holds ${names.length} images, fewer than --count ${opts.count}: using all`);
  }
  const { train, val } = pickCoco(names, opts.count, opts.seed);
  const splitOf = new Map<string, "train" | "val">();
  for (const n of train) splitOf.set(n, "train");
  for (const n of val) splitOf.set(n, "val");
  // Archive paths may repeat a base name in different folders: keep the folder in the file name then.
  const baseCount = new Map<string, number>();
  for (const n of splitOf.keys()) baseCount.set(basename(n), (baseCount.get(basename(n)) ?? 0) + 1);
  const outName = (n: string) => (baseCount.get(basename(n))! > 1 ? n.replace(/[/\\]/g, "_") : basename(n));

  await Deno.mkdir(join(opts.out, "train"), { recursive: true });
  await Deno.mkdir(join(opts.out, "val"), { recursive: true });
  const manifest: string[] = [];
  await pass("extract", (h) => splitOf.has(h.name), async (h, b) => {
    const split = splitOf.get(h.name)!;
    const file = `${split}/${outName(h.name)}`;
    await Deno.writeFile(join(opts.out, file), b);
    manifest.push(JSON.stringify({
      file,
      split,
      source: `${name}:${h.name}`,
      license: "COCO images: Flickr photos under their own licenses (see the COCO terms of use)",
    }));
  });
  manifest.sort();
  await atomicWriteText(join(opts.out, "manifest.jsonl"), manifest.join("\n") + "\n");
  const summary = {
    url: opts.url,
    archiveImages: names.length,
    count: opts.count,
    seed: opts.seed,
    train: train.length,
    val: val.length,
  };
  await atomicWriteText(join(opts.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  return { train: train.length, val: val.length, total: names.length };
}
