/**
 * Test fixtures shared by several test files: synthetic pictures (random bytes, a smooth picture, a
 * learnable scene), the bytes PNG files are made of, and a stand-in generator. Each makes the same
 * data on every call, so a test that uses one sees what it saw when it had its own copy.
 */

import assert from "node:assert/strict";
import { rng } from "./helpers.ts";
import { keep, type Tensor, tensor } from "../engine/tensor.ts";
import { copy } from "../engine/ops/buffers.ts";
import type { RgbaImage } from "../engine/image.ts";
import { crc32 } from "../cli/image.ts";
import type { Generator, GeneratorConfig } from "../models/generators.ts";

/** width×height random RGB with random alpha (seeded), for checks that alpha passes through untouched. */
export function randomRgba(width: number, height: number, seed: number): RgbaImage {
  const r = rng(seed);
  return {
    width,
    height,
    rgba: Uint8Array.from({ length: 4 * width * height }, () => Math.floor(256 * r.next())),
  };
}

/** A smooth test picture (gradients and a disc) with optional varying alpha, for image codec round trips. */
export function picture(width: number, height: number, alpha = false): RgbaImage {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const inDisc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (Math.min(width, height) / 3) ** 2;
      rgba[i] = Math.round((255 * x) / (width - 1));
      rgba[i + 1] = Math.round((255 * y) / (height - 1));
      rgba[i + 2] = inDisc ? 200 : 40;
      rgba[i + 3] = alpha ? (x * 37 + y * 11) % 256 : 255;
    }
  }
  return { width, height, rgba };
}

/**
 * An S×S training scene whose colours follow from its structure (so they can be learned from L): sky
 * getting lighter towards the horizon, textured grass, a red sun whose place and size vary with k. The
 * horizon lies at 0.4 + 0.05·`horizon` of the height, `horizon` one of 0–4.
 */
export function scene(k: number, S = 32, horizon = k % 5): RgbaImage {
  const rgba = new Uint8Array(S * S * 4);
  const top = Math.floor(S * (0.4 + 0.05 * horizon));
  const cx = (k * 11) % S, cy = top + ((k * 5) % (S - top)), r = 3 + (k % 5);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let c: number[];
      if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) c = [230, 40, 40];
      else if (y < top) c = [80 + y * 3, 140 + y * 2, 250];
      else c = [40 + (x % 4) * 5, 150 + ((x + y) % 7) * 8, 50];
      rgba.set([c[0], c[1], c[2], 255], 4 * (y * S + x));
    }
  }
  return { width: S, height: S, rgba };
}

/** The 8 bytes every PNG file starts with, for PNG files (and PNG-looking ones) built by hand. */
export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** One PNG chunk: length, type, data and the CRC over type and data, for PNG files built by hand. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * A stand-in generator for `size` that shows the given `config` and `sizeMultiple`: it keeps a copy of
 * the input it is given (`input()` reads it back) and returns `pred` ([2, size, size] in model units),
 * so the passes around the generator can be checked alone.
 */
export function fakeGenerator(
  size: number,
  pred: Float32Array,
  { config, sizeMultiple }: { config: GeneratorConfig; sizeMultiple: number },
): { G: Generator; input: () => Promise<Float32Array> } {
  let seen: Tensor | null = null;
  const fake = {
    config,
    sizeMultiple,
    training: true,
    eval() {
      this.training = false;
    },
    train(mode: boolean) {
      this.training = mode;
    },
    forward(x: Tensor): Tensor {
      assert.deepEqual(x.shape, [1, 1, size, size]);
      seen?.dispose();
      seen = keep(copy(x));
      return tensor(pred, [1, 2, size, size]);
    },
  };
  return {
    G: fake as unknown as Generator,
    input: async () => {
      const data = await seen!.data();
      seen!.dispose();
      seen = null;
      return data;
    },
  };
}
