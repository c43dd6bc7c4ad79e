/**
 * The engine is importable from a URL: the repository is served over HTTP on
 * 127.0.0.1 and a fresh `deno run` (its own empty DENO_DIR, no config, only
 * import permission for that host) imports mod.ts from it, runs a seeded
 * generator and prints the output, which must equal the same computation with
 * a local import bit for bit. A static check walks the import graph of mod.ts
 * and refuses anything that would not load in a browser or from a URL
 * (Deno.*, node:, npm:, jsr:, bare specifiers, non-relative or extensionless imports).
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import * as E from "../mod.ts";
import { generatorForward } from "./browser/workload.js";
import { gpu } from "./helpers.ts";
import { serveStatic, staticHandler } from "../cli/serve.ts";

await gpu();

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test({
  name:
    "URL import: a fresh deno process imports mod.ts over HTTP and computes exactly what a local import does",
  // The server's listener is closed at the end of the test; its accepted connections may close later.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const requests: string[] = [];
    const ac = new AbortController();
    const server = serveStatic({
      root: ROOT,
      port: 0,
      signal: ac.signal,
      onRequest: (p) => requests.push(p),
    });
    const host = `127.0.0.1:${server.addr.port}`;
    const tmp = await Deno.makeTempDir({ prefix: "url_import_" });
    try {
      const script = join(tmp, "remote.ts");
      await Deno.writeTextFile(
        script,
        `import * as E from "http://${host}/mod.ts";\n` +
          `import { generatorForward } from "http://${host}/tests/browser/workload.js";\n` +
          `console.log(JSON.stringify(await generatorForward(E)));\n`,
      );
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-config", "--no-lock", `--allow-import=${host}`, script],
        cwd: tmp,
        // A fresh cache proves the modules came over HTTP, not from an earlier run's cache.
        env: {
          DENO_DIR: join(tmp, "deno_dir"),
          DENO_NO_UPDATE_CHECK: "1",
          NO_COLOR: "1",
          XDG_RUNTIME_DIR: "/tmp",
        },
        clearEnv: false,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, `remote run failed:\n${err}`);
      const remote = JSON.parse(new TextDecoder().decode(stdout));
      assert.ok(
        requests.includes("/mod.ts"),
        `mod.ts was not fetched over HTTP; requests: ${requests.join(" ")}`,
      );
      assert.ok(requests.includes("/engine/gpu.ts"), "the engine's modules came over HTTP too");

      const local = await generatorForward(E);
      assert.deepEqual(remote.shape, [2, 2, 32, 32]);
      assert.equal(remote.parameters, local.parameters);
      // Same sources, same adapter, same kernels: not one bit may differ. JSON round-trips every
      // f32 value exactly (the shortest decimal that reads back as the same double).
      assert.equal(remote.values.length, local.values.length);
      const diff = local.values.findIndex((v, i) => !Object.is(v, remote.values[i]));
      assert.equal(
        diff,
        -1,
        `output ${diff}: local ${local.values[diff]} vs URL import ${remote.values[diff]}`,
      );
      // And the comparison is not vacuous: a generator really ran.
      assert.ok(local.values.some((v) => v !== 0));
    } finally {
      ac.abort();
      await server.finished;
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("static server: content types, folder index, redirects, nothing outside the root or hidden", async () => {
  const handler = staticHandler(ROOT);
  const get = (path: string, method = "GET") =>
    handler(new Request(`http://127.0.0.1:8000${path}`, { method }));
  const body = async (r: Response) => (await r.text(), r);

  const ts = await body(await get("/mod.ts"));
  assert.equal(ts.status, 200);
  // Deno compiles a remote module by its Content-Type: .ts must not arrive as text/plain.
  assert.match(ts.headers.get("content-type")!, /^application\/typescript/);
  assert.equal(ts.headers.get("cache-control"), "no-store");
  assert.match(
    (await body(await get("/tests/browser/workload.js"))).headers.get("content-type")!,
    /^text\/javascript/,
  );
  const index = await get("/web/");
  assert.equal(index.status, 200);
  assert.match(await index.text(), /Colorize a photo/);
  assert.match(index.headers.get("content-type")!, /^text\/html/);
  const head = await get("/mod.ts", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  assert.equal(Number(head.headers.get("content-length")), (await Deno.stat(join(ROOT, "mod.ts"))).size);

  const root = await get("/");
  assert.deepEqual([root.status, root.headers.get("location")], [302, "/web/"]);
  // Without the slash the page's relative URLs (style.css, dist/app.js) would resolve one level up.
  const folder = await get("/web?model=random");
  assert.deepEqual([folder.status, folder.headers.get("location")], [301, "/web/?model=random"]);

  for (
    const p of [
      "/nope.ts",
      "/../../etc/passwd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/.git/config",
      "/web/.gitignore",
    ]
  ) {
    assert.equal((await body(await get(p))).status, 404, p);
  }
  assert.equal((await body(await get("/mod.ts", "POST"))).status, 405);
  assert.equal((await body(await get("/%E0%A4%A"))).status, 400);
});

// ---------------------------------------------------------------------------
// Static check of everything mod.ts reaches.

/**
 * Blanks out comments and, with `strings`, the contents of string and template
 * literals (quotes kept), scanning once from the start so that quotes inside
 * comments and "//" inside strings (URLs, WGSL sources) are read correctly.
 * Regular-expression literals are not recognised; the engine's few contain no quotes.
 */
export function blankOut(src: string, strings: boolean): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i], d = src[i + 1];
    if (c === "/" && d === "/") {
      const end = src.indexOf("\n", i);
      i = end < 0 ? src.length : end;
      out += " ";
    } else if (c === "/" && d === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? src.length : end + 2;
      out += " ";
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      out += strings ? c + " " + c : src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Module specifiers of static imports/exports, dynamic imports and require calls. */
export function importSpecifiers(src: string): string[] {
  const code = blankOut(src, false);
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["'`]([^"'`]+)["'`]/g,
    /\brequire\s*\(\s*["'`]([^"'`]+)["'`]/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

/** Problems that would stop a file from running in a browser or from a URL. */
export function portabilityProblems(src: string): string[] {
  const problems: string[] = [];
  for (const spec of importSpecifiers(src)) {
    if (/^(node|npm|jsr):/.test(spec)) problems.push(`imports "${spec}" (not available in a browser)`);
    else if (!spec.startsWith("./") && !spec.startsWith("../")) {
      problems.push(`imports "${spec}" (only relative imports resolve the same everywhere)`);
    } else if (!spec.endsWith(".ts")) {
      problems.push(`imports "${spec}" (relative imports need the .ts extension)`);
    }
  }
  const code = blankOut(src, true);
  if (/\bDeno\s*(\.|\?\.|\[)/.test(code)) problems.push("uses Deno.* (Web APIs only)");
  if (/\bprocess\s*\.\s*(env|argv|exit|cwd|platform)\b/.test(code)) problems.push("uses Node's process");
  if (/\brequire\s*\(/.test(code)) problems.push("uses require()");
  if (/\bimport\s*\(/.test(code)) {
    problems.push("uses a dynamic import (the bundle and URL loading see only static ones)");
  }
  return problems;
}

Deno.test("static check: the checker catches what it must", () => {
  assert.deepEqual(portabilityProblems(`import { a } from "./a.ts";\n// Deno.readFile in a comment\n`), []);
  assert.equal(portabilityProblems(`const x = await Deno.readFile("f");`).length, 1);
  assert.equal(portabilityProblems(`const e = globalThis.Deno?.env;`).length, 1);
  assert.deepEqual(
    portabilityProblems(`throw new Error("use a browser or Deno.");\nconst s = \`// it's Deno.\`;`),
    [],
  );
  assert.equal(portabilityProblems(`const u = "http://x"; const e = Deno.env;`).length, 1);
  assert.equal(portabilityProblems(`import { join } from "node:path";`).length, 1);
  assert.equal(portabilityProblems(`import jpeg from "jpeg-js";`).length, 1);
  assert.equal(portabilityProblems(`export * from "npm:pngjs@7";`).length, 1);
  assert.equal(portabilityProblems(`import {\n  a,\n  b,\n} from "./x";`).length, 1);
  assert.equal(portabilityProblems(`import type { T } from "jsr:@std/path";`).length, 1);
  assert.equal(portabilityProblems(`const m = await import("./x.ts");`).length, 1);
});

Deno.test("static check: no file reachable from mod.ts uses Deno, node:, npm:, jsr: or bare specifiers", async () => {
  // deno info resolves the graph exactly as Deno does (re-exports, type imports included).
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "mod.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string; local?: string; kind?: string; error?: string }[];
  };
  const files: string[] = [];
  const problems: string[] = [];
  for (const m of info.modules) {
    if (m.error) problems.push(`${m.specifier}: ${m.error}`);
    else if (!m.specifier.startsWith("file://")) problems.push(`${m.specifier}: not a local file`);
    else files.push(fileURLToPath(m.specifier));
  }
  for (const f of files) {
    for (const p of portabilityProblems(await Deno.readTextFile(f))) {
      problems.push(`${f.slice(ROOT.length)}: ${p}`);
    }
  }
  assert.deepEqual(problems, []);
  // The walk really covered the engine, the shaders and the models.
  const rel = files.map((f) => f.slice(ROOT.length));
  for (
    const f of ["mod.ts", "engine/gpu.ts", "shaders/conv.ts", "models/colorize.ts", "models/checkpoint.ts"]
  ) {
    assert.ok(rel.includes(f), `${f} is in the graph (got ${rel.length} files)`);
  }
});
