/// <reference lib="dom" />
/**
 * The colour-hint editor over the colorized result (web/index.html #editor): click the photo to place
 * a hint, drag a marker to move it, Delete/Backspace or right-click to remove one, the colour input
 * to recolour the selected one. Markers are buttons (focusable; arrow keys move the selected one by a
 * pixel, with Shift by ten) drawn at the centre of their photo pixel over the scaled image.
 *
 * The editor owns the hint list and tells the page after each change (`onChange`), which recolorizes;
 * the geometry and the list edits are the pure functions of web/hints_ui.ts.
 */

import type { HintSpec } from "../models/hints.ts";
import {
  addHint,
  boxToPhoto,
  boxToPhotoClamped,
  moveHint,
  photoToBox,
  type Point,
  recolorHint,
  removeHint,
  selectionAfterRemove,
  type Size,
} from "./hints_ui.ts";

export interface HintEditorParts {
  /** The positioned element around the image; markers are placed in it. */
  frame: HTMLElement;
  /** The result image (displayed with object-fit: contain). */
  image: HTMLImageElement;
  /** The colour input that shows and sets the selected hint's colour. */
  picker: HTMLInputElement;
  /** The colour the model currently predicts at a photo pixel ("#rrggbb"). */
  predicted(p: Point): string;
  /** Called after each change of the hints (placed, moved, recoloured, removed, loaded, cleared). */
  onChange(hints: readonly HintSpec[]): void;
}

/** Pointer travel (CSS pixels) below which pressing a marker selects it rather than drags it. */
const DRAG_THRESHOLD = 3;

export class HintEditor {
  #hints: HintSpec[] = [];
  #selected: number | null = null;
  #photo: Size = { width: 0, height: 0 };
  #enabled = false;
  readonly #layer: HTMLDivElement;

  constructor(private readonly parts: HintEditorParts) {
    this.#layer = document.createElement("div");
    this.#layer.className = "hint-layer";
    parts.frame.append(this.#layer);
    parts.image.draggable = false;
    parts.image.addEventListener("click", (e) => this.#place(e));
    parts.image.addEventListener("load", () => this.#position());
    new ResizeObserver(() => this.#position()).observe(parts.image);
    parts.picker.addEventListener("input", () => this.#recolor());
    parts.frame.addEventListener("keydown", (e) => this.#key(e));
    // Delete works wherever the focus is (say on "Save hints" after saving), except in a form field.
    document.addEventListener("keydown", (e) => this.#deleteKey(e));
  }

  get hints(): readonly HintSpec[] {
    return this.#hints;
  }

  /** Turns editing on (a hint model and a photo) or off; off hides the markers. */
  enable(on: boolean) {
    this.#enabled = on;
    this.parts.frame.classList.toggle("editable", on);
    // Focusable when editable: Enter then places a hint at the middle of the photo.
    if (on) this.parts.frame.tabIndex = 0;
    else this.parts.frame.removeAttribute("tabindex");
    this.#layer.hidden = !on;
    this.parts.picker.disabled = !on || this.#selected === null;
  }

  /** A new photo: its size, and no hints (they belonged to the last one). */
  setPhoto(photo: Size) {
    this.#photo = { width: photo.width, height: photo.height };
    this.#set([], null);
  }

  /** Replaces the hints (loading a file, clearing) and reports the change. */
  replace(hints: readonly HintSpec[]) {
    this.#set(hints.map((h) => ({ ...h })), null);
    this.parts.onChange(this.#hints);
  }

  #set(hints: HintSpec[], selected: number | null) {
    this.#hints = hints;
    this.#selected = selected;
    this.#render();
  }

  /** Applies an edit and reports it. */
  #edit(hints: HintSpec[], selected: number | null) {
    this.#set(hints, selected);
    this.parts.onChange(this.#hints);
  }

  /** The image's box (its own size) and where it sits in the frame. */
  #imageBox(): Size & { left: number; top: number } {
    const f = this.parts.frame.getBoundingClientRect(), r = this.parts.image.getBoundingClientRect();
    return { left: r.left - f.left, top: r.top - f.top, width: r.width, height: r.height };
  }

  /** A pointer event's position as a point of the image's box. */
  #inImage(e: MouseEvent): Point {
    const r = this.parts.image.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  #place(e: MouseEvent) {
    if (!this.#enabled) return;
    const r = this.parts.image.getBoundingClientRect();
    const p = boxToPhoto(this.#inImage(e), r, this.#photo);
    if (!p) return;
    this.#add(p);
  }

  /** Adds a hint at `p`, coloured as the model now predicts there, and opens the colour picker. */
  #add(p: Point) {
    const color = this.parts.predicted(p);
    this.#edit(addHint(this.#hints, { ...p, color }), this.#hints.length);
    this.#markers()[this.#selected!]?.focus();
    try {
      // Opens the browser's colour chooser, starting at the predicted colour (needs the click's user
      // activation; where it is refused the input beside the image still does the job).
      this.parts.picker.showPicker();
    } catch {
      // Nothing to do: the picker stays one click away.
    }
  }

  #recolor() {
    if (this.#selected === null) return;
    this.#edit(recolorHint(this.#hints, this.#selected, this.parts.picker.value), this.#selected);
  }

  #remove(i: number) {
    this.#edit(removeHint(this.#hints, i), selectionAfterRemove(this.#selected, i));
  }

  #select(i: number) {
    this.#selected = i;
    this.#render();
  }

  #key(e: KeyboardEvent) {
    if (!this.#enabled) return;
    const i = this.#selected;
    if (e.target === this.parts.frame && (e.key === "Enter" || e.key === " ")) {
      // Keyboard users place a hint at the middle of the photo, then move it with the arrow keys.
      e.preventDefault();
      this.#add({ x: this.#photo.width >> 1, y: this.#photo.height >> 1 });
      return;
    }
    if (i === null) return;
    const step = e.shiftKey ? 10 : 1;
    const d =
      ({ ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] } as Record<
        string,
        [number, number]
      >)[e.key];
    if (!d) return;
    e.preventDefault();
    const h = this.#hints[i];
    const to = {
      x: Math.min(this.#photo.width - 1, Math.max(0, h.x + d[0])),
      y: Math.min(this.#photo.height - 1, Math.max(0, h.y + d[1])),
    };
    if (to.x !== h.x || to.y !== h.y) this.#edit(moveHint(this.#hints, i, to), i);
    this.#markers()[i]?.focus();
  }

  /** Delete or Backspace removes the selected hint. */
  #deleteKey(e: KeyboardEvent) {
    if (!this.#enabled || this.#selected === null || !(e.key === "Delete" || e.key === "Backspace")) return;
    const t = e.target as HTMLElement | null;
    if (t?.isContentEditable || t instanceof HTMLTextAreaElement) return;
    if (t instanceof HTMLInputElement && !["button", "color", "file"].includes(t.type)) return;
    e.preventDefault();
    const onMarker = this.#layer.contains(t);
    this.#remove(this.#selected);
    if (onMarker) this.parts.frame.focus();
  }

  /** Presses on marker `i`: a click selects it, a drag moves it (reported once, on release). */
  #press(e: PointerEvent, i: number) {
    if (e.button !== 0) return;
    e.preventDefault();
    const marker = e.currentTarget as HTMLButtonElement;
    marker.setPointerCapture(e.pointerId);
    marker.focus();
    this.#select(i);
    const start = { x: e.clientX, y: e.clientY };
    let to: Point | null = null;
    const move = (m: PointerEvent) => {
      if (!to && Math.hypot(m.clientX - start.x, m.clientY - start.y) < DRAG_THRESHOLD) return;
      to = boxToPhotoClamped(this.#inImage(m), this.parts.image.getBoundingClientRect(), this.#photo);
      this.#place1(marker, to);
    };
    const up = () => {
      marker.removeEventListener("pointermove", move);
      marker.removeEventListener("pointerup", up);
      marker.removeEventListener("pointercancel", up);
      const h = this.#hints[i];
      if (to && (to.x !== h.x || to.y !== h.y)) this.#edit(moveHint(this.#hints, i, to), i);
      else this.#render();
    };
    marker.addEventListener("pointermove", move);
    marker.addEventListener("pointerup", up);
    marker.addEventListener("pointercancel", up);
  }

  #markers(): HTMLButtonElement[] {
    return [...this.#layer.children] as HTMLButtonElement[];
  }

  /** A new marker button; its handlers look up its index when they run, as removals shift it. */
  #newMarker(): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "hint-marker";
    const index = () => this.#markers().indexOf(b);
    b.addEventListener("pointerdown", (e) => this.#press(e, index()));
    b.addEventListener("click", () => this.#select(index()));
    b.addEventListener("contextmenu", (e) => {
      e.preventDefault();
      this.#remove(index());
    });
    return b;
  }

  /**
   * Brings the markers in line with the list. The buttons are kept and updated rather than rebuilt,
   * so the one under a pointer or with the focus stays the same element through an edit.
   */
  #render() {
    const markers = this.#markers();
    while (markers.length < this.#hints.length) {
      this.#layer.append(markers[markers.push(this.#newMarker()) - 1]);
    }
    for (const extra of markers.splice(this.#hints.length)) extra.remove();
    for (const [i, h] of this.#hints.entries()) {
      const b = markers[i], selected = i === this.#selected;
      b.classList.toggle("selected", selected);
      b.style.backgroundColor = h.color;
      b.setAttribute("aria-label", `Hint ${i + 1} at ${h.x}, ${h.y}, colour ${h.color}`);
      b.setAttribute("aria-pressed", String(selected));
      b.title = `Hint ${i + 1} (${h.x}, ${h.y}) ${h.color}: drag to move, Delete or right-click to remove`;
    }
    const sel = this.#selected === null ? null : this.#hints[this.#selected];
    this.parts.picker.disabled = !this.#enabled || !sel;
    if (sel) this.parts.picker.value = sel.color;
    this.#position();
  }

  /** Puts every marker over its photo pixel (after a resize, a new image, an edit). */
  #position() {
    const markers = this.#markers();
    for (const [i, h] of this.#hints.entries()) if (markers[i]) this.#place1(markers[i], h);
  }

  #place1(marker: HTMLElement, p: Point) {
    if (!this.#photo.width) return;
    const box = this.#imageBox();
    const c = photoToBox(p, box, this.#photo);
    marker.style.left = `${box.left + c.x}px`;
    marker.style.top = `${box.top + c.y}px`;
  }
}
