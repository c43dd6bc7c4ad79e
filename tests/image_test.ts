/**
 * Image files for the CLI: PNG/JPEG round trips, one-line errors for bad files,
 * EXIF orientation, the PNG and JPEG variants photos come in (16-bit, palette,
 * interlaced, progressive, CMYK), huge declared sizes, resizing and the grayscale
 * test. Code: cli/image.ts; GIF, TIFF and WebP are in formats_test.ts.
 * Images are generated here and bad files written to a temporary directory.
 */
import { AssertionError, deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  applyOrientation,
  crc32,
  decodeImage,
  encodeImage,
  formatOf,
  ImageError,
  isGrayscale,
  readImage,
  resizeRgba,
  type RgbaImage,
  writeImage,
} from "../cli/image.ts";
import { deflateSync } from "node:zlib";
import { rng } from "./helpers.ts";
import { picture, PNG_SIGNATURE, pngChunk } from "./fixtures.ts";

function solid(width: number, height: number, px: number[]): RgbaImage {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < rgba.length; i += 4) rgba.set(px, i);
  return { width, height, rgba };
}

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "image_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new AssertionError({ message: "expected an error, got none" });
}

async function expectError(p: Promise<unknown>, expected: string) {
  const e = await errorOf(p);
  if (!(e instanceof ImageError)) throw new AssertionError({ message: `not an ImageError: ${e}` });
  if (e.message.includes("\n")) {
    throw new AssertionError({ message: `message is not one line: ${e.message}` });
  }
  if (!e.message.startsWith(expected)) {
    throw new AssertionError({ message: `expected message starting "${expected}", got "${e.message}"` });
  }
}

/** Mean absolute difference of the RGB channels. */
function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    if (i % 4 === 3) continue;
    s += Math.abs(a[i] - b[i]);
    n++;
  }
  return s / n;
}

Deno.test("PNG: write and read back exactly, opaque and with alpha, odd sizes", async () => {
  await withTempDir(async (dir) => {
    for (const img of [picture(37, 23), picture(5, 9, true), solid(1, 1, [1, 2, 3, 255])]) {
      const path = `${dir}/out_${img.width}x${img.height}.PNG`; // upper-case extension still means PNG
      await writeImage(path, img);
      const back = await readImage(path);
      assertEquals([back.width, back.height], [img.width, img.height]);
      assertEquals(back.rgba, img.rgba);
    }
  });
});

Deno.test("JPEG: write at quality 92 and read back close; size and format by extension", async () => {
  await withTempDir(async (dir) => {
    const img = picture(64, 48);
    for (const ext of ["jpg", "jpeg", "JPG"]) {
      const path = `${dir}/out.${ext}`;
      await writeImage(path, img);
      const bytes = await Deno.readFile(path);
      assertEquals([bytes[0], bytes[1]], [0xff, 0xd8]);
      const back = await readImage(path);
      assertEquals([back.width, back.height], [64, 48]);
      // Quality 92 on this picture: mean error 1.6 levels (measured; the disc's sharp edge dominates).
      // 3 fails a wrong quality (quality 30 gives 4.0) or a channel mix-up (tens of levels).
      const err = meanAbsDiff(back.rgba, img.rgba);
      if (!(err < 3)) throw new AssertionError({ message: `JPEG mean error ${err}` });
      // JPEG has no alpha: every pixel reads back opaque.
      for (let i = 3; i < back.rgba.length; i += 4) {
        if (back.rgba[i] !== 255) throw new AssertionError({ message: "alpha" });
      }
    }
    assertEquals([
      formatOf("a.png"),
      formatOf("b.JPeG"),
      formatOf("c.jpg"),
      formatOf("d.webp"),
      formatOf("png"),
    ], [
      "png",
      "jpeg",
      "jpeg",
      null,
      null,
    ]);
  });
});

Deno.test("readImage: errors name the file and the problem in one line", async () => {
  await withTempDir(async (dir) => {
    const png = encodeImage(picture(40, 30), "png");
    const jpg = encodeImage(picture(40, 30), "jpeg");
    const write = async (name: string, bytes: Uint8Array) => {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      return `${dir}/${name}`;
    };
    await expectError(readImage(`${dir}/missing.jpg`), `${dir}/missing.jpg: file not found`);
    await expectError(readImage(dir), `${dir}: is a directory, not an image`);
    await expectError(
      readImage(await write("notes.jpg", new TextEncoder().encode("hello, world\n"))),
      `${dir}/notes.jpg: not a JPEG, PNG, GIF, TIFF or WebP image`,
    );
    await expectError(readImage(await write("empty.png", new Uint8Array(0))), `${dir}/empty.png: empty file`);
    await expectError(
      readImage(await write("scan.png", new TextEncoder().encode("BM\x36\x00\x0c\x00\x00\x00"))),
      `${dir}/scan.png: not a JPEG, PNG, GIF, TIFF or WebP image (looks like BMP)`,
    );
    // A GIF is read now; its bare header is a truncated file.
    await expectError(
      readImage(await write("anim.png", new TextEncoder().encode("GIF89a\x01\x00\x01\x00"))),
      `${dir}/anim.png: truncated or corrupt GIF (file ends at byte 10 inside the header)`,
    );
    // Truncated anywhere after the signature: never decoded into a half-grey picture.
    for (const cut of [3, 20, jpg.length >> 1, jpg.length - 2]) {
      await expectError(
        readImage(await write(`cut${cut}.jpg`, jpg.subarray(0, cut))),
        `${dir}/cut${cut}.jpg: truncated or corrupt JPEG`,
      );
    }
    for (const cut of [8, 30, png.length >> 1, png.length - 4]) {
      await expectError(
        readImage(await write(`cut${cut}.png`, png.subarray(0, cut))),
        `${dir}/cut${cut}.png: truncated or corrupt PNG`,
      );
    }
    // A flipped bit inside the PNG's pixel data fails its chunk's CRC.
    const flipped = png.slice();
    flipped[png.length - 20] ^= 0x10;
    await expectError(
      readImage(await write("flipped.png", flipped)),
      `${dir}/flipped.png: truncated or corrupt PNG (bad CRC`,
    );
    // Garbage in the JPEG's first segment (after the SOI and APP0 markers).
    const garbled = jpg.slice();
    garbled.fill(0x41, 4, 40);
    await expectError(
      readImage(await write("garbled.jpg", garbled)),
      `${dir}/garbled.jpg: truncated or corrupt JPEG`,
    );
  });
});

Deno.test("readImage: 0×0 PNG and JPEG are refused", async () => {
  await withTempDir(async (dir) => {
    // PNG: IHDR data starts at byte 16 (width) and 20 (height); its CRC covers bytes 12..29.
    const png = encodeImage(picture(4, 3), "png").slice();
    png.fill(0, 16, 24);
    new DataView(png.buffer).setUint32(29, crc32(png.subarray(12, 29)));
    await Deno.writeFile(`${dir}/zero.png`, png);
    await expectError(readImage(`${dir}/zero.png`), `${dir}/zero.png: image has zero size (0×0)`);
    // JPEG: find the baseline frame header (0xFFC0): length(2), precision(1), height(2), width(2).
    const jpg = encodeImage(picture(4, 3), "jpeg").slice();
    let sof = -1;
    for (let i = 2; i < jpg.length - 1; i++) {
      if (jpg[i] === 0xff && jpg[i + 1] === 0xc0) (sof = i, i = jpg.length);
    }
    if (sof < 0) throw new AssertionError({ message: "no SOF0 in the encoder's output" });
    jpg.fill(0, sof + 5, sof + 9);
    await Deno.writeFile(`${dir}/zero.jpg`, jpg);
    await expectError(readImage(`${dir}/zero.jpg`), `${dir}/zero.jpg: image has zero size (0×0)`);
  });
});

Deno.test("writeImage: errors for unknown formats, missing directories and bad images", async () => {
  await withTempDir(async (dir) => {
    const img = picture(4, 4);
    await expectError(writeImage(`${dir}/out.bmp`, img), `${dir}/out.bmp: unsupported output format ".bmp"`);
    await expectError(writeImage(`${dir}/out`, img), `${dir}/out: unsupported output format (no extension)`);
    await expectError(
      writeImage(`${dir}/no/such/dir/out.png`, img),
      `${dir}/no/such/dir/out.png: cannot write`,
    );
    await expectError(
      writeImage(`${dir}/empty.png`, { width: 0, height: 0, rgba: new Uint8Array(0) }),
      `${dir}/empty.png: cannot write an image of size 0×0`,
    );
    await expectError(
      writeImage(`${dir}/short.png`, { width: 2, height: 2, rgba: new Uint8Array(15) }),
      `${dir}/short.png: 15 bytes are not 2×2 RGBA pixels`,
    );
  });
});

Deno.test("crc32: the standard check value", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("EXIF orientation: a JPEG tagged 'rotate 90° clockwise' reads back upright", async () => {
  // 16×8: left half red, right half blue. Orientation 6 means viewers rotate it clockwise,
  // giving 8×16 with red on top and blue below.
  const img = solid(16, 8, [255, 0, 0, 255]);
  for (let y = 0; y < 8; y++) for (let x = 8; x < 16; x++) img.rgba.set([0, 0, 255, 255], 4 * (y * 16 + x));
  const jpg = encodeImage(img, "jpeg");
  // APP1 "Exif\0\0" + little-endian TIFF header + IFD0 with one entry: 0x0112 SHORT 1 = 6.
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
  const payload = [...new TextEncoder().encode("Exif\0\0"), ...tiff];
  const app1 = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff, ...payload];
  const tagged = new Uint8Array([...jpg.subarray(0, 2), ...app1, ...jpg.subarray(2)]);
  const out = await decodeImage(tagged, "tagged.jpg");
  assertEquals([out.width, out.height], [8, 16]);
  const px = (x: number, y: number) => [...out.rgba.subarray(4 * (y * 8 + x), 4 * (y * 8 + x) + 3)];
  // JPEG blurs colours slightly; the centres of the halves are within a few levels.
  const near = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) <= 8);
  if (!near(px(4, 3), [255, 0, 0]) || !near(px(4, 12), [0, 0, 255])) {
    throw new AssertionError({ message: `top ${px(4, 3)}, bottom ${px(4, 12)}` });
  }
});

Deno.test("applyOrientation: all eight orientations on a 3×2 image, checked by hand", () => {
  // Pixels numbered 1..6 (in the red channel):  1 2 3
  //                                              4 5 6
  const img: RgbaImage = { width: 3, height: 2, rgba: new Uint8Array(24) };
  for (let i = 0; i < 6; i++) img.rgba.set([i + 1, 0, 0, 255], 4 * i);
  const red = (o: number) => {
    const r = applyOrientation(img, o);
    return [r.width, r.height, ...Array.from({ length: 6 }, (_, i) => r.rgba[4 * i])];
  };
  assertEquals(red(1), [3, 2, 1, 2, 3, 4, 5, 6]);
  assertEquals(red(2), [3, 2, 3, 2, 1, 6, 5, 4]); // mirror left-right
  assertEquals(red(3), [3, 2, 6, 5, 4, 3, 2, 1]); // rotate 180°
  assertEquals(red(4), [3, 2, 4, 5, 6, 1, 2, 3]); // mirror top-bottom
  assertEquals(red(5), [2, 3, 1, 4, 2, 5, 3, 6]); // transpose
  assertEquals(red(6), [2, 3, 4, 1, 5, 2, 6, 3]); // rotate 90° clockwise
  assertEquals(red(7), [2, 3, 6, 3, 5, 2, 4, 1]); // transverse
  assertEquals(red(8), [2, 3, 3, 6, 2, 5, 1, 4]); // rotate 90° counter-clockwise
});

Deno.test("resizeRgba: constants stay constant, 2×2 → 1×1 is the exact box average", () => {
  const c = solid(37, 23, [200, 17, 99, 255]);
  for (const [w, h] of [[10, 7], [100, 61], [37, 50], [5, 23], [1, 1], [74, 11]]) {
    const r = resizeRgba(c, w, h);
    assertEquals([r.width, r.height], [w, h]);
    assertEquals(r.rgba, solid(w, h, [200, 17, 99, 255]).rgba, `constant ${w}×${h}`);
  }
  const quad: RgbaImage = {
    width: 2,
    height: 2,
    rgba: Uint8Array.from([10, 0, 100, 255, 20, 4, 100, 255, 30, 8, 100, 255, 40, 12, 0, 255]),
  };
  // (10+20+30+40)/4 = 25, (0+4+8+12)/4 = 6, (100·3+0)/4 = 75.
  assertEquals([...resizeRgba(quad, 1, 1).rgba], [25, 6, 75, 255]);
  // Premultiplied: a fully transparent pixel adds nothing to the colour, half to the alpha.
  const half: RgbaImage = { width: 2, height: 1, rgba: Uint8Array.from([255, 0, 0, 255, 0, 0, 255, 0]) };
  assertEquals([...resizeRgba(half, 1, 1).rgba], [255, 0, 0, 128]);
});

Deno.test("resizeRgba: area average on a non-integer ratio, bilinear when enlarging", () => {
  // 3 → 2 columns: output 0 covers source [0, 1.5): (1·a + 0.5·b)/1.5; output 1 covers [1.5, 3).
  const row: RgbaImage = {
    width: 3,
    height: 1,
    rgba: Uint8Array.from([0, 0, 0, 255, 90, 0, 0, 255, 180, 0, 0, 255]),
  };
  assertEquals([...resizeRgba(row, 2, 1).rgba], [30, 0, 0, 255, 150, 0, 0, 255]);
  // 2 → 4 columns, half-pixel centres: source x = (i + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25,
  // clamped at the edges: values 0, 0.25·100, 0.75·100, 100.
  const two: RgbaImage = { width: 2, height: 1, rgba: Uint8Array.from([0, 0, 0, 255, 100, 0, 0, 255]) };
  assertEquals([...resizeRgba(two, 4, 1).rgba].filter((_, i) => i % 4 === 0), [0, 25, 75, 100]);
  // Downscaling by an integer factor equals block means: 6×4 → 3×2 on random pixels.
  const r = rng(9).uniform(6 * 4 * 3, 0, 255).map(Math.round);
  const img: RgbaImage = { width: 6, height: 4, rgba: new Uint8Array(6 * 4 * 4).fill(255) };
  for (let i = 0; i < 24; i++) img.rgba.set([r[3 * i], r[3 * i + 1], r[3 * i + 2]], 4 * i);
  const small = resizeRgba(img, 3, 2);
  for (let y = 0; y < 2; y++) {
    for (let x = 0; x < 3; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          s += img.rgba[4 * ((2 * y + dy) * 6 + 2 * x + dx) + c];
        }
        assertEquals(small.rgba[4 * (y * 3 + x) + c], Math.round(s / 4), `pixel ${x},${y} channel ${c}`);
      }
    }
  }
});

Deno.test("isGrayscale: gray pictures, also after JPEG, and colour ones", async () => {
  const gray = picture(40, 30);
  for (let i = 0; i < gray.rgba.length; i += 4) gray.rgba.fill(gray.rgba[i + 1], i, i + 3);
  assertEquals(isGrayscale(gray), true);
  assertEquals(isGrayscale(await decodeImage(encodeImage(gray, "jpeg"), "gray.jpg")), true);
  assertEquals(isGrayscale(picture(40, 30)), false);
  const tinted = solid(3, 3, [100, 103, 100, 255]);
  assertEquals(isGrayscale(tinted), false);
  assertEquals(isGrayscale(tinted, 3), true);
});

// ---------------------------------------------------------------------------
// Files of the kinds cameras, scanners and image editors write, made here byte by byte.

/** A PNG with raw (unfiltered) scanlines: `data` holds each row's bytes, or the Adam7 passes' rows. */
function pngFile(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  rows: number[][],
  opts: { interlaced?: boolean; chunks?: [string, number[]][] } = {},
): Uint8Array {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([depth, colorType, 0, 0, opts.interlaced ? 1 : 0], 8);
  const raw = new Uint8Array(rows.flatMap((r) => [0, ...r])); // filter type 0 on every row
  return new Uint8Array([
    ...PNG_SIGNATURE,
    ...pngChunk("IHDR", ihdr),
    ...(opts.chunks ?? []).flatMap(([type, data]) => [...pngChunk(type, Uint8Array.from(data))]),
    ...pngChunk("IDAT", deflateSync(raw)),
    ...pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** The rows of an 8-bit image in Adam7 order (pass by pass), `px(x, y)` giving a pixel's bytes. */
function adam7(width: number, height: number, px: (x: number, y: number) => number[]): number[][] {
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [
    0,
    1,
    1,
    2,
  ]];
  const rows: number[][] = [];
  for (const [x0, y0, dx, dy] of passes) {
    if (x0 >= width) continue; // an empty pass has no rows at all
    for (let y = y0; y < height; y += dy) {
      const row: number[] = [];
      for (let x = x0; x < width; x += dx) row.push(...px(x, y));
      rows.push(row);
    }
  }
  return rows;
}

Deno.test("PNG: 16-bit, palette, tRNS, 1-, 2- and 4-bit, gray+alpha and interlaced PNGs decode", async () => {
  const rgba = async (png: Uint8Array) => [...(await decodeImage(png, "test.png")).rgba];
  // 16-bit samples become 8-bit within one level of v·255/65535 (rounding or keeping the high byte).
  const near16 = (got: number[], want16: number[]) => {
    const bad = got.findIndex((v, i) => Math.abs(v - (want16[i] * 255) / 65535) > 1);
    if (bad >= 0) {
      throw new AssertionError({ message: `sample ${bad}: ${got[bad]} for ${want16[bad]}/65535` });
    }
  };
  const be16 = (vs: number[]) => vs.flatMap((v) => [v >> 8, v & 0xff]);
  const rgb16 = [0x1234, 0xff00, 0x0080, 0xffff, 0, 0x8000, 0x7fff, 0x8000, 0x0100];
  near16(await rgba(pngFile(3, 1, 16, 2, [be16(rgb16)])), [
    ...rgb16.slice(0, 3),
    65535,
    ...rgb16.slice(3, 6),
    65535,
    ...rgb16.slice(6),
    65535,
  ]);
  const graya16 = [0x1234, 0xff00, 0x8080, 0x4000];
  near16(await rgba(pngFile(2, 1, 16, 4, [be16(graya16)])), [
    0x1234,
    0x1234,
    0x1234,
    0xff00,
    0x8080,
    0x8080,
    0x8080,
    0x4000,
  ]);
  // Palette of four colours; tRNS gives the first two alpha 0 and 128, the rest stay opaque.
  const plte: [string, number[]] = ["PLTE", [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]];
  const colours = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 10, 20, 30, 255];
  assertEquals(await rgba(pngFile(4, 1, 8, 3, [[0, 1, 2, 3]], { chunks: [plte] })), colours);
  assertEquals(await rgba(pngFile(4, 1, 2, 3, [[0b00011011]], { chunks: [plte] })), colours);
  const translucent = colours.slice();
  translucent[3] = 0;
  translucent[7] = 128;
  assertEquals(
    await rgba(pngFile(4, 1, 8, 3, [[0, 1, 2, 3]], { chunks: [plte, ["tRNS", [0, 128]]] })),
    translucent,
  );
  // 1-bit gray: 1 is white, 0 black; 4-bit: v·17.
  const gray = (vs: number[]) => vs.flatMap((v) => [v, v, v, 255]);
  assertEquals(await rgba(pngFile(8, 1, 1, 0, [[0b10110001]])), gray([255, 0, 255, 255, 0, 0, 0, 255]));
  assertEquals(await rgba(pngFile(3, 1, 4, 0, [[0x0f, 0x80]])), gray([0, 255, 136]));
  // 8-bit gray with tRNS 100: that gray is transparent, the others opaque.
  const keyed = await rgba(pngFile(3, 1, 8, 0, [[0, 100, 255]], { chunks: [["tRNS", [0, 100]]] }));
  assertEquals([keyed[3], keyed[7], keyed[11]], [255, 0, 255]);
  assertEquals([keyed[0], keyed[8]], [0, 255]);
  assertEquals(await rgba(pngFile(2, 1, 8, 4, [[10, 20, 30, 40]])), [10, 10, 10, 20, 30, 30, 30, 40]);
  // Interlaced 13×11 RGB (13 and 11 leave some passes with partial rows).
  const px = (x: number, y: number) => [(x * 19 + y * 7) & 255, (x * 3 + y * 31) & 255, (x * y * 5) & 255];
  const img = await decodeImage(pngFile(13, 11, 8, 2, adam7(13, 11, px), { interlaced: true }), "adam7.png");
  for (let y = 0; y < 11; y++) {
    for (let x = 0; x < 13; x++) {
      assertEquals(
        [...img.rgba.subarray(4 * (y * 13 + x), 4 * (y * 13 + x) + 4)],
        [...px(x, y), 255],
        `${x},${y}`,
      );
    }
  }
});

/**
 * A JPEG of flat 8×8 blocks (only DC coefficients, quantizer 1, so decoding is exact up to colour
 * conversion): `blocks[by][bx]` holds each block's component levels (1, 3 = YCbCr, or 4 = CMYK as
 * Adobe stores it, inverted). Progressive: a DC scan of all components, then an AC scan of each
 * (all end-of-band), the smallest progressive JPEG.
 */
function flatJpeg(blocks: number[][][], progressive: boolean): Uint8Array {
  const nc = blocks[0][0].length, bh = blocks.length, bw = blocks[0].length;
  const seg = (marker: number, payload: number[]) => [
    0xff,
    marker,
    (payload.length + 2) >> 8,
    (payload.length + 2) & 0xff,
    ...payload,
  ];
  // Canonical Huffman codes: counts[i] codes of length i + 1 for the symbols in order.
  const huffman = (counts: number[], symbols: number[]) => {
    const codes = new Map<number, [number, number]>();
    let code = 0, k = 0;
    counts.forEach((n, i) => {
      for (let j = 0; j < n; j++) codes.set(symbols[k++], [code++, i + 1]);
      code <<= 1;
    });
    return codes;
  };
  const dcCounts = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], dcSymbols = [...Array(12).keys()];
  const acCounts = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], acSymbols = [0]; // only end-of-band
  const dcCodes = huffman(dcCounts, dcSymbols), eob = huffman(acCounts, acSymbols).get(0)!;
  let bytes: number[] = [], acc = 0, nbits = 0;
  const put = (code: number, len: number) => {
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >> i) & 1);
      if (++nbits === 8) {
        bytes.push(acc);
        if (acc === 0xff) bytes.push(0); // byte stuffing
        acc = nbits = 0;
      }
    }
  };
  const flush = () => {
    while (nbits) put(1, 1);
    const out = bytes;
    bytes = [];
    return out;
  };
  const putDc = (diff: number) => {
    const cat = diff === 0 ? 0 : 32 - Math.clz32(Math.abs(diff));
    put(...dcCodes.get(cat)!);
    if (cat) put(diff >= 0 ? diff : diff + (1 << cat) - 1, cat);
  };
  // DC coefficient of a flat block at level v: 8·(v − 128).
  const dcScan = (withAc: boolean) => {
    const pred = new Array(nc).fill(0);
    for (const row of blocks) {
      for (const levels of row) {
        levels.forEach((v, c) => {
          putDc(8 * (v - 128) - pred[c]);
          pred[c] = 8 * (v - 128);
          if (withAc) put(...eob);
        });
      }
    }
    return flush();
  };
  const sos = (comps: number[], ss: number, se: number) =>
    seg(0xda, [comps.length, ...comps.flatMap((c) => [c + 1, 0x00]), ss, se, 0]);
  return new Uint8Array([
    0xff,
    0xd8,
    // Adobe APP14, transform 0: four components are CMYK (inverted, as Photoshop writes them).
    ...(nc === 4 ? seg(0xee, [...new TextEncoder().encode("Adobe"), 0, 100, 0, 0, 0, 0, 0]) : []),
    ...seg(0xdb, [0, ...new Array(64).fill(1)]),
    ...seg(progressive ? 0xc2 : 0xc0, [
      8,
      (8 * bh) >> 8,
      (8 * bh) & 0xff,
      (8 * bw) >> 8,
      (8 * bw) & 0xff,
      nc,
      ...[...Array(nc).keys()].flatMap((c) => [c + 1, 0x11, 0]),
    ]),
    ...seg(0xc4, [0x00, ...dcCounts, ...dcSymbols, 0x10, ...acCounts, ...acSymbols]),
    ...(progressive
      ? [
        ...sos([...Array(nc).keys()], 0, 0),
        ...dcScan(false),
        ...[...Array(nc).keys()].flatMap((c) => [
          ...sos([c], 1, 63),
          ...(() => {
            for (let i = 0; i < bw * bh; i++) put(...eob);
            return flush();
          })(),
        ]),
      ]
      : [...sos([...Array(nc).keys()], 0, 63), ...dcScan(true)]),
    0xff,
    0xd9,
  ]);
}

/** The colour at the centre of 8×8 block (bx, by). */
function blockColour(img: RgbaImage, bx: number, by: number): number[] {
  const i = 4 * ((8 * by + 4) * img.width + 8 * bx + 4);
  return [...img.rgba.subarray(i, i + 3)];
}

function assertNear(got: number[], want: number[], tol: number, what: string) {
  if (got.some((v, i) => Math.abs(v - want[i]) > tol)) {
    throw new AssertionError({
      message: `${what}: got ${got}, want ${want.map((v) => v.toFixed(1))} ±${tol}`,
    });
  }
}

Deno.test("JPEG: progressive, grayscale and Adobe CMYK JPEGs decode to the right colours", async () => {
  // YCbCr → RGB as JFIF defines it, clamped to 0..255.
  const rgb = ([y, cb, cr]: number[]) =>
    [
      y + 1.402 * (cr - 128),
      y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
      y + 1.772 * (cb - 128),
    ].map((v) => Math.min(Math.max(v, 0), 255));
  const ycc = [[[128, 128, 128], [200, 90, 170]], [[60, 160, 100], [235, 128, 128]]];
  for (const progressive of [false, true]) {
    const img = await decodeImage(flatJpeg(ycc, progressive), "flat.jpg");
    assertEquals([img.width, img.height], [16, 16]);
    for (let by = 0; by < 2; by++) {
      for (let bx = 0; bx < 2; bx++) {
        assertNear(
          blockColour(img, bx, by),
          rgb(ycc[by][bx]),
          2,
          `${progressive ? "progressive" : "baseline"} ${bx},${by}`,
        );
      }
    }
  }
  const gray = await decodeImage(flatJpeg([[[30], [220]]], true), "gray.jpg");
  assertNear(
    [...blockColour(gray, 0, 0), ...blockColour(gray, 1, 0)],
    [30, 30, 30, 220, 220, 220],
    1,
    "gray",
  );
  // Adobe CMYK stores 255 − ink; RGB = (255 − C)(255 − K)/255 per channel, i.e. stored C × stored K / 255.
  const cmyk = [[[255, 0, 255, 255], [200, 100, 50, 128]]];
  const img = await decodeImage(flatJpeg(cmyk, false), "cmyk.jpg");
  cmyk[0].forEach((s, bx) =>
    assertNear(
      blockColour(img, bx, 0),
      [s[0] * s[3] / 255, s[1] * s[3] / 255, s[2] * s[3] / 255],
      2,
      `CMYK ${bx}`,
    )
  );
});

Deno.test("JPEG: a tiny file declaring a huge frame (a decompression bomb) is refused before decoding", async () => {
  // 15000×15000 is under the 250-megapixel cap, but ~600 bytes cannot code its 3.5 million blocks:
  // decoded, it would take half a minute and gigabytes to produce a flat gray picture.
  const jpg = encodeImage(picture(16, 16), "jpeg").slice();
  let sof = -1;
  for (let i = 2; i < jpg.length - 1 && sof < 0; i++) if (jpg[i] === 0xff && jpg[i + 1] === 0xc0) sof = i;
  new DataView(jpg.buffer).setUint16(sof + 5, 15000);
  new DataView(jpg.buffer).setUint16(sof + 7, 15000);
  await expectError(decodeImage(jpg, "bomb.jpg"), "bomb.jpg: truncated or corrupt JPEG (");
  const e = await errorOf(decodeImage(jpg, "bomb.jpg"));
  if (!/\(\d+ bytes of image data cannot code a 15000×15000 frame\)$/.test((e as Error).message)) {
    throw new AssertionError({ message: `unexpected message: ${(e as Error).message}` });
  }
});

Deno.test("JPEG and PNG: a huge declared size is refused in one line before decoding", async () => {
  // JPEG: 65535×65535 in the frame header (about 4.3 gigapixels, 17 GB of RGBA).
  const jpg = encodeImage(picture(16, 16), "jpeg").slice();
  let sof = -1;
  for (let i = 2; i < jpg.length - 1 && sof < 0; i++) if (jpg[i] === 0xff && jpg[i + 1] === 0xc0) sof = i;
  jpg.fill(0xff, sof + 5, sof + 9);
  await expectError(
    decodeImage(jpg, "huge.jpg"),
    "huge.jpg: image too large (65535×65535, 4295 megapixels; at most 250 are read)",
  );
  // PNG: 100000×100000 with a valid CRC.
  const png = encodeImage(picture(4, 3), "png").slice();
  new DataView(png.buffer).setUint32(16, 100000);
  new DataView(png.buffer).setUint32(20, 100000);
  new DataView(png.buffer).setUint32(29, crc32(png.subarray(12, 29)));
  await expectError(
    decodeImage(png, "huge.png"),
    "huge.png: image too large (100000×100000, 10000 megapixels",
  );
});
