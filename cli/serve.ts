/**
 * `deno task web [--port N]`: builds the browser bundle (web/dist/, as
 * `deno task bundle`), then serves the repository as static files on
 * http://127.0.0.1:8000 so the colorizing page (web/index.html) can load the
 * bundle and the shipped model (models/default.safetensors) by relative URL.
 *
 * The whole repository is served, not only web/, because the tests import the
 * engine's TypeScript sources by URL from the same server (tests/url_import_test.ts)
 * and the page reaches ../models/. It listens on the loopback interface only.
 * Responses are never cached: after a rebuild a reload shows the new code.
 */

import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { bundle } from "./bundle.ts";
import { consoleIo, errorLine, readCommandLine } from "./args.ts";

/** The repository root (this file's parent's parent), so the server works from any directory. */
export const REPO_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The port `deno task web` uses unless told otherwise. */
export const DEFAULT_PORT = 8000;

/**
 * Content types by extension. `.ts` must be a TypeScript type: Deno decides how
 * to compile a remote module from its Content-Type header, not from the URL.
 */
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".ts": "application/typescript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
};

/** The Content-Type of a file name (binary for anything unknown, e.g. .safetensors). */
export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

function text(status: number, body: string): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/** Options of {@link staticHandler}. */
export interface StaticOptions {
  /** Called once per request that was answered, e.g. to log or count requests. */
  onRequest?: (path: string, status: number) => void;
  /** Where "/" redirects to (default "/web/"). */
  index?: string;
}

/**
 * A request handler serving the files under `root` (GET and HEAD only). A path
 * ending in "/" serves that folder's index.html; paths that leave `root` (after
 * decoding and normalising) are refused, so only the repository is reachable,
 * and hidden entries (a segment starting with ".", such as .git) are not served.
 */
export function staticHandler(
  root: string,
  options: StaticOptions = {},
): (req: Request) => Promise<Response> {
  const base = resolve(root);
  const index = options.index ?? "/web/";
  const answer = async (req: Request): Promise<[string, Response]> => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") return [url.pathname, text(405, "method not allowed")];
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return [url.pathname, text(400, "bad path")];
    }
    if (path === "/") {
      return [path, new Response(null, { status: 302, headers: { location: index } })];
    }
    if (path.includes("\0")) return [path, text(400, "bad path")];
    // Hidden entries (.git, .env…) are not part of any page.
    if (path.split("/").some((seg) => seg.startsWith("."))) return [path, text(404, `not found: ${path}`)];
    let file = join(base, normalize(path));
    if (file !== base && !file.startsWith(base + sep)) return [path, text(403, "forbidden")];
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(file);
      if (info.isDirectory) {
        // A folder URL without its slash would resolve the page's relative links one level too high.
        if (!path.endsWith("/")) {
          return [path, new Response(null, { status: 301, headers: { location: path + "/" + url.search } })];
        }
        file = join(file, "index.html");
        info = await Deno.stat(file);
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
        return [path, text(404, `not found: ${path}`)];
      }
      throw e;
    }
    if (!info.isFile) return [path, text(404, `not found: ${path}`)];
    const headers = {
      "content-type": contentType(file),
      "content-length": String(info.size),
      "cache-control": "no-store",
    };
    if (req.method === "HEAD") return [path, new Response(null, { headers })];
    const f = await Deno.open(file, { read: true });
    return [path, new Response(f.readable, { headers })];
  };
  return async (req) => {
    let path = "?", res: Response;
    try {
      [path, res] = await answer(req);
    } catch (e) {
      res = text(500, `cannot read: ${errorLine(e)}`);
    }
    options.onRequest?.(path, res.status);
    return res;
  };
}

/** Options of {@link serveStatic}. */
export interface ServeOptions extends StaticOptions {
  root?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  hostname?: string;
  signal?: AbortSignal;
}

/** Starts the static server (loopback only by default); `server.addr.port` is the port actually bound. */
export function serveStatic(options: ServeOptions = {}): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    port: options.port ?? DEFAULT_PORT,
    hostname: options.hostname ?? "127.0.0.1",
    signal: options.signal,
    onListen: () => {},
  }, staticHandler(options.root ?? REPO_ROOT, options));
}

const HELP = `Usage: deno task web [--port N] [--no-build]

Builds the browser bundle (web/dist/) and serves the repository on
http://127.0.0.1:${DEFAULT_PORT}/ (the colorizing page is /web/).

Options:
  -p, --port N   port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --no-build     serve web/dist/ as it is (no deno bundle run)
  -h, --help     this text`;

/**
 * The CLI: parse flags, build, serve until interrupted. Returns the server, or
 * the exit code when it does not serve (help, usage error, failed build, port in use).
 */
export async function main(args: string[]): Promise<number | Deno.HttpServer<Deno.NetAddr>> {
  const parsed = readCommandLine("web", args, {
    port: { type: "string", short: "p" },
    "no-build": { type: "boolean" },
  }, { help: HELP, io: consoleIo });
  if (typeof parsed === "number") return parsed;
  const flags = parsed.values;
  const port = flags.port === undefined ? DEFAULT_PORT : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`web: --port ${flags.port} is not a port number (0 to 65535)`);
    return 2;
  }
  if (!flags["no-build"]) {
    try {
      for (const out of await bundle(REPO_ROOT)) console.log(`built ${out}`);
    } catch (e) {
      console.error(`web: ${errorLine(e)}`);
      return 1;
    }
  }
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = serveStatic({ port });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      console.error(`web: port ${port} is in use; pick another with --port N`);
      return 1;
    }
    throw e;
  }
  const { port: bound } = server.addr;
  console.log(`Serving ${REPO_ROOT} on http://127.0.0.1:${bound}/`);
  console.log(`Open http://127.0.0.1:${bound}/web/ to colorize photos (Ctrl-C stops).`);
  return server;
}

if (import.meta.main) {
  const r = await main(Deno.args);
  if (typeof r === "number") Deno.exit(r);
}
