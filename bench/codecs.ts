/**
 * Codec timings behind cli/image.ts's choice of library per format and direction (README, "Image
 * formats"): decoding and encoding a 12-megapixel (4000×3000) photo-like picture as JPEG (quality 92)
 * and PNG with imagescript's codecs, run as cli/image.ts runs them, and with the JavaScript codecs
 * the CLI used before (jpeg-js, pngjs). Run by hand:
 *
 *   deno run --allow-read bench/codecs.ts [--runs=N] [--size=WxH]
 *
 * Prints the machine, then per format and direction each library's median and fastest time over N
 * runs (5 by default; the cases take turns, so a busy moment does not land on one library), the
 * encoded size, and the faster library. Timings never go into tests.
 */

import { Buffer } from "node:buffer";
import jpeg from "jpeg-js"; // the CLI no longer uses it: a dependency only for this comparison
import { PNG } from "pngjs";
import imagescriptPng from "imagescript/png/node.js";
import {
  encodeImage,
  IMAGESCRIPT_VERSION,
  imagescriptDecodeJpeg,
  imagescriptDecodePng,
  imagescriptEncodeJpeg,
  JPEG_QUALITY,
  type RgbaImage,
} from "../cli/image.ts";
import { parseCommandLine } from "../cli/args.ts";

const { values } = parseCommandLine(Deno.args, {
  runs: { type: "string", default: "5" },
  size: { type: "string", default: "4000x3000" },
});
const runs = Number(values.runs);
const [W, H] = values.size.split("x").map(Number);
if (!(runs >= 1) || !(W >= 16) || !(H >= 16)) throw new Error("usage: --runs=N (N ≥ 1) --size=WxH");

/** Smooth gradients with a little per-pixel noise: compresses like a photo, unlike flat colour or pure noise. */
function photoLike(width: number, height: number): RgbaImage {
  const rgba = new Uint8Array(width * height * 4);
  let seed = 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const n = (seed / 2 ** 32) * 12, i = 4 * (y * width + x);
      rgba[i] = 128 + 100 * Math.sin(x / 170) * Math.cos(y / 230) + n;
      rgba[i + 1] = 128 + 90 * Math.sin((x + y) / 310) + n;
      rgba[i + 2] = 110 + 80 * Math.cos(x / 90 - y / 400) + n;
      rgba[i + 3] = 255;
    }
  }
  return { width, height, rgba };
}

const img = photoLike(W, H);
const rgb = new Uint8Array(W * H * 3);
for (let i = 0; i < W * H; i++) rgb.set(img.rgba.subarray(4 * i, 4 * i + 3), 3 * i);
// The decoders read the same files: JPEG from jpeg-js, PNG from pngjs (as cli/image.ts writes them).
const jpegFile = jpeg.encode({ width: W, height: H, data: img.rgba }, JPEG_QUALITY).data as Uint8Array;
const pngFile = encodeImage(img, "png");

interface Case {
  format: "JPEG" | "PNG";
  direction: "decode" | "encode";
  library: string;
  run: () => Uint8Array | RgbaImage | { data: Uint8Array };
}

const cases: Case[] = [
  {
    format: "JPEG",
    direction: "decode",
    library: "jpeg-js 0.4.4",
    run: () =>
      jpeg.decode(jpegFile, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: 250,
        maxMemoryUsageInMB: 4096,
      }),
  },
  {
    format: "JPEG",
    direction: "decode",
    library: `imagescript ${IMAGESCRIPT_VERSION}`,
    run: () => imagescriptDecodeJpeg(jpegFile),
  },
  {
    format: "JPEG",
    direction: "encode",
    library: "jpeg-js 0.4.4",
    run: () => jpeg.encode({ width: W, height: H, data: img.rgba }, JPEG_QUALITY).data,
  },
  {
    format: "JPEG",
    direction: "encode",
    library: `imagescript ${IMAGESCRIPT_VERSION}`,
    run: () => imagescriptEncodeJpeg(img, JPEG_QUALITY),
  },
  {
    format: "PNG",
    direction: "decode",
    library: "pngjs 7.0.0",
    run: () => PNG.sync.read(Buffer.from(pngFile.buffer, pngFile.byteOffset, pngFile.byteLength)),
  },
  {
    format: "PNG",
    direction: "decode",
    library: `imagescript ${IMAGESCRIPT_VERSION}`,
    run: () => imagescriptDecodePng(pngFile),
  },
  {
    format: "PNG",
    direction: "encode",
    library: "pngjs 7.0.0",
    run: () => encodeImage(img, "png"),
  },
  {
    // RGB at compression level 1, the default of imagescript's Image.encode.
    format: "PNG",
    direction: "encode",
    library: `imagescript ${IMAGESCRIPT_VERSION}`,
    run: () => imagescriptPng.encode(rgb, { width: W, height: H, channels: 3, level: 1 }),
  },
];

const times = cases.map(() => [] as number[]);
const sizes = cases.map(() => 0);
for (let r = -1; r < runs; r++) { // run -1 warms up (compiles the WebAssembly, lets the JIT settle)
  cases.forEach((c, i) => {
    const t0 = performance.now();
    const out = c.run();
    const ms = performance.now() - t0;
    if (r < 0) return;
    times[i].push(ms);
    if (out instanceof Uint8Array) sizes[i] = out.length;
  });
}

// The CPU's name is not readable without --allow-all (/proc/cpuinfo): note it by hand with the results.
console.log(
  `${
    new Date().toISOString().slice(0, 10)
  }, ${Deno.build.target}, ${navigator.hardwareConcurrency} threads, ` +
    `Deno ${Deno.version.deno}`,
);
console.log(`${W}×${H}, JPEG quality ${JPEG_QUALITY}; median (fastest) of ${runs} runs\n`);
const median = (t: number[]) => [...t].sort((a, b) => a - b)[t.length >> 1];
console.log("| format | direction | library | ms | output |");
console.log("| --- | --- | --- | ---: | ---: |");
cases.forEach((c, i) => {
  const size = sizes[i] ? `${(sizes[i] / 1e6).toFixed(2)} MB` : "";
  console.log(
    `| ${c.format} | ${c.direction} | ${c.library} | ${median(times[i]).toFixed(0)} (${
      Math.min(...times[i]).toFixed(0)
    }) | ${size} |`,
  );
});
console.log();
for (let i = 0; i < cases.length; i += 2) {
  const [a, b] = [median(times[i]), median(times[i + 1])];
  console.log(
    `${cases[i].format} ${cases[i].direction}: ${cases[a <= b ? i : i + 1].library} is faster ` +
      `(${(Math.max(a, b) / Math.min(a, b)).toFixed(2)}×)`,
  );
}
