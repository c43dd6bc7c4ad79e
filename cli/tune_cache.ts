/**
 * The autotuner's decisions kept between runs of the CLI (engine/autotune.ts decides; this file
 * only stores): a small JSON file in the user's cache folder, `$XDG_CACHE_HOME/colorize/autotune.json`
 * or `~/.cache/colorize/autotune.json`, holding the decisions of every adapter and engine version
 * seen (the tuner uses only the current ones). It is a cache: a missing, unreadable or malformed
 * file costs only a new tuning run, never an error.
 */

import { dirname, join } from "node:path";
import { atomicWriteText } from "./fsutil.ts";
import { Autotuner, autotuner } from "../engine/autotune.ts";

/** The folder name under the cache folder. */
const PROJECT = "colorize";

/** Reads an environment variable only where permission was granted: never a prompt, never a throw. */
function envVar(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where the decisions are kept: `$XDG_CACHE_HOME/colorize/autotune.json`, else
 * `$HOME/.cache/colorize/autotune.json`; null when neither variable is set or readable (then the
 * decisions live only in memory). `env` reads a variable (tests pass their own).
 */
export function tuneCachePath(env: (name: string) => string | undefined = envVar): string | null {
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, PROJECT, "autotune.json");
  const home = env("HOME");
  return home ? join(home, ".cache", PROJECT, "autotune.json") : null;
}

/** What {@link loadTuneCache} did. */
export interface TuneCacheLoad {
  /** The file read (null: no cache folder). */
  path: string | null;
  /** Decisions taken from it (of every adapter and version in it). */
  entries: number;
  /** Why the file was ignored, for a one-line warning; absent when it was read or did not exist. */
  warning?: string;
}

/** Adds the decisions in the file at `path` to `tuner`; see {@link TuneCacheLoad}. */
export async function loadTuneCache(
  path: string | null = tuneCachePath(),
  tuner: Autotuner = autotuner,
): Promise<TuneCacheLoad> {
  if (!path) return { path, entries: 0 };
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { path, entries: 0 };
    return { path, entries: 0, warning: `autotune cache ${path} not read: ${(e as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { path, entries: 0, warning: `autotune cache ${path} ignored: ${(e as Error).message}` };
  }
  if ((json as { format?: unknown } | null)?.format !== 1) {
    return { path, entries: 0, warning: `autotune cache ${path} ignored: not an autotune cache (format 1)` };
  }
  return { path, entries: tuner.load(json) };
}

/**
 * Writes `tuner`'s decisions to `path` (creating the folder), keeping the file's decisions that the
 * tuner does not have (another adapter's, or another process's since this one loaded); the file
 * is replaced atomically, so a crash never leaves half a file. Does nothing when `path` is null.
 */
export async function saveTuneCache(
  path: string | null = tuneCachePath(),
  tuner: Autotuner = autotuner,
): Promise<void> {
  if (!path) return;
  const merged = new Autotuner();
  try {
    merged.load(JSON.parse(await Deno.readTextFile(path)));
  } catch {
    // No file or a malformed one: write the tuner's decisions alone.
  }
  merged.load(tuner.toJSON());
  await Deno.mkdir(dirname(path), { recursive: true });
  await atomicWriteText(path, JSON.stringify(merged.toJSON(), null, 1) + "\n");
}
