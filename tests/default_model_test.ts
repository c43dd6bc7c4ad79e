/**
 * The shipped model (models/default.safetensors): the README's first command
 * depends on it. It must load, be small enough to ship, and colorize a photo
 * while keeping its lightness.
 */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import { buildGenerator, checkpointImageSize, decodeCheckpoint } from "../models/checkpoint.ts";
import { colorizeRgba, rgbaToL } from "../models/colorize.ts";
import { colorfulness } from "../cli/eval.ts";

await gpu();

const MODEL = new URL("../models/default.safetensors", import.meta.url);

Deno.test("shipped model: loads, is under 20 MB, and colorizes a non-square photo keeping its lightness", async () => {
  const bytes = await Deno.readFile(MODEL);
  assert.ok(bytes.length < 20 * 1024 * 1024, `models/default.safetensors is ${bytes.length} bytes`);
  const ck = decodeCheckpoint(bytes, "models/default.safetensors");
  const size = checkpointImageSize(ck);
  assert.ok(size && size % 2 ** ck.generatorConfig.nDown === 0, `training size ${size}`);
  const G = buildGenerator(ck);
  // A gray scene: sky-like gradient over a darker ground, 150×100.
  const width = 150, height = 100;
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = y < 60 ? 200 - y : 80 + ((x * 7 + y * 3) % 40);
      rgba.set([v, v, v, 255], 4 * (y * width + x));
    }
  }
  const input = { width, height, rgba };
  const out = await colorizeRgba(G, input, size!);
  assert.equal(out.width, width);
  assert.equal(out.height, height);
  const [Lin, Lout] = [await rgbaToL(input), await rgbaToL(out)];
  // Output = Lab(input L, predicted ab) rounded to 8 bits; out-of-gamut clipping can move L a little:
  // the mean stays within 1 unit.
  let diff = 0;
  for (let i = 0; i < Lin.length; i++) diff += Math.abs(Lin[i] - Lout[i]);
  assert.ok(diff / Lin.length < 1, `mean |ΔL| ${diff / Lin.length}`);
  // A trained model adds colour to a gray input (a broken or all-zero model would give ~0).
  assert.ok(colorfulness(out) > 2, `colorfulness ${colorfulness(out)}`);
  G.dispose();
});
