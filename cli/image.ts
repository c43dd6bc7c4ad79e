/**
 * Image files for the CLI: JPEG, PNG, GIF, TIFF and WebP decoded to 8-bit RGBA;
 * PNG and JPEG encoded; resizing and a grayscale test.
 *
 * Codecs, per format and direction (README "Image formats" has the timings behind
 * each choice, measured by bench/codecs.ts):
 * - JPEG decode and encode, PNG decode, GIF decode: imagescript's WebAssembly
 *   codecs, the .wasm files of its npm package, driven from here (see
 *   {@link imagescriptWasm} for why not through its JavaScript).
 * - PNG encode: pngjs (imagescript's PNG encoder is slower and, writing no row
 *   filters, makes photos about 1.7× larger).
 * - WebP decode: libwebp compiled to WebAssembly (@jsquash/webp).
 * - TIFF decode: {@link decodeTiff} here, because the tiff.wasm that npm
 *   imagescript ships (every version from 1.2.17 to 1.3.1) traps on every file.
 * All of it is WebAssembly or JavaScript, so the CLI needs no --allow-ffi and runs
 * wherever Deno runs.
 *
 * Before a file reaches a decoder its structure is checked here (PNG chunks and
 * CRCs up to IEND, JPEG segments up to EOI, GIF blocks up to the trailer, TIFF
 * strips inside the file, WebP chunks inside the RIFF size), because decoders tend
 * to return a partly grey image for a truncated file instead of failing, and the
 * declared size is checked before anything is allocated. Every error is an
 * {@link ImageError} of one line naming the file.
 */

import { inflateSync } from "node:zlib";
import { PNG as PNGJS } from "pngjs";
import decodeWebpBytes, { init as resetWebpDecoder } from "@jsquash/webp/decode.js";
// Only the package's manifest is imported: it puts the package in the module graph (so Deno fetches it and
// import.meta.resolve finds its .wasm files) and names the version for bench/codecs.ts.
import imagescriptPackage from "imagescript/package.json" with { type: "json" };
import { axisWeights, type RgbaImage } from "../engine/image.ts";
import { errorLine } from "./args.ts";
import { atomicWrite } from "./fsutil.ts";

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

/**
 * The most pixels a decoded image may have: 250 megapixels (1 GB of RGBA), checked against the size a
 * file declares before decoding, so a corrupt or hostile header cannot make the decoders allocate
 * gigabytes (a JPEG may declare 65535×65535, a PNG 2³¹×2³¹).
 */
export const MAX_PIXELS = 250_000_000;

/** The version of the imagescript package whose codecs are used (for bench/codecs.ts's report). */
export const IMAGESCRIPT_VERSION: string = imagescriptPackage.version;

/** The formats {@link decodeImage} reads, as named in messages. */
export type ImageFormat = "JPEG" | "PNG" | "GIF" | "TIFF" | "WebP";

// pngjs ships no types; this is the part of its API used here.
interface PngSync {
  write(
    png: { width: number; height: number; data: Uint8Array },
    options?: Record<string, unknown>,
  ): Uint8Array;
}
const pngSync = (PNGJS as unknown as { sync: PngSync }).sync;

// ---------------------------------------------------------------------------
// Reading.

/**
 * Reads a JPEG, PNG, GIF (its first frame), TIFF (its first image) or WebP file as RGBA, with the EXIF
 * orientation of JPEGs and the orientation tag of TIFFs applied. Throws {@link ImageError}.
 */
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

/** File extensions of the photos the commands read (lower case); one list for colorize, train and eval. */
export const IMAGE_EXTENSIONS: readonly string[] = [
  ".jpg",
  ".jpeg",
  ".png",
  ".gif",
  ".tif",
  ".tiff",
  ".webp",
];

/** Whether a file name has one of {@link IMAGE_EXTENSIONS} (case-insensitive). */
export function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((x) => lower.endsWith(x));
}

/**
 * Decodes JPEG, PNG, GIF, TIFF or WebP bytes (see {@link readImage}); `name` (the file) starts every
 * error message. Any failure, a decoder's own included, is an {@link ImageError} of one line.
 */
export async function decodeImage(bytes: Uint8Array, name = "image"): Promise<RgbaImage> {
  if (bytes.length === 0) throw new ImageError(`${name}: empty file, not an image`);
  const format = formatOfBytes(bytes);
  if (!format) {
    const other = otherFormat(bytes);
    throw new ImageError(
      `${name}: not a JPEG, PNG, GIF, TIFF or WebP image${other ? ` (looks like ${other})` : ""}`,
    );
  }
  try {
    switch (format) {
      case "JPEG":
        return decodeJpeg(bytes, name);
      case "PNG":
        return decodePng(bytes, name);
      case "GIF":
        return decodeGif(bytes, name);
      case "TIFF":
        return decodeTiff(bytes, name);
      case "WebP":
        return await decodeWebp(bytes, name);
    }
  } catch (e) {
    if (e instanceof ImageError) throw e;
    // A decoder's own error, a trap in a WebAssembly decoder (a Rust panic shows as "unreachable"), or a
    // failed allocation: still one line.
    const memory = e instanceof RangeError && /alloc|memory|buffer/i.test(e.message);
    const why = e instanceof WebAssembly.RuntimeError ? `the decoder stopped: ${errorLine(e)}` : errorLine(e);
    throw new ImageError(
      memory
        ? `${name}: not enough memory to decode this ${format} (${why})`
        : `${name}: truncated or corrupt ${format} (${why})`,
    );
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function ascii(b: Uint8Array, from: number, len: number): string {
  return String.fromCharCode(...b.subarray(from, from + len));
}

/** The format of a file by its first bytes, or null when it is none that {@link decodeImage} reads. */
function formatOfBytes(b: Uint8Array): ImageFormat | null {
  if (b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v)) return "PNG";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "JPEG";
  if (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a") return "GIF";
  if (ascii(b, 0, 4) === "II*\0" || ascii(b, 0, 4) === "MM\0*") return "TIFF";
  if (ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return "WebP";
  return null;
}

/** Names formats people commonly mistake for supported ones, for a more helpful error. */
function otherFormat(b: Uint8Array): string | null {
  if (ascii(b, 0, 3) === "GIF") return "a GIF of an unknown version";
  if (ascii(b, 0, 4) === "II+\0" || ascii(b, 0, 4) === "MM\0+") return "BigTIFF, which is not supported";
  if (ascii(b, 0, 2) === "BM") return "BMP";
  if (ascii(b, 4, 4) === "ftyp") {
    return /^(heic|heix|mif1|avif)/.test(ascii(b, 8, 4)) ? "HEIC/AVIF" : "a video or HEIF file";
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

/** Refuses a declared size of zero or over {@link MAX_PIXELS}, before any pixel memory is allocated. */
function checkSize(name: string, width: number, height: number): void {
  if (width === 0 || height === 0) throw new ImageError(`${name}: image has zero size (${width}×${height})`);
  if (width * height > MAX_PIXELS) {
    throw new ImageError(
      `${name}: image too large (${width}×${height}, ${Math.round(width * height / 1e6)} megapixels; ` +
        `at most ${MAX_PIXELS / 1e6} are read)`,
    );
  }
}

/** Throws unless a decoder gave the size the header declared (a decoder that disagrees read something else). */
function checkDecoded(name: string, format: ImageFormat, got: [number, number], header: [number, number]) {
  if (got[0] !== header[0] || got[1] !== header[1]) {
    throw new ImageError(
      `${name}: corrupt ${format} (decoded ${got[0]}×${got[1]}, header says ${header[0]}×${header[1]})`,
    );
  }
}

function hex(v: number): string {
  return v.toString(16).toUpperCase().padStart(2, "0");
}

// ---------------------------------------------------------------------------
// imagescript's WebAssembly codecs.

/** What every imagescript .wasm exports for moving bytes in and out of its memory. */
interface WasmHeap {
  memory: WebAssembly.Memory;
  walloc(size: number): number;
  /** Length of the buffer the last call that returned one (decode_buffer, encode, …) returned. */
  wlen(): number;
}

const wasmModules = new Map<string, WebAssembly.Module>();

/**
 * A fresh instance of one of imagescript's .wasm codecs (compiled once, instantiated per image so its
 * memory is freed with it). The files are loaded from the npm package directly: its JavaScript entry
 * point loads a native Node addon for JPEG encoding (needs --allow-ffi, five platforms), and its
 * WebAssembly loaders read the environment variable IMAGESCRIPT_WASM_SIMD (needs --allow-env).
 */
function imagescriptWasm<T>(codec: "jpeg" | "png" | "gif", imports: WebAssembly.Imports = {}): T & WasmHeap {
  let module = wasmModules.get(codec);
  if (!module) {
    const url = new URL(import.meta.resolve(`imagescript/wasm/any/${codec}.wasm`));
    module = new WebAssembly.Module(Deno.readFileSync(url));
    wasmModules.set(codec, module);
  }
  return new WebAssembly.Instance(module, imports).exports as unknown as T & WasmHeap;
}

/** Copies bytes into a codec's memory; returns where they start. */
function copyIn(w: WasmHeap, bytes: Uint8Array): number {
  const ptr = w.walloc(bytes.length);
  new Uint8Array(w.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

/** Copies `length` bytes at `ptr` out of a codec's memory. */
function copyOut(w: WasmHeap, ptr: number, length: number): Uint8Array {
  return new Uint8Array(w.memory.buffer, ptr, length).slice();
}

interface JpegWasm {
  decode(ptr: number, length: number, width: number, height: number): number;
  decode_width(frame: number): number;
  decode_height(frame: number): number;
  decode_format(frame: number): number;
  decode_buffer(frame: number): number;
  encode(ptr: number, width: number, height: number, quality: number): number;
}

/**
 * Decodes a JPEG with imagescript (Rust's jpeg-decoder: baseline and progressive, grayscale, YCbCr,
 * Adobe CMYK/YCCK) to RGBA. No structure checks or EXIF orientation: see {@link decodeImage}.
 */
export function imagescriptDecodeJpeg(bytes: Uint8Array): RgbaImage {
  const w = imagescriptWasm<JpegWasm>("jpeg");
  const frame = w.decode(copyIn(w, bytes), bytes.length, 0, 0);
  if (frame === 0 || frame === 1) throw new Error("the JPEG decoder failed");
  const width = w.decode_width(frame), height = w.decode_height(frame), kind = w.decode_format(frame);
  const n = width * height;
  const channels = [1, 3, 4][kind];
  const pixels = w.decode_buffer(frame); // sets wlen()
  if (!channels || w.wlen() !== channels * n) throw new Error(`unexpected decoder output (format ${kind})`);
  const src = new Uint8Array(w.memory.buffer, pixels, channels * n);
  const rgba = new Uint8Array(4 * n);
  if (kind === 0) {
    for (let i = 0, o = 0; i < n; i++, o += 4) {
      rgba[o] = rgba[o + 1] = rgba[o + 2] = src[i];
      rgba[o + 3] = 255;
    }
  } else if (kind === 1) {
    for (let i = 0, s = 0, o = 0; i < n; i++, s += 3, o += 4) {
      rgba[o] = src[s];
      rgba[o + 1] = src[s + 1];
      rgba[o + 2] = src[s + 2];
      rgba[o + 3] = 255;
    }
  } else {
    // CMYK as the decoder gives it (inks not inverted; Adobe's inversion already undone): the same
    // naive conversion as jpeg-js, which this replaces (measured within half a level of it).
    for (let i = 0, o = 0; i < 4 * n; i += 4, o += 4) {
      const k = 255 - src[i + 3];
      rgba[o] = Math.round((255 - src[i]) * k / 255);
      rgba[o + 1] = Math.round((255 - src[i + 1]) * k / 255);
      rgba[o + 2] = Math.round((255 - src[i + 2]) * k / 255);
      rgba[o + 3] = 255;
    }
  }
  return { width, height, rgba };
}

/** Encodes RGBA (alpha ignored) as a baseline JPEG with imagescript (Rust's jpeg-encoder). */
export function imagescriptEncodeJpeg(img: RgbaImage, quality: number): Uint8Array {
  const w = imagescriptWasm<JpegWasm>("jpeg");
  const q = Math.max(1, Math.min(100, Math.round(quality)));
  const out = w.encode(copyIn(w, img.rgba), img.width, img.height, q);
  return copyOut(w, out, w.wlen());
}

interface PngWasm {
  decode(ptr: number, length: number): number;
  width(): number;
  height(): number;
}

/**
 * Decodes a PNG with imagescript (Rust's png crate: every colour type and bit depth, palettes with
 * tRNS, interlacing) to RGBA; 16-bit samples keep their high byte (as libpng's strip_16 does, at most
 * one level from rounding). No structure checks: see {@link decodeImage}.
 */
export function imagescriptDecodePng(bytes: Uint8Array): RgbaImage {
  // The decoder is built with Emscripten, which calls this hook when its memory grows; views are
  // taken afresh after each call below, so there is nothing to update.
  const w = imagescriptWasm<PngWasm>("png", { env: { emscripten_notify_memory_growth() {} } });
  const status = w.decode(copyIn(w, bytes), bytes.length);
  if (status < 0) throw new Error(`the PNG decoder failed (code ${status})`);
  const width = w.width(), height = w.height();
  return { width, height, rgba: copyOut(w, status, 4 * width * height) };
}

interface GifWasm {
  decoder_new(ptr: number, length: number, limit: number): number;
  decoder_width(decoder: number): number;
  decoder_height(decoder: number): number;
  decoder_frame(decoder: number): number;
  decoder_frame_x(frame: number): number;
  decoder_frame_y(frame: number): number;
  decoder_frame_width(frame: number): number;
  decoder_frame_height(frame: number): number;
  decoder_frame_buffer(frame: number): number;
}

/**
 * Decodes the first frame of a GIF with imagescript (Rust's gif crate), placed on its logical screen
 * (transparent where the frame does not cover it). No structure checks: see {@link decodeImage}.
 */
export function imagescriptDecodeGif(bytes: Uint8Array): RgbaImage {
  // The encoder half of the module streams its output through push_to_stream; decoding never calls it.
  const w = imagescriptWasm<GifWasm>("gif", { env: { push_to_stream() {} } });
  const decoder = w.decoder_new(copyIn(w, bytes), bytes.length, 0);
  if (decoder === 0) throw new Error("the GIF decoder could not read the header");
  const width = w.decoder_width(decoder), height = w.decoder_height(decoder);
  const frame = w.decoder_frame(decoder);
  if (frame === 0) throw new Error("the GIF decoder could not read the first frame");
  if (frame === 1) throw new Error("no frame");
  const fx = w.decoder_frame_x(frame), fy = w.decoder_frame_y(frame);
  const fw = w.decoder_frame_width(frame), fh = w.decoder_frame_height(frame);
  const pixels = w.decoder_frame_buffer(frame); // sets wlen()
  if (w.wlen() !== 4 * fw * fh) throw new Error("unexpected decoder output");
  const src = new Uint8Array(w.memory.buffer, pixels, 4 * fw * fh);
  const rgba = new Uint8Array(4 * width * height);
  // A frame may lie partly outside the logical screen; only the part inside is kept.
  const cols = Math.max(0, Math.min(fw, width - fx));
  for (let y = 0; y < fh && fy + y < height; y++) {
    rgba.set(src.subarray(4 * y * fw, 4 * (y * fw + cols)), 4 * ((fy + y) * width + fx));
  }
  return { width, height, rgba };
}

// ---------------------------------------------------------------------------
// PNG.

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
    const type = ascii(b, pos + 4, 4);
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
      checkSize(name, width, height);
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
  const out = imagescriptDecodePng(b);
  checkDecoded(name, "PNG", [out.width, out.height], [width, height]);
  return out;
}

// ---------------------------------------------------------------------------
// JPEG.

/** Frame size and EXIF orientation of a JPEG whose segments run intact up to EOI. */
function checkJpeg(b: Uint8Array, name: string): { width: number; height: number; orientation: number } {
  const corrupt = (why: string): never => {
    throw new ImageError(`${name}: truncated or corrupt JPEG (${why})`);
  };
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 2;
  let frame: { width: number; height: number } | null = null;
  let orientation = 1;
  let huffman = false;
  let scanBytes = 0;
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
      huffman = marker < 0xc9; // SOF0–SOF7 are Huffman-coded, SOF9 and up arithmetic-coded

      checkSize(name, frame.width, frame.height);
    }
    if (marker === 0xe1) orientation = exifOrientation(b.subarray(pos + 2, pos + len)) ?? orientation;
    pos += len;
    if (marker === 0xda) {
      if (!frame) corrupt("image data before the frame header");
      // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart marker.
      const start = pos;
      while (pos + 1 < b.length && !(b[pos] === 0xff && b[pos + 1] !== 0 && (b[pos + 1] & 0xf8) !== 0xd0)) {
        pos++;
      }
      scanBytes += pos - start;
      if (pos + 1 >= b.length) corrupt(`image data ends at byte ${b.length} without an end-of-image marker`);
    }
  }
  if (!frame) corrupt("no frame header");
  // A decompression bomb: a tiny file declaring a huge frame makes the decoder fill gigabytes of
  // gray for seconds. Huffman coding spends at least one bit on every 8×8 block (its DC code), in
  // every scan, progressive ones included, so real image data is never smaller than this.
  const blocks = Math.ceil(frame!.width / 8) * Math.ceil(frame!.height / 8);
  if (huffman && 8 * scanBytes < blocks) {
    corrupt(`${scanBytes} bytes of image data cannot code a ${frame!.width}×${frame!.height} frame`);
  }
  return { ...frame!, orientation };
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
  const out = imagescriptDecodeJpeg(b);
  checkDecoded(name, "JPEG", [out.width, out.height], [width, height]);
  return applyOrientation(out, orientation);
}

// ---------------------------------------------------------------------------
// GIF.

/** Walks a GIF's blocks up to the trailer; returns the logical screen's size. */
function checkGif(b: Uint8Array, name: string): { width: number; height: number } {
  const corrupt = (why: string): never => {
    throw new ImageError(`${name}: truncated or corrupt GIF (${why})`);
  };
  if (b.length < 13) corrupt(`file ends at byte ${b.length} inside the header`);
  const width = b[6] | (b[7] << 8), height = b[8] | (b[9] << 8);
  checkSize(name, width, height);
  const colorTable = (flags: number) => (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
  let pos = 13 + colorTable(b[10]);
  let images = 0;
  const subBlocks = (what: string) => {
    for (let n = -1; n !== 0; pos += n) {
      if (pos >= b.length) corrupt(`file ends at byte ${b.length} inside ${what}`);
      n = b[pos++];
    }
  };
  while (true) {
    if (pos >= b.length) corrupt(`file ends at byte ${b.length} before the trailer`);
    const start = pos;
    if (b[pos] === 0x3b) break;
    if (b[pos] === 0x21) {
      pos += 2;
      subBlocks(`the extension at byte ${start}`);
    } else if (b[pos] === 0x2c) {
      if (pos + 10 > b.length) corrupt(`file ends at byte ${b.length} inside the image at byte ${start}`);
      // Frames are decoded at their own size, which may exceed the screen's.
      checkSize(name, b[pos + 5] | (b[pos + 6] << 8), b[pos + 7] | (b[pos + 8] << 8));
      pos += 10 + colorTable(b[pos + 9]) + 1; // descriptor, local colour table, LZW code size
      subBlocks(`the image at byte ${start}`);
      images++;
    } else {
      corrupt(`unexpected byte 0x${hex(b[pos])} at byte ${pos}`);
    }
  }
  if (images === 0) corrupt("no image in the file");
  return { width, height };
}

function decodeGif(b: Uint8Array, name: string): RgbaImage {
  const { width, height } = checkGif(b, name);
  const out = imagescriptDecodeGif(b);
  checkDecoded(name, "GIF", [out.width, out.height], [width, height]);
  return out;
}

// ---------------------------------------------------------------------------
// WebP.

/** Walks a WebP's chunks inside the RIFF size; returns the canvas (VP8X) or bitstream size. */
function checkWebp(b: Uint8Array, name: string): { width: number; height: number } {
  const corrupt = (why: string): never => {
    throw new ImageError(`${name}: truncated or corrupt WebP (${why})`);
  };
  if (b.length < 20) corrupt(`file ends at byte ${b.length} inside the header`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = 8 + view.getUint32(4, true);
  if (end > b.length) corrupt(`the RIFF header says ${end} bytes, the file ends at byte ${b.length}`);
  const u24 = (at: number) => b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
  let size: [number, number] | null = null;
  let image = false;
  for (let pos = 12; pos + 8 <= end;) {
    const type = ascii(b, pos, 4), len = view.getUint32(pos + 4, true), data = pos + 8;
    if (data + len > end) {
      corrupt(
        `chunk ${JSON.stringify(type)} at byte ${pos} needs ${
          len + 8
        } bytes, the RIFF data ends at byte ${end}`,
      );
    }
    if (type === "ANIM") throw new ImageError(`${name}: animated WebP is not supported`);
    if (type === "VP8X" && len >= 10) size ??= [1 + u24(data + 4), 1 + u24(data + 7)];
    if (type === "VP8L" && len >= 5) {
      if (b[data] !== 0x2f) corrupt(`no VP8L signature at byte ${data}`);
      const bits = view.getUint32(data + 1, true);
      size ??= [1 + (bits & 0x3fff), 1 + ((bits >>> 14) & 0x3fff)];
      image = true;
    }
    if (type === "VP8 " && len >= 10) {
      if (b[data + 3] !== 0x9d || b[data + 4] !== 0x01 || b[data + 5] !== 0x2a) {
        corrupt(`no VP8 key frame start code at byte ${data + 3}`);
      }
      size ??= [view.getUint16(data + 6, true) & 0x3fff, view.getUint16(data + 8, true) & 0x3fff];
      image = true;
    }
    pos = data + len + (len & 1); // chunks are padded to an even length
  }
  if (!image || !size) corrupt("no image data (VP8 or VP8L chunk)");
  checkSize(name, size![0], size![1]);
  return { width: size![0], height: size![1] };
}

async function decodeWebp(b: Uint8Array, name: string): Promise<RgbaImage> {
  const { width, height } = checkWebp(b, name);
  let d: ImageData;
  try {
    d = await decodeWebpBytes(b.slice().buffer);
  } catch (e) {
    // An Emscripten module that aborted (a trap, memory exhausted) stays aborted: the next file gets a fresh one.
    await resetWebpDecoder();
    throw e;
  }
  checkDecoded(name, "WebP", [d.width, d.height], [width, height]);
  return { width, height, rgba: new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.length) };
}

// ---------------------------------------------------------------------------
// TIFF: decoded here (baseline TIFF as scanners and photo software write it), because the tiff.wasm in
// npm imagescript traps on every file.

/** Names of TIFF compressions, those decoded here ({@link TIFF_DECODED}) and some common others. */
const TIFF_COMPRESSIONS: Record<number, string> = {
  1: "none",
  2: "CCITT RLE",
  3: "CCITT fax 3",
  4: "CCITT fax 4",
  5: "LZW",
  6: "old-style JPEG",
  7: "JPEG",
  8: "Deflate",
  32773: "PackBits",
  32946: "Deflate",
  34712: "JPEG 2000",
  34925: "LZMA",
  50000: "Zstandard",
  50001: "WebP",
};
const TIFF_DECODED = new Set([1, 5, 8, 32773, 32946]);

/** Colour samples per pixel for each photometric interpretation decoded here. */
const TIFF_COLORS: Record<number, number> = { 0: 1, 1: 1, 2: 3, 3: 1, 5: 4 };
const TIFF_PHOTOMETRIC: Record<number, string> = {
  0: "WhiteIsZero",
  1: "BlackIsZero",
  2: "RGB",
  3: "palette",
  4: "transparency mask",
  5: "CMYK",
  6: "YCbCr",
  8: "CIELab",
  32844: "LogL",
  32845: "LogLuv",
};

/** The integer values of the tags in a TIFF's first image directory, each checked to lie inside the file. */
function tiffTags(b: Uint8Array, name: string): { tags: Map<number, number[]>; le: boolean } {
  const corrupt = (why: string): never => {
    throw new ImageError(`${name}: truncated or corrupt TIFF (${why})`);
  };
  if (b.length < 8) corrupt(`file ends at byte ${b.length} inside the header`);
  const le = b[0] === 0x49;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ifd = view.getUint32(4, le);
  if (ifd < 8 || ifd + 2 > b.length) {
    corrupt(`image directory at byte ${ifd}, the file ends at byte ${b.length}`);
  }
  const count = view.getUint16(ifd, le);
  if (ifd + 2 + 12 * count > b.length) {
    corrupt(
      `image directory at byte ${ifd} needs ${2 + 12 * count} bytes, the file ends at byte ${b.length}`,
    );
  }
  // BYTE, SHORT, LONG and their signed forms; other types (text, rationals) hold no tag read here.
  const sizes: Record<number, number> = { 1: 1, 3: 2, 4: 4, 6: 1, 8: 2, 9: 4 };
  const tags = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + 12 * i;
    const tag = view.getUint16(e, le), size = sizes[view.getUint16(e + 2, le)], n = view.getUint32(e + 4, le);
    if (!size) continue;
    let at = e + 8;
    if (size * n > 4) {
      at = view.getUint32(e + 8, le);
      if (at + size * n > b.length) {
        corrupt(`tag ${tag} at byte ${at} needs ${size * n} bytes, the file ends at byte ${b.length}`);
      }
    }
    const values = new Array<number>(n);
    for (let k = 0, p = at; k < n; k++, p += size) {
      values[k] = size === 1 ? b[p] : size === 2 ? view.getUint16(p, le) : view.getUint32(p, le);
    }
    tags.set(tag, values);
  }
  return { tags, le };
}

/** How a TIFF's first image is laid out, every strip or tile checked to lie inside the file. */
interface TiffLayout {
  width: number;
  height: number;
  le: boolean;
  bits: number;
  /** Samples per pixel, colour ones first. */
  samples: number;
  photometric: number;
  /** 0: none; 1: associated (premultiplied) alpha; 2: unassociated alpha, the sample after the colours. */
  alpha: number;
  colorMap: number[] | null;
  compression: number;
  predictor: number;
  /** 1 when samples are interleaved per pixel, else one plane per sample. */
  planes: number;
  tiled: boolean;
  /** Size of one strip or tile in pixels (a strip is the image's width). */
  chunkWidth: number;
  chunkHeight: number;
  across: number;
  down: number;
  offsets: number[];
  counts: number[];
  orientation: number;
}

function checkTiff(b: Uint8Array, name: string): TiffLayout {
  const corrupt = (why: string): never => {
    throw new ImageError(`${name}: truncated or corrupt TIFF (${why})`);
  };
  const unsupported = (what: string): never => {
    throw new ImageError(`${name}: ${what} is not supported`);
  };
  const { tags, le } = tiffTags(b, name);
  const one = (tag: number, fallback?: number): number | undefined => tags.get(tag)?.[0] ?? fallback;
  const width = one(256), height = one(257);
  if (width === undefined || height === undefined) return corrupt("no image size");
  checkSize(name, width, height);
  const compression = one(259, 1)!;
  if (!TIFF_DECODED.has(compression)) {
    const known = TIFF_COMPRESSIONS[compression];
    throw new ImageError(
      `${name}: TIFF compression ${compression}${known ? ` (${known})` : ""} is not supported ` +
        "(only none, LZW, Deflate and PackBits are)",
    );
  }
  const samples = one(277, 1)!;
  const allBits = tags.get(258) ?? [1];
  const bits = allBits[0];
  if (!allBits.every((v) => v === bits) || ![1, 2, 4, 8, 16].includes(bits)) {
    unsupported(`TIFF with ${allBits.join("/")} bits per sample`);
  }
  if ((tags.get(339) ?? [1]).some((v) => v !== 1)) unsupported("TIFF with floating-point or signed samples");
  const photometric = one(262, samples >= 3 ? 2 : 1)!;
  const colors = TIFF_COLORS[photometric];
  if (colors === undefined) {
    const known = TIFF_PHOTOMETRIC[photometric];
    unsupported(`TIFF colour space ${photometric}${known ? ` (${known})` : ""}`);
  }
  if (samples < colors || samples > 16) {
    corrupt(`${samples} samples per pixel for ${TIFF_PHOTOMETRIC[photometric]}`);
  }
  let colorMap: number[] | null = null;
  if (photometric === 3) {
    if (bits > 8) unsupported(`palette TIFF with ${bits} bits per sample`);
    colorMap = tags.get(320) ?? null;
    if (!colorMap || colorMap.length < 3 << bits) {
      corrupt(`palette image without a colour map of ${3 << bits} values`);
    }
  }
  const extra = tags.get(338)?.[0];
  const alpha = samples > colors && (extra === 1 || extra === 2) ? extra : 0;
  const planes = one(284, 1) === 2 ? samples : 1;
  const perPixel = planes === 1 ? samples : 1;
  const predictor = one(317, 1)!;
  if (predictor !== 1 && (predictor !== 2 || bits < 8)) {
    unsupported(`TIFF predictor ${predictor} with ${bits}-bit samples`);
  }
  const tiled = tags.has(322);
  let chunkWidth = width, chunkHeight = Math.min(one(278, height)!, height);
  if (tiled) {
    chunkWidth = one(322)!;
    chunkHeight = one(323, 0)!;
    // Tile widths are multiples of 16, so tiles start on whole bytes whatever the bit depth.
    if (chunkWidth === 0 || chunkHeight === 0 || (chunkWidth * perPixel * bits) % 8 !== 0) {
      corrupt(`tiles of ${chunkWidth}×${chunkHeight}`);
    }
  }
  if (chunkHeight === 0) corrupt("zero rows per strip");
  const across = Math.ceil(width / chunkWidth), down = Math.ceil(height / chunkHeight);
  const n = across * down * planes;
  const kind = tiled ? "tile" : "strip";
  const offsets = tags.get(tiled ? 324 : 273) ?? [];
  let counts = tags.get(tiled ? 325 : 279);
  if (!counts && compression === 1 && n === 1) counts = [Math.ceil(width * perPixel * bits / 8) * height];
  if (offsets.length < n || !counts || counts.length < n) {
    corrupt(`${offsets.length} ${kind} offsets and ${counts?.length ?? 0} byte counts for ${n} ${kind}s`);
  }
  for (let i = 0; i < n; i++) {
    if (offsets[i] + counts![i] > b.length) {
      corrupt(
        `${kind} ${i} at byte ${offsets[i]} needs ${counts![i]} bytes, the file ends at byte ${b.length}`,
      );
    }
  }
  const orientation = one(274, 1)!;
  return {
    width,
    height,
    le,
    bits,
    samples,
    photometric,
    alpha,
    colorMap,
    compression,
    predictor,
    planes,
    tiled,
    chunkWidth,
    chunkHeight,
    across,
    down,
    offsets,
    counts: counts!,
    orientation,
  };
}

/**
 * Decodes the first image of a TIFF: none, LZW, Deflate or PackBits compression, with or without
 * horizontal prediction; strips or tiles, interleaved or planar; 1, 2, 4, 8 or 16 bits per sample;
 * gray, RGB, palette or CMYK, with or without alpha; the orientation tag applied.
 */
function decodeTiff(b: Uint8Array, name: string): RgbaImage {
  const t = checkTiff(b, name);
  const { width, height, bits, samples, planes, chunkWidth, chunkHeight } = t;
  const perPixel = planes === 1 ? samples : 1;
  const rowBytes = Math.ceil(width * perPixel * bits / 8);
  const chunkRowBytes = Math.ceil(chunkWidth * perPixel * bits / 8);
  if (planes * height * rowBytes > 2 ** 31) {
    throw new ImageError(`${name}: image too large (${width}×${height} with ${samples} ${bits}-bit samples)`);
  }
  // Every strip or tile decompressed into one raster per plane, rows of rowBytes.
  const raster = new Uint8Array(planes * height * rowBytes);
  const perPlane = t.across * t.down;
  for (let i = 0; i < perPlane * planes; i++) {
    const plane = Math.floor(i / perPlane), j = i % perPlane;
    const cx = j % t.across, cy = Math.floor(j / t.across);
    const rows = t.tiled ? chunkHeight : Math.min(chunkHeight, height - cy * chunkHeight);
    const what = `${t.tiled ? "tile" : "strip"} ${i}`;
    const chunk = tiffChunk(
      b.subarray(t.offsets[i], t.offsets[i] + t.counts[i]),
      t.compression,
      rows * chunkRowBytes,
      what,
    );
    if (t.predictor === 2) undoHorizontalPrediction(chunk, rows, chunkWidth * perPixel, perPixel, bits, t.le);
    const x0 = cx * chunkRowBytes, copy = Math.min(chunkRowBytes, rowBytes - x0);
    for (let r = 0; r < rows && cy * chunkHeight + r < height; r++) {
      const from = r * chunkRowBytes;
      raster.set(chunk.subarray(from, from + copy), (plane * height + cy * chunkHeight + r) * rowBytes + x0);
    }
  }
  return applyOrientation({ width, height, rgba: tiffToRgba(t, raster, rowBytes) }, t.orientation);
}

/** One strip or tile, decompressed to exactly `expected` bytes (a new array: prediction is undone in place). */
function tiffChunk(src: Uint8Array, compression: number, expected: number, what: string): Uint8Array {
  let out: Uint8Array;
  if (compression === 1) out = src.slice(0, expected);
  else if (compression === 5) out = lzwDecode(src, expected);
  else if (compression === 32773) out = packBitsDecode(src, expected);
  else {
    try {
      out = inflateSync(src, { maxOutputLength: Math.max(expected, 1) });
    } catch (e) {
      throw new Error(`${what}: ${errorLine(e)}`);
    }
  }
  if (out.length < expected) throw new Error(`${what} holds ${out.length} bytes of pixels, not ${expected}`);
  return out.subarray(0, expected);
}

/** TIFF's LZW: codes of 9 to 12 bits, most significant bit first, widening one code early; up to `expected` bytes. */
function lzwDecode(src: Uint8Array, expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  // Each code's string is a run of bytes already written to `out`: where it starts and its length.
  const start = new Int32Array(4096), length = new Int32Array(4096);
  let n = 0, i = 0, acc = 0, bits = 0, width = 9, next = 258, prevStart = -1, prevLength = 0;
  while (n < expected) {
    while (bits < width) {
      if (i >= src.length) return out.subarray(0, n);
      acc = ((acc << 8) | src[i++]) & 0xffffff;
      bits += 8;
    }
    const code = (acc >>> (bits - width)) & ((1 << width) - 1);
    bits -= width;
    if (code === 257) break; // end of information
    if (code === 256) { // clear
      width = 9;
      next = 258;
      prevStart = -1;
      continue;
    }
    const at = n;
    let len: number;
    if (code < 256) {
      out[n] = code;
      len = 1;
    } else if (code < next) {
      len = Math.min(length[code], expected - n);
      out.copyWithin(n, start[code], start[code] + len);
    } else if (code === next && prevStart >= 0) {
      // The code being defined: the previous string and its own first byte.
      len = Math.min(prevLength + 1, expected - n);
      out.copyWithin(n, prevStart, prevStart + Math.min(prevLength, len));
      if (len > prevLength) out[n + prevLength] = out[prevStart];
    } else {
      throw new Error(`invalid LZW code ${code} near byte ${i}`);
    }
    n += len;
    // The new entry is the previous string plus this one's first byte, which follows it in `out`.
    if (prevStart >= 0 && next < 4096) {
      start[next] = prevStart;
      length[next] = prevLength + 1;
      next++;
    }
    if (next + 1 >= 1 << width && width < 12) width++;
    prevStart = at;
    prevLength = len;
  }
  return out.subarray(0, n);
}

/** PackBits run-length decoding, up to `expected` bytes. */
function packBitsDecode(src: Uint8Array, expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  let n = 0, i = 0;
  while (n < expected && i < src.length) {
    const h = (src[i++] << 24) >> 24;
    if (h >= 0) { // h + 1 literal bytes
      const c = Math.min(h + 1, expected - n, src.length - i);
      out.set(src.subarray(i, i + c), n);
      n += c;
      i += h + 1;
    } else if (h !== -128 && i < src.length) { // the next byte 1 − h times
      const end = Math.min(expected, n + 1 - h);
      out.fill(src[i++], n, end);
      n = end;
    }
  }
  return out.subarray(0, n);
}

/** Undoes predictor 2: each sample after a row's first pixel was stored as the difference from its left neighbour. */
function undoHorizontalPrediction(
  chunk: Uint8Array,
  rows: number,
  rowSamples: number,
  perPixel: number,
  bits: number,
  le: boolean,
) {
  if (bits === 8) {
    for (let r = 0; r < rows; r++) {
      const row = r * rowSamples;
      for (let k = row + perPixel; k < row + rowSamples; k++) {
        chunk[k] = (chunk[k] + chunk[k - perPixel]) & 0xff;
      }
    }
    return;
  }
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  for (let r = 0; r < rows; r++) {
    const row = 2 * r * rowSamples;
    for (let k = perPixel; k < rowSamples; k++) {
      const p = row + 2 * k;
      view.setUint16(p, (view.getUint16(p, le) + view.getUint16(p - 2 * perPixel, le)) & 0xffff, le);
    }
  }
}

/** RGBA from a TIFF's decompressed raster (one per plane, rows of `rowBytes`). */
function tiffToRgba(t: TiffLayout, raster: Uint8Array, rowBytes: number): Uint8Array {
  const { width, height, bits, samples, planes, photometric, alpha, colorMap, le } = t;
  const max = bits === 16 ? 0xffff : (1 << bits) - 1;
  const chunky = planes === 1;
  // Sample s of pixel x in row y, as stored (not scaled).
  const raw = (y: number, x: number, s: number): number => {
    const idx = chunky ? x * samples + s : x;
    const row = ((chunky ? 0 : s) * height + y) * rowBytes;
    if (bits === 8) return raster[row + idx];
    if (bits === 16) {
      const p = row + 2 * idx;
      return le ? raster[p] | (raster[p + 1] << 8) : (raster[p] << 8) | raster[p + 1];
    }
    const bit = idx * bits;
    return (raster[row + (bit >> 3)] >> (8 - bits - (bit & 7))) & max;
  };
  const level = (v: number) => (bits === 8 ? v : Math.round((v * 255) / max));
  const colors = TIFF_COLORS[photometric];
  const mapSize = 1 << bits;
  const rgba = new Uint8Array(4 * width * height);
  for (let y = 0, o = 0; y < height; y++) {
    for (let x = 0; x < width; x++, o += 4) {
      let r: number, g: number, b: number;
      if (photometric <= 1) {
        r = g = b = photometric === 0 ? 255 - level(raw(y, x, 0)) : level(raw(y, x, 0));
      } else if (photometric === 2) {
        r = level(raw(y, x, 0));
        g = level(raw(y, x, 1));
        b = level(raw(y, x, 2));
      } else if (photometric === 3) {
        const i = raw(y, x, 0);
        r = Math.round(colorMap![i] / 257);
        g = Math.round(colorMap![mapSize + i] / 257);
        b = Math.round(colorMap![2 * mapSize + i] / 257);
      } else { // CMYK, converted as for CMYK JPEGs
        const k = 255 - level(raw(y, x, 3));
        r = Math.round(((255 - level(raw(y, x, 0))) * k) / 255);
        g = Math.round(((255 - level(raw(y, x, 1))) * k) / 255);
        b = Math.round(((255 - level(raw(y, x, 2))) * k) / 255);
      }
      const a = alpha ? level(raw(y, x, colors)) : 255;
      if (alpha === 1 && a > 0 && a < 255) { // premultiplied: back to straight colour
        r = Math.min(255, Math.round((r * 255) / a));
        g = Math.min(255, Math.round((g * 255) / a));
        b = Math.min(255, Math.round((b * 255) / a));
      }
      rgba[o] = r;
      rgba[o + 1] = g;
      rgba[o + 2] = b;
      rgba[o + 3] = a;
    }
  }
  return rgba;
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
 * Encodes as PNG (lossless, with pngjs; RGB when every pixel is opaque, RGBA otherwise) or as
 * JPEG at `quality` (with imagescript; alpha is dropped: JPEG has none).
 */
export function encodeImage(img: RgbaImage, format: "png" | "jpeg", quality = JPEG_QUALITY): Uint8Array {
  checkImage(img, "image");
  if (format === "jpeg") return imagescriptEncodeJpeg(img, quality);
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
    // A temporary file renamed over the target: an interrupted write never leaves half a picture.
    await atomicWrite(path, bytes);
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
