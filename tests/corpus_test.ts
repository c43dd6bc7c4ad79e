/**
 * The corpus builder (cli/corpus/) and the Qt resource reader (cli/corpus/rcc.ts).
 * Nothing here downloads from Debian: the debian pipeline runs on fake
 * unpacked packages made in a temp folder, and the coco command downloads a
 * tiny .tgz built here and served from 127.0.0.1.
 */
import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "../engine/random.ts";
import { decodeImage, encodeImage, readImage, resizeRgba, type RgbaImage } from "../cli/image.ts";
import { extractRcc, parseRcc, RCC_COMPRESSED, RCC_COMPRESSED_ZSTD, RccError } from "../cli/corpus/rcc.ts";
import { main } from "../cli/corpus/main.ts";
import { groupKey, type Source } from "../cli/corpus/sources.ts";
import { licenseFor, parseCopyright } from "../cli/corpus/copyright.ts";
import { colourStats, DRAWING_TOP16, rejectReason } from "../cli/corpus/filter.ts";
import { DUPLICATE_DISTANCE, thumbDistance, thumbnail } from "../cli/corpus/dedupe.ts";
import { compositeCutout, cropCount, randomCrops } from "../cli/corpus/crops.ts";
import { splitByGroup } from "../cli/corpus/split.ts";
import { buildDebianDataset, type ManifestEntry } from "../cli/corpus/debian.ts";
import { readTar } from "../cli/corpus/tar.ts";
import { buildCocoDataset, pickCoco } from "../cli/corpus/coco.ts";

const quiet = { info: () => {} };

// ---------------------------------------------------------------------------
// Test pictures.

/** A photo-like picture: smooth colour gradients plus per-pixel noise (thousands of distinct colours). */
function photo(width: number, height: number, seed: number): RgbaImage {
  const r = new Rng(seed);
  const rgba = new Uint8Array(width * height * 4);
  const fx = 1 + r.next() * 3, fy = 1 + r.next() * 3, ph = r.next() * 6;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const u = x / width, v = y / height;
      rgba[i] = 128 + 90 * Math.sin(fx * 6 * u + ph) + (r.next() - 0.5) * 30;
      rgba[i + 1] = 128 + 90 * Math.cos(fy * 6 * v + ph) + (r.next() - 0.5) * 30;
      rgba[i + 2] = 128 + 80 * Math.sin(5 * (u + v) + 2 * ph) + (r.next() - 0.5) * 30;
      rgba[i + 3] = 255;
    }
  }
  return { width, height, rgba };
}

/** A cartoon: a few flat colours in rectangles and a disc, as vector art renders. */
function drawing(width: number, height: number): RgbaImage {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const disc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2;
      const c = disc ? [230, 200, 40] : x < width / 2 ? [40, 120, 220] : [60, 180, 70];
      rgba.set([...c, 255], i);
    }
  }
  return { width, height, rgba };
}

function gray(img: RgbaImage): RgbaImage {
  const rgba = img.rgba.slice();
  for (let i = 0; i < rgba.length; i += 4) {
    const y = Math.round((rgba[i] + rgba[i + 1] + rgba[i + 2]) / 3);
    rgba[i] = rgba[i + 1] = rgba[i + 2] = y;
  }
  return { ...img, rgba };
}

/** A cut-out: a noisy red-ish blob on a transparent background. */
function cutout(size: number, seed: number): RgbaImage {
  const img = photo(size, size, seed);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2;
      img.rgba[4 * (y * size + x) + 3] = inside ? 255 : 0;
    }
  }
  return img;
}

// ---------------------------------------------------------------------------
// Qt .rcc files.

interface RccNode {
  name: string;
  children?: RccNode[];
  data?: Uint8Array;
  flags?: number;
}

/** Qt's name hash (qt_hash): used by Qt to binary-search names; our reader ignores it but writes it faithfully. */
function qtHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) {
    h = ((h << 4) + s.charCodeAt(i)) >>> 0;
    h = (h ^ ((h & 0xf0000000) >>> 23)) >>> 0;
    h = (h & 0x0fffffff) >>> 0;
  }
  return h;
}

/** Writes an .rcc file as rcc does: tree nodes breadth-first, children of a directory consecutive. */
function buildRcc(root: RccNode[], version = 2): Uint8Array {
  const names: number[] = [], data: number[] = [];
  const nameOff = new Map<string, number>();
  const u32 = (a: number[], v: number) =>
    a.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  const u16 = (a: number[], v: number) => a.push((v >>> 8) & 255, v & 255);
  const nameOf = (n: string) => {
    if (!nameOff.has(n)) {
      nameOff.set(n, names.length);
      u16(names, n.length);
      u32(names, qtHash(n));
      for (const c of n) u16(names, c.charCodeAt(0));
    }
    return nameOff.get(n)!;
  };
  // Breadth-first numbering.
  const nodes: RccNode[] = [{ name: "", children: root }];
  const first = new Map<RccNode, number>();
  for (let i = 0; i < nodes.length; i++) {
    const kids = nodes[i].children;
    if (kids) {
      first.set(nodes[i], nodes.length);
      nodes.push(...[...kids].sort((a, b) => qtHash(a.name) - qtHash(b.name)));
    }
  }
  const tree: number[] = [];
  for (const [i, n] of nodes.entries()) {
    u32(tree, i === 0 ? 0 : nameOf(n.name));
    if (n.children) {
      u16(tree, 0x02);
      u32(tree, n.children.length);
      u32(tree, first.get(n)!);
    } else {
      u16(tree, n.flags ?? 0);
      u16(tree, 0); // territory
      u16(tree, 1); // language (C)
      u32(tree, data.length);
      u32(data, n.data!.length);
      data.push(...n.data!);
    }
    if (version >= 2) { for (let k = 0; k < 8; k++) tree.push(0); }
  }
  const header: number[] = [..."qres"].map((c) => c.charCodeAt(0));
  const headerLen = version >= 3 ? 24 : 20;
  const dataOff = headerLen, namesOff = dataOff + data.length, treeOff = namesOff + names.length;
  u32(header, version);
  u32(header, treeOff);
  u32(header, dataOff);
  u32(header, namesOff);
  if (version >= 3) u32(header, 0);
  return new Uint8Array([...header, ...data, ...names, ...tree]);
}

async function zlib(bytes: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([bytes.slice()]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** qCompress layout: 4-byte big-endian uncompressed length, then the zlib stream. */
async function qCompress(bytes: Uint8Array): Promise<Uint8Array> {
  const z = await zlib(bytes);
  const out = new Uint8Array(4 + z.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(z, 4);
  return out;
}

Deno.test("rcc: a hand-written version-1 file with one file 'x' holding 'hi'", async () => {
  // Header (20 bytes), data at 20: len 2 + "hi"; names at 26: len 1, hash, "x" in UTF-16BE;
  // tree at 34: root dir (1 child, first child node 1), then file node with data offset 0.
  const bytes = new Uint8Array([
    ...[0x71, 0x72, 0x65, 0x73],
    ...[0, 0, 0, 1],
    ...[0, 0, 0, 34],
    ...[0, 0, 0, 20],
    ...[0, 0, 0, 26],
    ...[0, 0, 0, 2, 0x68, 0x69],
    ...[0, 1, 0, 0, 0, 0x78, 0, 0x78],
    ...[0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1],
    ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  ]);
  const a = parseRcc(bytes);
  assertEquals(a.version, 1);
  assertEquals(a.entries.map((e) => [e.path, e.flags, e.storedSize, e.offset]), [["x", 0, 2, 24]]);
  assertEquals(new TextDecoder().decode(await extractRcc(a, a.entries[0])), "hi");
});

Deno.test("rcc: nested folders, stored, zlib and zstd entries (versions 1, 2 and 3)", async () => {
  const text = new TextEncoder().encode("plain bytes");
  const big = new Uint8Array(5000).map((_, i) => (i * 7) % 13);
  for (const version of [1, 2, 3]) {
    const bytes = buildRcc([
      {
        name: "gcompris",
        children: [
          { name: "a.txt", data: text },
          { name: "img", children: [{ name: "big.bin", data: await qCompress(big), flags: RCC_COMPRESSED }] },
          { name: "z.webp", data: new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), flags: RCC_COMPRESSED_ZSTD },
        ],
      },
      { name: "top.png", data: new Uint8Array([1, 2, 3]) },
    ], version);
    const a = parseRcc(bytes, "t.rcc");
    const byPath = new Map(a.entries.map((e) => [e.path, e]));
    assertEquals([...byPath.keys()].sort(), [
      "gcompris/a.txt",
      "gcompris/img/big.bin",
      "gcompris/z.webp",
      "top.png",
    ]);
    assertEquals(await extractRcc(a, byPath.get("gcompris/a.txt")!), text);
    assertEquals(await extractRcc(a, byPath.get("gcompris/img/big.bin")!), big);
    assertEquals(await extractRcc(a, byPath.get("top.png")!), new Uint8Array([1, 2, 3]));
    await rejects(extractRcc(a, byPath.get("gcompris/z.webp")!), /zstd/);
  }
});

Deno.test("rcc: malformed files fail with RccError naming the file, never read past the end", async () => {
  const good = buildRcc([{ name: "f", data: new Uint8Array(40) }]);
  throws(
    () => parseRcc(new Uint8Array(10), "a.rcc"),
    (e: Error) => e instanceof RccError && /a\.rcc: too short/.test(e.message),
  );
  const badMagic = good.slice();
  badMagic[0] = 0x51;
  throws(() => parseRcc(badMagic, "b.rcc"), /b\.rcc: not a Qt resource file/);
  const badVersion = good.slice();
  badVersion[7] = 9;
  throws(() => parseRcc(badVersion, "v.rcc"), /unsupported rcc format version 9/);
  // Every truncation is an RccError (tree, names or data cut off), never a RangeError.
  for (let n = 20; n < good.length; n++) {
    try {
      parseRcc(good.subarray(0, n), "t.rcc");
    } catch (e) {
      ok(e instanceof RccError, `truncated at ${n}: ${e}`);
    }
  }
  // A compressed entry whose length prefix lies.
  const data = await qCompress(new Uint8Array(100));
  data[3] = 99;
  const lying = parseRcc(buildRcc([{ name: "c", data, flags: RCC_COMPRESSED }]));
  await rejects(extractRcc(lying, lying.entries[0]), /inflated to 100 bytes, its header says 99/);
  const garbage = parseRcc(
    buildRcc([{ name: "g", data: new Uint8Array([0, 0, 0, 5, 1, 2, 3]), flags: RCC_COMPRESSED }]),
  );
  await rejects(extractRcc(garbage, garbage.entries[0]), /corrupt zlib data/);
});

// ---------------------------------------------------------------------------
// Licenses.

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: someone
License: GPL-3+

Files: images/*.png
Copyright: someone
License: GPL-3

Files: 16.04/aitzgorri_by_Aitzol_Berasategi.jpg
Copyright: Aitzol
License: CC-BY-4.0

Files: src/activities/clickgame/resource/sea1.jpg
       src/activities/farm/resource/animals/*
Copyright: a
License: GPL-2

Files: src/activities/erase/resource/*
Copyright: b
License: CC-BY-SA-3.0

Files: src/activities/erase/resource/gorilla.jpg
Copyright: c
License: CC0-1.0

License: GPL-3+
 text of the license
`;

Deno.test("licenses: DEP-5 paragraphs matched against installed paths", () => {
  const st = parseCopyright(COPYRIGHT);
  assertEquals(st.length, 6);
  assertEquals(st[3].files, [
    "src/activities/clickgame/resource/sea1.jpg",
    "src/activities/farm/resource/animals/*",
  ]);
  const rcc = "gcompris/src/activities";
  // A continuation line of Files, a wildcard folder, and the last matching paragraph winning.
  assertEquals(licenseFor(st, `${rcc}/farm/resource/animals/cow.jpg`), "GPL-2");
  assertEquals(licenseFor(st, `${rcc}/erase/resource/horse.jpg`), "CC-BY-SA-3.0");
  assertEquals(licenseFor(st, `${rcc}/erase/resource/gorilla.jpg`), "CC0-1.0");
  // Converted formats: the package lists sea1.jpg and ships sea1.webp.
  assertEquals(licenseFor(st, `${rcc}/clickgame/resource/sea1.webp`), "GPL-2");
  assertEquals(licenseFor(st, `${rcc}/erase/resource/gorilla.webp`), "CC0-1.0");
  // Installed under another folder than the source tree: the file name decides.
  assertEquals(licenseFor(st, "usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg"), "CC-BY-4.0");
  // A wildcard pattern claims only its own extension; the rest falls back to "Files: *".
  assertEquals(licenseFor(st, "usr/share/x/images/a.png"), "GPL-3");
  assertEquals(licenseFor(st, "usr/share/x/images/a.webp"), "GPL-3+");
  assertEquals(licenseFor([], "a.jpg"), "unknown (see the package's copyright file)");
});

Deno.test("groupKey: sizes of one picture share a key", () => {
  assertEquals(
    groupKey("usr/share/backgrounds/mate/abstract/Elephants_3840x2160.jpg"),
    groupKey("usr/share/backgrounds/mate/abstract/Elephants.jpg"),
  );
  ok(groupKey("a/Elephants.jpg") !== groupKey("b/Elephants.jpg"));
});

// ---------------------------------------------------------------------------
// Filters, duplicates, crops, composites, split.

Deno.test("filters: drawings, grayscale and small photos are rejected, photos kept", () => {
  const p = photo(320, 240, 1);
  assertEquals(rejectReason(p, 192, "photo"), null);
  const d = drawing(320, 240);
  ok(colourStats(d).top16 > DRAWING_TOP16);
  // Noise spreads a photo over thousands of colours: its top 16 hold well under 5% (real photos: median 3–5%).
  ok(colourStats(p).top16 < 0.05, `photo top16 ${colourStats(p).top16}`);
  ok(/drawing/.test(rejectReason(d, 192, "photo")!));
  assertEquals(rejectReason(gray(p), 192, "photo"), "grayscale");
  assertEquals(rejectReason(photo(200, 150, 2), 192, "photo"), "too small (200×150)");
  // Cut-outs have no minimum size, and their transparent part does not count as flat colour.
  assertEquals(rejectReason(cutout(100, 3), 192, "cutout"), null);
  const empty = cutout(100, 3);
  for (let i = 3; i < empty.rgba.length; i += 4) empty.rgba[i] = 0;
  assertEquals(rejectReason(empty, 192, "cutout"), "almost no coloured pixels");
});

Deno.test("duplicates: a resized, re-encoded copy is close; another photo is far", async () => {
  const a = photo(400, 300, 5);
  const copy = await decodeImage(encodeImage(resizeRgba(a, 200, 150), "jpeg", 70));
  const other = photo(400, 300, 6);
  const dCopy = thumbDistance(thumbnail(a), thumbnail(copy));
  const dOther = thumbDistance(thumbnail(a), thumbnail(other));
  // Margins of 2× on both sides of the threshold, so the test fails if thumbnails stop separating the cases.
  ok(dCopy < DUPLICATE_DISTANCE / 2, `copy distance ${dCopy}`);
  ok(dOther > 2 * DUPLICATE_DISTANCE, `other distance ${dOther}`);
});

Deno.test("crops: counts by size, inside the photo, sides in range, seeded", () => {
  assertEquals(cropCount(2560, 1600, 256, 8), 8);
  assertEquals(cropCount(1024, 692, 256, 8), 5);
  assertEquals(cropCount(300, 200, 256, 8), 2);
  assertEquals(cropCount(100, 100, 256, 8), 1);
  const rects = randomCrops(1000, 600, 256, 50, new Rng(3));
  for (const r of rects) {
    ok(r.x >= 0 && r.y >= 0 && r.x + r.side <= 1000 && r.y + r.side <= 600, JSON.stringify(r));
    ok(r.side >= 256 && r.side <= 600, JSON.stringify(r));
  }
  ok(new Set(rects.map((r) => r.side)).size > 10, "sides vary");
  assertEquals(randomCrops(1000, 600, 256, 50, new Rng(3)), rects);
  // A photo smaller than the output size: the crop is the whole short side.
  for (const r of randomCrops(200, 150, 256, 5, new Rng(1))) assertEquals(r.side, 150);
});

Deno.test("composites: the cut-out lands inside the background, alpha blended, seeded", () => {
  const bg: RgbaImage = { width: 64, height: 64, rgba: new Uint8Array(64 * 64 * 4) };
  for (let i = 0; i < bg.rgba.length; i += 4) bg.rgba.set([0, 0, 255, 255], i);
  // A 10×10 red square inside a 30×30 transparent stamp, one half-transparent pixel row.
  const st: RgbaImage = { width: 30, height: 30, rgba: new Uint8Array(30 * 30 * 4) };
  for (let y = 10; y < 20; y++) {
    for (let x = 10; x < 20; x++) st.rgba.set([255, 0, 0, y === 19 ? 128 : 255], 4 * (y * 30 + x));
  }
  const { image, placed } = compositeCutout(bg, st, new Rng(7));
  // Trimmed to its opaque 10×10 box, scaled to 50–90% of 64.
  ok(placed.w === placed.h && placed.w >= 32 && placed.w <= 58, JSON.stringify(placed));
  ok(placed.x >= 0 && placed.y >= 0 && placed.x + placed.w <= 64 && placed.y + placed.h <= 64);
  const px = (x: number, y: number) => [...image.rgba.subarray(4 * (y * 64 + x), 4 * (y * 64 + x) + 4)];
  assertEquals(px(placed.x + 2, placed.y + 2), [255, 0, 0, 255]);
  const bottom = px(placed.x + 2, placed.y + placed.h - 1);
  // The half-transparent row, resampled, mixes red over blue: both channels clearly between 0 and 255.
  ok(bottom[0] > 60 && bottom[0] < 200 && bottom[2] > 60 && bottom[2] < 200, `blend ${bottom}`);
  // Outside the box the background is untouched.
  if (placed.x > 0) assertEquals(px(placed.x - 1, placed.y), [0, 0, 255, 255]);
  else assertEquals(px(placed.x + placed.w, placed.y), [0, 0, 255, 255]);
  assertEquals(compositeCutout(bg, st, new Rng(7)).placed, placed);
  ok(bg.rgba[0] === 0 && bg.rgba[2] === 255, "the background is not modified");
});

Deno.test("split: per group, at least one val picture when a group has two, independent of order", () => {
  const items = [];
  for (const [g, n] of [["a", 20], ["b", 2], ["c", 1], ["d", 7]] as const) {
    for (let i = 0; i < n; i++) items.push({ id: `${g}:${i}`, group: g });
  }
  const val = splitByGroup(items, 0.15, 1);
  const count = (g: string) => [...val].filter((id) => id.startsWith(`${g}:`)).length;
  assertEquals([count("a"), count("b"), count("c"), count("d")], [3, 1, 0, 1]);
  assertEquals(splitByGroup([...items].reverse(), 0.15, 1), val);
  ok([...splitByGroup(items, 0.15, 2)].join() !== [...val].join(), "another seed, another split");
});

// ---------------------------------------------------------------------------
// The debian pipeline on fake unpacked packages.

async function writeFile(path: string, bytes: Uint8Array | string) {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  if (typeof bytes === "string") await Deno.writeTextFile(path, bytes);
  else await Deno.writeFile(path, bytes);
}

Deno.test("debian: filter, dedup, split by photo, crops, composites and manifest", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "data-cmd-test-" });
  try {
    const photos = join(tmp, "pkg-photos"), stamps = join(tmp, "pkg-stamps");
    await writeFile(
      join(photos, "usr/share/doc/fake-photos/copyright"),
      "Format: x\n\nFiles: *\nCopyright: x\nLicense: GPL-2+\n\nFiles: pics/p3.jpg\nCopyright: y\nLicense: CC0-1.0\n",
    );
    await writeFile(
      join(stamps, "usr/share/doc/fake-stamps/copyright"),
      "Files: *\nCopyright: x\nLicense: GPL-2\n",
    );
    for (let i = 0; i < 6; i++) {
      await writeFile(
        join(photos, `usr/share/pics/p${i}.jpg`),
        encodeImage(photo(300 + 20 * i, 200, 10 + i), "jpeg"),
      );
    }
    // Two sizes of p0 under the size-grouping rule, a re-encoded copy of p1 elsewhere, a drawing, a gray photo.
    await writeFile(
      join(photos, "usr/share/pics/p0_160x100.jpg"),
      encodeImage(resizeRgba(photo(300, 200, 10), 160, 100), "jpeg"),
    );
    await writeFile(
      join(photos, "usr/share/other/copy.png"),
      encodeImage(resizeRgba(photo(320, 200, 11), 240, 150), "png"),
    );
    await writeFile(join(photos, "usr/share/pics/cartoon.png"), encodeImage(drawing(300, 200), "png"));
    await writeFile(join(photos, "usr/share/pics/gray.jpg"), encodeImage(gray(photo(300, 200, 20)), "jpeg"));
    await writeFile(join(photos, "usr/share/pics/notes.txt"), "not an image");
    for (let i = 0; i < 3; i++) {
      await writeFile(
        join(stamps, `usr/share/stamps/animal${i}.png`),
        encodeImage(cutout(80, 30 + i), "png"),
      );
    }
    const sources: Source[] = [
      { pkg: "fake-photos", kind: "photo", include: /^usr\/share\/(pics|other)\/.+\.(jpg|png)$/ },
      { pkg: "fake-stamps", kind: "cutout", include: /^usr\/share\/stamps\/.+\.png$/ },
    ];
    const unpacked = new Map([["fake-photos", { root: photos, version: "1.0-1" }], [
      "fake-stamps",
      { root: stamps, version: "2:3-4" },
    ]]);
    const out = join(tmp, "out");
    const opts = {
      out,
      work: join(tmp, "work"),
      size: 32,
      crops: 3,
      composites: 2,
      valFraction: 0.34,
      seed: 1,
    };
    const s = await buildDebianDataset({ ...opts, sources, unpacked, log: quiet });

    const ph = s.packages["fake-photos"];
    // 9 candidates after grouping (p0 sizes merged): 6 photos + copy + cartoon + gray.
    assertEquals(ph.candidates, 9);
    assertEquals(ph.skipped, { "flat colours, looks like a drawing": 1, grayscale: 1, duplicate: 1 });
    assertEquals([ph.used, ph.train, ph.val], [6, 4, 2]);
    assertEquals(s.duplicates.length, 1);
    ok(s.duplicates[0].dropped.endsWith("other/copy.png"), JSON.stringify(s.duplicates));
    assertEquals([s.packages["fake-stamps"].train, s.packages["fake-stamps"].val], [2, 1]);
    // Crops: round(3·200/128) = 5 → capped at 3 per photo; 2 composites per stamp.
    assertEquals(s.images, { train: 4 * 3 + 2 * 2, val: 2 * 3 + 1 * 2, crops: 18, composites: 6 });

    const manifest: ManifestEntry[] = (await Deno.readTextFile(join(out, "manifest.jsonl"))).trim().split(
      "\n",
    ).map((
      l,
    ) => JSON.parse(l));
    assertEquals(manifest.length, 24);
    const splitOf = new Map<string, string>();
    for (const m of manifest) {
      // Every listed file exists, is size×size, and lies in the folder of its split.
      const img = await readImage(join(out, m.file));
      assertEquals([img.width, img.height], [32, 32]);
      ok(m.file.startsWith(`${m.split}/${m.package}/`), m.file);
      // No source picture on both sides, and composites only on backgrounds of their own split.
      assertEquals(splitOf.get(m.source) ?? m.split, m.split);
      splitOf.set(m.source, m.split);
      if (m.background) ok(m.background.startsWith(`${m.split}/`), JSON.stringify(m));
    }
    const listed = new Set(manifest.map((m) => m.file));
    for (const m of manifest) {
      // The background named is a crop that was written (and, above, of the same split).
      if (m.background) ok(listed.has(m.background), m.background);
    }
    const lic = manifest.find((m) => m.source === "usr/share/pics/p3.jpg");
    assertEquals(lic?.license, "CC0-1.0");
    assertEquals(manifest.find((m) => m.source.includes("p0"))?.source, "usr/share/pics/p0.jpg");
    assertEquals(manifest.find((m) => m.package === "fake-stamps")?.version, "2:3-4");
    const files = new Set<string>();
    for (const split of ["train", "val"]) {
      for await (const pkg of Deno.readDir(join(out, split))) {
        for await (const f of Deno.readDir(join(out, split, pkg.name))) {
          files.add(`${split}/${pkg.name}/${f.name}`);
        }
      }
    }
    assertEquals([...files].sort(), manifest.map((m) => m.file).sort());
    assertEquals((await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).sort(), [
      "manifest.jsonl",
      "summary.json",
      "train",
      "val",
    ]);

    // Deterministic: a second run writes the same manifest; and it refuses a folder with foreign files.
    const first = await Deno.readTextFile(join(out, "manifest.jsonl"));
    await buildDebianDataset({ ...opts, sources, unpacked, log: quiet });
    assertEquals(await Deno.readTextFile(join(out, "manifest.jsonl")), first);
    await Deno.writeTextFile(join(out, "mine.txt"), "x");
    await rejects(
      buildDebianDataset({ ...opts, sources, unpacked, log: quiet }),
      /holds other files \(mine\.txt\)/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// tar and coco.

interface TarMember {
  name: string;
  data?: Uint8Array;
  type?: string;
  /** "ustar": split a long name into prefix/name; "gnu": an 'L' record; "pax": an 'x' record. */
  longName?: "ustar" | "gnu" | "pax";
}

function tarHeader(name: string, size: number, type: string, prefix = ""): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, s: string) => h.set(new TextEncoder().encode(s), off);
  put(0, name);
  put(100, "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, size.toString(8).padStart(11, "0") + "\0");
  put(136, "00000000000\0");
  put(148, "        ");
  put(156, type);
  put(257, "ustar\0");
  put(263, "00");
  put(345, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function pad(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

/** A tar archive with the three ways of spelling long names. */
function buildTar(members: TarMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const data = m.data ?? new Uint8Array(0);
    const type = m.type ?? "0";
    if (m.longName === "gnu") {
      const n = new TextEncoder().encode(m.name + "\0");
      parts.push(
        tarHeader("././@LongLink", n.length, "L"),
        pad(n),
        tarHeader(m.name.slice(0, 99), data.length, type),
      );
    } else if (m.longName === "pax") {
      // A pax record is "<length> path=<name>\n", the length counting its own digits.
      const rec = ` path=${m.name}\n`;
      let len = rec.length + 1;
      while (String(len).length + rec.length !== len) len++;
      const n = new TextEncoder().encode(`${len}${rec}`);
      parts.push(tarHeader("PaxHeader", n.length, "x"), pad(n), tarHeader("short", data.length, type));
    } else if (m.longName === "ustar") {
      const cut = m.name.lastIndexOf("/");
      parts.push(tarHeader(m.name.slice(cut + 1), data.length, type, m.name.slice(0, cut)));
    } else {
      parts.push(tarHeader(m.name, data.length, type));
    }
    if (data.length) parts.push(pad(data));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([bytes.slice()]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

function streamOf(bytes: Uint8Array, chunk = 700): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(ctl) {
      if (off >= bytes.length) return ctl.close();
      ctl.enqueue(bytes.slice(off, off + chunk));
      off += chunk;
    },
  });
}

Deno.test("tar: plain, ustar-prefix, GNU and pax long names; skipping and reading members", async () => {
  const long = "coco_sample/" + "d".repeat(120) + "/img.jpg";
  const bytes = buildTar([
    { name: "coco_sample/", type: "5" },
    { name: "coco_sample/a.jpg", data: new Uint8Array(1000).fill(7) },
    { name: long, data: new Uint8Array([1, 2, 3]), longName: "gnu" },
    { name: "p/" + "e".repeat(100) + ".jpg", data: new Uint8Array([4]), longName: "pax" },
    { name: "prefix/dir/b.jpg", data: new Uint8Array(513).fill(9), longName: "ustar" },
    { name: "link", type: "2" },
  ]);
  const seen: string[] = [];
  const got = new Map<string, Uint8Array>();
  // Odd chunk sizes cross header and data boundaries.
  await readTar(streamOf(bytes, 333), (h) => {
    seen.push(`${h.type}:${h.name}`);
    return h.name.endsWith(".jpg") && !h.name.startsWith("coco_sample/a");
  }, (h, b) => {
    got.set(h.name, b);
  });
  assertEquals(seen, [
    "dir:coco_sample/",
    "file:coco_sample/a.jpg",
    `file:${long}`,
    "file:p/" + "e".repeat(100) + ".jpg",
    "file:prefix/dir/b.jpg",
    "other:link",
  ]);
  assertEquals(got.get(long), new Uint8Array([1, 2, 3]));
  assertEquals(got.get("prefix/dir/b.jpg"), new Uint8Array(513).fill(9));
  assertEquals(got.size, 3);

  const corrupt = bytes.slice();
  corrupt[0] ^= 1;
  await rejects(
    readTar(streamOf(corrupt), () => true, () => {}, "x.tar"),
    /x\.tar: not a tar archive or corrupt/,
  );
  await rejects(
    readTar(streamOf(bytes.subarray(0, 512 * 3)), () => true, () => {}, "x.tar"),
    /truncated archive \(inside coco_sample\/a\.jpg\)/,
  );
});

Deno.test("coco: picks are seeded and split 80/20", () => {
  const names = Array.from({ length: 100 }, (_, i) => `coco/${String(i).padStart(3, "0")}.jpg`);
  const a = pickCoco(names, 50, 1);
  assertEquals([a.train.length, a.val.length], [40, 10]);
  assertEquals(new Set([...a.train, ...a.val]).size, 50);
  assertEquals(pickCoco([...names].reverse(), 50, 1), a);
  ok(pickCoco(names, 50, 2).train.join() !== a.train.join());
  assertEquals(pickCoco(names.slice(0, 5), 50, 1).train.length, 4);
});

Deno.test("coco: downloads a tiny archive from 127.0.0.1 and writes 8 train / 2 val", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "data-coco-test-" });
  const jpegs = new Map<string, Uint8Array>();
  for (let i = 0; i < 12; i++) {
    jpegs.set(
      `coco_sample/train_sample/${String(i).padStart(12, "0")}.jpg`,
      encodeImage(photo(24, 16, i), "jpeg"),
    );
  }
  const tgz = await gzip(buildTar([
    { name: "coco_sample/", type: "5" },
    { name: "coco_sample/train_sample/", type: "5" },
    ...[...jpegs].map(([name, data]) => ({ name, data })),
    { name: "coco_sample/annotations.json", data: new TextEncoder().encode("{}") },
    { name: "coco_sample/train_sample/._000000000001.jpg", data: new Uint8Array(10) },
  ]));
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    requests++;
    if (new URL(req.url).pathname !== "/coco_sample.tgz") return new Response("missing", { status: 404 });
    return new Response(tgz.slice(), { headers: { "content-length": String(tgz.length) } });
  });
  const url = `http://127.0.0.1:${server.addr.port}/coco_sample.tgz`;
  try {
    const listing = async (dir: string) => {
      const out: string[] = [];
      for (const s of ["train", "val"]) {
        for await (const f of Deno.readDir(join(dir, s))) out.push(`${s}/${f.name}`);
      }
      return out.sort();
    };
    const r = await buildCocoDataset({
      url,
      out: join(tmp, "a"),
      work: join(tmp, "w1"),
      count: 10,
      seed: 1,
      log: quiet,
    });
    assertEquals(r, { train: 8, val: 2, total: 12 });
    const a = await listing(join(tmp, "a"));
    assertEquals([
      a.filter((f) => f.startsWith("train/")).length,
      a.filter((f) => f.startsWith("val/")).length,
    ], [8, 2]);
    // Files are the archive's bytes, and the manifest lists exactly them.
    for (const f of a) {
      const name = `coco_sample/train_sample/${f.split("/")[1]}`;
      assertEquals(await Deno.readFile(join(tmp, "a", f)), jpegs.get(name));
    }
    const manifest = (await Deno.readTextFile(join(tmp, "a", "manifest.jsonl"))).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals(manifest.map((m) => m.file).sort(), a);

    // Same seed, fresh download through the command line: the same pick. The archive is then reused.
    assertEquals(
      await main(
        ["coco", "--url", url, "--out", join(tmp, "b"), "--work", join(tmp, "w2"), "--count", "10"],
        quiet,
      ),
      0,
    );
    assertEquals(await listing(join(tmp, "b")), a);
    assertEquals(requests, 2);
    assertEquals(
      await main([
        "coco",
        "--url",
        url,
        "--out",
        join(tmp, "c"),
        "--work",
        join(tmp, "w2"),
        "--count",
        "10",
        "--seed",
        "2",
      ], quiet),
      0,
    );
    assertEquals(requests, 2);
    ok((await listing(join(tmp, "c"))).join() !== a.join(), "another seed, another pick");

    // Failures: 404, and usage errors.
    assertEquals(
      await main(
        ["coco", "--url", url + ".missing", "--out", join(tmp, "d"), "--work", join(tmp, "w3")],
        quiet,
      ),
      1,
    );
    assertEquals(await main(["coco", "--count", "0"], quiet), 2);
    assertEquals(await main(["coco", "--crops", "3"], quiet), 2);
    assertEquals(await main(["debian", "--val", "1.5"], quiet), 2);
    assertEquals(await main(["nonsense"], quiet), 2);
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("data: every usage error is one line 'data: problem (see --help)', a failure one line 'data: problem'", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "corpus-usage-" });
  const lines: string[] = [];
  const { error, log } = console;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  console.log = () => {};
  /** The exit status and the one line printed on stderr by `data args`. */
  const run = async (...args: string[]) => {
    lines.length = 0;
    const code = await main(args, quiet);
    const text = lines.join("\n");
    ok(
      lines.length === 1 && !text.includes("\n"),
      `${args.join(" ")}: one line, got ${JSON.stringify(text)}`,
    );
    return { code, line: lines[0] };
  };
  try {
    const foreign = join(tmp, "foreign");
    await Deno.mkdir(foreign);
    await Deno.writeTextFile(join(foreign, "notes.txt"), "mine");
    const usage: [string[], RegExp][] = [
      [["coco", "--bogus"], /^data: Unknown option '--bogus'\..* \(see --help\)$/],
      [["coco", "--count", "0"], /^data: --count must be an integer ≥ 1, got "0" \(see --help\)$/],
      [["coco", "--crops", "3"], /^data: --crops is an option of debian \(see --help\)$/],
      [["debian", "--val", "1.5"], /^data: --val must be in \(0, 1\), got "1\.5" \(see --help\)$/],
      [["debian", "extra"], /^data: unexpected argument "extra" \(see --help\)$/],
      [["nonsense"], /^data: unknown command "nonsense": use debian or coco \(see --help\)$/],
      [["coco", "--url", "not a url"], /^data: --url is not a URL: "not a url" \(see --help\)$/],
      [
        ["coco", "--out", foreign, "--work", join(tmp, "w")],
        /^data: --out .*foreign holds other files \(notes\.txt\); choose an empty or new folder \(see --help\)$/,
      ],
    ];
    for (const [args, expected] of usage) {
      const r = await run(...args);
      assertEquals(r.code, 2, args.join(" "));
      ok(expected.test(r.line), `${args.join(" ")}: ${r.line}`);
    }
    // Nothing listens on port 9 of this machine: a failure, exit 1, no usage hint.
    const r = await run(
      "coco",
      "--url",
      "http://127.0.0.1:9/x.tgz",
      "--out",
      join(tmp, "o"),
      "--work",
      join(tmp, "w"),
    );
    assertEquals(r.code, 1);
    ok(/^data: cannot download http:\/\/127\.0\.0\.1:9\/x\.tgz: [^\n]+$/.test(r.line), r.line);
    ok(!r.line.includes("--help"), r.line);
  } finally {
    console.error = error;
    console.log = log;
    await Deno.remove(tmp, { recursive: true });
  }
});
