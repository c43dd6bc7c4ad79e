/**
 * The public API stays documented: `deno doc --lint mod.ts` must pass, so a new
 * export without JSDoc, a public signature that names a type mod.ts does not
 * export, or a missing explicit return type fails the suite (and CI) instead of
 * surfacing only when the package is published to JSR. No GPU needed.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("docs: deno doc --lint mod.ts reports no undocumented or private-typed exports", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "mod.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, `deno doc --lint mod.ts exited with ${code}:\n${out}`);
});
