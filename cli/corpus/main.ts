/**
 * `deno task data <debian|coco> [options]`: builds a training corpus for the
 * colorization model.
 *
 * `debian` works on machines whose only outside access is a Debian mirror: it
 * downloads packages that ship colour photographs (`apt-get download`, no root
 * needed), unpacks them (`dpkg-deb -x`), reads the photos (files, or entries of
 * GCompris's Qt resource archives), drops grayscale images, flat-colour
 * drawings and near-duplicates, splits the distinct photos into train and
 * validation (crops of one photo never cross the split), and writes random
 * square crops plus the photo cut-outs of tuxpaint composited on photographic
 * backgrounds. Every written image has a line in manifest.jsonl naming its
 * package, the file it came from and the license the package's copyright file
 * gives for it.
 *
 * `coco` is the path for machines with internet: it downloads the COCO sample
 * archive that the fastai library uses, picks `--count` images with a seeded
 * shuffle and splits them 80/20 into train/ and val/.
 *
 * Exit status: 0 done, 1 failed (download, extraction, no photos), 2 usage error.
 */

import { parseArgs } from "node:util";
import { basename, join, relative, resolve } from "node:path";
// libwebp compiled to WebAssembly (no native binary, works wherever Deno runs). Pinned inline until the
// lead adds "@jsquash/webp": "npm:@jsquash/webp@1.5.0" to deno.json's import map.
import decodeWebpBytes from "@jsquash/webp/decode.js";
import { Rng } from "../../engine/random.ts";
import { decodeImage, isGrayscale, resizeRgba, type RgbaImage, writeImage } from "../image.ts";
import { ProgressBar } from "../progress.ts";
import { atomicWriteText, exists } from "../fsutil.ts";
import { extractRcc, parseRcc } from "./rcc.ts";

/** Where `coco` downloads from by default: the address the fastai library uses. */
export const COCO_URL = "https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz";

const HELP = `Build a training corpus of colour photos.

Usage:
  deno task data debian [options]   photos that Debian packages ship (needs apt-get, dpkg-deb)
  deno task data coco [options]     the COCO sample that fastai uses (needs internet)

Options of debian:
  --out DIR        output folder (default data/debian): train/, val/, manifest.jsonl, summary.json
  --work DIR       downloaded and unpacked packages, reused by later runs (default data/.work)
  --size N         side of the square crops in pixels (default 256)
  --crops N        crops of a photo whose short side is at least 4×size; smaller photos
                   get proportionally fewer, at least 1 (default 8)
  --composites N   composites of each tuxpaint cut-out on photo backgrounds (default 2)
  --val F          share of the distinct photos of each package kept for validation (default 0.15)
  --seed N         seed of the split, the crops and the composites (default 1)

Options of coco:
  --url URL        archive address (default ${COCO_URL})
  --out DIR        output folder (default data/coco): train/, val/, manifest.jsonl
  --work DIR       where the archive is downloaded, reused by later runs (default data/.work)
  --count N        images picked (default 10000); 80% train, 20% val
  --seed N         seed of the pick (default 1)

Both write only train/, val/, manifest.jsonl and summary.json under --out, and
refuse an --out folder that holds other files. Train with --data OUT/train.
`;

/** A mistake in the command line; printed with the usage hint, exit status 2. */
export class UsageError extends Error {}

/** Messages of the commands; injectable so tests stay quiet. */
export interface Log {
  info(line: string): void;
}

const consoleLog: Log = { info: (l) => console.error(l) };

// ---------------------------------------------------------------------------
// Sources: which packages ship photos, and where. Decided by looking at every
// candidate image (contact sheets); the reasons are in data/README.md.

/** One package and the files of it that hold photographs. */
export interface Source {
  /** Debian binary package name. */
  pkg: string;
  /** "photo": a full photograph; "cutout": an object with a transparent background (composited). */
  kind: "photo" | "cutout";
  /**
   * Matched against the path inside the package (no leading slash), or for
   * files inside .rcc archives against "<rcc path>:<entry path>".
   */
  include: RegExp;
  exclude?: RegExp;
  /** Look inside the package's .rcc files instead of at plain files. */
  rcc?: boolean;
  /** Where the copyright file is silent about a file's own license, what upstream documents. */
  note?: (path: string) => string | undefined;
  /** Key under which sizes of one picture are grouped (the largest is kept); default {@link groupKey}. */
  group?: (path: string) => string;
}

const SKIMAGE_NOTES: Record<string, string> = {
  "astronaut.png": "NASA, public domain (skimage.data.astronaut docstring)",
  "chelsea.png": "CC0 by the photographer, Stefan van der Walt (skimage.data.chelsea docstring)",
  "coffee.png": "CC0 by the photographer, Rachel Michetti (skimage.data.coffee docstring)",
  "rocket.jpg": "SpaceX, public domain (skimage.data.rocket docstring)",
};

/** The packages and paths the `debian` command reads; see data/README.md for what each holds. */
export const DEBIAN_SOURCES: Source[] = [
  {
    pkg: "lomiri-wallpapers-16.04",
    kind: "photo",
    include: /^usr\/share\/backgrounds\/[^/]+\.jpg$/,
    // Abstract art, not photographs.
    exclude: /(analogpattern|umang)_by_/,
  },
  {
    pkg: "lomiri-wallpapers-20.04",
    kind: "photo",
    // The other three are digital art.
    include: /^usr\/share\/backgrounds\/Kleiber_by_Lukas_Baubkus\.jpg$/,
  },
  { pkg: "mate-backgrounds", kind: "photo", include: /^usr\/share\/backgrounds\/mate\/nature\/[^/]+\.jpg$/ },
  {
    pkg: "plasma-workspace-wallpapers",
    kind: "photo",
    // The rest of the 30 wallpapers are illustrations and renders.
    include:
      /^usr\/share\/wallpapers\/(BytheWater|ColdRipple|ColorfulCups|DarkestHour|EveningGlow|FallenLeaf|Kite|OneStandsOut|Path|summer_1am)\/contents\/images\/[^/]+\.(jpg|png)$/,
    group: (p) => p.split("/")[3],
  },
  { pkg: "tuxpaint-data", kind: "photo", include: /^usr\/share\/tuxpaint\/templates\/[^/]+\.jpg$/ },
  { pkg: "palapeli-data", kind: "photo", include: /^usr\/share\/palapeli\/collection\/[^/]+\.jpg$/ },
  {
    pkg: "python3-skimage",
    kind: "photo",
    // The stereo motorcycle has no license statement upstream; the rest are CC0 or public domain.
    include: /\/skimage\/data\/(astronaut\.png|chelsea\.png|coffee\.png|rocket\.jpg)$/,
    note: (p) => SKIMAGE_NOTES[basename(p)],
  },
  {
    pkg: "gcompris-qt-data",
    kind: "photo",
    rcc: true,
    // Photo folders; the language, painting, puzzle-detail, planet and fish-sprite images are drawings,
    // paintings or pieces of other pictures.
    include:
      /:gcompris\/src\/activities\/(categorization\/resource\/images\/[^/]+|explore_monuments\/resource\/[^/]+|explore_farm_animals\/resource\/animals|explore_world_animals\/resource\/animals|explore_world_music\/resource\/music|erase\/resource|clickgame\/resource\/sea\d)[^:]*\.(webp|jpe?g|png)$/,
  },
  {
    pkg: "tuxpaint-stamps-default",
    kind: "cutout",
    include: /^usr\/share\/tuxpaint\/stamps\/.+\.png$/,
    // Mostly drawings, symbols or pictures on black (planets).
    exclude: /\/(cartoon|symbols|seasonal|clothes|town|space|naturalforces)\//,
    // A mirrored copy of a stamp is the same picture.
    group: (p) => groupKey(p.replace(/_mirror(?=\.png$)/, "")),
  },
];

/**
 * Groups the sizes of one picture: the folder plus the file name without its
 * extension and a trailing size such as "_3840x2160" (mate-backgrounds ships
 * "Elephants.jpg", "Elephants_3840x2160.jpg", ...).
 */
export function groupKey(path: string): string {
  return path.replace(/(_\d+x\d+)?\.[^./]+$/, "");
}

// ---------------------------------------------------------------------------
// Licenses from Debian copyright files (machine-readable format, DEP-5).

/** One "Files:" paragraph of a DEP-5 copyright file. */
export interface CopyrightStanza {
  files: string[];
  license: string;
}

/** Reads the Files/License paragraphs of a DEP-5 copyright file (others are ignored). */
export function parseCopyright(text: string): CopyrightStanza[] {
  const out: CopyrightStanza[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let key = "";
    for (const line of para.split("\n")) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) {
        key = m[1].toLowerCase();
        fields.set(key, m[2]);
      } else if (/^\s/.test(line) && key) {
        // Continuation lines; only Files continues over several lines in practice.
        if (key === "files") fields.set(key, `${fields.get(key)} ${line.trim()}`);
      }
    }
    const files = fields.get("files"), license = fields.get("license");
    if (files !== undefined && license) {
      out.push({ files: files.split(/\s+/).filter((f) => f), license: license.trim() });
    }
  }
  return out;
}

function globRegex(pattern: string, anyExtension: boolean): RegExp {
  let p = pattern.replace(/^\.?\//, "");
  let tail = "";
  // Packaging sometimes converts formats (GCompris ships sea1.jpg as sea1.webp): match the stem.
  const ext = /\.[A-Za-z0-9]+$/.exec(p);
  if (anyExtension && ext) {
    p = p.slice(0, -ext[0].length);
    tail = "\\.[^/.]+";
  }
  const body = p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}${tail}$`);
}

/**
 * The license the copyright file gives for a file. Patterns name paths in the
 * source tree, which differ from installed paths, so a pattern matches when it
 * matches a trailing part of the path (whole components); as DEP-5 says, the
 * last matching paragraph wins. Failing that, an explicit file name matches
 * with any extension (packaging converts formats: GCompris lists sea1.jpg and
 * ships sea1.webp), first with its folders, then by name alone; then "Files: *".
 */
export function licenseFor(stanzas: CopyrightStanza[], path: string): string {
  const parts = path.split("/");
  const suffixes = parts.map((_, i) => parts.slice(i).join("/"));
  const find = (test: (f: string) => boolean) => {
    let found: string | null = null;
    for (const s of stanzas) if (s.files.some(test)) found = s.license;
    return found;
  };
  // Explicit names also match with another extension; a wildcard pattern only claims its own
  // ("images/*.png" must not claim a .webp).
  const direct = find((f) =>
    f !== "*" &&
    suffixes.some((s) =>
      globRegex(f, false).test(s) || (!/[*?]/.test(f.split("/").pop()!) && globRegex(f, true).test(s))
    )
  );
  if (direct) return direct;
  const byName = find((f) => {
    const last = f.split("/").pop()!;
    return !/[*?]/.test(last) && globRegex(last, true).test(parts[parts.length - 1]);
  });
  return byName ?? find((f) => f === "*") ?? "unknown (see the package's copyright file)";
}

// ---------------------------------------------------------------------------
// Pixels: decoding, filters, duplicates, crops and composites.

/** Decodes JPEG, PNG or WebP (WebP with libwebp compiled to WebAssembly, from npm). */
export async function decodeAny(bytes: Uint8Array, name: string): Promise<RgbaImage> {
  const riff = bytes.length > 12 && String.fromCharCode(...bytes.subarray(0, 4)) === "RIFF" &&
    String.fromCharCode(...bytes.subarray(8, 12)) === "WEBP";
  if (!riff) return decodeImage(bytes, name);
  let d: ImageData;
  try {
    d = await decodeWebpBytes(bytes.slice().buffer);
  } catch (e) {
    throw new Error(`${name}: corrupt WebP (${(e as Error).message ?? e})`);
  }
  return {
    width: d.width,
    height: d.height,
    rgba: new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.length),
  };
}

/**
 * Share of the picture in its 16 most frequent exact colours, counting only
 * pixels that are opaque and neither near-white nor near-black (backgrounds of
 * product shots and cut-outs), on a copy at most 1024 pixels wide.
 * Flat-colour drawings put most pixels in a few colours; photographs spread
 * them over thousands (noise, shading). `foreground` is the share of counted pixels.
 */
export function colourStats(img: RgbaImage): { top16: number; foreground: number } {
  const s = Math.min(1, 1024 / Math.max(img.width, img.height));
  const im = s < 1
    ? resizeRgba(img, Math.max(1, Math.round(img.width * s)), Math.max(1, Math.round(img.height * s)))
    : img;
  const p = im.rgba;
  const hist = new Map<number, number>();
  let n = 0;
  for (let i = 0; i < p.length; i += 4) {
    const r = p[i], g = p[i + 1], b = p[i + 2];
    if (p[i + 3] < 128 || (r > 245 && g > 245 && b > 245) || (r < 10 && g < 10 && b < 10)) continue;
    n++;
    const k = (r << 16) | (g << 8) | b;
    hist.set(k, (hist.get(k) ?? 0) + 1);
  }
  const top = [...hist.values()].sort((a, b) => b - a).slice(0, 16).reduce((a, b) => a + b, 0);
  return { top16: n ? top / n : 1, foreground: n / (im.width * im.height) };
}

/**
 * Above this {@link colourStats} top16 an image counts as a flat-colour
 * drawing. Tuned on labelled contact sheets of the candidates: at 0.4 it
 * drops 13 of 73 wallpaper illustrations and 87 of 227 tuxpaint cartoon
 * stamps while losing 8 of 263 GCompris photos and 1 of 36 wallpaper photos
 * (product shots on flat grey, a misty grey pier). Smooth gradient art
 * defeats it, which is why the sources are chosen by folder too.
 */
export const DRAWING_TOP16 = 0.4;

/** Largest per-channel spread under which a photo counts as grayscale (as cli/data.ts uses). */
export const GRAY_TOLERANCE = 8;

/** Why an image is not used as a colour photo, or null when it is. */
export function rejectReason(img: RgbaImage, minSide: number, kind: "photo" | "cutout"): string | null {
  if (kind === "photo" && Math.min(img.width, img.height) < minSide) {
    return `too small (${img.width}×${img.height})`;
  }
  if (isGrayscale(img, GRAY_TOLERANCE)) return "grayscale";
  const { top16, foreground } = colourStats(img);
  if (foreground < 0.02) return "almost no coloured pixels";
  if (top16 > DRAWING_TOP16) return `flat colours, looks like a drawing (top16 ${top16.toFixed(2)})`;
  return null;
}

/** Side of the luminance thumbnail used to find duplicates. */
const THUMB = 16;

/**
 * A 16×16 luminance thumbnail (transparent pixels as mid-grey), normalised to
 * zero mean and unit variance so a re-encoded or re-exposed copy of a picture
 * lands close to the original.
 */
export function thumbnail(img: RgbaImage): Float32Array {
  const t = resizeRgba(img, THUMB, THUMB).rgba;
  const v = new Float32Array(THUMB * THUMB);
  for (let i = 0; i < v.length; i++) {
    const a = t[4 * i + 3] / 255;
    const y = 0.299 * t[4 * i] + 0.587 * t[4 * i + 1] + 0.114 * t[4 * i + 2];
    v[i] = a * y + (1 - a) * 128;
  }
  let mean = 0;
  for (const x of v) mean += x;
  mean /= v.length;
  let sd = 0;
  for (const x of v) sd += (x - mean) ** 2;
  sd = Math.sqrt(sd / v.length) || 1;
  for (let i = 0; i < v.length; i++) v[i] = (v[i] - mean) / sd;
  return v;
}

/** Mean absolute difference of two thumbnails, in standard deviations. */
export function thumbDistance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d / a.length;
}

/**
 * Below this {@link thumbDistance} (and with aspect ratios within 10%) two
 * images count as one picture. Same pictures in different packages or sizes
 * measured 0.01–0.1; different photos of one monument 0.4 and more.
 */
export const DUPLICATE_DISTANCE = 0.2;

/** A square region of an image. */
export interface Rect {
  x: number;
  y: number;
  side: number;
}

/**
 * How many crops a photo gets: `crops` when its short side is at least four
 * times the output size, proportionally fewer for smaller photos (their crops
 * would mostly overlap), at least 1.
 */
export function cropCount(width: number, height: number, size: number, crops: number): number {
  return Math.max(1, Math.min(crops, Math.round((crops * Math.min(width, height)) / (4 * size))));
}

/**
 * `n` random square crops: sides uniform between max(size, 40% of the short
 * side) and the short side (clamped to the short side for small photos), so
 * crops show both whole scenes and details; positions uniform.
 */
export function randomCrops(width: number, height: number, size: number, n: number, rng: Rng): Rect[] {
  const short = Math.min(width, height);
  const lo = Math.min(short, Math.max(size, Math.round(0.4 * short)));
  const out: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const side = lo + Math.floor(rng.next() * (short - lo + 1));
    const x = Math.floor(rng.next() * (width - side + 1));
    const y = Math.floor(rng.next() * (height - side + 1));
    out.push({ x, y, side });
  }
  return out;
}

/** Copies a rectangle out of an image. */
export function cropRgba(img: RgbaImage, x: number, y: number, w: number, h: number): RgbaImage {
  if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > img.width || y + h > img.height) {
    throw new Error(`cropRgba: rectangle ${x},${y} ${w}×${h} outside ${img.width}×${img.height}`);
  }
  const rgba = new Uint8Array(w * h * 4);
  for (let r = 0; r < h; r++) {
    const from = 4 * ((y + r) * img.width + x);
    rgba.set(img.rgba.subarray(from, from + 4 * w), 4 * r * w);
  }
  return { width: w, height: h, rgba };
}

/** The crop resized to size×size, opaque. */
export function cropSquare(img: RgbaImage, r: Rect, size: number): RgbaImage {
  return resizeRgba(cropRgba(img, r.x, r.y, r.side, r.side), size, size);
}

/** The bounding box of pixels with alpha ≥ 16, or null when the image is transparent. */
export function alphaBox(img: RgbaImage): { x: number; y: number; w: number; h: number } | null {
  let x0 = img.width, y0 = img.height, x1 = -1, y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.rgba[4 * (y * img.width + x) + 3] >= 16) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/**
 * Pastes a cut-out (trimmed to its opaque part) onto a copy of an opaque
 * background: its longer side becomes 50–90% of the background's, mirrored
 * half of the time, at a random position where it fits. Returns the
 * composite and where the cut-out went.
 */
export function compositeCutout(
  bg: RgbaImage,
  cutout: RgbaImage,
  rng: Rng,
): { image: RgbaImage; placed: { x: number; y: number; w: number; h: number; mirrored: boolean } } {
  const box = alphaBox(cutout);
  if (!box) throw new Error("compositeCutout: the cut-out is fully transparent");
  const trimmed = cropRgba(cutout, box.x, box.y, box.w, box.h);
  const side = Math.min(bg.width, bg.height) * (0.5 + 0.4 * rng.next());
  const scale = side / Math.max(box.w, box.h);
  const w = Math.max(1, Math.min(bg.width, Math.round(box.w * scale)));
  const h = Math.max(1, Math.min(bg.height, Math.round(box.h * scale)));
  const st = resizeRgba(trimmed, w, h);
  const mirrored = rng.next() < 0.5;
  const x0 = Math.floor(rng.next() * (bg.width - w + 1));
  const y0 = Math.floor(rng.next() * (bg.height - h + 1));
  const out = bg.rgba.slice();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = mirrored ? w - 1 - x : x;
      const s = 4 * (y * w + sx), d = 4 * ((y0 + y) * bg.width + x0 + x);
      const a = st.rgba[s + 3] / 255;
      for (let c = 0; c < 3; c++) out[d + c] = Math.round(st.rgba[s + c] * a + out[d + c] * (1 - a));
      out[d + 3] = 255;
    }
  }
  return {
    image: { width: bg.width, height: bg.height, rgba: out },
    placed: { x: x0, y: y0, w, h, mirrored },
  };
}

/** Fisher–Yates shuffle with a seeded generator (in place). */
export function seededShuffle<T>(xs: T[], rng: Rng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/**
 * Chooses the validation pictures: within each group (package), a seeded
 * shuffle of the ids in sorted order and the first round(n·valFraction) of
 * them (at least one when the group has two or more), so every package is
 * represented on both sides and the choice does not depend on listing order.
 */
export function splitByGroup(
  items: { id: string; group: string }[],
  valFraction: number,
  seed: number,
): Set<string> {
  const groups = new Map<string, string[]>();
  for (const it of items) groups.set(it.group, [...(groups.get(it.group) ?? []), it.id]);
  const val = new Set<string>();
  for (const [g, ids] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let n = Math.round(ids.length * valFraction);
    if (valFraction > 0 && ids.length >= 2) n = Math.max(1, n);
    const rng = new Rng(hashString(`${seed}:${g}`));
    for (const id of seededShuffle(ids, rng).slice(0, n)) val.add(id);
  }
  return val;
}

/** FNV-1a of a string, to derive per-item seeds that do not depend on processing order. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// ---------------------------------------------------------------------------
// Packages: download and unpack.

async function run(
  cmd: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; out: string; err: string }> {
  let p: Deno.CommandOutput;
  try {
    p = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${cmd} not found: the debian command needs Debian's apt-get and dpkg-deb`);
    }
    throw e;
  }
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** A downloaded package: its .deb file and version. */
export interface DebFile {
  pkg: string;
  version: string;
  path: string;
}

/** The .deb of `pkg` in `dir` (apt-get download names it pkg_version_arch.deb, ":" as "%3a"), or null. */
export async function findDeb(dir: string, pkg: string): Promise<DebFile | null> {
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^(.+?)_(.+)_([^_]+)\.deb$/.exec(e.name);
      if (e.isFile && m && m[1] === pkg) {
        return { pkg, version: decodeURIComponent(m[2]), path: join(dir, e.name) };
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return null;
}

/**
 * Downloads the packages that are not in `dir` yet with `apt-get download`
 * (as an ordinary user: it only writes into the current folder). A missing
 * package list is the usual cause of failure on a fresh machine, so that case
 * gets its own message.
 */
export async function downloadDebs(pkgs: string[], dir: string, log: Log): Promise<DebFile[]> {
  await Deno.mkdir(dir, { recursive: true });
  const out: DebFile[] = [];
  const bar = new ProgressBar({ total: pkgs.length, label: "download", unit: "pkg" });
  for (const pkg of pkgs) {
    let deb = await findDeb(dir, pkg);
    if (!deb) {
      const r = await run("apt-get", ["download", pkg], dir);
      deb = await findDeb(dir, pkg);
      if (r.code !== 0 || !deb) {
        const msg = (r.err || r.out).trim().split("\n").filter((l) => !/^W:/.test(l)).join(" ");
        if (/Unable to locate package|has no installation candidate|no candidate|not available/i.test(msg)) {
          throw new Error(
            `apt-get cannot find package ${pkg} (${msg}). Run "sudo apt-get update" once so apt knows ` +
              `the packages of your Debian release, then try again.`,
          );
        }
        throw new Error(`apt-get download ${pkg} failed: ${msg || `exit code ${r.code}`}`);
      }
    }
    out.push(deb);
    bar.tick(1, { pkg });
  }
  bar.done();
  log.info(`packages: ${out.map((d) => `${d.pkg} ${d.version}`).join(", ")}`);
  return out;
}

/** Unpacks a .deb with dpkg-deb -x into `dir` unless a previous run finished it (marker file). */
export async function unpackDeb(deb: DebFile, dir: string): Promise<void> {
  const marker = join(dir, ".unpacked");
  if ((await exists(marker)) && (await Deno.readTextFile(marker)) === deb.version) return;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const r = await run("dpkg-deb", ["-x", deb.path, dir]);
  if (r.code !== 0) throw new Error(`dpkg-deb -x ${deb.path} failed: ${r.err.trim()}`);
  await Deno.writeTextFile(marker, deb.version);
}

/** Files under `root`, recursively, as sorted paths relative to it (links are not followed). */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) out.push(relative(root, p));
    }
  };
  await walk(root);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---------------------------------------------------------------------------
// The debian command.

/** A picture found in a package. */
interface Candidate {
  source: Source;
  version: string;
  /** Path in the package, or "<rcc>:<entry>". */
  path: string;
  license: string;
  note?: string;
  load: () => Promise<Uint8Array>;
}

/** Lists the candidate pictures of one unpacked package, keeping the largest file of each group. */
export async function collectCandidates(source: Source, root: string, version: string): Promise<Candidate[]> {
  const files = await listFiles(root);
  let stanzas: CopyrightStanza[] = [];
  try {
    stanzas = parseCopyright(await Deno.readTextFile(join(root, "usr/share/doc", source.pkg, "copyright")));
  } catch {
    // No machine-readable copyright file: licenses read "unknown", pointing at the package.
  }
  const found: { path: string; size: number; load: () => Promise<Uint8Array> }[] = [];
  if (source.rcc) {
    for (const f of files.filter((f) => f.endsWith(".rcc"))) {
      const archive = parseRcc(await Deno.readFile(join(root, f)), f);
      for (const e of archive.entries) {
        const path = `${f}:${e.path}`;
        if (!source.include.test(path) || source.exclude?.test(path)) continue;
        found.push({ path, size: e.storedSize, load: () => extractRcc(archive, e) });
      }
    }
  } else {
    for (const f of files) {
      if (!source.include.test(f) || source.exclude?.test(f)) continue;
      const size = (await Deno.stat(join(root, f))).size;
      found.push({ path: f, size, load: () => Deno.readFile(join(root, f)) });
    }
  }
  // Several sizes of one picture: the largest file is the largest picture.
  const best = new Map<string, (typeof found)[number]>();
  const key = source.group ?? groupKey;
  for (const c of found) {
    const k = key(c.path);
    const b = best.get(k);
    if (!b || c.size > b.size) best.set(k, c);
  }
  return [...best.values()].map((c) => {
    const inner = c.path.includes(":") ? c.path.split(":")[1] : c.path;
    return {
      source,
      version,
      path: c.path,
      license: licenseFor(stanzas, inner),
      note: source.note?.(c.path),
      load: c.load,
    };
  });
}

/** Options of {@link buildDebianDataset}. */
export interface DebianOptions {
  out: string;
  work: string;
  size: number;
  crops: number;
  composites: number;
  valFraction: number;
  seed: number;
  sources?: Source[];
  /** Unpacked package roots by name, instead of downloading (tests). */
  unpacked?: Map<string, { root: string; version: string }>;
  log?: Log;
}

/** One line of manifest.jsonl. */
export interface ManifestEntry {
  file: string;
  split: "train" | "val";
  package: string;
  version: string;
  source: string;
  license: string;
  note?: string;
  /** Square region of the source picture (pixels), for crops. */
  crop?: Rect;
  /** For composites: the background crop this cut-out was pasted on. */
  background?: string;
  placed?: { x: number; y: number; w: number; h: number; mirrored: boolean };
}

/** Counts reported at the end and written to summary.json. */
export interface DebianSummary {
  packages: Record<
    string,
    {
      version: string;
      candidates: number;
      used: number;
      skipped: Record<string, number>;
      train: number;
      val: number;
    }
  >;
  photos: { train: number; val: number };
  cutouts: { train: number; val: number };
  images: { train: number; val: number; crops: number; composites: number };
  duplicates: { kept: string; dropped: string; distance: number }[];
  size: number;
  seed: number;
}

/** Makes sure `out` is ours to rewrite: empty, absent, or holding a previous run's manifest. */
async function prepareOut(out: string): Promise<void> {
  const ours = new Set(["train", "val", "manifest.jsonl", "summary.json", ".staging"]);
  try {
    const names = (await Array.fromAsync(Deno.readDir(out))).map((e) => e.name);
    const foreign = names.filter((n) => !ours.has(n));
    if (foreign.length > 0) {
      throw new UsageError(
        `--out ${out} holds other files (${foreign.slice(0, 3).join(", ")}${
          foreign.length > 3 ? ", ..." : ""
        }); ` +
          `choose an empty or new folder`,
      );
    }
    for (const n of names) await Deno.remove(join(out, n), { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(out, { recursive: true });
}

function safeName(s: string): string {
  return s.replace(/\.[^./]+$/, "").replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(-80);
}

/** What pass 1 keeps of a usable picture (the pixels only as crops on disk and a background). */
interface Kept {
  id: string;
  /** File-name stem of its outputs. */
  stem: string;
  cand: Candidate;
  width: number;
  height: number;
  thumb: Float32Array;
  /** Crops written to the staging folder (photos). */
  staged: { name: string; crop: Rect }[];
  /** First crop, kept in memory as a composite background (photos). */
  background?: RgbaImage;
  /** The decoded cut-out (cut-outs are small). */
  cutout?: RgbaImage;
}

/**
 * Builds the Debian corpus: download, unpack, collect, filter, deduplicate,
 * split, crop, composite, manifest. Each picture is decoded once; its crops
 * go to a staging folder and are moved into train/ or val/ once the split is
 * known.
 */
export async function buildDebianDataset(opts: DebianOptions): Promise<DebianSummary> {
  const log = opts.log ?? consoleLog;
  const sources = opts.sources ?? DEBIAN_SOURCES;
  const { size, seed } = opts;
  await prepareOut(opts.out);
  const staging = join(opts.out, ".staging");
  await Deno.mkdir(staging, { recursive: true });

  // Download and unpack.
  const unpacked = opts.unpacked ?? new Map<string, { root: string; version: string }>();
  if (!opts.unpacked) {
    const debs = await downloadDebs(sources.map((s) => s.pkg), join(opts.work, "debs"), log);
    for (const d of debs) {
      const root = join(opts.work, "unpacked", d.pkg);
      await unpackDeb(d, root);
      unpacked.set(d.pkg, { root, version: d.version });
    }
  }

  // Collect.
  const summary: DebianSummary = {
    packages: {},
    photos: { train: 0, val: 0 },
    cutouts: { train: 0, val: 0 },
    images: { train: 0, val: 0, crops: 0, composites: 0 },
    duplicates: [],
    size,
    seed,
  };
  const candidates: Candidate[] = [];
  for (const s of sources) {
    const u = unpacked.get(s.pkg);
    if (!u) throw new Error(`package ${s.pkg} was not unpacked`);
    const c = await collectCandidates(s, u.root, u.version);
    summary.packages[s.pkg] = {
      version: u.version,
      candidates: c.length,
      used: 0,
      skipped: {},
      train: 0,
      val: 0,
    };
    candidates.push(...c);
  }
  log.info(`${candidates.length} candidate pictures in ${sources.length} packages`);

  // Pass 1: decode, filter, crop into staging.
  const kept: Kept[] = [];
  const skip = (pkg: string, why: string) => {
    const k = why.replace(/ \(.*$/, "");
    summary.packages[pkg].skipped[k] = (summary.packages[pkg].skipped[k] ?? 0) + 1;
  };
  const bar = new ProgressBar({ total: candidates.length, label: "photos", unit: "img" });
  const usedNames = new Set<string>();
  for (const cand of candidates) {
    const pkg = cand.source.pkg;
    const id = `${pkg}:${cand.path}`;
    let img: RgbaImage;
    try {
      img = await decodeAny(await cand.load(), id);
    } catch (e) {
      skip(pkg, "unreadable");
      bar.log(`skipped ${id}: ${(e as Error).message}`);
      bar.tick();
      continue;
    }
    const why = rejectReason(img, Math.round(0.75 * size), cand.source.kind);
    if (why) {
      skip(pkg, why);
      bar.tick();
      continue;
    }
    let stem = `${safeName(cand.path.split(/[/:]/).slice(-2).join("_"))}`;
    while (usedNames.has(`${pkg}/${stem}`)) stem += "_";
    usedNames.add(`${pkg}/${stem}`);
    const k: Kept = {
      id,
      stem,
      cand,
      width: img.width,
      height: img.height,
      thumb: thumbnail(img),
      staged: [],
    };
    if (cand.source.kind === "photo") {
      const rng = new Rng(hashString(`${seed}:crop:${id}`));
      const rects = randomCrops(
        img.width,
        img.height,
        size,
        cropCount(img.width, img.height, size, opts.crops),
        rng,
      );
      for (let i = 0; i < rects.length; i++) {
        const crop = cropSquare(img, rects[i], size);
        const name = `${pkg}/${stem}_${i}.jpg`;
        await Deno.mkdir(join(staging, pkg), { recursive: true });
        await writeImage(join(staging, name), crop);
        k.staged.push({ name, crop: rects[i] });
        if (i === 0) k.background = crop;
      }
    } else {
      k.cutout = img;
    }
    kept.push(k);
    bar.tick();
  }
  bar.done();

  // Duplicates: the same picture in two packages or folders. Keep the larger.
  const order = [...kept].sort((a, b) => b.width * b.height - a.width * a.height);
  const dropped = new Set<string>();
  for (let i = 0; i < order.length; i++) {
    if (dropped.has(order[i].id)) continue;
    for (let j = i + 1; j < order.length; j++) {
      const a = order[i], b = order[j];
      if (dropped.has(b.id) || a.cand.source.kind !== b.cand.source.kind) continue;
      const ra = a.width / a.height, rb = b.width / b.height;
      if (Math.abs(ra - rb) / Math.max(ra, rb) > 0.1) continue;
      const d = thumbDistance(a.thumb, b.thumb);
      if (d < DUPLICATE_DISTANCE) {
        dropped.add(b.id);
        summary.duplicates.push({ kept: a.id, dropped: b.id, distance: Number(d.toFixed(3)) });
        skip(b.cand.source.pkg, "duplicate");
      }
    }
  }
  const final = kept.filter((k) => !dropped.has(k.id));

  // Split by picture, per package.
  const val = splitByGroup(
    final.map((k) => ({ id: k.id, group: k.cand.source.pkg })),
    opts.valFraction,
    seed,
  );
  const manifest: ManifestEntry[] = [];
  for (const k of final) {
    const split = val.has(k.id) ? "val" : "train";
    const ps = summary.packages[k.cand.source.pkg];
    ps.used++;
    ps[split]++;
    summary[k.cand.source.kind === "photo" ? "photos" : "cutouts"][split]++;
    for (const s of k.staged) {
      const file = `${split}/${s.name}`;
      await Deno.mkdir(join(opts.out, split, k.cand.source.pkg), { recursive: true });
      await Deno.rename(join(staging, s.name), join(opts.out, file));
      manifest.push(entry(k, file, split, { crop: s.crop }));
      summary.images[split]++;
      summary.images.crops++;
    }
  }

  // Composites: cut-outs on crops of photos of the same split, so nothing of a val photo reaches train.
  const cutouts = final.filter((k) => k.cutout);
  const cbar = new ProgressBar({ total: cutouts.length * opts.composites, label: "composites", unit: "img" });
  for (const k of cutouts) {
    const split = val.has(k.id) ? "val" : "train";
    const backgrounds = final.filter((b) => b.background && val.has(b.id) === (split === "val"));
    if (backgrounds.length === 0) throw new Error(`no ${split} photos to use as backgrounds for cut-outs`);
    const rng = new Rng(hashString(`${seed}:composite:${k.id}`));
    for (let i = 0; i < opts.composites; i++) {
      const bg = backgrounds[Math.floor(rng.next() * backgrounds.length)];
      const { image, placed } = compositeCutout(bg.background!, k.cutout!, rng);
      const file = `${split}/${k.cand.source.pkg}/${k.stem}_${i}.jpg`;
      await Deno.mkdir(join(opts.out, split, k.cand.source.pkg), { recursive: true });
      await writeImage(join(opts.out, file), image);
      manifest.push(
        entry(k, file, split, {
          background: `${val.has(bg.id) ? "val" : "train"}/${bg.staged[0].name}`,
          placed,
        }),
      );
      summary.images[split]++;
      summary.images.composites++;
      cbar.tick();
    }
  }
  cbar.done();
  await Deno.remove(staging, { recursive: true });

  manifest.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  await atomicWriteText(
    join(opts.out, "manifest.jsonl"),
    manifest.map((m) => JSON.stringify(m)).join("\n") + "\n",
  );
  await atomicWriteText(join(opts.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  return summary;
}

function entry(k: Kept, file: string, split: "train" | "val", extra: Partial<ManifestEntry>): ManifestEntry {
  const e: ManifestEntry = {
    file,
    split,
    package: k.cand.source.pkg,
    version: k.cand.version,
    source: k.cand.path,
    license: k.cand.license,
  };
  if (k.cand.note) e.note = k.cand.note;
  return { ...e, ...extra };
}

/** The summary as the lines the command prints. */
export function formatSummary(s: DebianSummary): string[] {
  const lines = ["package                       version              found  used  train  val  skipped"];
  for (const [pkg, p] of Object.entries(s.packages)) {
    const skipped = Object.entries(p.skipped).map(([k, v]) => `${v} ${k}`).join(", ") || "-";
    lines.push(
      `${pkg.padEnd(29)} ${p.version.padEnd(20)} ${String(p.candidates).padStart(5)} ${
        String(p.used).padStart(5)
      } ` +
        `${String(p.train).padStart(6)} ${String(p.val).padStart(4)}  ${skipped}`,
    );
  }
  lines.push(
    `distinct photos: ${s.photos.train} train + ${s.photos.val} val; cut-outs: ${s.cutouts.train} train + ` +
      `${s.cutouts.val} val; duplicates dropped: ${s.duplicates.length}`,
    `images written (${s.size}×${s.size}): ${s.images.train} train + ${s.images.val} val ` +
      `(${s.images.crops} crops, ${s.images.composites} composites)`,
  );
  return lines;
}

// ---------------------------------------------------------------------------
// tar.gz reading (for coco).

/** One member of a tar archive. */
export interface TarHeader {
  name: string;
  size: number;
  /** "file", "dir", or "other" (links, devices, ...). */
  type: "file" | "dir" | "other";
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #have = 0;
  #done = false;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }
  async #fill(n: number): Promise<boolean> {
    while (this.#have < n && !this.#done) {
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else if (value.length) {
        this.#chunks.push(value);
        this.#have += value.length;
      }
    }
    return this.#have >= n;
  }
  /** Exactly n bytes, or null at end of stream (a short tail is returned as null too). */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill(n))) return null;
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0];
      const take = Math.min(c.length, n - off);
      out.set(c.subarray(0, take), off);
      off += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#have -= n;
    return out;
  }
  /** Skips n bytes; false when the stream ended first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      if (this.#chunks.length === 0 && !(await this.#fill(1))) return false;
      const c = this.#chunks[0];
      const take = Math.min(c.length, n);
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
      this.#have -= take;
      n -= take;
    }
    return true;
  }
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function tarString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

function tarNumber(b: Uint8Array): number {
  // GNU base-256 for sizes over 8 GiB: high bit of the first byte set.
  if (b[0] & 0x80) {
    let v = b[0] & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i];
    return v;
  }
  const s = tarString(b).trim();
  return s ? parseInt(s, 8) : 0;
}

/**
 * Reads a tar stream (POSIX ustar with GNU long names and pax path records)
 * and calls `onEntry` for each member; when it returns true for a regular
 * file the member's bytes are read and passed to `onData`, otherwise they are
 * skipped without buffering. Checksums are verified, so a file that is not a tar archive
 * fails on its first header.
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (h: TarHeader) => boolean,
  onData: (h: TarHeader, bytes: Uint8Array) => Promise<void> | void,
  name = "archive",
): Promise<void> {
  const r = new ByteReader(stream);
  let longName: string | null = null;
  let paxPath: string | null = null;
  try {
    while (true) {
      const block = await r.read(512);
      if (!block) return; // some writers omit the two zero blocks
      if (block.every((b) => b === 0)) return;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
      const stored = tarNumber(block.subarray(148, 156));
      if (sum !== stored) throw new Error(`${name}: not a tar archive or corrupt (bad header checksum)`);
      const size = tarNumber(block.subarray(124, 136));
      const flag = String.fromCharCode(block[156]);
      const padded = Math.ceil(size / 512) * 512;
      if (flag === "L" || flag === "x") {
        const data = await r.read(padded);
        if (!data) throw new Error(`${name}: truncated archive`);
        const text = new TextDecoder().decode(data.subarray(0, size));
        if (flag === "L") longName = text.replace(/\0.*$/s, "");
        else {
          for (const rec of text.split("\n")) {
            const m = /^\d+ path=(.*)$/s.exec(rec);
            if (m) paxPath = m[1];
          }
        }
        continue;
      }
      let nm = tarString(block.subarray(0, 100));
      const magic = tarString(block.subarray(257, 263));
      const prefix = magic.startsWith("ustar") ? tarString(block.subarray(345, 500)) : "";
      if (prefix) nm = `${prefix}/${nm}`;
      nm = paxPath ?? longName ?? nm;
      paxPath = longName = null;
      const type = flag === "0" || flag === "\0" || flag === "7" ? "file" : flag === "5" ? "dir" : "other";
      const h: TarHeader = { name: nm, size: type === "file" ? size : 0, type };
      if (onEntry(h) && type === "file") {
        const data = await r.read(padded);
        if (!data) throw new Error(`${name}: truncated archive (inside ${nm})`);
        await onData(h, data.subarray(0, size));
      } else if (!(await r.skip(padded))) {
        throw new Error(`${name}: truncated archive (inside ${nm})`);
      }
    }
  } finally {
    await r.cancel().catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// The coco command.

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
  const chosen = seededShuffle(sorted, new Rng(seed)).slice(0, count);
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

// ---------------------------------------------------------------------------
// Command line.

function intOpt(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  }
  return n;
}

/** Runs the command; returns the exit status. */
export async function main(args: string[], log: Log = consoleLog): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        out: { type: "string" },
        work: { type: "string" },
        size: { type: "string" },
        crops: { type: "string" },
        composites: { type: "string" },
        val: { type: "string" },
        seed: { type: "string" },
        url: { type: "string" },
        count: { type: "string" },
      },
    });
  } catch (e) {
    console.error(`data: ${(e as Error).message}\nRun "deno task data --help" for usage.`);
    return 2;
  }
  const v = parsed.values;
  const cmd = parsed.positionals[0];
  if (v.help || !cmd) {
    console.log(HELP);
    return v.help ? 0 : 2;
  }
  try {
    if (parsed.positionals.length > 1) throw new UsageError(`unexpected argument "${parsed.positionals[1]}"`);
    const work = resolve(v.work ?? "data/.work");
    const seed = intOpt("seed", v.seed, 1, 0);
    if (cmd === "debian") {
      for (const o of ["url", "count"] as const) {
        if (v[o] !== undefined) throw new UsageError(`--${o} is an option of coco`);
      }
      const valFraction = v.val === undefined ? 0.15 : Number(v.val);
      if (!(valFraction > 0 && valFraction < 1)) {
        throw new UsageError(`--val must be in (0, 1), got "${v.val}"`);
      }
      const summary = await buildDebianDataset({
        out: resolve(v.out ?? "data/debian"),
        work,
        size: intOpt("size", v.size, 256, 16),
        crops: intOpt("crops", v.crops, 8, 1),
        composites: intOpt("composites", v.composites, 2, 0),
        valFraction,
        seed,
        log,
      });
      for (const l of formatSummary(summary)) console.log(l);
      console.log(`wrote ${v.out ?? "data/debian"}/train, val, manifest.jsonl, summary.json`);
      return 0;
    }
    if (cmd === "coco") {
      for (const o of ["size", "crops", "composites", "val"] as const) {
        if (v[o] !== undefined) throw new UsageError(`--${o} is an option of debian`);
      }
      const url = v.url ?? COCO_URL;
      try {
        new URL(url);
      } catch {
        throw new UsageError(`--url is not a URL: "${url}"`);
      }
      const out = resolve(v.out ?? "data/coco");
      const r = await buildCocoDataset({
        url,
        out,
        work,
        count: intOpt("count", v.count, 10000, 1),
        seed,
        log,
      });
      console.log(
        `picked ${r.train + r.val} of ${r.total} images: ${r.train} train, ${r.val} val in ${
          v.out ?? "data/coco"
        }`,
      );
      return 0;
    }
    throw new UsageError(`unknown command "${cmd}": use debian or coco`);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`data: ${e.message}\nRun "deno task data --help" for usage.`);
      return 2;
    }
    console.error(`data: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
