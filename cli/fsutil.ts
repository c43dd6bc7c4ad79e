/**
 * File helpers for the CLI: crash-safe writes (a kill -9 at any moment leaves
 * either the old file or the new one, never a torn mix) and small conveniences.
 */

import { dirname } from "node:path";

/** Whether a path exists (any kind of entry). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Writes `data` to `path` atomically: the bytes go to `<path>.tmp`, are fsynced,
 * then renamed over `path`. rename(2) within a directory is atomic on POSIX, so
 * readers and a crash see the previous file or the complete new one. The
 * directory is fsynced too where the platform allows it, so the rename itself
 * survives a power loss.
 */
export async function atomicWrite(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    let off = 0;
    while (off < data.length) off += await file.write(data.subarray(off));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  await syncDir(dirname(path));
}

/** {@link atomicWrite} for text (UTF-8). */
export function atomicWriteText(path: string, text: string): Promise<void> {
  return atomicWrite(path, new TextEncoder().encode(text));
}

/** Best-effort fsync of a directory (not possible on every OS/filesystem; failures are harmless). */
async function syncDir(dir: string): Promise<void> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Windows cannot open directories; some filesystems refuse fsync on them.
  }
}

/**
 * Appends one line to a text file and fsyncs it, so a line that was reported
 * as written survives a crash. A partial last line (crash mid-append) is what
 * {@link readJsonLines} tolerates.
 */
export async function appendLine(path: string, line: string): Promise<void> {
  const file = await Deno.open(path, { append: true, create: true });
  try {
    const bytes = new TextEncoder().encode(line.endsWith("\n") ? line : line + "\n");
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    await file.sync();
  } finally {
    file.close();
  }
}

/** Parses a JSON-lines file, skipping blank and unparsable lines (a crash can cut the last one). */
export async function readJsonLines<T = Record<string, unknown>>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // A torn line from an interrupted append: ignore it rather than refuse to resume.
    }
  }
  return out;
}
