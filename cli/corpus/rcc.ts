/**
 * A reader for Qt's binary resource files (.rcc, as `rcc -binary` writes them
 * and QResource::registerResource loads them). Some Debian packages (GCompris)
 * ship their images only inside such files, so the data command needs to list
 * and extract them without Qt.
 *
 * Layout (all integers big-endian), as qtbase's src/corelib/io/qresource.cpp
 * reads it:
 * - header: "qres", version (1–3), tree offset, data offset, names offset, and
 *   from version 3 a feature-flags word;
 * - tree: fixed-size nodes (14 bytes, 22 from version 2 with a 64-bit
 *   modification time at the end), node 0 the root: name offset (u32), flags
 *   (u16), then for a directory child count (u32) and the node index of its
 *   first child (u32), for a file territory (u16), language (u16) and data
 *   offset (u32);
 * - names: length in UTF-16 code units (u16), hash (u32), the UTF-16BE name;
 * - data: byte length (u32), then the bytes; zlib-compressed entries start
 *   with the uncompressed length (u32, qCompress's prefix) before the zlib
 *   stream, zstd-compressed ones are a bare zstd frame.
 */

/** Entry flags of the tree (QResourceRoot::Flags). */
export const RCC_COMPRESSED = 0x01;
/** Directory node. */
export const RCC_DIRECTORY = 0x02;
/** Compressed with zstd (Qt 5.13+), which Web APIs cannot decompress. */
export const RCC_COMPRESSED_ZSTD = 0x04;

/** One file of a resource archive. */
export interface RccEntry {
  /** Path inside the archive without a leading slash, e.g. "gcompris/src/activities/x/y.webp". */
  path: string;
  /** Tree flags: {@link RCC_COMPRESSED} or {@link RCC_COMPRESSED_ZSTD} when compressed, else 0. */
  flags: number;
  /** Stored (possibly compressed) size in bytes. */
  storedSize: number;
  /** Absolute offset of the stored bytes in the file (after the length word). */
  offset: number;
}

/** A parsed resource archive: its file entries and the bytes they point into. */
export interface RccArchive {
  version: number;
  entries: RccEntry[];
  bytes: Uint8Array;
}

/** A malformed or unsupported .rcc file; the message names the file. */
export class RccError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RccError";
  }
}

/**
 * Parses the tree of an .rcc file and lists its files (directories are walked,
 * not listed), in tree order. `name` prefixes every error message. Cycles and
 * out-of-range offsets in a corrupt file are errors, never hangs or reads past
 * the end.
 */
export function parseRcc(bytes: Uint8Array, name = "rcc"): RccArchive {
  const fail = (why: string): never => {
    throw new RccError(`${name}: ${why}`);
  };
  if (bytes.length < 20) fail(`too short for an rcc header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== "qres") {
    fail('not a Qt resource file (no "qres" magic)');
  }
  const version = view.getUint32(4);
  if (version < 1 || version > 3) fail(`unsupported rcc format version ${version}`);
  const treeOff = view.getUint32(8), dataOff = view.getUint32(12), namesOff = view.getUint32(16);
  for (const [what, off] of [["tree", treeOff], ["data", dataOff], ["names", namesOff]] as const) {
    if (off > bytes.length) fail(`${what} offset ${off} beyond the end of the file (${bytes.length} bytes)`);
  }
  const nodeSize = version >= 2 ? 22 : 14;
  const nodeCount = Math.floor((bytes.length - treeOff) / nodeSize);

  const nameAt = (off: number): string => {
    const p = namesOff + off;
    if (p + 6 > bytes.length) fail(`name offset ${off} out of range`);
    const len = view.getUint16(p);
    if (p + 6 + 2 * len > bytes.length) fail(`name at offset ${off} runs past the end of the file`);
    const units = new Array<number>(len);
    for (let i = 0; i < len; i++) units[i] = view.getUint16(p + 6 + 2 * i);
    return String.fromCharCode(...units);
  };

  const entries: RccEntry[] = [];
  const visited = new Set<number>();
  const walk = (node: number, prefix: string) => {
    if (node >= nodeCount) fail(`tree node ${node} out of range`);
    if (visited.has(node)) fail(`tree node ${node} is reached twice (corrupt tree)`);
    visited.add(node);
    const p = treeOff + node * nodeSize;
    const flags = view.getUint16(p + 4);
    // The root's name offset is 0 by convention and its name is not part of paths.
    const nm = node === 0 ? "" : nameAt(view.getUint32(p));
    const path = node === 0 ? "" : prefix ? `${prefix}/${nm}` : nm;
    if (flags & RCC_DIRECTORY) {
      const count = view.getUint32(p + 6), first = view.getUint32(p + 10);
      if (first + count > nodeCount) fail(`directory "${path}" lists nodes past the end of the tree`);
      for (let i = 0; i < count; i++) walk(first + i, path);
      return;
    }
    const dataAt = dataOff + view.getUint32(p + 10);
    if (dataAt + 4 > bytes.length) fail(`file "${path}" has a data offset past the end of the file`);
    const storedSize = view.getUint32(dataAt);
    if (dataAt + 4 + storedSize > bytes.length) {
      fail(`file "${path}" (${storedSize} bytes) runs past the end`);
    }
    entries.push({
      path,
      flags: flags & (RCC_COMPRESSED | RCC_COMPRESSED_ZSTD),
      storedSize,
      offset: dataAt + 4,
    });
  };
  if (nodeCount < 1) fail("empty resource tree");
  walk(0, "");
  return { version, entries, bytes };
}

/**
 * The uncompressed bytes of one entry. zlib entries are inflated with the Web
 * DecompressionStream ("deflate" is the zlib format) and checked against their
 * length prefix; zstd entries throw (callers skip and count them).
 */
export async function extractRcc(archive: RccArchive, entry: RccEntry): Promise<Uint8Array> {
  const stored = archive.bytes.subarray(entry.offset, entry.offset + entry.storedSize);
  if (entry.flags & RCC_COMPRESSED_ZSTD) {
    throw new RccError(`${entry.path}: zstd-compressed entry (not supported)`);
  }
  if (!(entry.flags & RCC_COMPRESSED)) return stored.slice();
  if (stored.length < 4) throw new RccError(`${entry.path}: compressed entry shorter than its length prefix`);
  const expected = new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0);
  let out: Uint8Array;
  try {
    const stream = new Blob([stored.slice(4)]).stream().pipeThrough(new DecompressionStream("deflate"));
    out = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new RccError(`${entry.path}: corrupt zlib data (${(e as Error).message})`);
  }
  if (out.length !== expected) {
    throw new RccError(`${entry.path}: inflated to ${out.length} bytes, its header says ${expected}`);
  }
  return out;
}
