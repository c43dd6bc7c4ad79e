/**
 * NaN and ±∞ never become a picture or a score. A checkpoint holding them is refused at load by
 * the loader that colorize, eval, import and the web page share (the shipped model with its data
 * section overwritten by 0xFF bytes, which are NaN in F16 and F32), so each CLI stops with one
 * line and exit code 2. A generator whose finite weights overflow on a photo makes colorizeRgba
 * throw instead of returning colours, so colorize reports the photo and writes nothing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gpu } from "./helpers.ts";
import { buildGenerator, decodeCheckpoint, encodeCheckpoint } from "../models/checkpoint.ts";
import { colorizeLab, colorizeRgba, type RgbaImage, rgbaToL } from "../models/colorize.ts";
import { Unet, type UnetConfig } from "../models/unet.ts";
import { noGrad } from "../engine/autograd.ts";
import { runtime } from "../engine/gpu.ts";
import { tensor, tidy } from "../engine/tensor.ts";
import { tanh } from "../engine/ops/elementwise.ts";
import { writeImage } from "../cli/image.ts";
import { main as colorizeMain } from "../cli/colorize.ts";
import { main as evalMain } from "../cli/eval.ts";
import { main as importMain } from "../cli/import.ts";

await gpu();

const SHIPPED = new URL("../models/default.safetensors", import.meta.url);
const SMALL: UnetConfig = { inputChannels: 1, outputChannels: 2, nDown: 5, ngf: 4, norm: "batch" };

/** The shipped model with every byte after the header set to 0xFF (NaN in F16 and F32). */
async function poisonedShippedModel(): Promise<Uint8Array> {
  const bytes = await Deno.readFile(SHIPPED);
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  bytes.fill(0xff, headerEnd);
  return bytes;
}

function photo(width: number, height: number): RgbaImage {
  const rgba = new Uint8Array(4 * width * height);
  for (let p = 0; p < width * height; p++) {
    const x = p % width, y = Math.floor(p / width);
    rgba.set([40 + 5 * x, 60 + 3 * y, 150 - 2 * x, 255], 4 * p);
  }
  return { width, height, rgba };
}

/** Lines a CLI writes, for colorize's and import's io argument. */
function capture() {
  const errors: string[] = [], infos: string[] = [];
  return {
    errors,
    infos,
    error: (l: string) => errors.push(l),
    info: (l: string) => infos.push(l),
    progress: false,
  };
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("load: the shipped model with NaN weights (data section all 0xFF, F16) is refused, naming the tensor", async () => {
  const bytes = await poisonedShippedModel();
  assert.throws(() => decodeCheckpoint(bytes, "models/default.safetensors"), (e: Error) => {
    assert.equal(
      e.message,
      "models/default.safetensors: generator tensor model.model.0.weight holds NaN or infinite values",
    );
    return true;
  });
});

Deno.test("load: colorize, eval and import stop with exit code 2 and one line for a NaN checkpoint, writing nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nonfinite_cli_" });
  try {
    const model = join(dir, "nan.safetensors");
    await Deno.writeFile(model, await poisonedShippedModel());
    const data = join(dir, "photos");
    await Deno.mkdir(data);
    const input = join(data, "p.png");
    await writeImage(input, photo(20, 12));
    const expected = `${model}: generator tensor model.model.0.weight holds NaN or infinite values`;

    const c = capture();
    assert.equal(await colorizeMain([input, "--model", model], c), 2);
    assert.deepEqual(c.errors, [`colorize: ${expected}`]);

    const i = capture();
    const out = join(dir, "imported.safetensors");
    assert.equal(await importMain([model, out], i), 2);
    assert.deepEqual(i.errors, [`import: ${expected}`]);

    const errors: string[] = [];
    const origError = console.error, origLog = console.log;
    console.error = (m: string) => errors.push(m);
    console.log = () => {};
    let code;
    try {
      code = await evalMain(["--data", data, "--model", model]);
    } finally {
      console.error = origError;
      console.log = origLog;
    }
    assert.equal(code, 2);
    assert.deepEqual(errors, [`eval: ${expected}`]);

    assert.deepEqual(await listDir(dir), ["nan.safetensors", "photos"]);
    assert.deepEqual(await listDir(data), ["p.png"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inference: tanh keeps NaN (the generator's last layer must not turn it into a colour)", async () => {
  const y = tanh(tensor([NaN, Infinity, -Infinity, 0.5]));
  const v = await y.data();
  y.dispose();
  assert.ok(Number.isNaN(v[0]), `tanh(NaN) = ${v[0]}`);
  assert.deepEqual([...v.subarray(1, 3)], [1, -1]);
  assert.ok(Math.abs(v[3] - Math.tanh(0.5)) < 1e-6);
});

/**
 * A generator with finite but huge weights (±1e30, signs scattered by a hash of the index):
 * activations overflow to ±∞ within two layers, and ∞ − ∞ gives NaN, which tanh keeps. (Signs
 * alternating with the index would not do: the taps of a stride-2 transposed convolution that
 * meet at one output pixel all have the same parity, so nothing would cancel.)
 */
function overflowingGenerator(): Unet {
  const G = new Unet(SMALL);
  const state = new Map<string, Float32Array>();
  for (const [name, t] of G.stateDict()) {
    const v = new Float32Array(t.size);
    if (name.endsWith("running_var")) v.fill(1);
    else if (!name.endsWith("running_mean") && !name.endsWith("num_batches_tracked")) {
      for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 12.9898) > 0 ? 1e30 : -1e30;
    }
    state.set(name, v);
  }
  G.loadStateDict(state);
  return G.eval();
}

Deno.test("inference: a finite generator whose output overflows to NaN makes colorizeRgba throw (every band size)", async () => {
  const G = overflowingGenerator();
  try {
    // The premise: G's own output holds non-finite values for an ordinary input.
    const x = noGrad(() =>
      tidy(() =>
        G.forward(tensor(Float32Array.from({ length: 32 * 32 }, (_, i) => Math.sin(i) * 0.8), [1, 1, 32, 32]))
      )
    );
    const y = await x.data();
    x.dispose();
    assert.ok(y.some((v) => !Number.isFinite(v)), "the generator's output overflows");

    const img = photo(45, 30);
    const refused = (e: Error) => {
      assert.equal(e.message, "model output holds NaN or infinite values");
      return true;
    };
    for (const options of [{}, { bandRows: 7 }]) {
      await assert.rejects(colorizeRgba(G, img, 32, options), refused);
      await assert.rejects(colorizeLab(G, await rgbaToL(img), img.width, img.height, 32, options), refused);
    }
  } finally {
    G.dispose();
  }
});

Deno.test("inference: colorize reports the photo whose output is NaN, writes nothing for it, exit code 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nonfinite_out_" });
  try {
    const G = overflowingGenerator();
    const model = join(dir, "huge.safetensors");
    await Deno.writeFile(model, await encodeCheckpoint({ G, train: { size: 32 } }));
    G.dispose();
    // Finite weights: the checkpoint itself loads.
    buildGenerator(decodeCheckpoint(await Deno.readFile(model), model)).dispose();
    const input = join(dir, "p.png");
    await writeImage(input, photo(45, 30));
    const io = capture();
    assert.equal(await colorizeMain([input, "--model", model], io), 1);
    assert.deepEqual(io.errors, [`colorize: ${input}: model output holds NaN or infinite values`]);
    assert.deepEqual(await listDir(dir), ["huge.safetensors", "p.png"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inference: the count after a band's pixels still fits a storage binding when the band fills one", async () => {
  const G = new Unet(SMALL).eval();
  const rt = runtime();
  const limit = rt.maxBindingBytes;
  const width = 2000, height = 40;
  // A binding of exactly 16 rows of packed pixels (and room for the weight tables): 16-row bands fill
  // it, and the count needs 4 bytes more.
  Object.defineProperty(rt, "maxBindingBytes", { value: 4 * width * 16, configurable: true });
  try {
    const out = await colorizeRgba(G, photo(width, height), 32);
    assert.equal(out.rgba.length, 4 * width * height);
  } finally {
    Object.defineProperty(rt, "maxBindingBytes", { value: limit, configurable: true });
    G.dispose();
  }
});
