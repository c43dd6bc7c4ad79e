/**
 * The colour-hint editor's logic without the DOM (so Deno tests it; tests/web_hints_test.ts): where a
 * point of the displayed image is in the photo and back, edits of the hint list, the hints file, the
 * colour the model predicts at a point, and the queue that recolorizes after each change. The page
 * (web/hint_editor.ts, web/app.ts) only wires these to elements and events.
 *
 * Hints are kept as users write them (models/hints.ts `HintSpec`: photo pixel x, y and "#rrggbb"), in
 * whole pixels, so what the page saves is exactly what `deno task colorize --hints` reads.
 */

import { type HintSpec, parseHexColor, parseHints, toHexColor } from "../models/hints.ts";

/** Width and height, of a photo or of an element's box. */
export interface Size {
  width: number;
  height: number;
}

/** A point: photo pixels, or CSS pixels relative to an element's top-left corner. */
export interface Point {
  x: number;
  y: number;
}

/**
 * Where a photo's pixels are drawn inside an element of size `box` with `object-fit: contain` (the
 * page's CSS for result images): scaled to fit whole, centred, so one side may have empty bands.
 * Returns the offset of the photo's top-left corner in the box and the CSS pixels per photo pixel.
 */
export function containPlacement(box: Size, photo: Size): { left: number; top: number; scale: number } {
  const scale = Math.min(box.width / photo.width, box.height / photo.height);
  return {
    left: (box.width - photo.width * scale) / 2,
    top: (box.height - photo.height * scale) / 2,
    scale,
  };
}

/**
 * The photo pixel under point `p` of the element (CSS pixels from its top-left corner), or null when
 * `p` lies outside the drawn photo (in an empty band or outside the box).
 */
export function boxToPhoto(p: Point, box: Size, photo: Size): Point | null {
  const { left, top, scale } = containPlacement(box, photo);
  if (!(scale > 0)) return null;
  const x = Math.floor((p.x - left) / scale), y = Math.floor((p.y - top) / scale);
  if (x < 0 || y < 0 || x >= photo.width || y >= photo.height) return null;
  return { x, y };
}

/** Like {@link boxToPhoto}, but a point outside the photo gives the nearest pixel (for dragging). */
export function boxToPhotoClamped(p: Point, box: Size, photo: Size): Point {
  const { left, top, scale } = containPlacement(box, photo);
  const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, Math.floor(v)));
  if (!(scale > 0)) return { x: 0, y: 0 };
  return { x: clamp((p.x - left) / scale, photo.width), y: clamp((p.y - top) / scale, photo.height) };
}

/** The centre of photo pixel `p` in the element's CSS pixels: where its marker goes. */
export function photoToBox(p: Point, box: Size, photo: Size): Point {
  const { left, top, scale } = containPlacement(box, photo);
  return { x: left + (p.x + 0.5) * scale, y: top + (p.y + 0.5) * scale };
}

/** The hint list with `hint` appended (its index is the old length). */
export function addHint(hints: readonly HintSpec[], hint: HintSpec): HintSpec[] {
  return [...hints, { ...hint }];
}

/** The hint list with hint `i` moved to photo pixel `to`. */
export function moveHint(hints: readonly HintSpec[], i: number, to: Point): HintSpec[] {
  return hints.map((h, k) => (k === i ? { ...h, x: to.x, y: to.y } : h));
}

/** The hint list with hint `i` given `color` ("#rrggbb"). */
export function recolorHint(hints: readonly HintSpec[], i: number, color: string): HintSpec[] {
  return hints.map((h, k) => (k === i ? { ...h, color } : h));
}

/** The hint list without hint `i`. */
export function removeHint(hints: readonly HintSpec[], i: number): HintSpec[] {
  return hints.filter((_, k) => k !== i);
}

/** After removing hint `removed`, which hint `selected` becomes (null when it was the removed one). */
export function selectionAfterRemove(selected: number | null, removed: number): number | null {
  if (selected === null || selected === removed) return null;
  return selected > removed ? selected - 1 : selected;
}

/** The hints file: the JSON array of {"x", "y", "color"} that `deno task colorize --hints` reads. */
export function hintsToJson(hints: readonly HintSpec[]): string {
  return `[\n${hints.map(({ x, y, color }) => `  ${JSON.stringify({ x, y, color })}`).join(",\n")}\n]\n`;
}

/**
 * Reads a hints file for a `photo`-sized photo, checked as the CLI checks it (models/hints.ts
 * `parseHints`); throws an Error with one line naming the problem. The page works in whole pixels, so
 * a fractional coordinate becomes the pixel it falls in; colours become lower-case "#rrggbb" (what a
 * colour input holds).
 */
export function hintsFromJson(text: string, photo: Size): HintSpec[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  parseHints(value, photo.width, photo.height);
  return (value as HintSpec[]).map(({ x, y, color }) => ({
    x: Math.floor(x),
    y: Math.floor(y),
    color: toHexColor(...parseHexColor(color)!),
  }));
}

/** The colour ("#rrggbb") of pixel `p` of an RGBA image: what the model predicts there. */
export function colorAt(img: Size & { rgba: ArrayLike<number> }, p: Point): string {
  const i = 4 * (p.y * img.width + p.x);
  return toHexColor(img.rgba[i], img.rgba[i + 1], img.rgba[i + 2]);
}

/**
 * Runs `render` for the latest requested state, one run at a time: a request made while a run is
 * going waits for it, and of several such requests only the last is rendered (editing faster than
 * the adapter colorizes never piles up work). `onIdle` is called when no run is going or waiting.
 * `render` reports its own errors: one that throws ends the queue's current drain (dropping what
 * was waiting) and rejects the promises `request` gave out.
 */
export class LatestOnly<T> {
  #pending: { state: T } | null = null;
  #running = false;
  #idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly render: (state: T) => Promise<void>,
    private readonly onIdle: () => void = () => {},
  ) {}

  /** Whether a run is going. */
  get busy(): boolean {
    return this.#running;
  }

  /** Asks for `state` to be rendered; resolves when the queue is idle again. */
  request(state: T): Promise<void> {
    this.#pending = { state };
    if (!this.#running) this.#idle = this.#drain();
    return this.#idle;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#pending) {
        const { state } = this.#pending;
        this.#pending = null;
        await this.render(state);
      }
    } finally {
      this.#running = false;
      this.#pending = null;
    }
    this.onIdle();
  }
}
