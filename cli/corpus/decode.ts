/**
 * Decoding the pictures packages ship: JPEG and PNG as everywhere in the CLI,
 * plus WebP, the format GCompris stores its photos in.
 */

// libwebp compiled to WebAssembly (no native binary, works wherever Deno runs).
import decodeWebpBytes from "@jsquash/webp/decode.js";
import { decodeImage, type RgbaImage } from "../image.ts";

/** Decodes JPEG, PNG or WebP (WebP with libwebp compiled to WebAssembly, from npm). */
export async function decodeAny(bytes: Uint8Array, name: string): Promise<RgbaImage> {
  const riff = bytes.length > 12 && String.fromCharCode(...bytes.subarray(0, 4)) === "RIFF" &&
    String.fromCharCode(...bytes.subarray(8, 12)) === "WEBP";
  if (!riff) return decodeImage(bytes, name);
  let d: ImageData;
  try {
    d = await decodeWebpBytes(bytes.slice().buffer);
  } catch (e) {
    throw new Error(`${name}: corrupt WebP (${(e as Error).message ?? e})`);
  }
  return {
    width: d.width,
    height: d.height,
    rgba: new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.length),
  };
}
