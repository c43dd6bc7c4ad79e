/**
 * Training data: a folder of photos turned into fixed-size RGB images, cached
 * in one binary file, split into train/val, and served as shuffled,
 * flip-augmented batches of model inputs (L, ab) on the GPU.
 *
 * Everything random here is derived from (seed, epoch) alone, never from a
 * generator that runs along with training, so `--resume` at any step of any
 * epoch replays exactly the batches an uninterrupted run would have seen.
 */

import { join } from "node:path";
import { Rng, shuffle } from "../engine/random.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import { rgbToModel } from "../engine/color.ts";
import { isGrayscale, readImage, resizeRgba } from "./image.ts";
import { listFiles } from "./fsutil.ts";
// The corpus builder drops grayscale photos by the same rule, so it is defined once, there.
import { GRAY_TOLERANCE } from "./corpus/filter.ts";

/** File extensions read as images (case-insensitive). */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png"];

/** Bumped when the cache layout or the preprocessing changes, so old caches are rebuilt. */
const CACHE_VERSION = 1;
const MAGIC = "PX2PXDS\0";
const HEADER_BYTES = 32;

/** Mixes integers into one 32-bit seed (murmur3-style finaliser per value), e.g. (seed, epoch). */
export function mixSeed(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    // Seeds may exceed 32 bits: fold the high part in too.
    for (const part of [x >>> 0, Math.floor(x / 4294967296) >>> 0]) {
      h = Math.imul(h ^ part, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

// Distinct streams for the split and the epoch order, so changing one never shifts the other.
const SPLIT_STREAM = 0x5917;
const EPOCH_STREAM = 0xe90c;

/**
 * Image files under `dir`, recursively, as paths relative to `dir`, sorted by
 * code unit (not locale) so the order is the same on every machine. Hidden
 * entries (names starting with ".", such as the `.cache` folder) are skipped;
 * symbolic links are followed.
 */
export function listImages(dir: string): Promise<string[]> {
  return listFiles(dir, {
    match: (name) => IMAGE_EXTENSIONS.some((x) => name.toLowerCase().endsWith(x)),
    skipHidden: true,
    followLinks: true,
    readError: (d, e) => new Error(`data: cannot read folder ${d}: ${(e as Error).message}`),
  });
}

/**
 * One photo as the network's training image: the largest centred square
 * (cropping the longer side), resized to size×size, RGB planar [3, size, size]
 * bytes, or null when the photo is grayscale. The colorization tutorial
 * "Colorizing black & white images with U-Net and conditional GAN" stretches
 * the whole photo to 256×256 instead; cropping keeps proportions, so objects
 * are not squashed into shapes the network never sees at colorize time (where
 * the aspect ratio is preserved). Alpha is ignored.
 */
export function prepareImage(
  img: { width: number; height: number; rgba: Uint8Array },
  size: number,
): Uint8Array | null {
  const m = Math.min(img.width, img.height);
  let sq = img;
  if (img.width !== img.height) {
    const x0 = Math.floor((img.width - m) / 2), y0 = Math.floor((img.height - m) / 2);
    const rgba = new Uint8Array(m * m * 4);
    for (let y = 0; y < m; y++) {
      const src = 4 * ((y0 + y) * img.width + x0);
      rgba.set(img.rgba.subarray(src, src + 4 * m), 4 * y * m);
    }
    sq = { width: m, height: m, rgba };
  }
  const r = m === size ? sq : resizeRgba(sq, size, size);
  if (isGrayscale(r, GRAY_TOLERANCE)) return null;
  const hw = size * size;
  const planes = new Uint8Array(3 * hw);
  for (let i = 0; i < hw; i++) {
    planes[i] = r.rgba[4 * i];
    planes[hw + i] = r.rgba[4 * i + 1];
    planes[2 * hw + i] = r.rgba[4 * i + 2];
  }
  return planes;
}

/** Metadata stored after the pixels in a cache file. */
interface CacheMeta {
  version: number;
  key: string;
  size: number;
  /** Relative paths of the cached images, in cache order. */
  images: string[];
  grayscale: string[];
  unreadable: { path: string; error: string }[];
}

/**
 * The prepared images of a data folder, backed by the cache file (read per
 * image on demand, so a dataset larger than memory works; the OS page cache
 * keeps hot images in RAM).
 */
export class Dataset {
  readonly size: number;
  readonly dataDir: string;
  /** Relative paths, index i is image i. */
  readonly images: readonly string[];
  readonly grayscale: readonly string[];
  readonly unreadable: readonly { path: string; error: string }[];
  /** The cache file, or null when it could not be written (then `#temp` holds a private copy). */
  readonly cachePath: string | null;
  readonly fromCache: boolean;
  #file: Deno.FsFile;
  #temp: string | null;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(
    init: {
      size: number;
      dataDir: string;
      meta: CacheMeta;
      cachePath: string | null;
      fromCache: boolean;
      file: Deno.FsFile;
      temp: string | null;
    },
  ) {
    this.size = init.size;
    this.dataDir = init.dataDir;
    this.images = init.meta.images;
    this.grayscale = init.meta.grayscale;
    this.unreadable = init.meta.unreadable;
    this.cachePath = init.cachePath;
    this.fromCache = init.fromCache;
    this.#file = init.file;
    this.#temp = init.temp;
  }

  /** Number of usable images. */
  get count(): number {
    return this.images.length;
  }

  /** The one-line summary printed at start. */
  summary(verbose = false): string {
    const skips: string[] = [];
    if (this.grayscale.length) skips.push(`${this.grayscale.length} grayscale`);
    if (this.unreadable.length) skips.push(`${this.unreadable.length} unreadable`);
    const src = this.fromCache ? ", from cache" : "";
    const skip = skips.length ? `, skipped ${skips.join(", ")}${verbose ? "" : " (see --verbose)"}` : "";
    return `data: ${this.count} images (${this.size}×${this.size}${src})${skip}`;
  }

  /** Image i as planar RGB bytes [3, size, size]. */
  readPlanes(i: number): Promise<Uint8Array> {
    if (!(i >= 0 && i < this.count)) {
      throw new Error(`Dataset: image ${i} out of range (0..${this.count - 1})`);
    }
    const bytes = 3 * this.size * this.size;
    // Seek + read is not atomic: serialise readers (a prefetch may overlap the current batch).
    const run = this.#lock.then(async () => {
      const buf = new Uint8Array(bytes);
      await this.#file.seek(HEADER_BYTES + i * bytes, Deno.SeekMode.Start);
      let off = 0;
      while (off < bytes) {
        const n = await this.#file.read(buf.subarray(off));
        if (n === null) throw new Error(`data: cache file ${this.cachePath ?? "(temp)"} is truncated`);
        off += n;
      }
      return buf;
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Closes the file (and removes a private temp copy). */
  close(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
    if (this.#temp) {
      try {
        Deno.removeSync(this.#temp);
      } catch {
        // best effort
      }
    }
  }
}

async function fileKey(dataDir: string, files: string[], size: number): Promise<string> {
  const parts: unknown[] = [];
  for (const f of files) {
    const st = await Deno.stat(join(dataDir, f));
    parts.push([f, st.mtime?.getTime() ?? 0, st.size]);
  }
  const text = JSON.stringify({ v: CACHE_VERSION, size, gray: GRAY_TOLERANCE, files: parts });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function header(size: number, count: number, metaOffset: number, metaLength: number): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  h.set(new TextEncoder().encode(MAGIC), 0);
  const dv = new DataView(h.buffer);
  dv.setUint32(8, CACHE_VERSION, true);
  dv.setUint32(12, size, true);
  dv.setUint32(16, count, true);
  dv.setUint32(20, metaLength, true);
  dv.setBigUint64(24, BigInt(metaOffset), true);
  return h;
}

async function writeAll(f: Deno.FsFile, data: Uint8Array) {
  let off = 0;
  while (off < data.length) off += await f.write(data.subarray(off));
}

async function readExactly(f: Deno.FsFile, n: number): Promise<Uint8Array | null> {
  const buf = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const r = await f.read(buf.subarray(off));
    if (r === null) return null;
    off += r;
  }
  return buf;
}

/** Opens a cache file and checks header, key and length; null when it is missing, stale or damaged. */
async function openCache(
  path: string,
  key: string,
  size: number,
): Promise<{ file: Deno.FsFile; meta: CacheMeta } | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return null;
  }
  try {
    const h = await readExactly(file, HEADER_BYTES);
    if (!h || new TextDecoder().decode(h.subarray(0, 8)) !== MAGIC) throw 0;
    const dv = new DataView(h.buffer);
    const [version, sz, count, metaLen] = [8, 12, 16, 20].map((o) => dv.getUint32(o, true));
    const metaOff = Number(dv.getBigUint64(24, true));
    if (version !== CACHE_VERSION || sz !== size || metaOff !== HEADER_BYTES + count * 3 * size * size) {
      throw 0;
    }
    const st = await file.stat();
    if (st.size !== metaOff + metaLen) throw 0;
    await file.seek(metaOff, Deno.SeekMode.Start);
    const metaBytes = await readExactly(file, metaLen);
    if (!metaBytes) throw 0;
    const meta = JSON.parse(new TextDecoder().decode(metaBytes)) as CacheMeta;
    if (meta.key !== key || meta.images.length !== count) throw 0;
    return { file, meta };
  } catch {
    file.close();
    return null;
  }
}

/** Options of {@link prepareDataset}. */
export interface PrepareOptions {
  dataDir: string;
  size: number;
  /** Where cache files go; default `<dataDir>/.cache`. */
  cacheDir?: string;
  /** Log each skipped file with its reason. */
  verbose?: boolean;
  /** Where messages go (default console.error). */
  log?: (line: string) => void;
  /** Called after each decoded file while building the cache (for a progress bar). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Lists, decodes, filters and resizes the photos of a folder, or reuses the
 * cache built by an earlier run for the same files (same paths, sizes and
 * modification times) and size. Unreadable files and grayscale photos are
 * skipped and counted. The cache is written to a temp name and renamed, so an
 * interrupted build never leaves a half cache that a later run would trust.
 * If the cache folder is not writable a private temp file is used instead.
 */
export async function prepareDataset(opts: PrepareOptions): Promise<Dataset> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const { dataDir, size } = opts;
  try {
    if (!(await Deno.stat(dataDir)).isDirectory) throw new Error("not a folder");
  } catch (e) {
    throw new Error(
      `data: ${dataDir}: ${e instanceof Deno.errors.NotFound ? "no such folder" : (e as Error).message}`,
    );
  }
  const files = await listImages(dataDir);
  if (files.length === 0) {
    throw new Error(`data: no ${IMAGE_EXTENSIONS.join("/")} files under ${dataDir}`);
  }
  const key = await fileKey(dataDir, files, size);
  const cacheDir = opts.cacheDir ?? join(dataDir, ".cache");
  const cachePath = join(cacheDir, `dataset-${size}-${key.slice(0, 16)}.bin`);
  const cached = await openCache(cachePath, key, size);
  let ds: Dataset;
  if (cached) {
    ds = new Dataset({
      size,
      dataDir,
      meta: cached.meta,
      cachePath,
      fromCache: true,
      file: cached.file,
      temp: null,
    });
  } else {
    ds = await buildCache(opts, files, key, cacheDir, cachePath, log);
  }
  if (opts.verbose) {
    for (const g of ds.grayscale) log(`data: skipped ${g}: grayscale`);
    for (const u of ds.unreadable) log(`data: skipped ${u.path}: ${u.error}`);
  }
  if (ds.count === 0) {
    ds.close();
    throw new Error(
      `data: none of the ${files.length} files under ${dataDir} is a usable colour photo ` +
        `(${ds.grayscale.length} grayscale, ${ds.unreadable.length} unreadable)`,
    );
  }
  return ds;
}

async function buildCache(
  opts: PrepareOptions,
  files: string[],
  key: string,
  cacheDir: string,
  cachePath: string,
  log: (line: string) => void,
): Promise<Dataset> {
  const { dataDir, size } = opts;
  let target: string | null = cachePath;
  let tmp: string;
  try {
    await Deno.mkdir(cacheDir, { recursive: true });
    tmp = `${cachePath}.tmp`;
    await Deno.writeFile(tmp, new Uint8Array(0));
  } catch (e) {
    log(`data: cannot write a cache in ${cacheDir} (${(e as Error).message}); using a temporary file`);
    target = null;
    tmp = await Deno.makeTempFile({ prefix: "pix2pix-data-", suffix: ".bin" });
  }
  const meta: CacheMeta = { version: CACHE_VERSION, key, size, images: [], grayscale: [], unreadable: [] };
  const f = await Deno.open(tmp, { read: true, write: true, truncate: true, create: true });
  try {
    await writeAll(f, new Uint8Array(HEADER_BYTES));
    for (let i = 0; i < files.length; i++) {
      const rel = files[i];
      let planes: Uint8Array | null;
      const full = join(dataDir, rel);
      try {
        planes = prepareImage(await readImage(full), size);
      } catch (e) {
        // readImage errors start with the file's path; keep only the reason (the summary names the file).
        const msg = (e as Error).message.split("\n")[0];
        meta.unreadable.push({
          path: rel,
          error: msg.startsWith(`${full}: `) ? msg.slice(full.length + 2) : msg,
        });
        opts.onProgress?.(i + 1, files.length);
        continue;
      }
      if (planes) {
        await writeAll(f, planes);
        meta.images.push(rel);
      } else meta.grayscale.push(rel);
      opts.onProgress?.(i + 1, files.length);
    }
    const metaBytes = new TextEncoder().encode(JSON.stringify(meta));
    const metaOff = HEADER_BYTES + meta.images.length * 3 * size * size;
    await writeAll(f, metaBytes);
    await f.seek(0, Deno.SeekMode.Start);
    await writeAll(f, header(size, meta.images.length, metaOff, metaBytes.length));
    await f.sync();
  } catch (e) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  f.close();
  if (target) {
    await Deno.rename(tmp, target);
    // Caches for older file lists at this size are dead weight now.
    for await (const e of Deno.readDir(cacheDir)) {
      if (
        e.name.startsWith(`dataset-${size}-`) && e.name.endsWith(".bin") && join(cacheDir, e.name) !== target
      ) {
        await Deno.remove(join(cacheDir, e.name)).catch(() => {});
      }
    }
  }
  const file = await Deno.open(target ?? tmp, { read: true });
  return new Dataset({
    size,
    dataDir,
    meta,
    cachePath: target,
    fromCache: false,
    file,
    temp: target ? null : tmp,
  });
}

/**
 * Splits image indices into train and validation by a seeded shuffle. The
 * validation share is `valFraction` rounded, at least one image when the
 * fraction is positive and there are two or more images, and never all of
 * them. Both lists come back sorted (file order), so "the first val images"
 * are stable and easy to find on disk.
 */
export function splitTrainVal(
  count: number,
  seed: number,
  valFraction = 0.2,
): { train: number[]; val: number[] } {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new Error(`--val-split must be in [0, 1), got ${valFraction}`);
  }
  const perm = shuffle(
    Array.from({ length: count }, (_, i) => i),
    new Rng(mixSeed(seed, SPLIT_STREAM)),
  );
  let nVal = Math.round(count * valFraction);
  if (valFraction > 0 && count >= 2) nVal = Math.max(1, nVal);
  nVal = Math.min(nVal, count - 1);
  nVal = Math.max(0, nVal);
  const sort = (a: number[]) => a.sort((x, y) => x - y);
  return { val: sort(perm.slice(0, nVal)), train: sort(perm.slice(nVal)) };
}

/** The batches of one epoch: image indices and horizontal-flip flags. */
export interface EpochPlan {
  batches: { indices: number[]; flips: boolean[] }[];
}

/**
 * The order of one epoch, a pure function of (train indices, seed, epoch,
 * batch): a seeded shuffle, then a coin flip per image for horizontal
 * mirroring. The incomplete last batch is dropped (its images get their turn
 * in other epochs), which keeps BatchNorm statistics from a tiny batch out of
 * training; with fewer images than a batch the epoch is one smaller batch.
 */
export function epochPlan(
  train: readonly number[],
  seed: number,
  epoch: number,
  batch: number,
  flip = true,
): EpochPlan {
  if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`epochPlan: batch ${batch}`);
  const rng = new Rng(mixSeed(seed, EPOCH_STREAM, epoch));
  const order = shuffle([...train], rng);
  const flips = order.map(() => flip && rng.next() < 0.5);
  const b = Math.min(batch, order.length);
  const steps = b === 0 ? 0 : Math.floor(order.length / b);
  const batches = [];
  for (let s = 0; s < steps; s++) {
    batches.push({ indices: order.slice(s * b, (s + 1) * b), flips: flips.slice(s * b, (s + 1) * b) });
  }
  return { batches };
}

/** Images as float planes [N, 3, S, S] in [0, 1], mirrored where `flips[i]` (CPU side, can run ahead). */
export async function loadPlanes(
  ds: Dataset,
  indices: readonly number[],
  flips?: readonly boolean[],
): Promise<Float32Array> {
  const s = ds.size, hw = s * s;
  const out = new Float32Array(indices.length * 3 * hw);
  const imgs = await Promise.all(indices.map((i) => ds.readPlanes(i)));
  imgs.forEach((p, n) => {
    const base = n * 3 * hw;
    if (flips?.[n]) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < s; y++) {
          const row = c * hw + y * s;
          for (let x = 0; x < s; x++) out[base + row + x] = p[row + s - 1 - x] / 255;
        }
      }
    } else {
      for (let i = 0; i < 3 * hw; i++) out[base + i] = p[i] / 255;
    }
  });
  return out;
}

/** A batch on the GPU: the RGB images and the model's L/50−1 input and ab/110 target. */
export interface Batch {
  rgb: Tensor;
  L: Tensor;
  ab: Tensor;
}

/** Uploads planes from {@link loadPlanes} and converts them to model units on the GPU (caller disposes). */
export function toBatch(planes: Float32Array, size: number): Batch {
  const n = planes.length / (3 * size * size);
  const rgb = tensor(planes, [n, 3, size, size]);
  const { L, ab } = rgbToModel(rgb);
  return { rgb, L, ab };
}
