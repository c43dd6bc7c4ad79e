/** Quality metrics of `deno task eval`: PSNR and Hasler–Süsstrunk colorfulness, by hand, and the gray baseline. */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import { colorfulness, evaluate, main, psnr } from "../cli/eval.ts";
import { writeImage } from "../cli/image.ts";
import type { RgbaImage } from "../models/colorize.ts";

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

/** Runs eval's main with console.error and console.log captured. */
async function runEval(args: string[]): Promise<{ code: number; errors: string[] }> {
  const errors: string[] = [];
  const origError = console.error, origLog = console.log;
  console.error = (m: string) => errors.push(m);
  console.log = () => {};
  try {
    return { code: await main(args), errors };
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
