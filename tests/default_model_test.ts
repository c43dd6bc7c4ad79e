/**
 * The shipped model (models/default.safetensors): the README's first command
 * depends on it. It must load, be small enough to ship, and colorize a photo
 * while keeping its lightness. It was written before generators had kinds: it
 * must keep loading as the U-Net it is. It is a hint model (colorize --hint and the page's hints
 * use it; MODEL.md, "a hint adapter").
 */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import { buildGenerator, checkpointImageSize, decodeCheckpoint } from "../models/checkpoint.ts";
import { colorizeRgba, rgbaToL } from "../models/colorize.ts";
import { colorfulness } from "../cli/eval.ts";
import { decodeSafetensors } from "../engine/safetensors.ts";
import { Unet } from "../models/unet.ts";
import { sizeMultipleOf } from "../models/generators.ts";
import { takesHints } from "../models/hints.ts";

await gpu();

const MODEL = new URL("../models/default.safetensors", import.meta.url);

Deno.test("shipped model: loads, is under 20 MB, and colorizes a non-square photo keeping its lightness", async () => {
  const bytes = await Deno.readFile(MODEL);
  assert.ok(bytes.length < 20 * 1024 * 1024, `models/default.safetensors is ${bytes.length} bytes`);
  const ck = decodeCheckpoint(bytes, "models/default.safetensors");
  // Its generator_config has no kind: a U-Net, as every file written before the other kinds.
  const saved = JSON.parse(decodeSafetensors(bytes).metadata.generator_config);
  assert.equal("kind" in saved, false);
  assert.deepEqual(ck.generatorConfig, saved);
  assert.ok(takesHints(ck.generatorConfig), "the shipped model takes colour hints");
  const size = checkpointImageSize(ck);
  assert.ok(size && size % sizeMultipleOf(ck.generatorConfig) === 0, `training size ${size}`);
  const G = buildGenerator(ck);
  assert.ok(G instanceof Unet);
  assert.equal(G.sizeMultiple, sizeMultipleOf(ck.generatorConfig));
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
