/**
 * Training data: a folder of photos, each downscaled once to a fixed shorter
 * side and cached in one binary file, split into train/val, and served as
 * shuffled batches of square crops resized to the training size, mirrored at
 * random, as model inputs (L, ab) on the GPU. Training photos get a fresh
 * random crop every epoch (`--crops random`) or the centre square every epoch
 * (`--crops fixed`); validation photos always get the centre square, so
 * validation numbers compare across epochs and runs.
 *
 * Everything random here is derived from (seed, epoch, photo) alone, never
 * from a generator that runs along with training, so `--resume` at any step of
 * any epoch replays exactly the batches an uninterrupted run would have seen.
 */

import { join } from "node:path";
import { Rng, shuffle } from "../engine/random.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import { type ColorSpace, rgbToModel } from "../engine/color.ts";
import {
  IMAGE_EXTENSIONS,
  isGrayscale,
  isImageName,
  readImage,
  resizeRgba,
  type RgbaImage,
} from "./image.ts";
import { listFiles } from "./fsutil.ts";
// The corpus builder drops grayscale photos by the same rule, so it is defined once, there.
import { GRAY_TOLERANCE } from "./corpus/filter.ts";

/**
 * Bumped when the cache layout or the preprocessing changes, so old caches are rebuilt.
 * 2: whole photos downscaled to {@link cacheSide} (interleaved RGB, sizes in the metadata), where 1
 * held the final centre crops.
 */
const CACHE_VERSION = 2;
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

// Distinct streams for the split, the epoch order and the crops, so changing one never shifts another.
const SPLIT_STREAM = 0x5917;
const EPOCH_STREAM = 0xe90c;
const CROP_STREAM = 0xc7a9;

/**
 * The smallest random crop's side, as a share of the photo's shorter side (the largest is the
 * whole shorter side). pix2pix's "random jitter" resizes to 286 and crops 256 at random, i.e.
 * crops of 89.5% of the side at a random place and a single scale; torchvision's
 * RandomResizedCrop draws the area share uniformly from 8–100% with aspect jitter. In between:
 * area shares uniform in 36–100% (sides 60–100%), square, no aspect jitter. Objects then appear
 * at most 1/0.6 ≈ 1.7× larger than in the whole photo, and a crop keeps enough of the scene for
 * the context colours depend on (sky or sea, leaf or lawn); aspect jitter would squash shapes
 * that colorize never sees squashed, since it keeps the photo's proportions.
 */
export const MIN_CROP = 0.6;

/**
 * The shorter side photos are cached at for training size `size`: size/{@link MIN_CROP} (1.67×),
 * so that even the smallest crop (60% of that side) still has `size` source pixels a side and is
 * only ever shrunk, never enlarged. A larger multiple (2×) would only add bytes; a smaller one
 * (1.5×) would blur the smallest crops. At --size 256 a 3:2 photo takes about 427×640×3 =
 * 0.8 MB (1,700 photos: 1.4 GB, read back through the OS page cache), where a 12-megapixel
 * original would take 36 MB. Photos smaller than this are cached as they are, never enlarged.
 */
export function cacheSide(size: number): number {
  return Math.ceil(size / MIN_CROP);
}

/** A square crop of a cached photo, in its pixels: the top-left corner and the side. */
export interface Crop {
  x: number;
  y: number;
  side: number;
}

/** How training photos are cropped each epoch (`--crops`). */
export type CropMode = "fixed" | "random";

/** The values of `--crops`. */
export const CROP_MODES: readonly CropMode[] = ["fixed", "random"];

/** The largest centred square of a width×height photo (the longer side cropped equally on both ends). */
export function centreCrop(width: number, height: number): Crop {
  const side = Math.min(width, height);
  return { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), side };
}

/**
 * A random square crop of a width×height photo, a pure function of (seed, epoch, photo): its
 * area a uniform share of 36–100% of the largest square's (sides {@link MIN_CROP}–100% of the
 * shorter side), at a uniformly random place inside the photo.
 */
export function randomCrop(width: number, height: number, seed: number, epoch: number, photo: number): Crop {
  const rng = new Rng(mixSeed(seed, CROP_STREAM, epoch, photo));
  const short = Math.min(width, height), minArea = MIN_CROP * MIN_CROP;
  const area = minArea + (1 - minArea) * rng.next();
  const side = Math.min(short, Math.max(1, Math.round(short * Math.sqrt(area))));
  return {
    x: Math.floor(rng.next() * (width - side + 1)),
    y: Math.floor(rng.next() * (height - side + 1)),
    side,
  };
}

/**
 * The crops of `photos` (indices, with their cached sizes `dims` in the same order) in epoch
 * `epoch`: random ones, or with `mode` "fixed" the centre square of each every epoch.
 */
export function trainingCrops(
  dims: readonly { width: number; height: number }[],
  photos: readonly number[],
  mode: CropMode,
  seed: number,
  epoch: number,
): Crop[] {
  return photos.map((p, n) => {
    const { width, height } = dims[n];
    return mode === "fixed" ? centreCrop(width, height) : randomCrop(width, height, seed, epoch, p);
  });
}

/**
 * Image files under `dir`, recursively, as paths relative to `dir`, sorted by
 * code unit (not locale) so the order is the same on every machine. Hidden
 * entries (names starting with ".", such as the `.cache` folder) are skipped;
 * symbolic links are followed.
 */
export function listImages(dir: string): Promise<string[]> {
  return listFiles(dir, {
    match: isImageName,
    skipHidden: true,
    followLinks: true,
    readError: (d, e) => new Error(`data: cannot read folder ${d}: ${(e as Error).message}`),
  });
}

/** A photo as cached: interleaved RGB bytes, width×height×3 (alpha is dropped). */
export interface CachedPhoto {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/**
 * A decoded photo as the cache keeps it for training size `size`: the whole photo, downscaled
 * so that its shorter side is {@link cacheSide}(size) (smaller photos as they are), or null when
 * it is grayscale. Alpha is ignored (the resize weights colours by it).
 */
export function cachePhoto(img: RgbaImage, size: number): CachedPhoto | null {
  const short = Math.min(img.width, img.height), target = cacheSide(size);
  const r = short > target
    ? resizeRgba(
      img,
      Math.max(target, Math.round((img.width * target) / short)),
      Math.max(target, Math.round((img.height * target) / short)),
    )
    : img;
  if (isGrayscale(r, GRAY_TOLERANCE)) return null;
  const n = r.width * r.height, rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = r.rgba[4 * i];
    rgb[3 * i + 1] = r.rgba[4 * i + 1];
    rgb[3 * i + 2] = r.rgba[4 * i + 2];
  }
  return { width: r.width, height: r.height, rgb };
}

/**
 * The square `crop` of a cached photo, resized to size×size with the resampling every resize
 * of the project uses (resizeRgba: area averaging when shrinking, bilinear when enlarging), as
 * planar RGB bytes [3, size, size].
 */
export function cropPlanes(photo: CachedPhoto, crop: Crop, size: number): Uint8Array {
  const { x, y, side } = crop;
  if (!(side >= 1 && x >= 0 && y >= 0 && x + side <= photo.width && y + side <= photo.height)) {
    throw new Error(`cropPlanes: crop ${JSON.stringify(crop)} outside ${photo.width}×${photo.height}`);
  }
  const sq = new Uint8Array(side * side * 4);
  for (let r = 0; r < side; r++) {
    let src = 3 * ((y + r) * photo.width + x), dst = 4 * r * side;
    for (let c = 0; c < side; c++, src += 3, dst += 4) {
      sq[dst] = photo.rgb[src];
      sq[dst + 1] = photo.rgb[src + 1];
      sq[dst + 2] = photo.rgb[src + 2];
      sq[dst + 3] = 255;
    }
  }
  const r = side === size ? sq : resizeRgba({ width: side, height: side, rgba: sq }, size, size).rgba;
  const hw = size * size;
  const planes = new Uint8Array(3 * hw);
  for (let i = 0; i < hw; i++) {
    planes[i] = r[4 * i];
    planes[hw + i] = r[4 * i + 1];
    planes[2 * hw + i] = r[4 * i + 2];
  }
  return planes;
}

/**
 * One photo as a validation image (and a training image with `--crops fixed`): the largest
 * centred square of the cached photo (cropping the longer side), resized to size×size, RGB
 * planar [3, size, size] bytes, or null when the photo is grayscale. The colorization tutorial
 * "Colorizing black & white images with U-Net and conditional GAN" stretches the whole photo to
 * 256×256 instead; cropping keeps proportions, so objects are not squashed into shapes the
 * network never sees at colorize time (where the aspect ratio is preserved).
 */
export function prepareImage(img: RgbaImage, size: number): Uint8Array | null {
  const photo = cachePhoto(img, size);
  return photo && cropPlanes(photo, centreCrop(photo.width, photo.height), size);
}

/** Metadata stored after the pixels in a cache file. */
interface CacheMeta {
  version: number;
  key: string;
  /** The training size; photos are cached at a shorter side of {@link cacheSide}(size). */
  size: number;
  /** Relative paths of the cached images, in cache order. */
  images: string[];
  /** [width, height] of each cached image, in cache order (its bytes follow the previous ones'). */
  dims: [number, number][];
  grayscale: string[];
  unreadable: { path: string; error: string }[];
}

/**
 * The cached photos of a data folder, backed by the cache file (read per
 * crop on demand, so a dataset larger than memory works; the OS page cache
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
  #dims: readonly [number, number][];
  /** Byte offset of each image in the file. */
  #offsets: number[];

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
    this.#dims = init.meta.dims;
    this.#offsets = imageOffsets(init.meta.dims);
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

  /** The size of cached image i (its shorter side is {@link cacheSide} of the training size, or less). */
  dims(i: number): { width: number; height: number } {
    this.#check(i);
    const [width, height] = this.#dims[i];
    return { width, height };
  }

  /**
   * The square `crop` of image i resized to the training size, as planar RGB bytes
   * [3, size, size]; by default the centre square (the validation image).
   */
  async readPlanes(i: number, crop?: Crop): Promise<Uint8Array> {
    this.#check(i);
    const [width, height] = this.#dims[i];
    const c = crop ?? centreCrop(width, height);
    if (!(c.y >= 0 && c.side >= 1 && c.y + c.side <= height)) {
      throw new Error(`Dataset: crop ${JSON.stringify(c)} outside image ${i} (${width}×${height})`);
    }
    // Only the rows the crop covers are read.
    const bytes = 3 * width * c.side, start = this.#offsets[i] + 3 * width * c.y;
    // Seek + read is not atomic: serialise readers (a prefetch may overlap the current batch).
    const run = this.#lock.then(async () => {
      const buf = new Uint8Array(bytes);
      await this.#file.seek(start, Deno.SeekMode.Start);
      let off = 0;
      while (off < bytes) {
        const n = await this.#file.read(buf.subarray(off));
        if (n === null) throw new Error(`data: cache file ${this.cachePath ?? "(temp)"} is truncated`);
        off += n;
      }
      return buf;
    });
    this.#lock = run.catch(() => {});
    const rows = await run;
    return cropPlanes({ width, height: c.side, rgb: rows }, { ...c, y: 0 }, this.size);
  }

  #check(i: number) {
    if (!(Number.isInteger(i) && i >= 0 && i < this.count)) {
      throw new Error(`Dataset: image ${i} out of range (0..${this.count - 1})`);
    }
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

/** Where each image's bytes start, from the sizes of the images before it. */
function imageOffsets(dims: readonly [number, number][]): number[] {
  const offsets: number[] = [];
  let o = HEADER_BYTES;
  for (const [w, h] of dims) {
    offsets.push(o);
    o += 3 * w * h;
  }
  offsets.push(o);
  return offsets;
}

async function fileKey(dataDir: string, files: string[], size: number): Promise<string> {
  const parts: unknown[] = [];
  for (const f of files) {
    const st = await Deno.stat(join(dataDir, f));
    parts.push([f, st.mtime?.getTime() ?? 0, st.size]);
  }
  // Everything the cached bytes depend on: the layout, the sizes, the grayscale rule, the files.
  const text = JSON.stringify({
    v: CACHE_VERSION,
    size,
    side: cacheSide(size),
    gray: GRAY_TOLERANCE,
    files: parts,
  });
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
    if (version !== CACHE_VERSION || sz !== size) throw 0;
    const st = await file.stat();
    if (st.size !== metaOff + metaLen) throw 0;
    await file.seek(metaOff, Deno.SeekMode.Start);
    const metaBytes = await readExactly(file, metaLen);
    if (!metaBytes) throw 0;
    const meta = JSON.parse(new TextDecoder().decode(metaBytes)) as CacheMeta;
    if (meta.key !== key || meta.images.length !== count || meta.dims?.length !== count) throw 0;
    if (imageOffsets(meta.dims)[count] !== metaOff) throw 0;
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
 * Lists, decodes, filters and downscales the photos of a folder, or reuses the
 * cache built by an earlier run for the same files (same paths, sizes and
 * modification times) and training size. Unreadable files and grayscale photos are
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
    throw new Error(`data: no ${IMAGE_EXTENSIONS.join("/")} photos under ${dataDir}`);
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
  const meta: CacheMeta = {
    version: CACHE_VERSION,
    key,
    size,
    images: [],
    dims: [],
    grayscale: [],
    unreadable: [],
  };
  const f = await Deno.open(tmp, { read: true, write: true, truncate: true, create: true });
  try {
    await writeAll(f, new Uint8Array(HEADER_BYTES));
    for (let i = 0; i < files.length; i++) {
      const rel = files[i];
      let photo: CachedPhoto | null;
      const full = join(dataDir, rel);
      try {
        photo = cachePhoto(await readImage(full), size);
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
      if (photo) {
        await writeAll(f, photo.rgb);
        meta.images.push(rel);
        meta.dims.push([photo.width, photo.height]);
      } else meta.grayscale.push(rel);
      opts.onProgress?.(i + 1, files.length);
    }
    const metaBytes = new TextEncoder().encode(JSON.stringify(meta));
    const metaOff = imageOffsets(meta.dims)[meta.images.length];
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

/**
 * Images as float planes [N, 3, S, S] in [0, 1]: the square `crops[n]` of image `indices[n]`
 * (by default its centre square, the validation image) resized to the training size, mirrored
 * where `flips[n]`. CPU work that can run ahead of the GPU (the trainer loads the next batch
 * while the GPU runs a step).
 */
export async function loadPlanes(
  ds: Dataset,
  indices: readonly number[],
  flips?: readonly boolean[],
  crops?: readonly Crop[],
): Promise<Float32Array> {
  const s = ds.size, hw = s * s;
  const out = new Float32Array(indices.length * 3 * hw);
  const imgs = await Promise.all(indices.map((i, n) => ds.readPlanes(i, crops?.[n])));
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

/**
 * A batch on the GPU: the RGB images and, in the model units of its colour space, the generator's
 * luma input and chroma target (Lab: L/50−1 and ab/110; YUV: 2Y−1 and UV over their ranges).
 */
export interface Batch {
  rgb: Tensor;
  L: Tensor;
  ab: Tensor;
}

/**
 * Uploads planes from {@link loadPlanes} and converts them to the model units of `space` (the
 * generator's: models/generators.ts `colorSpaceOf`) on the GPU (caller disposes).
 */
export function toBatch(planes: Float32Array, size: number, space: ColorSpace = "lab"): Batch {
  const n = planes.length / (3 * size * size);
  const rgb = tensor(planes, [n, 3, size, size]);
  const { L, ab } = rgbToModel(rgb, space);
  return { rgb, L, ab };
}
