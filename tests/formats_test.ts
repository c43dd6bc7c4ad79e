/**
 * GIF, TIFF and WebP: decoding (files made here: GIF and TIFF by the small writers below, WebP by
 * libwebp's encoder), their one-line errors, and `deno task colorize` (its main function, in-process,
 * with the shipped model at a small --size) on a photo in each format. Code: cli/image.ts.
 */

import { AssertionError, deepStrictEqual as assertEquals } from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { join } from "node:path";
import encodeWebp from "@jsquash/webp/encode.js";
import { decodeImage, ImageError, readImage, type RgbaImage } from "../cli/image.ts";
import { type CliIo, main } from "../cli/colorize.ts";
import { rgbToLabCpu } from "../engine/color.ts";
import { assertClose, rng } from "./helpers.ts";
import { picture } from "./fixtures.ts";

async function expectError(p: Promise<unknown>, expected: string) {
  let e: unknown = null;
  try {
    await p;
  } catch (err) {
    e = err;
  }
  if (!(e instanceof ImageError)) throw new AssertionError({ message: `not an ImageError: ${e}` });
  if (e.message.includes("\n")) throw new AssertionError({ message: `not one line: ${e.message}` });
  if (!e.message.startsWith(expected)) {
    throw new AssertionError({ message: `expected message starting "${expected}", got "${e.message}"` });
  }
}

function pixel(img: RgbaImage, x: number, y: number): number[] {
  return [...img.rgba.subarray(4 * (y * img.width + x), 4 * (y * img.width + x) + 4)];
}

// ---------------------------------------------------------------------------
// GIF.

interface GifFrame {
  width: number;
  height: number;
  x?: number;
  y?: number;
  /** Palette index of each pixel. */
  index: Uint8Array;
  transparent?: number;
}

/**
 * A GIF with a 256-colour global palette. Its LZW data holds only literal codes, 9 bits each, with
 * a clear code before the code table would grow to 10 bits: valid for every decoder, simple to write.
 */
function gifFile(screen: [number, number], palette: number[][], frames: GifFrame[]): Uint8Array {
  const out: number[] = [...new TextEncoder().encode("GIF89a")];
  const u16 = (v: number) => out.push(v & 0xff, v >> 8);
  u16(screen[0]);
  u16(screen[1]);
  out.push(0xf7, 0, 0); // global colour table of 256 entries
  for (let i = 0; i < 256; i++) out.push(...(palette[i] ?? [0, 0, 0]));
  for (const f of frames) {
    const t = f.transparent ?? -1;
    out.push(0x21, 0xf9, 4, t >= 0 ? 1 : 0, 0, 0, Math.max(t, 0), 0); // graphic control extension
    out.push(0x2c);
    u16(f.x ?? 0);
    u16(f.y ?? 0);
    u16(f.width);
    u16(f.height);
    out.push(0, 8); // no local table; LZW minimum code size 8
    // The decoder adds a table entry per code after the first; at entry 511 codes widen to 10 bits.
    const codes = [256];
    f.index.forEach((v, i) => {
      if (i > 0 && i % 254 === 0) codes.push(256);
      codes.push(v);
    });
    codes.push(257);
    const data: number[] = [];
    let acc = 0, bits = 0;
    for (const c of codes) {
      acc |= c << bits;
      for (bits += 9; bits >= 8; bits -= 8, acc >>= 8) data.push(acc & 0xff);
    }
    if (bits) data.push(acc & 0xff);
    for (let i = 0; i < data.length; i += 255) {
      out.push(Math.min(255, data.length - i), ...data.slice(i, i + 255));
    }
    out.push(0);
  }
  out.push(0x3b);
  return new Uint8Array(out);
}

const palette = Array.from({ length: 256 }, (_, i) => [i, 255 - i, (i * 7) & 0xff]);

Deno.test("GIF: the first frame on its logical screen, palette colours exact, transparency kept", async () => {
  const index = Uint8Array.from({ length: 300 * 7 }, (_, i) => (i * 13) & 0xff);
  const img = await decodeImage(gifFile([300, 7], palette, [{ width: 300, height: 7, index }]), "big.gif");
  assertEquals([img.width, img.height], [300, 7]);
  for (let i = 0; i < index.length; i++) {
    assertEquals(pixel(img, i % 300, Math.floor(i / 300)), [...palette[index[i]], 255], `pixel ${i}`);
  }
  // A 2×2 frame at (2, 1) of a 5×4 screen, index 3 transparent, then a second frame (ignored).
  const small = await decodeImage(
    gifFile([5, 4], palette, [
      { width: 2, height: 2, x: 2, y: 1, index: Uint8Array.of(1, 2, 3, 4), transparent: 3 },
      { width: 5, height: 4, index: new Uint8Array(20).fill(9) },
    ]),
    "small.gif",
  );
  assertEquals([small.width, small.height], [5, 4]);
  assertEquals(pixel(small, 2, 1), [...palette[1], 255]);
  assertEquals(pixel(small, 3, 1), [...palette[2], 255]);
  assertEquals(pixel(small, 2, 2)[3], 0);
  assertEquals(pixel(small, 3, 2), [...palette[4], 255]);
  assertEquals(pixel(small, 0, 0), [0, 0, 0, 0]); // outside the frame: transparent
});

Deno.test("GIF: truncated, trailer missing and huge screens are one-line errors", async () => {
  const index = Uint8Array.from({ length: 40 * 30 }, (_, i) => i & 0xff);
  const gif = gifFile([40, 30], palette, [{ width: 40, height: 30, index }]);
  await expectError(
    decodeImage(gif.subarray(0, gif.length >> 1), "cut.gif"),
    `cut.gif: truncated or corrupt GIF (file ends at byte ${gif.length >> 1} inside the image at byte`,
  );
  await expectError(
    decodeImage(gif.subarray(0, gif.length - 1), "end.gif"),
    `end.gif: truncated or corrupt GIF (file ends at byte ${gif.length - 1} before the trailer)`,
  );
  const huge = gif.slice();
  huge.fill(0xff, 6, 10);
  await expectError(decodeImage(huge, "huge.gif"), "huge.gif: image too large (65535×65535");
  // A frame far larger than its screen is refused too, before the decoder allocates it.
  const bigFrame = gif.slice();
  bigFrame.fill(0xff, 13 + 768 + 8 + 5, 13 + 768 + 8 + 9);
  await expectError(decodeImage(bigFrame, "frame.gif"), "frame.gif: image too large (65535×65535");
});

// ---------------------------------------------------------------------------
// TIFF.

interface TiffSpec {
  width: number;
  height: number;
  bits: number;
  photometric: number;
  /** Samples of pixel (x, y), colour first. */
  px: (x: number, y: number) => number[];
  compression?: 1 | 5 | 8 | 32773;
  predictor?: boolean;
  bigEndian?: boolean;
  rowsPerStrip?: number;
  tile?: [number, number];
  planar?: boolean;
  extraSamples?: number;
  colorMap?: number[];
  orientation?: number;
}

/** PackBits: runs of two or more equal bytes as repeats, the rest as literals of up to 128. */
function packBits(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < data.length;) {
    let run = 1;
    while (i + run < data.length && run < 128 && data[i + run] === data[i]) run++;
    if (run >= 2) {
      out.push(257 - run, data[i]);
      i += run;
      continue;
    }
    let lit = 1;
    while (i + lit < data.length && lit < 128 && data[i + lit] !== data[i + lit - 1]) lit++;
    out.push(lit - 1, ...data.subarray(i, i + lit));
    i += lit;
  }
  return out;
}

/**
 * TIFF's LZW as libtiff writes it: codes most significant bit first, widening when the next free
 * code reaches 2^width (one code earlier than GIF), a clear code before the table is full.
 */
function lzw(data: Uint8Array): number[] {
  const out: number[] = [];
  let acc = 0, bits = 0, width = 9, next = 258;
  let table = new Map<number, number>();
  const emit = (code: number) => {
    acc = (acc << width) | code;
    for (bits += width; bits >= 8; bits -= 8) out.push((acc >> (bits - 8)) & 0xff);
    acc &= (1 << bits) - 1;
  };
  const grow = () => {
    if (++next >= 4094) {
      emit(256);
      table = new Map();
      width = 9;
      next = 258;
    } else if (next >= 1 << width) width++;
  };
  emit(256);
  let w = -1;
  for (const c of data) {
    if (w < 0) {
      w = c;
      continue;
    }
    const known = table.get(w * 256 + c);
    if (known !== undefined) {
      w = known;
      continue;
    }
    emit(w);
    table.set(w * 256 + c, next);
    grow();
    w = c;
  }
  if (w >= 0) {
    emit(w);
    grow();
  }
  emit(257);
  if (bits) out.push((acc << (8 - bits)) & 0xff);
  return out;
}

/** A TIFF of one image: strips or tiles, chunky or planar, any compression decodeImage reads. */
function tiffFile(s: TiffSpec): Uint8Array {
  const le = !s.bigEndian;
  const samples = s.px(0, 0).length;
  const planes = s.planar ? samples : 1, perPixel = s.planar ? 1 : samples;
  const [cw, ch] = s.tile ?? [s.width, s.rowsPerStrip ?? s.height];
  const across = Math.ceil(s.width / cw), down = Math.ceil(s.height / ch);
  const rowBytes = Math.ceil((cw * perPixel * s.bits) / 8);
  const chunks: number[][] = [];
  for (let p = 0; p < planes; p++) {
    for (let cy = 0; cy < down; cy++) {
      for (let cx = 0; cx < across; cx++) {
        const rows = s.tile ? ch : Math.min(ch, s.height - cy * ch);
        const raw = new Uint8Array(rows * rowBytes);
        const view = new DataView(raw.buffer);
        for (let r = 0; r < rows; r++) {
          // Sample values of the row (tiles past the image's edge are padded with zeros).
          const values: number[] = [];
          for (let x = cx * cw; x < cx * cw + cw; x++) {
            const y = cy * ch + r;
            const v = x < s.width && y < s.height ? s.px(x, y) : new Array(samples).fill(0);
            values.push(...(s.planar ? [v[p]] : v));
          }
          if (s.predictor) {
            for (let k = values.length - 1; k >= perPixel; k--) {
              values[k] = (values[k] - values[k - perPixel]) & (s.bits === 16 ? 0xffff : 0xff);
            }
          }
          values.forEach((v, k) => {
            const at = r * rowBytes;
            if (s.bits === 16) view.setUint16(at + 2 * k, v, le);
            else if (s.bits === 8) raw[at + k] = v;
            else raw[at + ((k * s.bits) >> 3)] |= v << (8 - s.bits - ((k * s.bits) & 7));
          });
        }
        const c = s.compression ?? 1;
        chunks.push(
          c === 1 ? [...raw] : c === 5 ? lzw(raw) : c === 8 ? [...deflateSync(raw)] : packBits(raw),
        );
      }
    }
  }
  // Layout: header, pixel data, value arrays, then the image directory.
  const bytes: number[] = new Array(8).fill(0);
  const offsets = chunks.map((c) => {
    const at = bytes.length;
    bytes.push(...c);
    return at;
  });
  const entries: [number, number, number[]][] = [ // tag, type (3 SHORT, 4 LONG), values
    [256, 4, [s.width]],
    [257, 4, [s.height]],
    [258, 3, new Array(samples).fill(s.bits)],
    [259, 3, [s.compression ?? 1]],
    [262, 3, [s.photometric]],
    [277, 3, [samples]],
    [284, 3, [s.planar ? 2 : 1]],
  ];
  if (s.tile) {
    entries.push([322, 3, [cw]], [323, 3, [ch]], [324, 4, offsets], [325, 4, chunks.map((c) => c.length)]);
  } else entries.push([273, 4, offsets], [278, 4, [ch]], [279, 4, chunks.map((c) => c.length)]);
  if (s.predictor) entries.push([317, 3, [2]]);
  if (s.extraSamples !== undefined) entries.push([338, 3, [s.extraSamples]]);
  if (s.colorMap) entries.push([320, 3, s.colorMap]);
  if (s.orientation) entries.push([274, 3, [s.orientation]]);
  entries.sort((a, b) => a[0] - b[0]);
  const put = (at: number, v: number, size: number) => {
    for (let k = 0; k < size; k++) bytes[at + k] = (v >>> (8 * (le ? k : size - 1 - k))) & 0xff;
  };
  const fields = entries.map(([tag, type, values]) => {
    const size = type === 3 ? 2 : 4;
    if (values.length * size <= 4) return { tag, type, n: values.length, values };
    const at = bytes.length;
    values.forEach((v) => {
      bytes.push(...new Array(size).fill(0));
      put(bytes.length - size, v, size);
    });
    return { tag, type, n: values.length, at };
  });
  const ifd = bytes.length;
  bytes.push(...new Array(2 + 12 * fields.length + 4).fill(0));
  put(0, le ? 0x4949 : 0x4d4d, 2);
  put(2, 42, 2);
  put(4, ifd, 4);
  put(ifd, fields.length, 2);
  fields.forEach((f, i) => {
    const e = ifd + 2 + 12 * i;
    put(e, f.tag, 2);
    put(e + 2, f.type, 2);
    put(e + 4, f.n, 4);
    if ("at" in f) put(e + 8, f.at!, 4);
    else f.values!.forEach((v, k) => put(e + 8 + k * (f.type === 3 ? 2 : 4), v, f.type === 3 ? 2 : 4));
  });
  return new Uint8Array(bytes);
}

async function assertTiff(spec: TiffSpec, want: (x: number, y: number) => number[], what: string) {
  const img = await decodeImage(tiffFile(spec), `${what}.tif`);
  assertEquals([img.width, img.height], [spec.width, spec.height], what);
  for (let y = 0; y < spec.height; y++) {
    for (let x = 0; x < spec.width; x++) assertEquals(pixel(img, x, y), want(x, y), `${what} at ${x},${y}`);
  }
}

Deno.test("TIFF: strips and tiles; none, LZW, Deflate and PackBits; prediction; 1- to 16-bit; gray, RGB, palette, CMYK, alpha", async () => {
  const r = rng(3);
  const noise = r.uniform(120 * 70 * 3, 0, 255).map(Math.round);
  const rgb = (
    x: number,
    y: number,
  ) => [(x * 5 + y) & 0xff, (y * 9) & 0xff, noise[(y * 120 + x) % noise.length]];
  const opaque = (x: number, y: number) => [...rgb(x, y), 255];
  await assertTiff({ width: 7, height: 5, bits: 8, photometric: 2, px: rgb }, opaque, "rgb8");
  // LZW on noisy data fills the code table: widening to 10, 11 and 12 bits, and clear codes.
  for (const bigEndian of [false, true]) {
    await assertTiff(
      {
        width: 120,
        height: 70,
        bits: 8,
        photometric: 2,
        px: rgb,
        compression: 5,
        rowsPerStrip: 16,
        bigEndian,
      },
      opaque,
      `lzw ${bigEndian ? "big" : "little"}-endian`,
    );
  }
  await assertTiff(
    {
      width: 37,
      height: 23,
      bits: 8,
      photometric: 2,
      px: rgb,
      compression: 5,
      predictor: true,
      rowsPerStrip: 5,
    },
    opaque,
    "lzw predictor",
  );
  // 16-bit gray, Deflate with prediction, 16×16 tiles (partly outside the image), big-endian.
  const g16 = (x: number, y: number) => [(x * 1771 + y * 3001) & 0xffff];
  const level = (v: number) => Math.round((v * 255) / 65535);
  await assertTiff(
    {
      width: 37,
      height: 23,
      bits: 16,
      photometric: 1,
      px: g16,
      compression: 8,
      predictor: true,
      tile: [16, 16],
      bigEndian: true,
    },
    (x, y) => [level(g16(x, y)[0]), level(g16(x, y)[0]), level(g16(x, y)[0]), 255],
    "gray16 deflate tiles",
  );
  // RGBA (unassociated alpha), PackBits, one plane per sample.
  const rgba = (x: number, y: number) => [...rgb(x, y), (x * 40 + y * 3) & 0xff];
  await assertTiff(
    {
      width: 19,
      height: 6,
      bits: 8,
      photometric: 2,
      px: rgba,
      compression: 32773,
      planar: true,
      extraSamples: 2,
    },
    rgba,
    "rgba planar packbits",
  );
  // Associated (premultiplied) alpha comes back as straight colour.
  await assertTiff(
    {
      width: 2,
      height: 1,
      bits: 8,
      photometric: 2,
      px: (x) => x ? [50, 100, 25, 128] : [9, 9, 9, 255],
      extraSamples: 1,
    },
    (x) => x ? [100, 199, 50, 128] : [9, 9, 9, 255],
    "premultiplied",
  );
  // 4-bit palette (rows padded to whole bytes), 16-bit colour map.
  const map = Array.from({ length: 48 }, (_, i) => ((i * 4099) & 0xffff));
  await assertTiff(
    { width: 5, height: 3, bits: 4, photometric: 3, px: (x, y) => [(x + 5 * y) & 15], colorMap: map },
    (x, y) => {
      const i = (x + 5 * y) & 15;
      return [Math.round(map[i] / 257), Math.round(map[16 + i] / 257), Math.round(map[32 + i] / 257), 255];
    },
    "palette4",
  );
  // 1-bit WhiteIsZero (fax-like scans), PackBits.
  const bit = (x: number, y: number) => [(x * y + x) % 3 === 0 ? 1 : 0];
  await assertTiff(
    { width: 21, height: 4, bits: 1, photometric: 0, px: bit, compression: 32773 },
    (x, y) => bit(x, y)[0] ? [0, 0, 0, 255] : [255, 255, 255, 255],
    "bilevel",
  );
  // CMYK, converted as CMYK JPEGs are: (255 − C)(255 − K)/255.
  const ink = (x: number, y: number) => [x * 60, y * 80, 30, x * y * 20];
  await assertTiff(
    { width: 4, height: 3, bits: 8, photometric: 5, px: ink, compression: 5 },
    (x, y) => {
      const [c, m, ye, k] = ink(x, y);
      return [c, m, ye].map((v) => Math.round(((255 - v) * (255 - k)) / 255)).concat(255);
    },
    "cmyk",
  );
  // Orientation 6: stored 3×2, shown rotated 90° clockwise as 2×3.
  const img = await decodeImage(
    tiffFile({ width: 3, height: 2, bits: 8, photometric: 1, px: (x, y) => [1 + x + 3 * y], orientation: 6 }),
    "rotated.tif",
  );
  assertEquals([img.width, img.height], [2, 3]);
  assertEquals([0, 1, 2, 3, 4, 5].map((i) => img.rgba[4 * i]), [4, 1, 5, 2, 6, 3]);
});

/** Where the directory entry of `tag` starts in a little-endian TIFF made by {@link tiffFile}. */
function tiffEntry(tif: Uint8Array, tag: number): number {
  const view = new DataView(tif.buffer, tif.byteOffset, tif.byteLength);
  const ifd = view.getUint32(4, true);
  for (let i = 0; i < view.getUint16(ifd, true); i++) {
    if (view.getUint16(ifd + 2 + 12 * i, true) === tag) return ifd + 2 + 12 * i;
  }
  throw new Error(`no tag ${tag}`);
}

Deno.test("TIFF: truncated, unsupported and huge files are one-line errors", async () => {
  const spec: TiffSpec = { width: 30, height: 20, bits: 8, photometric: 2, px: (x, y) => [x, y, x ^ y] };
  const tif = tiffFile(spec);
  const ifd = new DataView(tif.buffer).getUint32(4, true);
  // Pixel data first, the directory last: cutting the file loses the directory.
  await expectError(
    decodeImage(tif.subarray(0, 1000), "cut.tif"),
    `cut.tif: truncated or corrupt TIFF (image directory at byte ${ifd}, the file ends at byte 1000)`,
  );
  // A strip that runs past the end of the file (its byte count raised): strips of 10 rows, 900 bytes.
  const strips = tiffFile({ ...spec, rowsPerStrip: 10 });
  const counts = new DataView(strips.buffer).getUint32(tiffEntry(strips, 279) + 8, true);
  new DataView(strips.buffer).setUint32(counts + 4, 5000, true);
  await expectError(
    decodeImage(strips, "strip.tif"),
    `strip.tif: truncated or corrupt TIFF (strip 1 at byte 908 needs 5000 bytes, the file ends at byte ${strips.length})`,
  );
  // LZW data that ends early (the strip's byte count lowered to 100): too few pixels.
  const lzwTif = tiffFile({ ...spec, compression: 5 });
  new DataView(lzwTif.buffer).setUint32(tiffEntry(lzwTif, 279) + 8, 100, true);
  await expectError(decodeImage(lzwTif, "lzw.tif"), "lzw.tif: truncated or corrupt TIFF (strip 0 holds");
  // JPEG-compressed TIFF: named, not decoded.
  const jpegTif = tiffFile(spec);
  new DataView(jpegTif.buffer).setUint16(tiffEntry(jpegTif, 259) + 8, 7, true);
  await expectError(
    decodeImage(jpegTif, "jpeg.tif"),
    "jpeg.tif: TIFF compression 7 (JPEG) is not supported (only none, LZW, Deflate and PackBits are)",
  );
  // 100000×100000 declared: refused before anything is allocated.
  const huge = tiffFile(spec);
  new DataView(huge.buffer).setUint32(tiffEntry(huge, 256) + 8, 100000, true);
  new DataView(huge.buffer).setUint32(tiffEntry(huge, 257) + 8, 100000, true);
  await expectError(decodeImage(huge, "huge.tif"), "huge.tif: image too large (100000×100000");
});

// ---------------------------------------------------------------------------
// WebP.

async function webp(img: RgbaImage, options: Record<string, number>): Promise<Uint8Array> {
  const data = new ImageData(new Uint8ClampedArray(img.rgba), img.width, img.height);
  return new Uint8Array(await encodeWebp(data, options));
}

Deno.test("WebP: lossless exact with alpha, lossy close", async () => {
  const img = picture(45, 31, true);
  const back = await decodeImage(await webp(img, { lossless: 1, exact: 1 }), "lossless.webp");
  assertEquals([back.width, back.height], [45, 31]);
  assertEquals(back.rgba, img.rgba);
  const photo = picture(64, 40);
  const lossy = await decodeImage(await webp(photo, { quality: 90 }), "lossy.webp");
  let err = 0;
  for (let i = 0; i < photo.rgba.length; i++) err += Math.abs(photo.rgba[i] - lossy.rgba[i]);
  err /= photo.rgba.length;
  // Quality 90 on this picture: 1.4 levels on average (measured); a wrong channel order gives tens.
  if (!(err < 3)) throw new AssertionError({ message: `lossy WebP mean error ${err}` });
});

Deno.test("WebP: truncated, animated and huge files are one-line errors", async () => {
  const file = await webp(picture(40, 30), { lossless: 1 });
  await expectError(
    decodeImage(file.subarray(0, file.length - 10), "cut.webp"),
    `cut.webp: truncated or corrupt WebP (the RIFF header says ${file.length} bytes, the file ends at byte ${
      file.length - 10
    })`,
  );
  assertEquals(String.fromCharCode(...file.subarray(12, 16)), "VP8L");
  // VP8L: a signature byte, then width − 1 and height − 1 in 14 bits each: 16384×16384.
  const huge = file.slice();
  const view = new DataView(huge.buffer);
  view.setUint32(21, (view.getUint32(21, true) & 0xf0000000) | 0x0fffffff, true);
  await expectError(decodeImage(huge, "huge.webp"), "huge.webp: image too large (16384×16384");
  // An animation: VP8X with the animation flag, then ANIM.
  const chunk = (type: string, data: number[]) => [
    ...new TextEncoder().encode(type),
    ...[data.length, 0, 0, 0],
    ...data,
  ];
  const body = [...chunk("VP8X", [2, 0, 0, 0, 9, 0, 0, 9, 0, 0]), ...chunk("ANIM", [0, 0, 0, 0, 0, 0])];
  const anim = new Uint8Array([
    ...new TextEncoder().encode("RIFF"),
    (body.length + 4) & 0xff,
    0,
    0,
    0,
    ...new TextEncoder().encode("WEBP"),
    ...body,
  ]);
  await expectError(decodeImage(anim, "anim.webp"), "anim.webp: animated WebP is not supported");
});

// ---------------------------------------------------------------------------
// The CLI.

function lightness(img: RgbaImage): Float64Array {
  const out = new Float64Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) {
    out[i] = rgbToLabCpu(img.rgba[4 * i] / 255, img.rgba[4 * i + 1] / 255, img.rgba[4 * i + 2] / 255)[0];
  }
  return out;
}

Deno.test("colorize CLI: GIF, TIFF and WebP photos in a folder are colorized with the shipped model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "formats_test_" });
  try {
    const photo = picture(50, 34);
    // GIF: a 6×6×6 colour cube is enough for a photo's lightness.
    const cube = Array.from(
      { length: 216 },
      (_, i) => [i % 6, Math.floor(i / 6) % 6, Math.floor(i / 36)].map((v) => v * 51),
    );
    const nearest = (p: number) =>
      Math.round(photo.rgba[p] / 51) + 6 * Math.round(photo.rgba[p + 1] / 51) +
      36 * Math.round(photo.rgba[p + 2] / 51);
    const index = Uint8Array.from({ length: 50 * 34 }, (_, i) => nearest(4 * i));
    await Deno.writeFile(join(dir, "a.gif"), gifFile([50, 34], cube, [{ width: 50, height: 34, index }]));
    await Deno.writeFile(
      join(dir, "b.tiff"),
      tiffFile({
        width: 50,
        height: 34,
        bits: 8,
        photometric: 2,
        compression: 5,
        px: (x, y) => [...photo.rgba.subarray(4 * (y * 50 + x), 4 * (y * 50 + x) + 3)],
      }),
    );
    await Deno.writeFile(join(dir, "c.webp"), await webp(photo, { quality: 90 }));
    const errors: string[] = [];
    const io: CliIo = { error: (l) => errors.push(l), info: () => {}, progress: false };
    assertEquals(await main([dir, "--size", "64"], io), 0, errors.join("\n"));
    assertEquals(errors, []);
    for (const name of ["a.gif", "b.tiff", "c.webp"]) {
      const input = await readImage(join(dir, name));
      const out = await readImage(join(dir, name.replace(/\.\w+$/, ".color.png")));
      assertEquals([out.width, out.height], [50, 34], name);
      // The output keeps each pixel's lightness (within 1 unit of L, 8-bit rounding) and adds colour.
      assertClose(lightness(out), lightness(input), { atol: 1 }, `L of ${name}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
