/**
 * The engine in a real browser: Chromium (headless, WebGPU on its SwiftShader
 * software Vulkan) loads the bundle built from the unchanged sources
 * (web/dist/engine.js), runs the fixed computations of tests/browser/workload.js
 * and must agree with the same computations in Deno (lavapipe). Then the
 * colorizing page (web/index.html) is driven like a user would: a photo is
 * picked, the result is downloaded and checked, and a screenshot is saved to
 * out/browser/web-page.png. On the page as shipped (models/default.safetensors,
 * a hint model that colours automatically without hints) colour hints are
 * placed, picked, saved, loaded, dragged and removed, coloured by that same
 * model (no other model is fetched), and the result must match `deno task
 * colorize --hints` without --model, which uses the same file. A `?model=`
 * model that takes no hints gets no hint tools, only a note saying why. Last,
 * the page without WebGPU must say so.
 *
 * Needs /usr/bin/chromium (Debian package `chromium`; the test fails, never
 * skips, without it) and playwright-core from npm, which only drives that
 * browser: it never downloads one.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as E from "../mod.ts";
import { rgbToLabCpu } from "../engine/color.ts";
import { generatorForward, trainSteps } from "./browser/workload.js";
import { assertClose, gpu } from "./helpers.ts";
import { serveStatic } from "../cli/serve.ts";
import { bundle } from "../cli/bundle.ts";
import { decodeImage, type RgbaImage, writeImage } from "../cli/image.ts";
import type { DriverConfig, DriverReport, HintsScenario, PageReport } from "./browser/driver.ts";
import { colorAt } from "../web/hints_ui.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./browser/chromium.ts";

await gpu();

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "out", "browser");
const SCREENSHOT = join(OUT, "web-page.png");
/** The hint model's page with a hint placed and coloured. */
const HINTS_SCREENSHOT = join(OUT, "web-page-hints.png");
/** A tiny checkpoint for the page's model loading, under the served root (out/ is ignored by git). */
const TINY_MODEL = join(OUT, "tiny.safetensors");
const TINY_SIZE = 64;

/** W×H of the test photo: not square, odd and even, larger than the model on one side. */
const W = 213, H = 142;

/** The shipped model, a hint model: the page and colorize use it with and without hints. */
const DEFAULT_MODEL = join(ROOT, "models", "default.safetensors");

/**
 * The hint edits: a pixel in a smooth area away from the discs and stripes, a saturated yellow (far
 * from the bluish gray models predict there), and a pixel to drag the hint to. The bad hints file has
 * a colour that is no colour.
 */
const HINT_POINT = { x: 30, y: 115 }, HINT_COLOR = "#e0c020", HINT_DRAG_TO = { x: 70, y: 121 };
const BAD_HINTS = '[{"x": 1, "y": 2, "color": "red"}]';

/**
 * Why the shipped model cannot carry the hint page test, or null when it can: the page colours hints
 * with models/default.safetensors itself, so it must be there and be a hint model.
 */
async function shippedHintProblem(): Promise<string | null> {
  const bytes = await Deno.readFile(DEFAULT_MODEL).catch(() => null);
  if (!bytes) return `${DEFAULT_MODEL} is missing: the hint page test colours hints with it`;
  if (!E.takesHints(E.decodeCheckpoint(bytes, DEFAULT_MODEL).generatorConfig)) {
    return `${DEFAULT_MODEL} takes no colour hints: the page as shipped colours hints with it, so it must ` +
      "be a hint model";
  }
  return null;
}

interface Run {
  report: DriverReport;
  photo: RgbaImage;
  /** The PNGs the page offered for download, by page run, where it got that far. */
  downloads: Record<string, Uint8Array | undefined>;
  /** Whether models/default.safetensors exists (the page then uses it by default). */
  shipped: boolean;
  /** Why the hint page was not run (see {@link shippedHintProblem}). */
  hintProblem: string | null;
  /** The hint scenario's files (inside a temporary folder removed after the run, so read here). */
  hintFiles: {
    png?: Uint8Array;
    json?: string;
    movedJson?: string;
    cleared?: Uint8Array;
  };
  /** The driver's stderr, for failure messages. */
  stderr: string;
}

let run: Promise<Run> | null = null;

/**
 * Runs the browser once for all tests: rebuilds the bundle (so the page never
 * tests stale code), serves the repository on 127.0.0.1, writes the test photo
 * and lets tests/browser/driver.ts (a subprocess: see there) drive Chromium.
 */
function browserRun(): Promise<Run> {
  run ??= (async () => {
    try {
      await Deno.stat(CHROMIUM);
    } catch {
      throw new Error(
        `the browser tests need Chromium at ${CHROMIUM}: install it with "apt-get install -y chromium" ` +
          `(Debian/Ubuntu; .ci/run does this)`,
      );
    }
    await bundle(ROOT);
    const dir = await Deno.makeTempDir({ prefix: "browser_test_" });
    const ac = new AbortController();
    const server = serveStatic({ root: ROOT, port: 0, signal: ac.signal });
    try {
      const photo = testPhoto(W, H);
      await Deno.mkdir(OUT, { recursive: true });
      await Deno.writeFile(TINY_MODEL, await tinyCheckpoint());
      const shipped = await Deno.stat(DEFAULT_MODEL).then(() => true, () => false);
      const hintProblem = await shippedHintProblem();
      const hints: HintsScenario = {
        point: HINT_POINT,
        color: HINT_COLOR,
        download: join(dir, "hints.color.png"),
        json: join(dir, "hints.json"),
        badFile: join(dir, "bad-hints.json"),
        dragTo: HINT_DRAG_TO,
        movedJson: join(dir, "moved-hints.json"),
        screenshot: HINTS_SCREENSHOT,
        clearedDownload: join(dir, "cleared.color.png"),
      };
      await Deno.writeTextFile(hints.badFile, BAD_HINTS);
      const config: DriverConfig = {
        base: `http://127.0.0.1:${server.addr.port}`,
        chromium: CHROMIUM,
        args: [...CHROMIUM_ARGS],
        photo: join(dir, "photo.png"),
        pages: [
          // The page as a user opens it; with a shipped model, ?model=random keeps this run the
          // random fallback (a large model would be slow on a software adapter).
          {
            name: "fallback",
            path: shipped ? "/web/?model=random" : "/web/",
            download: join(dir, "fallback.png"),
            screenshot: SCREENSHOT,
          },
          {
            name: "checkpoint",
            path: `/web/?model=${encodeURIComponent("/out/browser/tiny.safetensors")}`,
            download: join(dir, "checkpoint.png"),
          },
          // The page as shipped: the default model, which also colours the hints.
          ...(hintProblem === null
            ? [{ name: "hints", path: "/web/", download: join(dir, "hints-none.png"), hints }]
            : []),
        ],
        // A hang guard, not a speed test: SwiftShader compiles the large register-tiled conv kernels
        // slowly, and a loaded 2-core machine has taken over 60 s for the shipped model's page.
        timeout: 240_000,
      };
      await writeImage(config.photo, photo);
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(ROOT, "tests", "browser", "driver.ts"), JSON.stringify(config)],
        cwd: ROOT,
        env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
        stdout: "piped",
        stderr: "piped",
        // Each wait in the driver has its own limit (above); this only stops a hung browser.
        signal: AbortSignal.timeout(1_200_000),
      }).output();
      const err = new TextDecoder().decode(stderr);
      if (code !== 0) throw new Error(`the browser driver failed (exit ${code}):\n${err}`);
      const report = JSON.parse(new TextDecoder().decode(stdout)) as DriverReport;
      const downloads: Run["downloads"] = {};
      for (const p of config.pages) {
        downloads[p.name] = await Deno.readFile(p.download).catch(() => undefined);
      }
      const hintFiles = {
        png: await Deno.readFile(hints.download).catch(() => undefined),
        json: await Deno.readTextFile(hints.json).catch(() => undefined),
        movedJson: await Deno.readTextFile(hints.movedJson).catch(() => undefined),
        cleared: await Deno.readFile(hints.clearedDownload).catch(() => undefined),
      };
      return { report, photo, downloads, shipped, hintProblem, hintFiles, stderr: err };
    } finally {
      ac.abort();
      await server.finished;
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return run;
}

/**
 * A tiny generator (as in tests/colorize_test.ts: pix2pix init with a 100× last layer, so it
 * predicts visible colour) saved as a checkpoint trained at 64×64.
 */
async function tinyCheckpoint(): Promise<Uint8Array> {
  E.manualSeed(5);
  const G = new E.Unet({ nDown: 5, ngf: 4 });
  try {
    E.initPix2pixWeights(G);
    const name = "model.model.3.weight";
    const w = await G.stateDict().get(name)!.data();
    G.loadStateDict(new Map([[name, w.map((v) => 100 * v)]]), false);
    return await E.encodeCheckpoint({ G, train: { size: TINY_SIZE } });
  } finally {
    G.dispose();
  }
}

/** Largest |a − b| / scale over two arrays of equal length. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// The shared server and driver outlive the first test that starts them (one browser run for all).
const browserTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

browserTest(
  "browser: the bundled engine runs in Chromium (SwiftShader) and agrees with Deno (lavapipe)",
  async () => {
    const { report } = await browserRun();
    const { engine } = report;
    const r = engine.result as {
      error?: string;
      adapter: string;
      ms: number;
      forward: Awaited<ReturnType<typeof generatorForward>>;
      train: Awaited<ReturnType<typeof trainSteps>>;
    } | undefined;
    assert.ok(
      r && !r.error && !engine.error,
      `in the browser: ${engine.error ?? r?.error}\n${engine.log.join("\n")}`,
    );
    console.log(`browser adapter: "${r.adapter}", workload ${r.ms.toFixed(0)} ms`);

    const forward = await generatorForward(E);
    const train = await trainSteps(E);
    assert.deepEqual(r.forward.shape, forward.shape);
    assert.equal(r.forward.parameters, forward.parameters);
    // Two software adapters compile the same WGSL differently (Tint→SwiftShader vs Naga→lavapipe):
    // fused multiply-adds and exp/tanh/rsqrt/division approximations may differ by an ulp or so per
    // op (the kernels fix the summation order, so no more than that). Measured: 2 ulps at the output
    // (1.2e-7 on a scale of 0.5). 1e-5 of the scale leaves room for other driver versions, while a
    // real bug (a wrong index, a missing term, a stale bundle) moves outputs by a sizeable fraction.
    const fScale = maxAbs(forward.values);
    const fDiff = maxDiff(r.forward.values, forward.values);
    console.log(
      `forward: max |browser − deno| = ${fDiff.toExponential(2)} (scale ${fScale.toExponential(2)})`,
    );
    assertClose(
      r.forward.values,
      forward.values,
      { atol: 1e-5 * fScale },
      "generator forward, browser vs Deno",
    );

    // Training amplifies those differences: batch norm divides by small variances, and the first Adam
    // update is ±lr per weight whatever the gradient's size, so a weight whose gradient is nearly 0
    // can move differently. Measured after 3 steps: losses within 1e-7 relative, the trained
    // generator's output within 6e-6 of its scale. Allowed: 1e-5 relative for the losses (means over
    // thousands of terms), 1e-4 of the scale for the output: far below the change 3 steps of lr 1e-3 make.
    assert.equal(r.train.losses.length, 3);
    const lossRel = Math.max(
      ...r.train.losses.flat().map((v, i) => Math.abs(v / train.losses.flat()[i] - 1)),
    );
    console.log(`losses: max relative difference ${lossRel.toExponential(2)}`);
    assertClose(
      r.train.losses.flat(),
      train.losses.flat(),
      { atol: 0, rtol: 1e-5 },
      "losses, browser vs Deno",
    );
    const tScale = maxAbs(train.output);
    const tDiff = maxDiff(r.train.output, train.output);
    console.log(
      `after 3 steps: max |browser − deno| = ${tDiff.toExponential(2)} (scale ${tScale.toExponential(2)})`,
    );
    assertClose(r.train.output, train.output, { atol: 1e-4 * tScale }, "trained generator, browser vs Deno");
    // The steps really trained: the losses moved.
    assert.notEqual(train.losses[0][2], train.losses[2][2]);
  },
);

/**
 * A test photo: smooth colour gradients, a few discs, and a band of one-pixel
 * stripes (lightness detail a 256×256 model cannot carry: a low-resolution L
 * would fail the check). Channels stay within [30, 225], away from the ends
 * where chroma clips out of the sRGB gamut.
 */
function testPhoto(w: number, h: number): RgbaImage {
  const rgba = new Uint8Array(4 * w * h);
  const discs = [[0.3, 0.4, 0.18, 60], [0.7, 0.55, 0.22, -50], [0.5, 0.8, 0.1, 40]];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x / (w - 1), v = y / (h - 1);
      let r = 60 + 120 * u, g = 80 + 90 * v, b = 150 - 70 * u + 40 * Math.sin(6 * v);
      for (const [cx, cy, rad, d] of discs) {
        if (Math.hypot((u - cx) * w / h, v - cy) < rad) (r += d / 2, g += d, b += d / 2);
      }
      if (v > 0.1 && v < 0.2 && u > 0.05 && u < 0.95) g += x & 1 ? 18 : -18;
      const p = 4 * (y * w + x);
      rgba[p] = Math.round(Math.min(225, Math.max(30, r)));
      rgba[p + 1] = Math.round(Math.min(225, Math.max(30, g)));
      rgba[p + 2] = Math.round(Math.min(225, Math.max(30, b)));
      rgba[p + 3] = 255;
    }
  }
  return { width: w, height: h, rgba };
}

function lightness(img: RgbaImage): Float64Array {
  const out = new Float64Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) {
    out[i] = rgbToLabCpu(img.rgba[4 * i] / 255, img.rgba[4 * i + 1] / 255, img.rgba[4 * i + 2] / 255)[0];
  }
  return out;
}

/** Failure context of one page run: what the page showed and logged. */
function pageContext(p: PageReport | undefined, stderr: string): string {
  if (!p) return "the page was not run";
  return `page state ${p.state}, status "${p.status}"${p.error ? `, ${p.error}` : ""}\n${
    p.log.join("\n")
  }\n${stderr}`;
}

browserTest(
  "browser: web page colorizes a picked photo (same size, L kept, PNG download, screenshot)",
  async () => {
    const { report, photo, downloads, shipped, stderr } = await browserRun();
    const p = report.pages.fallback;
    const context = pageContext(p, stderr);
    assert.equal(p?.state, "done", context);
    assert.ok(p.noteVisible, "the page says that it uses a random model");
    assert.match(p.note ?? "", /random weights/);
    if (!shipped) assert.match(p.note ?? "", /^No trained model at \/models\/default\.safetensors/);
    assert.match(p.status ?? "", new RegExp(`^Done: ${W}×${H} in [0-9.]+ s \\(random demo model\\)`));
    assert.equal(p.afterWidth, W, "the result is shown");
    assert.equal(p.downloadName, "photo.color.png");
    assert.equal(p.hintToolsVisible, false, "no hint tools without a hint model");
    assert.match(p.hintsUnavailable ?? "", /^Colour hints need a hint model/);
    const png = downloads.fallback;
    assert.ok(png, `no PNG was downloaded\n${context}`);
    const out = await decodeImage(png, "fallback.png");
    assert.deepEqual([out.width, out.height], [W, H], "output size is the input's");
    // The page recombines the photo's own L with the predicted ab, then 8-bit sRGB: rounding moves
    // L by ≤ 0.4 (measured max 0.2), and the random model's colours stay inside the gamut (clipping
    // would move L more). 1 unit is about the smallest visible lightness step; the stripes'
    // neighbours differ by ~10, so a shifted or low-resolution L fails by far.
    const Lout = lightness(out), Lin = lightness(photo);
    console.log(`web page: max |ΔL| = ${maxDiff(Lout, Lin).toFixed(3)}`);
    assertClose(Lout, Lin, { atol: 1 }, "L of the downloaded PNG vs the input");
    let chroma = 0;
    for (let i = 0; i < W * H; i++) {
      const [, a, b] = rgbToLabCpu(
        out.rgba[4 * i] / 255,
        out.rgba[4 * i + 1] / 255,
        out.rgba[4 * i + 2] / 255,
      );
      chroma = Math.max(chroma, Math.hypot(a, b));
    }
    assert.ok(chroma > 5, `the output has colour (max chroma ${chroma.toFixed(1)})`);
    assert.ok((await Deno.stat(SCREENSHOT)).size > 0, `a screenshot at ${SCREENSHOT}`);
  },
);

browserTest(
  "browser: web page with a checkpoint (?model=) gives the same PNG as colorizeRgba in Deno",
  async () => {
    const { report, photo, downloads, stderr } = await browserRun();
    const p = report.pages.checkpoint;
    const context = pageContext(p, stderr);
    assert.equal(p?.state, "done", context);
    assert.equal(p.noteVisible, false, "no fallback note with a real checkpoint");
    // The tiny model takes no hints and the page uses no other: no hint tools, a note saying why,
    // no other model fetched.
    assert.equal(p.hintToolsVisible, false, "no hint tools: the tiny model takes no hints");
    assert.match(
      p.hintsUnavailable ?? "",
      /^Colour hints need a hint model .*; this model colours on its own\.$/,
    );
    assert.deepEqual(p.models, ["/out/browser/tiny.safetensors 200"], "the models the page fetched");
    assert.match(p.status ?? "", /\. Drop another photo to go on\.$/, "the status line offers no hints");
    // The checkpoint's recorded training size is used, as by deno task colorize.
    assert.match(
      p.status ?? "",
      new RegExp(`model tiny\\.safetensors, [0-9,]+ parameters, ${TINY_SIZE}×${TINY_SIZE}`),
    );
    const png = downloads.checkpoint;
    assert.ok(png, `no PNG was downloaded\n${context}`);
    const page = await decodeImage(png, "checkpoint.png");

    const G = E.buildGenerator(E.decodeCheckpoint(await Deno.readFile(TINY_MODEL), "tiny.safetensors"));
    let deno: RgbaImage;
    try {
      deno = await E.colorizeRgba(G, photo, TINY_SIZE);
    } finally {
      G.dispose();
    }
    assert.deepEqual([page.width, page.height], [deno.width, deno.height]);
    // Same pipeline, different adapters (a few ulps apart, see the engine test) and the browser's
    // canvas decode/encode, which is lossless for an opaque sRGB PNG: a channel can differ only
    // where a value sits at a rounding boundary of the 8-bit conversion, i.e. by 1 level.
    const d = maxDiff(page.rgba, deno.rgba);
    let differing = 0;
    for (let i = 0; i < page.rgba.length; i++) if (page.rgba[i] !== deno.rgba[i]) differing++;
    console.log(
      `checkpoint page vs Deno: max channel difference ${d}, ${differing} of ${page.rgba.length} differ`,
    );
    assert.ok(d <= 1, `the page's PNG differs from colorizeRgba by up to ${d} levels`);
  },
);

/** Mean Lab a and b over the (2r+1)² pixels around `p`. */
function meanAb(img: RgbaImage, p: { x: number; y: number }, r: number): [number, number] {
  let a = 0, b = 0, n = 0;
  for (let y = p.y - r; y <= p.y + r; y++) {
    for (let x = p.x - r; x <= p.x + r; x++) {
      const i = 4 * (y * img.width + x);
      const lab = rgbToLabCpu(img.rgba[i] / 255, img.rgba[i + 1] / 255, img.rgba[i + 2] / 255);
      (a += lab[1], b += lab[2], n++);
    }
  }
  return [a / n, b / n];
}

/**
 * `deno task colorize PHOTO --hints JSON -o OUT` (the CLI, on lavapipe, without --model: so with
 * models/default.safetensors); its output.
 */
async function colorizeCli(photo: RgbaImage, hintsJson: string): Promise<RgbaImage> {
  const dir = await Deno.makeTempDir({ prefix: "browser_cli_" });
  try {
    const [input, hints, output] = ["photo.png", "hints.json", "photo.color.png"].map((f) => join(dir, f));
    await writeImage(input, photo);
    await Deno.writeTextFile(hints, hintsJson);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "colorize", input, "--hints", hints, "-o", output, "--quiet"],
      cwd: ROOT,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, `deno task colorize --hints failed: ${new TextDecoder().decode(stderr)}`);
    return await decodeImage(await Deno.readFile(output), output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

browserTest(
  "browser: web page as shipped with hints: models/default.safetensors colours them (no other model is " +
    "fetched); click, pick a colour, the result moves toward it and equals deno task colorize --hints; " +
    "save, load (bad and good), drag, Delete, right-click, Clear hints",
  async () => {
    const { report, photo, downloads, hintProblem, hintFiles, stderr } = await browserRun();
    if (hintProblem) assert.fail(hintProblem);
    const p = report.pages.hints;
    const context = pageContext(p, stderr);
    assert.equal(p?.state, "done", context);
    assert.equal(p.hintToolsVisible, true, `the hint tools are shown\n${context}`);
    assert.equal(p.hintsUnavailable, undefined, "no 'hints need a hint model' note");
    const h = p.hints;
    assert.ok(h, `no hint edits were made\n${context}`);
    assert.equal(p.error, undefined, `the hint edits did not finish\n${context}`);
    const none = await decodeImage(downloads.hints!, "hints-none.png");

    // One model, fetched once, colours with and without hints: no hint model is asked for.
    assert.match(h.statusBefore ?? "", /^Done: .* \(model default\.safetensors, /);
    assert.ok(!p.models.some((m) => m.includes("hints.safetensors")), `fetched: ${p.models.join(", ")}`);
    assert.deepEqual(p.models, ["/models/default.safetensors 200"], "the models the page fetched");

    // The click placed one hint, selected, whose colour starts at the colour the model predicted there.
    assert.equal(h.markersAfterClick, 1, context);
    assert.equal(h.pickerAfterClick, colorAt(none, HINT_POINT), "the picker starts at the predicted colour");
    assert.equal(h.markerLabel, `Hint 1 at ${HINT_POINT.x}, ${HINT_POINT.y}, colour ${h.pickerAfterClick}`);

    // The picked colour was applied and the photo colorized again with it.
    assert.equal(h.stateAfterPick, "done", context);
    assert.match(
      h.statusAfterPick ?? "",
      new RegExp(`^Done: ${W}×${H} with 1 hint in [0-9.]+ s \\(model default\\.safetensors, `),
    );
    const [r, g, b] = E.parseHexColor(HINT_COLOR)!;
    assert.equal(h.markerColor, `rgb(${r}, ${g}, ${b})`, "the marker shows the hint's colour");

    // (c) The saved hints are the CLI's JSON, in photo pixels.
    assert.equal(h.jsonName, "hints.json");
    assert.ok(hintFiles.json, context);
    assert.deepEqual(JSON.parse(hintFiles.json), [{ ...HINT_POINT, color: HINT_COLOR }]);

    assert.equal(h.downloadName, "photo.color.png");
    assert.ok(hintFiles.png, `no PNG was downloaded after the hint\n${context}`);
    const hinted = await decodeImage(hintFiles.png, "hints.color.png");

    // (b) The downloaded PNG is what deno task colorize --hints makes of the same hints (without
    // --model, so also with models/default.safetensors).
    const cli = await colorizeCli(photo, hintFiles.json);
    assert.deepEqual([hinted.width, hinted.height], [cli.width, cli.height]);
    const d = maxDiff(hinted.rgba, cli.rgba);
    let differing = 0;
    for (let i = 0; i < cli.rgba.length; i++) if (hinted.rgba[i] !== cli.rgba[i]) differing++;
    console.log(`hint page vs CLI: max channel difference ${d}, ${differing} of ${cli.rgba.length} differ`);
    // As for the checkpoint page: the same pipeline on two adapters, at most one 8-bit level apart.
    assert.ok(d <= 1, `the page's PNG differs from deno task colorize --hints by up to ${d} levels`);

    // A bad hints file: one message on the page, the hints unchanged.
    assert.equal(h.badLoadVisible, true);
    assert.equal(
      h.badLoadMessage,
      'bad-hints.json: hint 1: colour "red" is not #rrggbb or #rgb. The hints were not changed.',
    );
    assert.equal(h.markersAfterBadLoad, 1);

    // Dragging moved the hint to the pixel under the pointer.
    assert.equal(h.stateAfterDrag, "done", context);
    assert.ok(hintFiles.movedJson, context);
    assert.deepEqual(JSON.parse(hintFiles.movedJson), [{ ...HINT_DRAG_TO, color: HINT_COLOR }]);

    // Delete removes the selected hint; the saved file loads back; a right-click removes its marker.
    assert.equal(h.markersAfterDelete, 0);
    assert.equal(h.stateAfterDelete, "done", context);
    assert.equal(h.markersAfterLoad, 1);
    assert.equal(h.stateAfterLoad, "done", context);
    assert.equal(h.markersAfterRightClick, 0);
    assert.equal(h.stateAfterRightClick, "done", context);
    assert.equal(h.hintCountText, "0 hints");
    // "Clear hints" goes back to the automatic result.
    assert.equal(h.stateAfterClear, "done", context);
    assert.equal(h.markersAfterClear, 0);
    assert.match(h.statusAfterClear ?? "", /^Done: .* \(model default\.safetensors, /);
    assert.ok(hintFiles.cleared, `no PNG was downloaded after Clear hints\n${context}`);
    assert.deepEqual((await decodeImage(hintFiles.cleared, "cleared.png")).rgba, none.rgba);

    // (a) Near the point, the colour moved toward the hint's ab.
    const target = E.colorAb(r, g, b);
    const dist = (ab: [number, number]) => Math.hypot(ab[0] - target.a, ab[1] - target.b);
    const before = dist(meanAb(none, HINT_POINT, 2)), after = dist(meanAb(hinted, HINT_POINT, 2));
    console.log(
      `hint ${HINT_COLOR} (ab ${target.a.toFixed(1)}, ${target.b.toFixed(1)}): ab distance near the point ` +
        `${before.toFixed(1)} without the hint, ${after.toFixed(1)} with it`,
    );
    // Without the hint wiring nothing would move (same adapter, same computation: equal results), so
    // this asks for a clear step toward the hint rather than for the model's quality (deno task eval
    // --hints measures that): 5 ab units, about twice a just-noticeable colour difference.
    assert.ok(before > 30, `the hint's colour must differ from the prediction for the test to mean anything`);
    assert.ok(
      after < before - 5,
      `the colour near the hint moved toward it by ${(before - after).toFixed(1)} ab units (${
        before.toFixed(1)
      } → ${after.toFixed(1)}); at least 5 expected`,
    );
  },
);

browserTest("browser: web page without WebGPU explains what to do", async () => {
  const { nogpu: r } = (await browserRun()).report;
  assert.ok(!r.error, `${r.error}\n${r.log.join("\n")}`);
  assert.equal(r.state, "nogpu");
  assert.ok(r.errorVisible, "the message is shown");
  assert.match(r.errorText ?? "", /Your browser has no WebGPU: use Chrome or Edge 113\+/);
  assert.equal(r.fileDisabled, true, "no file can be picked");
});
