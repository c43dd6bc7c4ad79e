/// <reference lib="dom" />
/**
 * The colorizing page (web/index.html): pick or drop a photo, colorize it on
 * the GPU with the engine (bundled into web/dist/app.js by `deno task bundle`),
 * show before and after, offer the result as a PNG.
 *
 * The model is models/default.safetensors next to the page's folder (or the
 * URL in `?model=`). Without it the page builds a small generator with random
 * weights and says so, with advice for the case that failed (web/model_note.ts):
 * the colours are then arbitrary, but the whole pipeline (Lab conversion,
 * padding, U-Net, resampling) still runs. `?model=random` forces that fallback.
 *
 * Images are decoded by the browser (createImageBitmap + canvas) and encoded
 * with canvas.toBlob, so no codec is bundled.
 *
 * Colour hints (Zhang et al. 2017; models/hints.ts): the result is an editor
 * (web/hint_editor.ts) where hints are placed, moved, recoloured and removed,
 * and after each change the photo is colorized again with them, the latest
 * state only (web/hints_ui.ts `LatestOnly`). The page's own model colours them,
 * so it must be a hint model (models/hints.ts `takesHints`): the shipped default
 * is one, which without hints colours automatically (as `deno task colorize
 * --hint` uses it without --model). With a model that takes no hints (a
 * `?model=` automatic one, or the random fallback) the hint tools stay hidden
 * and the page says that hints need a hint model. Hints are saved and loaded
 * as the JSON file `deno task colorize --hints` reads.
 *
 * `document.body.dataset.state` is loading → ready → working → done (or error,
 * nogpu) for tests and styling.
 */

import {
  buildGenerator,
  colorizeRgba,
  decodeCheckpoint,
  type Generator,
  hintFromSpec,
  type HintSpec,
  initGpu,
  initPix2pixWeights,
  manualSeed,
  NoGpuError,
  type RgbaImage,
  takesHints,
  Unet,
} from "../mod.ts";
import { checkpointImageSize } from "../models/checkpoint.ts";
import { type FallbackCase, fallbackNote } from "./model_note.ts";
import { HintEditor } from "./hint_editor.ts";
import { colorAt, hintsFromJson, hintsToJson, LatestOnly } from "./hints_ui.ts";

/** Model resolution when the checkpoint does not record one (pix2pix's 256×256). */
const DEFAULT_SIZE = 256;
/** The random fallback: small enough to be instant even on a software adapter. */
const FALLBACK = { nDown: 5, ngf: 8, seed: 2024, size: 256 };

type State = "loading" | "ready" | "working" | "done" | "error" | "nogpu";

interface LoadedModel {
  G: Generator;
  size: number;
  /** A few words naming the model, for the status line. */
  label: string;
  /** What the page tells the user about the model, when it is not the shipped one. */
  note?: string;
}

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`web page: missing #${id}`);
  return el as T;
}

const ui = {
  file: $<HTMLInputElement>("file"),
  drop: $<HTMLLabelElement>("drop"),
  status: $<HTMLSpanElement>("status-text"),
  gpuError: $<HTMLParagraphElement>("gpu-error"),
  note: $<HTMLParagraphElement>("model-note"),
  result: $<HTMLElement>("result"),
  before: $<HTMLImageElement>("before"),
  after: $<HTMLImageElement>("after"),
  download: $<HTMLAnchorElement>("download"),
  editor: $<HTMLDivElement>("editor"),
  hintTools: $<HTMLElement>("hint-tools"),
  hintsUnavailable: $<HTMLParagraphElement>("hints-unavailable"),
  hintColor: $<HTMLInputElement>("hint-color"),
  hintCount: $<HTMLSpanElement>("hint-count"),
  saveHints: $<HTMLAnchorElement>("save-hints"),
  loadHints: $<HTMLInputElement>("load-hints"),
  clearHints: $<HTMLButtonElement>("clear-hints"),
  hintsError: $<HTMLParagraphElement>("hints-error"),
};

function setState(state: State, message?: string) {
  document.body.dataset.state = state;
  ui.file.disabled = state === "loading" || state === "working" || state === "nogpu";
  if (message !== undefined) ui.status.textContent = message;
}

/**
 * Lets the browser paint the status text before a long stretch of work. A hidden tab gets no
 * animation frames, so a timer also ends the wait there (the work then goes on in the background).
 */
function paint(): Promise<void> {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 100);
  });
}

function megabytes(n: number): string {
  return (n / 1e6).toFixed(n < 1e7 ? 1 : 0);
}

/** The body of a response, reporting download progress (models are tens of megabytes). */
async function readBody(res: Response, label: string): Promise<Uint8Array> {
  const total = Number(res.headers.get("content-length")) || 0;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let got = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.length;
    ui.status.textContent = `Downloading ${label}… ${megabytes(got)}${
      total ? ` / ${megabytes(total)}` : ""
    } MB`;
  }
  const out = new Uint8Array(got);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Where the shipped model is, relative to the page. */
const DEFAULT_MODEL = "../models/default.safetensors";

/** Whether the shipped model can be fetched (a HEAD request; false on any failure). */
async function defaultModelExists(): Promise<boolean> {
  try {
    return (await fetch(new URL(DEFAULT_MODEL, location.href), { method: "HEAD" })).ok;
  } catch {
    return false;
  }
}

/** Why a model could not be fetched or used (a clause), and whether its file was not there (HTTP 404). */
class ModelUnavailable extends Error {
  constructor(message: string, readonly missing = false) {
    super(message);
  }
}

/** The model at `url`, with download progress in the status line; throws {@link ModelUnavailable}. */
async function fetchModel(url: URL): Promise<LoadedModel> {
  const name = decodeURIComponent(url.pathname.split("/").pop() || url.href);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new ModelUnavailable(`could not fetch ${url.href} (${(e as Error).message})`);
  }
  if (!res.ok) {
    const missing = res.status === 404;
    throw new ModelUnavailable(
      missing ? `no trained model at ${url.pathname}` : `${url.href}: HTTP ${res.status}`,
      missing,
    );
  }
  try {
    const bytes = await readBody(res, name);
    ui.status.textContent = `Loading ${name}…`;
    await paint();
    const ck = decodeCheckpoint(bytes, name);
    const G = buildGenerator(ck);
    const size = checkpointImageSize(ck) ?? DEFAULT_SIZE;
    const params = G.parameterCount();
    const count = params >= 1e6 ? `${(params / 1e6).toFixed(1)} M` : params.toLocaleString("en");
    return { G, size, label: `model ${name}, ${count} parameters, ${size}×${size}` };
  } catch (e) {
    throw new ModelUnavailable(`${name} could not be used: ${(e as Error).message}`);
  }
}

/** The page's model: `?model=`'s, else the shipped default, else (saying why) the random fallback. */
async function loadModel(param: string | null): Promise<LoadedModel> {
  let why = "", missing = false;
  if (param !== "random") {
    try {
      return await fetchModel(new URL(param ?? DEFAULT_MODEL, location.href));
    } catch (e) {
      why = (e as Error).message;
      missing = e instanceof ModelUnavailable && e.missing;
    }
  }
  const source: FallbackCase["source"] = param === "random" ? "random" : param !== null ? "param" : "default";
  // Only the cases that did not try the shipped model advise on it, so only they ask if it is there.
  const defaultExists = source !== "default" && await defaultModelExists();
  const G = await randomGenerator();
  return {
    G,
    size: FALLBACK.size,
    label: "random demo model",
    note: fallbackNote({ source, why, missing, defaultExists, parameters: G.parameterCount() }),
  };
}

/** A generator with seeded random weights, scaled so that its colours are visible. */
async function randomGenerator(): Promise<Unet> {
  manualSeed(FALLBACK.seed);
  const G = new Unet({ nDown: FALLBACK.nDown, ngf: FALLBACK.ngf });
  initPix2pixWeights(G);
  // pix2pix's N(0, 0.02) init predicts |ab| < 1, i.e. gray; a 60× larger last layer gives clear but
  // moderate colours (chroma up to ~30, inside the sRGB gamut, so the photo's lightness survives;
  // at 100× dark areas clip and their lightness shifts by 2 units).
  const name = "model.model.3.weight";
  const w = await G.stateDict().get(name)!.data();
  G.loadStateDict(new Map([[name, w.map((v) => 60 * v)]]), false);
  return G.eval();
}

/** The photo's pixels as 8-bit RGBA (EXIF orientation applied by the browser). */
async function decode(file: Blob): Promise<ImageData> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image", premultiplyAlpha: "none" });
  } catch {
    throw new Error("this file is not an image the browser can decode");
  }
  try {
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("no 2D canvas");
    ctx.drawImage(bitmap, 0, 0);
    return ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** RGBA pixels to a PNG blob. */
function encodePng(rgba: Uint8Array, width: number, height: number): Promise<Blob> {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas");
  ctx.putImageData(
    new ImageData(
      new Uint8ClampedArray(rgba.buffer as ArrayBuffer, rgba.byteOffset, rgba.length),
      width,
      height,
    ),
    0,
    0,
  );
  return new Promise((resolve, reject) =>
    canvas.toBlob(
      (b) => (b ? resolve(b) : reject(new Error("the browser could not encode a PNG"))),
      "image/png",
    )
  );
}

/** The page's model: it colours photos, with hints when it takes them. */
let model: LoadedModel | null = null;
/** Whether the page's model takes colour hints: only then are the hint tools shown. */
let hintsOn = false;

/** A colorized result as shown: the image, its PNG and the status line's words for it. */
interface Shown {
  out: RgbaImage;
  png: Blob;
  /** "Done: W×H … (label)" without what to do next. */
  status: string;
}

/** The photo on the page and what is known about its last colorizing. */
interface Photo {
  img: RgbaImage;
  /** The file's name without its extension, for the downloads. */
  stem: string;
  /** The last colorized result: the colours a new hint starts from. */
  result?: RgbaImage;
  /** The result without hints (the page's model), shown again when the last hint goes. */
  plain?: Shown;
}

let photo: Photo | null = null;
/** Object URLs of the shown photo and result, revoked when they are replaced. */
let beforeUrl = "", afterUrl = "", hintsUrl = "";

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Shows a result on the page, offers it as a PNG and says it is done. */
function show(p: Photo, shown: Shown) {
  if (afterUrl) URL.revokeObjectURL(afterUrl);
  afterUrl = URL.createObjectURL(shown.png);
  p.result = shown.out;
  ui.after.src = afterUrl;
  ui.download.href = afterUrl;
  ui.download.download = `${p.stem}.color.png`;
  ui.download.hidden = false;
  const next = hintsOn
    ? "Click the result to add a colour hint, or drop another photo."
    : "Drop another photo to go on.";
  setState("done", `${shown.status}. ${next}`);
}

/**
 * Colorizes the photo with the page's model and `hints` (none: its automatic result) and shows the
 * result (and offers it as a PNG). Errors are shown in the status line; the page stays usable.
 */
async function render(hints: readonly HintSpec[]) {
  if (!model || !photo) return;
  const p = photo;
  const { img, stem } = p;
  const { width, height } = img;
  if (!hints.length && p.plain) return show(p, p.plain);
  const with_ = hints.length ? ` with ${plural(hints.length, "hint")}` : "";
  const m = model;
  try {
    const t0 = performance.now();
    setState("working", `Colorizing ${width}×${height}${with_} (model at ${m.size}×${m.size})…`);
    await paint();
    const out = await colorizeRgba(m.G, img, m.size, {
      hints: hints.length ? hints.map((h, i) => hintFromSpec(h, width, height, `hint ${i + 1}`)) : undefined,
    });
    setState("working", "Encoding PNG…");
    await paint();
    const png = await encodePng(out.rgba, width, height);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    const shown = { out, png, status: `Done: ${width}×${height}${with_} in ${s} s (${m.label})` };
    if (!hints.length) p.plain = shown;
    show(p, shown);
  } catch (e) {
    setState("error", `${stem}: ${(e as Error).message}`);
  }
}

/** Recolorizes after hint edits: one run at a time, the latest hints only. */
const renders = new LatestOnly<readonly HintSpec[]>(render);

const editor = new HintEditor({
  frame: ui.editor,
  image: ui.after,
  picker: ui.hintColor,
  predicted: (p) => (photo?.result ? colorAt(photo.result, p) : "#808080"),
  onChange: (hints) => {
    ui.hintsError.hidden = true;
    showHintCount(hints);
    renders.request(hints);
  },
});

/** The hint count and the hints file offered by "Save hints", after a change. */
function showHintCount(hints: readonly HintSpec[]) {
  ui.hintCount.textContent = plural(hints.length, "hint");
  if (hintsUrl) URL.revokeObjectURL(hintsUrl);
  hintsUrl = URL.createObjectURL(new Blob([hintsToJson(hints)], { type: "application/json" }));
  ui.saveHints.href = hintsUrl;
  ui.clearHints.disabled = hints.length === 0;
}

async function colorize(file: File) {
  if (!model) return;
  try {
    setState("working", `Decoding ${file.name}…`);
    const data = await decode(file);
    const { width, height } = data;
    const img = {
      width,
      height,
      rgba: new Uint8Array(data.data.buffer, data.data.byteOffset, data.data.length),
    };
    photo = { img, stem: file.name.replace(/\.[^.]*$/, "") || "photo" };
    if (beforeUrl) URL.revokeObjectURL(beforeUrl);
    beforeUrl = URL.createObjectURL(file);
    ui.before.src = beforeUrl;
    ui.after.removeAttribute("src");
    ui.result.hidden = false;
    ui.download.hidden = true;
    ui.hintsError.hidden = true;
    ui.hintTools.hidden = !hintsOn;
    ui.hintsUnavailable.hidden = hintsOn;
    editor.setPhoto(img);
    editor.enable(hintsOn);
    showHintCount([]);
    await renders.request([]);
  } catch (e) {
    setState("error", `${file.name}: ${(e as Error).message}`);
  }
}

/** "Load hints": a hints file replaces the hints; a bad one is reported and changes nothing. */
async function loadHints(file: File) {
  if (!photo) return;
  try {
    const hints = hintsFromJson(await file.text(), photo.img);
    editor.replace(hints);
  } catch (e) {
    ui.hintsError.textContent = `${file.name}: ${(e as Error).message}. The hints were not changed.`;
    ui.hintsError.hidden = false;
  }
}

function wire() {
  ui.file.addEventListener("change", () => {
    const f = ui.file.files?.[0];
    if (f) colorize(f);
    // Picking the same file again must fire "change" again.
    ui.file.value = "";
  });
  const over = (on: boolean) => (e: DragEvent) => {
    e.preventDefault();
    ui.drop.classList.toggle("over", on);
  };
  ui.drop.addEventListener("dragenter", over(true));
  ui.drop.addEventListener("dragover", over(true));
  ui.drop.addEventListener("dragleave", over(false));
  ui.drop.addEventListener("drop", (e) => {
    over(false)(e);
    const f = e.dataTransfer?.files?.[0];
    if (f && !ui.file.disabled) colorize(f);
  });
  ui.loadHints.addEventListener("change", () => {
    const f = ui.loadHints.files?.[0];
    if (f) loadHints(f);
    ui.loadHints.value = "";
  });
  ui.clearHints.addEventListener("click", () => editor.replace([]));
  // A photo dropped beside the box must not make the browser navigate away from the page.
  addEventListener("dragover", (e) => e.preventDefault());
  addEventListener("drop", (e) => e.preventDefault());
}

function noGpu(message: string) {
  ui.gpuError.textContent = message;
  ui.gpuError.hidden = false;
  setState("nogpu", "Colorizing needs WebGPU.");
}

async function start() {
  wire();
  if (!("gpu" in navigator) || !navigator.gpu) {
    noGpu(
      "Your browser has no WebGPU: use Chrome or Edge 113+ (desktop) or Safari 26+, or enable it " +
        "(Firefox: dom.webgpu.enabled in about:config; older Safari: Develop → Feature Flags → WebGPU). " +
        "WebGPU also needs a secure page: https:// or http://localhost.",
    );
    return;
  }
  try {
    await initGpu();
  } catch (e) {
    if (e instanceof NoGpuError) {
      noGpu(
        "Your browser supports WebGPU but offers no GPU adapter (a blocked GPU or driver?): see " +
          "chrome://gpu, or try another browser.",
      );
      return;
    }
    throw e;
  }
  setState("loading", "Loading the model…");
  model = await loadModel(new URLSearchParams(location.search).get("model"));
  hintsOn = takesHints(model.G.config);
  if (model.note) {
    ui.note.textContent = model.note;
    ui.note.hidden = false;
  }
  setState("ready", `Ready (${model.label}): choose or drop a photo.`);
}

start().catch((e) => setState("error", `Could not start: ${(e as Error).message}`));
