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
 *
 * The pieces live beside this file, one concern each: sources.ts (which
 * packages and paths), packages.ts (apt-get download, dpkg-deb), copyright.ts
 * (licenses), decode.ts, filter.ts (what counts as a colour photo), dedupe.ts,
 * crops.ts (crops and composites), split.ts, debian.ts (the debian pipeline),
 * rcc.ts (Qt resource archives), tar.ts and coco.ts.
 */

import { resolve } from "node:path";
import { consoleLog, type Log } from "./output.ts";
import { buildDebianDataset, formatSummary } from "./debian.ts";
import { buildCocoDataset, COCO_URL } from "./coco.ts";
import { consoleIo, errorLine, readCommandLine, UsageError } from "../args.ts";

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
  const parsed = readCommandLine("data", args, {
    out: { type: "string" },
    work: { type: "string" },
    size: { type: "string" },
    crops: { type: "string" },
    composites: { type: "string" },
    val: { type: "string" },
    seed: { type: "string" },
    url: { type: "string" },
    count: { type: "string" },
  }, { positionals: true, help: HELP, io: consoleIo });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const cmd = parsed.positionals[0];
  if (!cmd) {
    console.log(HELP);
    return 2;
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
    // Printed as readCommandLine prints a parse error: "data: problem (see --help)", exit status 2.
    if (e instanceof UsageError) {
      console.error(`data: ${errorLine(e)} (see --help)`);
      return 2;
    }
    console.error(`data: ${errorLine(e)}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
