/**
 * `deno task bundle`: builds the browser files from the unchanged sources with
 * `deno bundle` (esbuild inside Deno):
 *
 * - web/dist/engine.js: mod.ts as one ES module (the whole engine and the
 *   models; `import * as E from "./engine.js"` in any page).
 * - web/dist/app.js: the colorizing page's script (web/app.ts with the engine).
 *
 * web/dist/ is a build output (ignored by git): `deno task web` and the browser
 * test rebuild it, so a page never runs code older than the sources.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What is built: entry point → output, both relative to the repository root. */
export const BUNDLES: readonly { entry: string; output: string }[] = [
  { entry: "mod.ts", output: "web/dist/engine.js" },
  { entry: "web/app.ts", output: "web/dist/app.js" },
];

/**
 * Bundles every entry of {@link BUNDLES} under `root` for the browser and
 * returns the absolute output paths. Throws with deno bundle's own message
 * when a build fails.
 */
export async function bundle(root: string = ROOT): Promise<string[]> {
  const outputs: string[] = [];
  for (const { entry, output } of BUNDLES) {
    const out = join(root, output);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "-o", out, entry],
      cwd: root,
      stdout: "inherit",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    if (code !== 0) {
      throw new Error(
        `deno bundle ${entry} failed (exit ${code}):\n${new TextDecoder().decode(stderr).trim()}`,
      );
    }
    outputs.push(out);
  }
  return outputs;
}

if (import.meta.main) {
  try {
    for (const out of await bundle()) console.log(`built ${out}`);
  } catch (e) {
    console.error(`bundle: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
