/**
 * Debian packages: download with `apt-get download` (no root needed) and
 * unpack with `dpkg-deb -x`, both reused by later runs.
 */

import { join } from "node:path";
import { ProgressBar } from "../progress.ts";
import { exists } from "../fsutil.ts";
import type { Log } from "./output.ts";

async function run(
  cmd: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; out: string; err: string }> {
  let p: Deno.CommandOutput;
  try {
    p = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${cmd} not found: the debian command needs Debian's apt-get and dpkg-deb`);
    }
    throw e;
  }
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** A downloaded package: its .deb file and version. */
export interface DebFile {
  pkg: string;
  version: string;
  path: string;
}

/** The .deb of `pkg` in `dir` (apt-get download names it pkg_version_arch.deb, ":" as "%3a"), or null. */
export async function findDeb(dir: string, pkg: string): Promise<DebFile | null> {
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^(.+?)_(.+)_([^_]+)\.deb$/.exec(e.name);
      if (e.isFile && m && m[1] === pkg) {
        return { pkg, version: decodeURIComponent(m[2]), path: join(dir, e.name) };
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return null;
}

/**
 * Downloads the packages that are not in `dir` yet with `apt-get download`
 * (as an ordinary user: it only writes into the current folder). A missing
 * package list is the usual cause of failure on a fresh machine, so that case
 * gets its own message.
 */
export async function downloadDebs(pkgs: string[], dir: string, log: Log): Promise<DebFile[]> {
  await Deno.mkdir(dir, { recursive: true });
  const out: DebFile[] = [];
  const bar = new ProgressBar({ total: pkgs.length, label: "download", unit: "pkg" });
  for (const pkg of pkgs) {
    let deb = await findDeb(dir, pkg);
    if (!deb) {
      const r = await run("apt-get", ["download", pkg], dir);
      deb = await findDeb(dir, pkg);
      if (r.code !== 0 || !deb) {
        const msg = (r.err || r.out).trim().split("\n").filter((l) => !/^W:/.test(l)).join(" ");
        if (/Unable to locate package|has no installation candidate|no candidate|not available/i.test(msg)) {
          throw new Error(
            `apt-get cannot find package ${pkg} (${msg}). Run "sudo apt-get update" once so apt knows ` +
              `the packages of your Debian release, then try again.`,
          );
        }
        throw new Error(`apt-get download ${pkg} failed: ${msg || `exit code ${r.code}`}`);
      }
    }
    out.push(deb);
    bar.tick(1, { pkg });
  }
  bar.done();
  log.info(`packages: ${out.map((d) => `${d.pkg} ${d.version}`).join(", ")}`);
  return out;
}

/** Unpacks a .deb with dpkg-deb -x into `dir` unless a previous run finished it (marker file). */
export async function unpackDeb(deb: DebFile, dir: string): Promise<void> {
  const marker = join(dir, ".unpacked");
  if ((await exists(marker)) && (await Deno.readTextFile(marker)) === deb.version) return;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const r = await run("dpkg-deb", ["-x", deb.path, dir]);
  if (r.code !== 0) throw new Error(`dpkg-deb -x ${deb.path} failed: ${r.err.trim()}`);
  await Deno.writeTextFile(marker, deb.version);
}
