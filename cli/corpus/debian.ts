/**
 * The debian command: collect the pictures of the unpacked packages, filter,
 * deduplicate, split, crop, composite, and write the manifest and summary.
 */

import { join } from "node:path";
import { Rng } from "../../engine/random.ts";
import { type RgbaImage, writeImage } from "../image.ts";
import { ProgressBar } from "../progress.ts";
import { atomicWriteText, listFiles } from "../fsutil.ts";
import { errorLine } from "../args.ts";
import { extractRcc, parseRcc } from "./rcc.ts";
import { consoleLog, type Log, prepareOut } from "./output.ts";
import { DEBIAN_SOURCES, groupKey, type Source } from "./sources.ts";
import { type CopyrightStanza, licenseFor, parseCopyright } from "./copyright.ts";
import { decodeAny } from "./decode.ts";
import { rejectReason } from "./filter.ts";
import { DUPLICATE_DISTANCE, thumbDistance, thumbnail } from "./dedupe.ts";
import { compositeCutout, cropCount, cropSquare, randomCrops, type Rect } from "./crops.ts";
import { hashString, splitByGroup } from "./split.ts";
import { downloadDebs, unpackDeb } from "./packages.ts";

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
      bar.log(`skipped ${id}: ${errorLine(e)}`);
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
