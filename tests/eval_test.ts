/**
 * Quality metrics of `deno task eval`: PSNR and Hasler–Süsstrunk colorfulness, by hand, and the gray baseline;
 * eval --hints (hints sampled from the originals, one row per count).
 */
import assert from "node:assert/strict";
import { gpu, rng } from "./helpers.ts";
import { colorfulness, evaluate, formatTable, main, psnr } from "../cli/eval.ts";
import { parseHintCounts, photoHintRng, sampleHintsFromImage } from "../cli/eval_hints.ts";
import { writeImage } from "../cli/image.ts";
import { rgbToLabCpu } from "../engine/color.ts";
import { manualSeed } from "../engine/random.ts";
import { encodeCheckpoint } from "../models/checkpoint.ts";
import { colorizeGeometry, type RgbaImage } from "../models/colorize.ts";
import { type Generator, initGeneratorWeights } from "../models/generators.ts";
import { type Hint, hintPatchCells, squareCell } from "../models/hints.ts";
import { Unet } from "../models/unet.ts";

await gpu();

function image(
  width: number,
  height: number,
  f: (x: number, y: number) => [number, number, number],
): RgbaImage {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      rgba.set([...f(x, y), 255], i);
    }
  }
  return { width, height, rgba };
}

Deno.test("psnr: identical images are infinite; a uniform error of 5 gives 10·log10(255²/25)", () => {
  const a = image(3, 2, () => [100, 120, 140]);
  const b = image(3, 2, () => [105, 115, 145]);
  assert.equal(psnr(a, a), Infinity);
  assert.ok(Math.abs(psnr(a, b) - 10 * Math.log10(255 ** 2 / 25)) < 1e-12);
  assert.throws(() => psnr(a, image(2, 2, () => [0, 0, 0])), /psnr: sizes 3×2 and 2×2 differ/);
});

Deno.test("colorfulness: 0 for gray; by hand for a two-colour image", () => {
  assert.equal(colorfulness(image(4, 4, (x) => [x * 60, x * 60, x * 60])), 0);
  // Pixels (255,0,0) and (0,0,255): rg = 255, 0 → μ 127.5, σ 127.5; yb = 127.5, −255 → μ −63.75, σ 191.25.
  const img = image(2, 1, (x) => (x === 0 ? [255, 0, 0] : [0, 0, 255]));
  const expected = Math.hypot(127.5, 191.25) + 0.3 * Math.hypot(127.5, -63.75);
  assert.ok(Math.abs(colorfulness(img) - expected) < 1e-9);
});

Deno.test("evaluate: the gray baseline keeps lightness (high PSNR on a near-gray photo) and has no colour", async () => {
  const photo = image(16, 12, (x, y) => [100 + 4 * x, 100 + 3 * y, 96 + 2 * x]);
  const { rows, originalColorfulness } = await evaluate([photo], []);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].name, "gray (ab = 0)");
  // The photo is almost gray (channels within ~30 levels), so dropping its colour costs little: > 25 dB.
  assert.ok(rows[0].psnr > 25, `psnr ${rows[0].psnr}`);
  assert.ok(rows[0].colorfulness < 1, `gray output colorfulness ${rows[0].colorfulness}`);
  assert.ok(originalColorfulness > 5);
});

Deno.test("deno task eval: reads photos in subfolders of --data, skips a broken one, writes the JSON table", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/a/b`, { recursive: true });
    await writeImage(`${dir}/a/one.png`, image(8, 8, (x, y) => [30 * x, 30 * y, 120]));
    await writeImage(`${dir}/a/b/two.png`, image(8, 8, (x) => [200, 20 * x, 40]));
    await Deno.writeTextFile(`${dir}/a/broken.jpg`, "not a jpeg");
    const errors: string[] = [];
    const origError = console.error, origLog = console.log;
    console.error = (m: string) => errors.push(m);
    console.log = () => {};
    let code;
    try {
      code = await main(["--data", dir, "--json", `${dir}/table.json`]);
    } finally {
      console.error = origError;
      console.log = origLog;
    }
    // The broken file makes the exit code 1 but the other two photos are still scored.
    assert.equal(code, 1);
    assert.ok(errors.some((e) => e.includes("broken.jpg")), errors.join("\n"));
    const table = JSON.parse(await Deno.readTextFile(`${dir}/table.json`));
    assert.equal(table.count, 2);
    assert.ok(Number.isFinite(table.rows[0].psnr) && table.originalColorfulness > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task eval: a folder without readable photos is an error, not a table of NaN", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/broken.png`, "not a png");
    const errors: string[] = [];
    const origError = console.error;
    console.error = (m: string) => errors.push(m);
    let code;
    try {
      code = await main(["--data", dir]);
    } finally {
      console.error = origError;
    }
    assert.equal(code, 2);
    assert.match(errors.at(-1)!, /none of the 1 photos could be read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs eval's main with console.error and console.log captured (`lines`: what it printed, line by line). */
async function runEval(args: string[]): Promise<{ code: number; errors: string[]; lines: string[] }> {
  const errors: string[] = [], lines: string[] = [];
  const origError = console.error, origLog = console.log;
  console.error = (m: string) => errors.push(m);
  console.log = (m: string) => lines.push(...m.split("\n"));
  try {
    return { code: await main(args), errors, lines };
  } finally {
    console.error = origError;
    console.log = origLog;
  }
}

Deno.test("deno task eval: grayscale photos are skipped and counted as training does, so the gray row stays finite", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeImage(`${dir}/colour.png`, image(8, 8, (x, y) => [30 * x, 30 * y, 120]));
    await writeImage(`${dir}/gray.png`, image(8, 8, (x, y) => [20 * x + y, 20 * x + y, 20 * x + y]));
    // Channels 6 levels apart: gray by training's tolerance (GRAY_TOLERANCE = 8), not by isGrayscale's default 2.
    await writeImage(`${dir}/near_gray.png`, image(8, 8, (x) => [100 + x, 106 + x, 103 + x]));
    const { code, errors } = await runEval(["--data", dir, "--json", `${dir}/table.json`]);
    assert.equal(code, 0, errors.join("\n"));
    assert.deepEqual(errors, ["eval: skipped 2 grayscale photos (no colour to score)"]);
    const table = JSON.parse(await Deno.readTextFile(`${dir}/table.json`));
    assert.equal(table.count, 1);
    assert.equal(table.grayscale, 2);
    assert.ok(Number.isFinite(table.rows[0].psnr), `gray row psnr ${table.rows[0].psnr}`);

    // Only grayscale photos: nothing to score, exit code 2 and one line saying why.
    await Deno.remove(`${dir}/colour.png`);
    const r = await runEval(["--data", dir]);
    assert.equal(r.code, 2);
    assert.equal(
      r.errors.at(-1),
      `eval: ${dir}: none of the 2 photos is a colour photo (2 grayscale, 0 unreadable)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task eval: an unreadable photo whose name holds a line break is still reported on one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeImage(`${dir}/ok.png`, image(8, 8, (x, y) => [30 * x, 30 * y, 120]));
    await Deno.writeTextFile(`${dir}/two\nlines.png`, "not a png");
    const { code, errors } = await runEval(["--data", dir, "--model", `${dir}/no\nmodel.safetensors`]);
    assert.equal(code, 2);
    assert.equal(errors.length, 1, errors.join("|"));
    assert.match(errors[0], /^eval: .*no model\.safetensors/);
    const r = await runEval(["--data", dir]);
    assert.equal(r.code, 1);
    assert.equal(r.errors.length, 1, r.errors.join("|"));
    assert.ok(r.errors[0].startsWith(`eval: ${dir}/two lines.png: not a `), r.errors[0]);
    assert.ok(!r.errors[0].includes("\n"), r.errors[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// eval --hints: hints sampled from the originals (cli/eval_hints.ts).

/** A photo with colour that varies everywhere (so every patch has its own mean). */
function busyPhoto(width: number, height: number, seed: number): RgbaImage {
  const r = rng(seed);
  return image(width, height, (x, y) => [
    Math.floor(255 * r.next()),
    (7 * x + 3 * y) % 256,
    Math.floor(128 + 127 * Math.sin(x / 5 + y / 7)),
  ]);
}

Deno.test("sampleHintsFromImage: seeded points, independent of the geometry; prefixes; each the mean ab of its patch", () => {
  const photo = busyPhoto(90, 50, 1);
  const g32 = colorizeGeometry(90, 50, 32), g64 = colorizeGeometry(90, 50, 64);
  const a = sampleHintsFromImage(photo, 12, photoHintRng(1, 0), g32);
  assert.equal(a.length, 12);
  assert.deepEqual(sampleHintsFromImage(photo, 12, photoHintRng(1, 0), g32), a);
  // The first k of n hints are the k hints; another geometry keeps the points (not the colours).
  assert.deepEqual(sampleHintsFromImage(photo, 5, photoHintRng(1, 0), g32), a.slice(0, 5));
  const b = sampleHintsFromImage(photo, 12, photoHintRng(1, 0), g64);
  assert.deepEqual(b.map((h) => [h.x, h.y]), a.map((h) => [h.x, h.y]));
  assert.ok(b.some((h, i) => h.a !== a[i].a), "a smaller patch at 64 averages other pixels");
  // Another seed or another photo of the list: other points.
  const points = (hs: Hint[]) => hs.map((h) => `${h.x},${h.y}`).join(" ");
  assert.notEqual(points(sampleHintsFromImage(photo, 12, photoHintRng(2, 0), g32)), points(a));
  assert.notEqual(points(sampleHintsFromImage(photo, 12, photoHintRng(1, 1), g32)), points(a));
  for (const h of a) {
    assert.ok(Number.isInteger(h.x) && h.x >= 0 && h.x < 90 && Number.isInteger(h.y) && h.y >= 0 && h.y < 50);
    // Brute force: every photo pixel whose model cell is in the hint's patch, as the hint map places it.
    const cells = hintPatchCells(squareCell(h.x, h.y, g32), 32);
    let sa = 0, sb = 0, n = 0;
    for (let y = 0; y < 50; y++) {
      for (let x = 0; x < 90; x++) {
        const [cx, cy] = squareCell(x, y, g32);
        if (cx < cells.x0 || cx > cells.x1 || cy < cells.y0 || cy > cells.y1) continue;
        const i = 4 * (y * 90 + x);
        const [, pa, pb] = rgbToLabCpu(photo.rgba[i] / 255, photo.rgba[i + 1] / 255, photo.rgba[i + 2] / 255);
        sa += pa, sb += pb, n++;
      }
    }
    // About HINT_PATCH·side/size = 3·112/32 ≈ 10 pixels a side inside the photo, fewer at its edges.
    assert.ok(n >= 1 && n <= 11 * 11, `${n} pixels`);
    assert.ok(Math.abs(h.a - sa / n) < 1e-9 && Math.abs(h.b - sb / n) < 1e-9, `hint (${h.x}, ${h.y})`);
  }
  assert.throws(
    () => sampleHintsFromImage(photo, 1, photoHintRng(1, 0), colorizeGeometry(50, 90, 32)),
    /90×50 photo with a 50×90 geometry/,
  );
});

Deno.test("parseHintCounts: one count or a list of distinct whole numbers", () => {
  assert.deepEqual(parseHintCounts("5"), [5]);
  assert.deepEqual(parseHintCounts("0,1,5,10,20"), [0, 1, 5, 10, 20]);
  assert.deepEqual(parseHintCounts("10, 0"), [10, 0]);
  for (const bad of ["", "x", "-1", "1.5", "1,,2", "1,", "1e2", "0x5", "99999999999999999999"]) {
    assert.throws(
      () => parseHintCounts(bad),
      /^Error: --hints must be a number of hints per photo or a list like 0,1,5,10,20 \(got ".*"\)$/,
      bad,
    );
  }
  assert.throws(() => parseHintCounts("1,5,1"), /--hints lists 1 twice/);
});

/** A tiny generator with seeded random weights (its hint weights are not zero, so hints change its output). */
function tinyGenerator(inputChannels: number): Generator {
  manualSeed(inputChannels);
  const G = new Unet({ nDown: 5, ngf: 8, inputChannels });
  initGeneratorWeights(G);
  return G;
}

Deno.test("evaluate with hints: one row per count after the gray row, seeded, 0 hints as without hints", async () => {
  const photos = [busyPhoto(40, 24, 3), busyPhoto(20, 30, 4)];
  const G = tinyGenerator(4);
  const models = [{ name: "hint", G, size: 32 }];
  const plain = await evaluate(photos, models);
  assert.deepEqual(plain.rows.map((r) => [r.name, r.hints]), [["gray (ab = 0)", undefined], [
    "hint",
    undefined,
  ]]);
  const a = await evaluate(photos, models, undefined, { hints: [0, 2, 8], seed: 5 });
  assert.deepEqual(a.rows.map((r) => [r.name, r.hints]), [
    ["gray (ab = 0)", undefined],
    ["hint", 0],
    ["hint", 2],
    ["hint", 8],
  ]);
  assert.equal(a.rows[1].psnr, plain.rows[1].psnr);
  assert.equal(a.rows[0].psnr, plain.rows[0].psnr);
  // Hints reach the model: its output changes with their count.
  assert.notEqual(a.rows[2].psnr, a.rows[1].psnr);
  assert.notEqual(a.rows[3].psnr, a.rows[2].psnr);
  // The same seed gives the same table; another seed other points.
  assert.deepEqual(await evaluate(photos, models, undefined, { hints: [0, 2, 8], seed: 5 }), a);
  const other = await evaluate(photos, models, undefined, { hints: [8], seed: 6 });
  assert.notEqual(other.rows[1].psnr, a.rows[3].psnr);
  // A count asked for alone gives the row it gets in a list.
  const alone = await evaluate(photos, models, undefined, { hints: [2], seed: 5 });
  assert.deepEqual(alone.rows[1], a.rows[2]);
  const auto = tinyGenerator(1);
  await assert.rejects(
    () => evaluate(photos, [{ name: "auto", G: auto, size: 32 }], undefined, { hints: [1] }),
    /takes no colour hints/,
  );
  // 0 hints is fine for an automatic model.
  const zero = await evaluate(photos, [{ name: "auto", G: auto, size: 32 }], undefined, { hints: [0] });
  assert.equal(zero.rows[1].hints, 0);
  G.dispose();
  auto.dispose();
});

Deno.test("formatTable: a hints column only when rows have hint counts", () => {
  const rows = [
    { name: "gray (ab = 0)", psnr: 20.123, colorfulness: 0.04, colorfulnessRatio: 0.001 },
    { name: "m.safetensors", hints: 0, psnr: 22.5, colorfulness: 30.25, colorfulnessRatio: 0.7 },
    { name: "m.safetensors", hints: 10, psnr: 24.75, colorfulness: 35.5, colorfulnessRatio: 0.8 },
  ];
  assert.equal(
    formatTable({ rows, originalColorfulness: 44.4 }, 3),
    [
      "| model | hints | PSNR (dB) | colorfulness | vs originals |",
      "| --- | ---: | ---: | ---: | ---: |",
      "| gray (ab = 0) | — | 20.12 | 0.0 | 0% |",
      "| m.safetensors | 0 | 22.50 | 30.3 | 70% |",
      "| m.safetensors | 10 | 24.75 | 35.5 | 80% |",
      "| originals (3 photos) | — | — | 44.4 | 100% |",
    ].join("\n"),
  );
  const plain = formatTable({
    rows: rows.slice(0, 2).map(({ hints: _, ...r }) => r),
    originalColorfulness: 44.4,
  }, 3);
  assert.equal(plain.split("\n")[0], "| model | PSNR (dB) | colorfulness | vs originals |");
  assert.equal(plain.split("\n")[4], "| originals (3 photos) | — | 44.4 | 100% |");
});

Deno.test("deno task eval --hints: rows per count and the JSON; usage errors and automatic models: one line, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeImage(`${dir}/one.png`, busyPhoto(40, 24, 5));
    await writeImage(`${dir}/two.png`, busyPhoto(24, 24, 6));
    const hintG = tinyGenerator(4), autoG = tinyGenerator(1);
    await Deno.writeFile(`${dir}/hint.safetensors`, await encodeCheckpoint({ G: hintG }));
    await Deno.writeFile(`${dir}/auto.safetensors`, await encodeCheckpoint({ G: autoG }));
    hintG.dispose();
    autoG.dispose();
    const r = await runEval([
      "--data",
      dir,
      "--model",
      `${dir}/hint.safetensors`,
      "--size",
      "32",
      "--hints",
      "0,1,5",
      "--seed",
      "3",
      "--json",
      `${dir}/table.json`,
    ]);
    assert.equal(r.code, 0, r.errors.join("\n"));
    const lines = r.lines;
    assert.equal(lines[0], "| model | hints | PSNR (dB) | colorfulness | vs originals |");
    assert.match(lines[2], /^\| gray \(ab = 0\) \| — \| /);
    for (const [k, n] of [0, 1, 5].entries()) {
      assert.match(lines[3 + k], new RegExp(`^\\| hint\\.safetensors \\| ${n} \\| \\d`));
    }
    assert.match(lines[6], /^\| originals \(2 photos\) \| — \| — \|/);
    const table = JSON.parse(await Deno.readTextFile(`${dir}/table.json`));
    assert.deepEqual(table.hints, [0, 1, 5]);
    assert.equal(table.seed, 3);
    assert.equal(table.spread, true);
    assert.deepEqual(table.rows.map((x: { hints?: number }) => x.hints), [undefined, 0, 1, 5]);

    const cases: [string[], RegExp][] = [
      [
        ["--model", `${dir}/auto.safetensors`, "--hints", "0,5"],
        /^eval: --hints 5: .*auto\.safetensors takes no colour hints \(it was trained without --hints-input\)$/,
      ],
      [
        ["--hints", "five"],
        /^eval: --hints must be a number of hints per photo or a list like 0,1,5,10,20 \(got "five"\)$/,
      ],
      [["--hints", "1,1"], /^eval: --hints lists 1 twice/],
      [["--hints", "1", "--seed=-2"], /^eval: --seed must be a whole number ≥ 0 \(got -2\)$/],
      [["--hints", "1", "--seed", "1.5"], /^eval: --seed must be a whole number ≥ 0 \(got 1.5\)$/],
      [["--seed", "2"], /^eval: --seed chooses the hint points: it needs --hints$/],
      [["--no-spread"], /^eval: --no-spread is about hints: it needs --hints$/],
    ];
    for (const [args, re] of cases) {
      const e = await runEval(["--data", dir, "--size", "32", ...args]);
      assert.equal(e.code, 2, args.join(" "));
      assert.equal(e.errors.length, 1, e.errors.join("|"));
      assert.match(e.errors[0], re);
    }
    // An automatic model with --hints 0 is scored (a hints column, one row).
    const z = await runEval([
      "--data",
      dir,
      "--size",
      "32",
      "--model",
      `${dir}/auto.safetensors`,
      "--hints",
      "0",
    ]);
    assert.equal(z.code, 0, z.errors.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
