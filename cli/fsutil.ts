/**
 * File helpers for the CLI: crash-safe writes (a kill -9 at any moment leaves
 * either the old file or the new one, never a torn mix), the one recursive
 * folder listing, and small conveniences.
 */

import { dirname, join } from "node:path";

/**
 * A key naming the file at `path` (links followed), equal for two paths exactly when they reach
 * the same file, hard links included: device and inode where Deno.stat gives them, else the real
 * path (symbolic links and `.`/`..` resolved). null when nothing can be reached there.
 */
export async function fileIdentity(path: string): Promise<string | null> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch {
    return null;
  }
  if (st.dev !== null && st.ino !== null) return `${st.dev}:${st.ino}`;
  try {
    return `path:${await Deno.realPath(path)}`;
  } catch {
    return null;
  }
}

/**
 * Why `dir` cannot be (or become, by a recursive mkdir) a folder: "P is a file, not a folder" for
 * the first entry P on the way that exists and is not a folder, else null. Folders that cannot be
 * looked into (no permission) count as fine: writing there reports its own error.
 */
export async function notAFolder(dir: string): Promise<string | null> {
  // "a/file.jpg/" must look at a/file.jpg itself, not skip to its parent.
  let p = dir.replace(/(.)[\\/]+$/, "$1");
  for (;;) {
    try {
      const st = await Deno.stat(p);
      if (st.isDirectory) return null;
      return `${p} is ${st.isFile ? "a file, not a folder" : "not a folder"}`;
    } catch (e) {
      // NotFound: look further up. NotADirectory: something further up is not a folder.
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) return null;
    }
    const up = dirname(p);
    if (up === p) return null;
    p = up;
  }
}

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
 * Writes `data` to `path` atomically: the bytes go to a new temporary file beside it
 * (`<path>.<random>.tmp`, same folder so the rename stays on one filesystem), are fsynced,
 * then renamed over `path`. rename(2) within a directory is atomic on POSIX, so readers and a
 * crash see the previous file or the complete new one, and a file hard-linked at `path` keeps
 * its bytes under its other names (the name gets a new file; nothing is written through it).
 * The directory is fsynced too where the platform allows it, so the rename itself survives a
 * power loss. On failure the temporary file is removed and the error comes through.
 */
export async function atomicWrite(path: string, data: Uint8Array): Promise<void> {
  // A fresh name, created exclusively (createNew fails on anything already there, links
  // included): a fixed name such as <path>.tmp would write through a link found there, clobber a
  // user's file of that name, and be shared by two writers of one path, who could rename a mix.
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const file = await Deno.open(tmp, { write: true, createNew: true });
  try {
    try {
      let off = 0;
      while (off < data.length) off += await file.write(data.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
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

/** Options of {@link listFiles}; the defaults list every file, links left out, in path order. */
export interface ListFilesOptions {
  /** Keeps a file when this returns true for its name (default: every file). */
  match?: (name: string) => boolean;
  /** Leaves out files and folders whose name starts with "." (default false). */
  skipHidden?: boolean;
  /** Follows symbolic links to files and folders, leaving out dangling ones (default false: links are left out). */
  followLinks?: boolean;
  /**
   * "path" (default): the relative paths sorted as whole strings by code unit
   * (not locale), so the order is the same on every machine; "a.png" comes
   * before "a/x.png". "tree": depth first, each folder's entries sorted by name,
   * so a folder's files come where the folder sorts; "a/x.png" comes before
   * "a.png" because the folder "a" sorts before "a.png".
   */
  order?: "path" | "tree";
  /** The error to throw when folder `dir` cannot be read (default: the error as it came). */
  readError?: (dir: string, e: unknown) => Error;
}

/** Files under `root`, recursively, as paths relative to `root` (see {@link ListFilesOptions}). */
export async function listFiles(root: string, opts: ListFilesOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const walk = async (rel: string) => {
    const dir = rel ? join(root, rel) : root;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      throw opts.readError ? opts.readError(dir, e) : e;
    }
    entries.sort((a, b) => byCodeUnit(a.name, b.name));
    for (const e of entries) {
      if (opts.skipHidden && e.name.startsWith(".")) continue;
      const r = rel ? join(rel, e.name) : e.name;
      let isDir = e.isDirectory, isFile = e.isFile;
      if (e.isSymlink) {
        if (!opts.followLinks) continue;
        try {
          const st = await Deno.stat(join(root, r));
          isDir = st.isDirectory, isFile = st.isFile;
        } catch {
          continue; // dangling link
        }
      }
      if (isDir) await walk(r);
      else if (isFile && (opts.match?.(e.name) ?? true)) out.push(r);
    }
  };
  await walk("");
  return opts.order === "tree" ? out : out.sort(byCodeUnit);
}

/**
 * `deno task` runs in the repository root and passes the caller's directory as INIT_CWD; going back
 * there makes relative paths mean what the user typed. Without --allow-env the paths stay as they are.
 */
export function enterCallerDirectory(): void {
  try {
    const dir = Deno.env.get("INIT_CWD");
    if (dir) Deno.chdir(dir);
  } catch {
    // No permission to read INIT_CWD (plain deno run): the current directory already is the caller's.
  }
}
