/**
 * A streaming tar reader (POSIX ustar with GNU long names and pax path
 * records), enough to read the COCO sample archive without unpacking it to disk.
 */

/** One member of a tar archive. */
export interface TarHeader {
  name: string;
  size: number;
  /** "file", "dir", or "other" (links, devices, ...). */
  type: "file" | "dir" | "other";
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #have = 0;
  #done = false;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }
  async #fill(n: number): Promise<boolean> {
    while (this.#have < n && !this.#done) {
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else if (value.length) {
        this.#chunks.push(value);
        this.#have += value.length;
      }
    }
    return this.#have >= n;
  }
  /** Exactly n bytes, or null at end of stream (a short tail is returned as null too). */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill(n))) return null;
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0];
      const take = Math.min(c.length, n - off);
      out.set(c.subarray(0, take), off);
      off += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#have -= n;
    return out;
  }
  /** Skips n bytes; false when the stream ended first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      if (this.#chunks.length === 0 && !(await this.#fill(1))) return false;
      const c = this.#chunks[0];
      const take = Math.min(c.length, n);
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
      this.#have -= take;
      n -= take;
    }
    return true;
  }
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function tarString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

function tarNumber(b: Uint8Array): number {
  // GNU base-256 for sizes over 8 GiB: high bit of the first byte set.
  if (b[0] & 0x80) {
    let v = b[0] & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i];
    return v;
  }
  const s = tarString(b).trim();
  return s ? parseInt(s, 8) : 0;
}

/**
 * Reads a tar stream (POSIX ustar with GNU long names and pax path records)
 * and calls `onEntry` for each member; when it returns true for a regular
 * file the member's bytes are read and passed to `onData`, otherwise they are
 * skipped without buffering. Checksums are verified, so a file that is not a tar archive
 * fails on its first header.
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (h: TarHeader) => boolean,
  onData: (h: TarHeader, bytes: Uint8Array) => Promise<void> | void,
  name = "archive",
): Promise<void> {
  const r = new ByteReader(stream);
  let longName: string | null = null;
  let paxPath: string | null = null;
  try {
    while (true) {
      const block = await r.read(512);
      if (!block) return; // some writers omit the two zero blocks
      if (block.every((b) => b === 0)) return;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
      const stored = tarNumber(block.subarray(148, 156));
      if (sum !== stored) throw new Error(`${name}: not a tar archive or corrupt (bad header checksum)`);
      const size = tarNumber(block.subarray(124, 136));
      const flag = String.fromCharCode(block[156]);
      const padded = Math.ceil(size / 512) * 512;
      if (flag === "L" || flag === "x") {
        const data = await r.read(padded);
        if (!data) throw new Error(`${name}: truncated archive`);
        const text = new TextDecoder().decode(data.subarray(0, size));
        if (flag === "L") longName = text.replace(/\0.*$/s, "");
        else {
          for (const rec of text.split("\n")) {
            const m = /^\d+ path=(.*)$/s.exec(rec);
            if (m) paxPath = m[1];
          }
        }
        continue;
      }
      let nm = tarString(block.subarray(0, 100));
      const magic = tarString(block.subarray(257, 263));
      const prefix = magic.startsWith("ustar") ? tarString(block.subarray(345, 500)) : "";
      if (prefix) nm = `${prefix}/${nm}`;
      nm = paxPath ?? longName ?? nm;
      paxPath = longName = null;
      const type = flag === "0" || flag === "\0" || flag === "7" ? "file" : flag === "5" ? "dir" : "other";
      const h: TarHeader = { name: nm, size: type === "file" ? size : 0, type };
      if (onEntry(h) && type === "file") {
        const data = await r.read(padded);
        if (!data) throw new Error(`${name}: truncated archive (inside ${nm})`);
        await onData(h, data.subarray(0, size));
      } else if (!(await r.skip(padded))) {
        throw new Error(`${name}: truncated archive (inside ${nm})`);
      }
    }
  } finally {
    await r.cancel().catch(() => {});
  }
}
