/** Quality metrics of `deno task eval`: PSNR and Hasler–Süsstrunk colorfulness, by hand, and the gray baseline. */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import { colorfulness, evaluate, psnr } from "../cli/eval.ts";
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
