/**
 * Decoding the pictures packages ship (JPEG, PNG, GIF, TIFF, and WebP, the format GCompris stores its
 * photos in): the CLI's one decoder, cli/image.ts's decodeImage, under the name the corpus code uses.
 */

export { decodeImage as decodeAny } from "../image.ts";
