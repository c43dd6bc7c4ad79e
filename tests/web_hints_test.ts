/**
 * The web page's colour-hint logic without a browser (web/hints_ui.ts): coordinates between the
 * displayed image and the photo, hint list edits, the hints file both ways, the predicted colour at a
 * point, and the latest-only render queue. The page itself is driven in tests/browser_test.ts.
 */

import assert from "node:assert/strict";
import {
  addHint,
  boxToPhoto,
  boxToPhotoClamped,
  colorAt,
  containPlacement,
  hintsFromJson,
  hintsToJson,
  LatestOnly,
  moveHint,
  photoToBox,
  recolorHint,
  removeHint,
  selectionAfterRemove,
} from "../web/hints_ui.ts";
import { parseHints } from "../models/hints.ts";

const PHOTO = { width: 200, height: 100 };

Deno.test("hints ui: object-fit contain placement, letterboxed on either side", () => {
  // Same aspect: fills the box.
  assert.deepEqual(containPlacement({ width: 400, height: 200 }, PHOTO), { left: 0, top: 0, scale: 2 });
  // Box taller than the photo: bands above and below.
  assert.deepEqual(containPlacement({ width: 100, height: 100 }, PHOTO), { left: 0, top: 25, scale: 0.5 });
  // Box wider: bands left and right.
  assert.deepEqual(containPlacement({ width: 300, height: 50 }, PHOTO), { left: 100, top: 0, scale: 0.5 });
});

Deno.test("hints ui: box point → photo pixel, at 2× and scaled down, null outside the photo", () => {
  const box2 = { width: 400, height: 200 };
  assert.deepEqual(boxToPhoto({ x: 0, y: 0 }, box2, PHOTO), { x: 0, y: 0 });
  assert.deepEqual(boxToPhoto({ x: 1.99, y: 3.5 }, box2, PHOTO), { x: 0, y: 1 });
  assert.deepEqual(boxToPhoto({ x: 399.9, y: 199.9 }, box2, PHOTO), { x: 199, y: 99 });
  assert.deepEqual(boxToPhoto({ x: 400, y: 10 }, box2, PHOTO), null);
  assert.deepEqual(boxToPhoto({ x: -0.1, y: 10 }, box2, PHOTO), null);
  // Letterboxed: the band above the photo is not the photo.
  const square = { width: 100, height: 100 };
  assert.deepEqual(boxToPhoto({ x: 50, y: 10 }, square, PHOTO), null);
  assert.deepEqual(boxToPhoto({ x: 50, y: 25 }, square, PHOTO), { x: 100, y: 0 });
  assert.deepEqual(boxToPhoto({ x: 99.9, y: 74.9 }, square, PHOTO), { x: 199, y: 99 });
  assert.deepEqual(boxToPhoto({ x: 50, y: 75 }, square, PHOTO), null);
  // An element with no size yet (image not loaded) maps nothing.
  assert.deepEqual(boxToPhoto({ x: 0, y: 0 }, { width: 0, height: 0 }, PHOTO), null);
});

Deno.test("hints ui: dragging beyond the photo clamps to its nearest pixel", () => {
  const box = { width: 100, height: 100 };
  assert.deepEqual(boxToPhotoClamped({ x: -30, y: 0 }, box, PHOTO), { x: 0, y: 0 });
  assert.deepEqual(boxToPhotoClamped({ x: 500, y: 500 }, box, PHOTO), { x: 199, y: 99 });
  assert.deepEqual(boxToPhotoClamped({ x: 50, y: 50 }, box, PHOTO), { x: 100, y: 50 });
});

Deno.test("hints ui: a marker sits at its pixel's centre, which maps back to that pixel", () => {
  for (const box of [{ width: 400, height: 200 }, { width: 100, height: 100 }, { width: 333, height: 71 }]) {
    for (const p of [{ x: 0, y: 0 }, { x: 199, y: 99 }, { x: 57, y: 31 }]) {
      assert.deepEqual(boxToPhoto(photoToBox(p, box, PHOTO), box, PHOTO), p, `${box.width}×${box.height}`);
    }
  }
  assert.deepEqual(photoToBox({ x: 3, y: 1 }, { width: 400, height: 200 }, PHOTO), { x: 7, y: 3 });
});

Deno.test("hints ui: list edits return new lists and leave the old one alone", () => {
  const a = [{ x: 1, y: 2, color: "#102030" }];
  const b = addHint(a, { x: 5, y: 6, color: "#405060" });
  assert.deepEqual(a.length, 1);
  assert.deepEqual(b, [{ x: 1, y: 2, color: "#102030" }, { x: 5, y: 6, color: "#405060" }]);
  const moved = moveHint(b, 1, { x: 9, y: 8 });
  assert.deepEqual(moved[1], { x: 9, y: 8, color: "#405060" });
  assert.deepEqual(b[1], { x: 5, y: 6, color: "#405060" });
  assert.deepEqual(recolorHint(b, 0, "#ffffff")[0], { x: 1, y: 2, color: "#ffffff" });
  assert.deepEqual(b[0].color, "#102030");
  assert.deepEqual(removeHint(b, 0), [{ x: 5, y: 6, color: "#405060" }]);
  assert.deepEqual(b.length, 2);
});

Deno.test("hints ui: the selection after a removal follows its hint", () => {
  assert.deepEqual(selectionAfterRemove(null, 0), null);
  assert.deepEqual(selectionAfterRemove(2, 2), null);
  assert.deepEqual(selectionAfterRemove(3, 1), 2);
  assert.deepEqual(selectionAfterRemove(0, 1), 0);
});

Deno.test("hints ui: saved hints are the JSON the CLI reads, and load back the same", () => {
  const hints = [{ x: 120, y: 64, color: "#b03a2e" }, { x: 0, y: 99, color: "#00ff00" }];
  const json = hintsToJson(hints);
  assert.deepEqual(JSON.parse(json), hints);
  // The CLI's own parser (models/hints.ts) accepts it.
  assert.deepEqual(parseHints(JSON.parse(json), PHOTO.width, PHOTO.height).length, 2);
  assert.deepEqual(hintsFromJson(json, PHOTO), hints);
  assert.deepEqual(JSON.parse(hintsToJson([])), []);
});

Deno.test("hints ui: loading takes whole pixels and #rrggbb, as a colour input holds", () => {
  assert.deepEqual(
    hintsFromJson(
      '[{"x": 10.7, "y": 0.2, "color": "#AbC"}, {"x": 199.9, "y": 99.5, "color": "#00FF7f"}]',
      PHOTO,
    ),
    [{ x: 10, y: 0, color: "#aabbcc" }, { x: 199, y: 99, color: "#00ff7f" }],
  );
});

Deno.test("hints ui: a bad hints file is one line naming the problem", () => {
  const bad: [string, RegExp][] = [
    ["{", /^not JSON \(/],
    ['{"x": 1}', /must be a JSON array/],
    ['[{"x": 1, "y": 2, "color": "red"}]', /^hint 1: colour "red" is not #rrggbb/],
    [
      '[{"x": 1, "y": 2, "color": "#000"}, {"x": 200, "y": 2, "color": "#000"}]',
      /^hint 2: .* outside the 200×100/,
    ],
    ['[{"x": "1", "y": 2, "color": "#000"}]', /^hint 1: "x" must be a number/],
    ["[null]", /^hint 1 is not an object/],
  ];
  for (const [text, message] of bad) {
    assert.throws(() => hintsFromJson(text, PHOTO), (e: Error) => {
      assert.match(e.message, message, text);
      assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
      return true;
    });
  }
});

Deno.test("hints ui: the predicted colour is the result's pixel as #rrggbb", () => {
  const img = {
    width: 2,
    height: 2,
    rgba: new Uint8Array([0, 0, 0, 255, 1, 2, 3, 255, 4, 5, 6, 255, 255, 128, 7, 255]),
  };
  assert.deepEqual(colorAt(img, { x: 1, y: 0 }), "#010203");
  assert.deepEqual(colorAt(img, { x: 1, y: 1 }), "#ff8007");
});

/** A promise and its resolver. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

Deno.test("hints ui: render queue runs one at a time and only the latest waiting state", async () => {
  const rendered: number[] = [];
  const gates: ReturnType<typeof gate>[] = [];
  let idle = 0;
  const q = new LatestOnly<number>(async (n) => {
    rendered.push(n);
    const g = gate();
    gates.push(g);
    await g.p;
  }, () => idle++);
  const done = q.request(1);
  assert.ok(q.busy);
  // Three changes while 1 renders: only the last one is rendered after it.
  q.request(2);
  q.request(3);
  const last = q.request(4);
  await Promise.resolve();
  assert.deepEqual(rendered, [1]);
  gates[0].open();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(rendered, [1, 4]);
  assert.deepEqual(idle, 0, "not idle while 4 renders");
  gates[1].open();
  await Promise.all([done, last]);
  assert.deepEqual(rendered, [1, 4]);
  assert.deepEqual(idle, 1);
  assert.ok(!q.busy);
  // Idle again: a new request renders at once.
  const again = q.request(5);
  await Promise.resolve();
  assert.deepEqual(rendered, [1, 4, 5]);
  gates[2].open();
  await again;
  assert.deepEqual(idle, 2);
});
