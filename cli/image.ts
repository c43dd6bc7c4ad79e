/**
 * Image files for the CLI: JPEG and PNG decoding and encoding to 8-bit RGBA,
 * resizing, and a grayscale test.
 *
 * Codecs are pure JavaScript (jpeg-js, pngjs), so the CLI needs no --allow-ffi
 * and runs on any platform Deno runs on. Before a file reaches a decoder its
 * structure is checked here (PNG chunks and CRCs up to IEND, JPEG segments up
 * to EOI), because decoders tend to return a partly grey image for a truncated
 * file instead of failing; every error is one line naming the file.
 */

import jpeg from "jpeg-js";
import { PNG as PNGJS } from "pngjs";
import { Buffer } from "node:buffer";
import { axisWeights, type RgbaImage } from "../engine/image.ts";
import { errorLine } from "./args.ts";

export type { RgbaImage } from "../engine/image.ts";

/** A problem with an image file; `message` is one line, "<file>: <problem>". */
export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageError";
  }
}

/** JPEG quality used by {@link writeImage}: visually lossless for photos at a third of PNG's size. */
export const JPEG_QUALITY = 92;

// pngjs ships no types; this is the part of its API used here.
interface PngSync {
  read(data: Uint8Array): { width: number; height: number; data: Uint8Array };
  write(
    png: { width: number; height: number; data: Uint8Array },
    options?: Record<string, unknown>,
  ): Uint8Array;
}
const pngSync = (PNGJS as unknown as { sync: PngSync }).sync;

// ---------------------------------------------------------------------------
// Reading.

/** Reads a JPEG or PNG file as RGBA (EXIF orientation of JPEGs applied). Throws {@link ImageError}. */
export async function readImage(path: string): Promise<RgbaImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ImageError(`${path}: file not found`);
    if (e instanceof Deno.errors.IsADirectory) throw new ImageError(`${path}: is a directory, not an image`);
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new ImageError(`${path}: cannot read (permission denied)`);
    }
    throw new ImageError(`${path}: cannot read (${(e as Error).message})`);
  }
  return decodeImage(bytes, path);
}

/** Decodes JPEG or PNG bytes; `name` (the file) starts every error message. */
export function decodeImage(bytes: Uint8Array, name = "image"): RgbaImage {
  if (bytes.length === 0) throw new ImageError(`${name}: empty file, not a JPEG or PNG image`);
  if (isPng(bytes)) return decodePng(bytes, name);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return decodeJpeg(bytes, name);
  }
  const other = otherFormat(bytes);
  throw new ImageError(`${name}: not a JPEG or PNG image${other ? ` (looks like ${other})` : ""}`);
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v);
}

/** Names formats people commonly mistake for supported ones, for a more helpful error. */
function otherFormat(b: Uint8Array): string | null {
  const ascii = (from: number, len: number) => String.fromCharCode(...b.subarray(from, from + len));
  if (ascii(0, 4) === "GIF8") return "GIF";
  if (ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") return "WebP";
  if (ascii(0, 2) === "BM") return "BMP";
  if (ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*") return "TIFF";
  if (ascii(4, 4) === "ftyp") {
    return /^(heic|heix|mif1|avif)/.test(ascii(8, 4)) ? "HEIC/AVIF" : "a video or HEIF file";
  }
  if (PNG_SIGNATURE.slice(1, 4).every((v, i) => b[i + 1] === v)) return "a damaged PNG signature";
  return null;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (ISO-HDLC, as PNG chunks use). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zeroSize(name: string, w: number, h: number): never {
  throw new ImageError(`${name}: image has zero size (${w}×${h})`);
}

/** Walks the chunks up to IEND, checking lengths and the CRCs of critical chunks; returns the size. */
function checkPng(b: Uint8Array, name: string): { width: number; height: number } {
  const corrupt = (why: string): never => {
    throw new ImageError(`${name}: truncated or corrupt PNG (${why})`);
  };
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 8;
  let width = -1, height = -1;
  let idat = false;
  while (true) {
    if (pos + 8 > b.length) corrupt(`file ends at byte ${b.length} before the IEND chunk`);
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...b.subarray(pos + 4, pos + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) corrupt(`invalid chunk type at byte ${pos}`);
    if (pos + 12 + len > b.length) {
      corrupt(`chunk ${type} at byte ${pos} needs ${len + 12} bytes, the file ends at byte ${b.length}`);
    }
    if (pos === 8 && type !== "IHDR") corrupt(`first chunk is ${type}, not IHDR`);
    // Ancillary chunks (lower-case first letter) with a bad CRC are skipped by decoders, as libpng does.
    if (type[0] < "a" && crc32(b.subarray(pos + 4, pos + 8 + len)) !== view.getUint32(pos + 8 + len)) {
      corrupt(`bad CRC in chunk ${type} at byte ${pos}`);
    }
    if (type === "IHDR") {
      if (len !== 13) corrupt(`IHDR chunk of ${len} bytes, not 13`);
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      if (width === 0 || height === 0) zeroSize(name, width, height);
    }
    if (type === "IDAT") idat = true;
    if (type === "IEND") {
      if (!idat) corrupt("no image data (IDAT chunk)");
      return { width, height };
    }
    pos += 12 + len;
  }
}

function decodePng(b: Uint8Array, name: string): RgbaImage {
  const { width, height } = checkPng(b, name);
  let out: { width: number; height: number; data: Uint8Array };
  try {
    // pngjs reads with Buffer methods (readUInt32BE), so give it a Buffer view of the bytes.
    out = pngSync.read(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    throw new ImageError(`${name}: truncated or corrupt PNG (${errorLine(e)})`);
  }
  if (out.width !== width || out.height !== height || out.data.length !== 4 * width * height) {
    throw new ImageError(
      `${name}: corrupt PNG (decoded ${out.width}×${out.height}, header says ${width}×${height})`,
    );
  }
  // Copy out of the decoder's Buffer, which may be a slice of a larger pooled allocation.
  return { width, height, rgba: new Uint8Array(out.data) };
}

/** Frame size and EXIF orientation of a JPEG whose segments run intact up to EOI. */
function checkJpeg(b: Uint8Array, name: string): { width: number; height: number; orientation: number } {
  const corrupt = (why: string): never => {
    throw new ImageError(`${name}: truncated or corrupt JPEG (${why})`);
  };
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 2;
  let frame: { width: number; height: number } | null = null;
  let orientation = 1;
  while (true) {
    if (pos >= b.length) corrupt(`file ends at byte ${b.length} before the end-of-image marker`);
    if (b[pos] !== 0xff) corrupt(`expected a marker at byte ${pos}`);
    while (pos < b.length && b[pos] === 0xff) pos++; // fill bytes
    if (pos >= b.length) corrupt(`file ends at byte ${b.length} inside a marker`);
    const marker = b[pos++];
    if (marker === 0xd9) break; // EOI
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // no payload
    if (marker === 0xd8 || marker === 0x00) {
      corrupt(`unexpected marker 0xFF${hex(marker)} at byte ${pos - 2}`);
    }
    if (pos + 2 > b.length) corrupt(`file ends at byte ${b.length} inside a segment header`);
    const len = view.getUint16(pos);
    if (len < 2) corrupt(`segment 0xFF${hex(marker)} at byte ${pos - 2} has length ${len}`);
    if (pos + len > b.length) {
      corrupt(
        `segment 0xFF${hex(marker)} at byte ${pos - 2} needs ${len} bytes, the file ends at byte ${b.length}`,
      );
    }
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (len < 8) corrupt(`frame header of ${len} bytes`);
      frame = { height: view.getUint16(pos + 3), width: view.getUint16(pos + 5) };
      if (frame.width === 0 || frame.height === 0) zeroSize(name, frame.width, frame.height);
    }
    if (marker === 0xe1) orientation = exifOrientation(b.subarray(pos + 2, pos + len)) ?? orientation;
    pos += len;
    if (marker === 0xda) {
      if (!frame) corrupt("image data before the frame header");
      // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart marker.
      while (pos + 1 < b.length && !(b[pos] === 0xff && b[pos + 1] !== 0 && (b[pos + 1] & 0xf8) !== 0xd0)) {
        pos++;
      }
      if (pos + 1 >= b.length) corrupt(`image data ends at byte ${b.length} without an end-of-image marker`);
    }
  }
  if (!frame) corrupt("no frame header");
  return { ...frame!, orientation };
}

function hex(v: number): string {
  return v.toString(16).toUpperCase().padStart(2, "0");
}

/** The Orientation tag (1–8) of an APP1 Exif payload, or null when absent or unreadable. */
function exifOrientation(app1: Uint8Array): number | null {
  if (app1.length < 14 || String.fromCharCode(...app1.subarray(0, 6)) !== "Exif\0\0") return null;
  const tiff = new DataView(app1.buffer, app1.byteOffset + 6, app1.length - 6);
  const order = tiff.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) return null;
  const le = order === 0x4949;
  const ifd = tiff.getUint32(4, le);
  if (ifd + 2 > tiff.byteLength) return null;
  const count = tiff.getUint16(ifd, le);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > tiff.byteLength) return null;
    if (tiff.getUint16(e, le) === 0x0112) {
      const v = tiff.getUint16(e + 8, le);
      return v >= 1 && v <= 8 ? v : null;
    }
  }
  return null;
}

/**
 * Applies an EXIF orientation (1–8) so the pixels appear as viewers show the
 * file: 6 and 8 are the 90° rotations of phone photos, 2/4/5/7 the mirrored forms.
 */
export function applyOrientation(img: RgbaImage, orientation: number): RgbaImage {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: W, height: H } = img;
  const swap = orientation >= 5;
  const w = swap ? H : W, h = swap ? W : H;
  // Source column sx and row sy are affine in the output x and y: [constant, ·x, ·y] for each.
  const table: Record<number, [number[], number[]]> = {
    2: [[W - 1, -1, 0], [0, 0, 1]], // mirrored
    3: [[W - 1, -1, 0], [H - 1, 0, -1]], // rotated 180°
    4: [[0, 1, 0], [H - 1, 0, -1]], // flipped
    5: [[0, 0, 1], [0, 1, 0]], // transposed
    6: [[0, 0, 1], [H - 1, -1, 0]], // shown rotated 90° clockwise
    7: [[W - 1, 0, -1], [H - 1, -1, 0]], // transversed
    8: [[W - 1, 0, -1], [0, 1, 0]], // shown rotated 90° counter-clockwise
  };
  const [a, b] = table[orientation];
  const base = b[0] * W + a[0], dx = b[1] * W + a[1], dy = b[2] * W + a[2];
  const src = new Uint32Array(img.rgba.slice().buffer);
  const dst = new Uint32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = base + dy * y; x < w; x++, i += dx) dst[y * w + x] = src[i];
  }
  return { width: w, height: h, rgba: new Uint8Array(dst.buffer) };
}

function decodeJpeg(b: Uint8Array, name: string): RgbaImage {
  const { width, height, orientation } = checkJpeg(b, name);
  let out: { width: number; height: number; data: Uint8Array };
  try {
    out = jpeg.decode(b, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: 250,
      maxMemoryUsageInMB: 4096,
    });
  } catch (e) {
    throw new ImageError(`${name}: truncated or corrupt JPEG (${errorLine(e)})`);
  }
  if (out.width !== width || out.height !== height || out.data.length !== 4 * width * height) {
    throw new ImageError(
      `${name}: corrupt JPEG (decoded ${out.width}×${out.height}, header says ${width}×${height})`,
    );
  }
  return applyOrientation({ width, height, rgba: out.data }, orientation);
}

// ---------------------------------------------------------------------------
// Writing.

/** The output format for a file name: PNG for .png, JPEG for .jpg/.jpeg (case-insensitive), else null. */
export function formatOf(path: string): "png" | "jpeg" | null {
  const ext = /\.([^./\\]+)$/.exec(path)?.[1].toLowerCase();
  return ext === "png" ? "png" : ext === "jpg" || ext === "jpeg" ? "jpeg" : null;
}

function checkImage(img: RgbaImage, name: string) {
  const { width, height, rgba } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageError(`${name}: cannot write an image of size ${width}×${height}`);
  }
  if (rgba.length !== 4 * width * height) {
    throw new ImageError(`${name}: ${rgba.length} bytes are not ${width}×${height} RGBA pixels`);
  }
}

/**
 * Encodes as PNG (lossless; RGB when every pixel is opaque, RGBA otherwise) or as
 * JPEG at `quality` (alpha is dropped: JPEG has none).
 */
export function encodeImage(img: RgbaImage, format: "png" | "jpeg", quality = JPEG_QUALITY): Uint8Array {
  checkImage(img, "image");
  if (format === "jpeg") {
    const out = jpeg.encode({ width: img.width, height: img.height, data: img.rgba }, quality).data;
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
  let opaque = true;
  for (let i = 3; i < img.rgba.length; i += 4) {
    if (img.rgba[i] !== 255) {
      opaque = false;
      break;
    }
  }
  const out = pngSync.write(
    { width: img.width, height: img.height, data: img.rgba },
    { colorType: opaque ? 2 : 6, inputColorType: 6, inputHasAlpha: true },
  );
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Writes PNG or JPEG (quality {@link JPEG_QUALITY}) chosen by the extension. Throws {@link ImageError}. */
export async function writeImage(
  path: string,
  img: RgbaImage,
  options: { quality?: number } = {},
): Promise<void> {
  const format = formatOf(path);
  if (!format) {
    const ext = /\.[^./\\]+$/.exec(path)?.[0];
    throw new ImageError(
      `${path}: unsupported output format${ext ? ` "${ext}"` : " (no extension)"}; use .png, .jpg or .jpeg`,
    );
  }
  checkImage(img, path);
  const bytes = encodeImage(img, format, options.quality ?? JPEG_QUALITY);
  try {
    await Deno.writeFile(path, bytes);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "directory does not exist"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : errorLine(e);
    throw new ImageError(`${path}: cannot write (${why})`);
  }
}

// ---------------------------------------------------------------------------
// Resizing and tests on pixels.

/**
 * Resizes to width×height: area averaging along an axis that shrinks (no
 * aliasing), bilinear along one that grows. Colours are weighted by alpha
 * (premultiplied) so transparent pixels do not bleed their hidden colour.
 */
export function resizeRgba(img: RgbaImage, width: number, height: number): RgbaImage {
  checkImage(img, "resizeRgba");
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`resizeRgba: invalid target size ${width}×${height}`);
  }
  const { width: W, height: H, rgba } = img;
  if (W === width && H === height) return { width, height, rgba: rgba.slice() };
  // The weights the colorizer resamples with (engine/image.ts), so training crops and inference agree.
  const tx = axisWeights(width, W, W / width), ty = axisWeights(height, H, H / height);
  // Horizontal pass into premultiplied float rows (H × width × 4).
  const mid = new Float32Array(H * width * 4);
  for (let y = 0; y < H; y++) {
    const row = y * W * 4, out = y * width * 4;
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let k = tx.starts[x]; k < tx.starts[x + 1]; k++) {
        const p = row + 4 * tx.index[k];
        const wa = tx.weight[k] * rgba[p + 3];
        r += wa * rgba[p];
        g += wa * rgba[p + 1];
        b += wa * rgba[p + 2];
        a += wa;
      }
      const o = out + 4 * x;
      mid[o] = r;
      mid[o + 1] = g;
      mid[o + 2] = b;
      mid[o + 3] = a;
    }
  }
  // Vertical pass, then back from premultiplied to straight 8-bit.
  const res = new Uint8Array(width * height * 4);
  const acc = new Float64Array(width * 4);
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    for (let k = ty.starts[y]; k < ty.starts[y + 1]; k++) {
      const wk = ty.weight[k], row = ty.index[k] * width * 4;
      for (let i = 0; i < width * 4; i++) acc[i] += wk * mid[row + i];
    }
    const out = y * width * 4;
    for (let x = 0; x < width; x++) {
      const a = acc[4 * x + 3];
      const inv = a > 1e-6 ? 1 / a : 0;
      for (let c = 0; c < 3; c++) {
        res[out + 4 * x + c] = Math.round(Math.min(Math.max(acc[4 * x + c] * inv, 0), 255));
      }
      res[out + 4 * x + 3] = Math.round(Math.min(Math.max(a, 0), 255));
    }
  }
  return { width, height, rgba: res };
}

/**
 * Whether every pixel has R, G and B within `tolerance` 8-bit levels of each
 * other. A gray photo saved as colour JPEG decodes with channels that differ by
 * a level or so (chroma rounding), which the default of 2 accepts.
 */
export function isGrayscale(img: RgbaImage, tolerance = 2): boolean {
  const p = img.rgba;
  for (let i = 0; i < p.length; i += 4) {
    const r = p[i], g = p[i + 1], b = p[i + 2];
    if (Math.max(r, g, b) - Math.min(r, g, b) > tolerance) return false;
  }
  return true;
}
