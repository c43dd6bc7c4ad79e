/**
 * Colour hints (models/hints.ts, cli/train/hints.ts), as in "Real-Time User-Guided Image Colorization
 * with Learned Deep Priors" (Zhang et al., SIGGRAPH 2017): parsing every bad hint, the hint map's
 * placement, the generator's input, widening an automatic generator without changing what it does,
 * and the training sampler.
 */
import assert from "node:assert/strict";
import { assertClose, gpu, rng } from "./helpers.ts";
import { MODEL_AB_SCALE, rgbToLabCpu } from "../engine/color.ts";
import { noGrad } from "../engine/autograd.ts";
import { manualSeed, Rng } from "../engine/random.ts";
import { tensor, tidyAsync } from "../engine/tensor.ts";
import { colorizeGeometry } from "../models/colorize.ts";
import {
  colorAb,
  generatorInput,
  HINT_CHANNELS,
  HINT_PATCH,
  hintAdapterMask,
  hintFromSpec,
  hintMap,
  hintPatchCells,
  hintPatchPixels,
  parseHexColor,
  parseHints,
  squareCell,
  takesHints,
  toHexColor,
  widenForHints,
} from "../models/hints.ts";
import { spreadHints, spreadHintsReference } from "../models/hint_spread.ts";
import { Unet, UNET_DEFAULTS } from "../models/unet.ts";
import { RESNET_UNET_DEFAULTS, ResnetUnet } from "../models/resnet_unet.ts";
import type { Generator } from "../models/generators.ts";
import { hintCount, MAX_PATCH, NO_HINT_SHARE, sampleHints } from "../cli/train/hints.ts";

// ---------------------------------------------------------------------------
// Parsing (no GPU).

Deno.test("parseHints: every malformed hint is one line naming the hint and its problem", () => {
  const ok = { x: 1, y: 1, color: "#b03a2e" };
  const cases: [unknown, RegExp][] = [
    [
      { x: 1, y: 1, color: "#fff" },
      /^hints must be a JSON array of \{"x": …, "y": …, "color": "#rrggbb"\} objects$/,
    ],
    ["[]", /^hints must be a JSON array/],
    [null, /^hints must be a JSON array/],
    [[1], /^hint 1 is not an object/],
    [[ok, null], /^hint 2 is not an object/],
    [[ok, ok, [1, 2, "#fff"]], /^hint 3 is not an object/],
    [["#fff"], /^hint 1 is not an object/],
    [[{ x: "1", y: 1, color: "#fff" }], /^hint 1: "x" must be a number$/],
    [[{ y: 1, color: "#fff" }], /^hint 1: "x" must be a number$/],
    [[ok, { x: 1, y: null, color: "#fff" }], /^hint 2: "y" must be a number$/],
    [[{ x: 1, y: [2], color: "#fff" }], /^hint 1: "y" must be a number$/],
    [[{ x: 1, y: 1 }], /^hint 1: "color" must be a string like "#b03a2e"$/],
    [[{ x: 1, y: 1, color: 0xb03a2e }], /^hint 1: "color" must be a string/],
    [[{ x: 1, y: 1, color: "#12" }], /^hint 1: colour "#12" is not #rrggbb or #rgb$/],
    [[{ x: 1, y: 1, color: "red" }], /^hint 1: colour "red" is not #rrggbb or #rgb$/],
    [[{ x: 1, y: 1, color: "#ggg000" }], /^hint 1: colour "#ggg000" is not #rrggbb or #rgb$/],
    [[{ x: 1, y: 1, color: "b03a2e" }], /^hint 1: colour "b03a2e" is not/],
    [[{ x: 1, y: 1, color: "#b03a2e0" }], /^hint 1: colour "#b03a2e0" is not/],
    [[{ x: 1, y: 1, color: " #b03a2e" }], /^hint 1: colour " #b03a2e" is not/],
    [
      [{ x: 10, y: 1, color: "#fff" }],
      /^hint 1: \(10, 1\) is outside the 10×8 photo \(x from 0 to 9, y from 0 to 7\)$/,
    ],
    [[{ x: 1, y: 8, color: "#fff" }], /^hint 1: \(1, 8\) is outside the 10×8 photo/],
    [[{ x: -1, y: 1, color: "#fff" }], /^hint 1: \(-1, 1\) is outside/],
    [[ok, { x: 1, y: -0.5, color: "#fff" }], /^hint 2: \(1, -0.5\) is outside/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => parseHints(value, 10, 8), (e: Error) => {
      assert.match(e.message, re, JSON.stringify(value));
      assert.ok(!e.message.includes("\n"), e.message);
      return true;
    });
  }
  // Inside means 0 ≤ x < width: a fractional coordinate just below the width is still in the photo.
  assert.equal(parseHints([{ x: 9.5, y: 7.9, color: "#fff" }], 10, 8).length, 1);
  // JSON cannot hold NaN or ∞, but a caller's object can.
  assert.throws(() => parseHints([{ x: NaN, y: 1, color: "#fff" }], 10, 8), /hint 1: "x" must be a number/);
  assert.throws(
    () => parseHints([{ x: 1, y: Infinity, color: "#fff" }], 10, 8),
    /hint 1: "y" must be a number/,
  );
  // hintFromSpec names the hint "hint" unless told.
  assert.throws(() => hintFromSpec({ x: 0, y: 0, color: "#1234" }, 4, 4), /^Error: hint: colour "#1234"/);
  assert.throws(
    () => hintFromSpec({ x: 4, y: 0, color: "#123" }, 4, 4, "--hint 4,0"),
    /^Error: --hint 4,0: \(4, 0\) is outside/,
  );
});

Deno.test("parseHints: #rgb and #rrggbb (any case) give the ab of rgbToLabCpu; corners of the photo are inside", () => {
  const hints = parseHints(
    [
      { x: 0, y: 0, color: "#f00" },
      { x: 9, y: 7, color: "#B03A2E" },
      { x: 4.5, y: 3, color: "#80ff00", extra: "ignored" },
      { x: 0, y: 7, color: "#808080" },
    ],
    10,
    8,
  );
  const lab = (r: number, g: number, b: number) => rgbToLabCpu(r / 255, g / 255, b / 255);
  const expected = [lab(255, 0, 0), lab(0xb0, 0x3a, 0x2e), lab(0x80, 0xff, 0), lab(128, 128, 128)];
  assert.deepEqual(hints.map((h) => [h.x, h.y]), [[0, 0], [9, 7], [4.5, 3], [0, 7]]);
  hints.forEach((h, i) => {
    assert.equal(h.a, expected[i][1], `hint ${i + 1} a`);
    assert.equal(h.b, expected[i][2], `hint ${i + 1} b`);
  });
  // Gray has (almost) no chroma (the D65 white point's rounding leaves a few thousandths); #f00 and
  // #ff0000 are the same colour.
  assert.ok(Math.abs(hints[3].a) < 0.01 && Math.abs(hints[3].b) < 0.01, `${hints[3].a}, ${hints[3].b}`);
  assert.deepEqual(hintFromSpec({ x: 0, y: 0, color: "#ff0000" }, 1, 1), {
    x: 0,
    y: 0,
    ...colorAb(255, 0, 0),
  });
  assert.deepEqual(parseHints([], 10, 8), []);
  assert.deepEqual(parseHexColor("#FfF"), [255, 255, 255]);
  assert.deepEqual(parseHexColor("#b03a2e"), [0xb0, 0x3a, 0x2e]);
  assert.equal(parseHexColor("#b03a2"), null);
  assert.equal(toHexColor(0xb0, 0x3a, 0x2e), "#b03a2e");
  assert.equal(toHexColor(-3, 255.4, 300), "#00ffff");
});

// ---------------------------------------------------------------------------
// Where a hint goes (no GPU).

Deno.test("squareCell: photo pixels to model cells through the padding and the scale", () => {
  // No margin, square photo: the square is the photo, two pixels a cell.
  const g = colorizeGeometry(16, 16, 8, 0);
  assert.deepEqual(squareCell(0, 0, g), [0, 0]);
  assert.deepEqual(squareCell(15, 15, g), [7, 7]);
  assert.deepEqual(squareCell(3, 4, g), [1, 2]);
  // 16×8 with the default margin: side 16 + 2·2 = 20, pads 2 (x) and 6 (y), 1.6 cells a pixel.
  const h = colorizeGeometry(16, 8, 32);
  assert.equal(h.side, 20);
  assert.deepEqual([h.padX.before, h.padY.before], [2, 6]);
  assert.deepEqual(squareCell(0, 0, h), [Math.floor(2.5 * 1.6), Math.floor(6.5 * 1.6)]);
  assert.deepEqual(squareCell(15, 7, h), [Math.floor(17.5 * 1.6), Math.floor(13.5 * 1.6)]);
});

Deno.test("hintMap: HINT_PATCH squares clipped at the corners, mean ab in model units, later hints win", () => {
  assert.equal(HINT_PATCH, 3);
  const size = 8, hw = size * size;
  const at = (map: Float32Array, c: number, x: number, y: number) => map[c * hw + y * size + x];
  const corners = hintMap([{ cell: [0, 0], a: 22, b: -11 }, { cell: [7, 7], a: -55, b: 33 }], size);
  assert.equal(corners.length, HINT_CHANNELS * hw);
  const masked: string[] = [];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) if (at(corners, 2, x, y) === 1) masked.push(`${x},${y}`);
  }
  assert.deepEqual(masked, ["0,0", "1,0", "0,1", "1,1", "6,6", "7,6", "6,7", "7,7"]);
  assert.equal(at(corners, 0, 1, 1), Math.fround(22 / MODEL_AB_SCALE));
  assert.equal(at(corners, 1, 1, 1), Math.fround(-11 / MODEL_AB_SCALE));
  assert.equal(at(corners, 0, 6, 7), Math.fround(-55 / MODEL_AB_SCALE));
  assert.equal(at(corners, 1, 6, 7), Math.fround(33 / MODEL_AB_SCALE));
  assert.equal(at(corners, 0, 2, 2) + at(corners, 1, 2, 2) + at(corners, 2, 2, 2), 0);
  // Overlap: (3,3) covers 2..4, (4,4) covers 3..5; the later one owns 3..4.
  const overlap = hintMap([{ cell: [3, 3], a: 10, b: 10 }, { cell: [4, 4], a: -20, b: 5 }], size);
  assert.equal(overlap.subarray(2 * hw).reduce((s, v) => s + v, 0), 9 + 9 - 4);
  assert.equal(at(overlap, 0, 2, 2), Math.fround(10 / MODEL_AB_SCALE));
  assert.equal(at(overlap, 0, 4, 2), Math.fround(10 / MODEL_AB_SCALE));
  assert.equal(at(overlap, 0, 3, 3), Math.fround(-20 / MODEL_AB_SCALE));
  assert.equal(at(overlap, 1, 4, 4), Math.fround(5 / MODEL_AB_SCALE));
  assert.equal(at(overlap, 0, 5, 5), Math.fround(-20 / MODEL_AB_SCALE));
  // The other order: the first hint's square wins.
  const other = hintMap([{ cell: [4, 4], a: -20, b: 5 }, { cell: [3, 3], a: 10, b: 10 }], size);
  assert.equal(at(other, 0, 4, 4), Math.fround(10 / MODEL_AB_SCALE));
  assert.deepEqual(hintPatchCells([0, 7], size), { x0: 0, x1: 1, y0: 6, y1: 7 });
  assert.deepEqual(hintPatchCells([4, 1], size), { x0: 3, x1: 5, y0: 0, y1: 2 });
});

Deno.test("hintPatchPixels: exactly the photo pixels whose cell is in the hint's patch, clipped, never empty", () => {
  for (const [w, h, size] of [[100, 60, 16], [37, 91, 32], [8, 8, 32], [1, 1, 32], [200, 120, 32]]) {
    const g = colorizeGeometry(w, h, size);
    const r = rng(w * 1000 + h);
    const points = [[0, 0], [w - 1, h - 1], [w - 1, 0], [0, h - 1]];
    for (let k = 0; k < 20; k++) points.push([Math.floor(r.next() * w), Math.floor(r.next() * h)]);
    for (const [x, y] of points) {
      const cells = hintPatchCells(squareCell(x, y, g), size);
      const inside = (px: number, py: number) => {
        const [cx, cy] = squareCell(px, py, g);
        return cx >= cells.x0 && cx <= cells.x1 && cy >= cells.y0 && cy <= cells.y1;
      };
      const box = { x0: w, x1: -1, y0: h, y1: -1 };
      let count = 0;
      for (let py = 0; py < h; py++) {
        for (let px = 0; px < w; px++) {
          if (!inside(px, py)) continue;
          count++;
          box.x0 = Math.min(box.x0, px), box.x1 = Math.max(box.x1, px);
          box.y0 = Math.min(box.y0, py), box.y1 = Math.max(box.y1, py);
        }
      }
      const got = hintPatchPixels(x, y, g);
      assert.deepEqual(got, box, `${w}×${h} at ${size}, hint (${x}, ${y})`);
      assert.equal(count, (box.x1 - box.x0 + 1) * (box.y1 - box.y0 + 1), "a full rectangle");
      assert.ok(got.x0 <= x && x <= got.x1 && got.y0 <= y && y <= got.y1, "holds the hint's pixel");
    }
  }
  // An interior patch is about HINT_PATCH·side/size photo pixels a side: 3·250/32 ≈ 23.4 here.
  const g = colorizeGeometry(200, 120, 32);
  const p = hintPatchPixels(100, 60, g);
  for (const s of [p.x1 - p.x0 + 1, p.y1 - p.y0 + 1]) assert.ok(s === 23 || s === 24, `side ${s}`);
});

// ---------------------------------------------------------------------------
// The training sampler (no GPU).

/** n random RGB planes [n, 3, size, size] in 0..1 (float32, as the loader gives them). */
function randomPlanes(n: number, size: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n * 3 * size * size }, () => r.next());
}

Deno.test("sampleHints: the same seed gives the same maps, another seed others", () => {
  const planes = randomPlanes(6, 16, 1);
  const a = sampleHints(planes, 16, new Rng(42)), b = sampleHints(planes, 16, new Rng(42));
  assert.equal(a.length, 6 * HINT_CHANNELS * 16 * 16);
  assert.deepEqual(a, b);
  assert.notDeepEqual(sampleHints(planes, 16, new Rng(43)), a);
});

Deno.test("sampleHints: about a quarter of the images get no hint; the others 1 + Geometric(1/8) hints", () => {
  assert.equal(NO_HINT_SHARE, 0.25);
  const n = 4000, size = 2, hw = size * size;
  const maps = sampleHints(randomPlanes(n, size, 2), size, new Rng(7));
  let empty = 0;
  for (let i = 0; i < n; i++) {
    const mask = maps.subarray((i * HINT_CHANNELS + 2) * hw, (i * HINT_CHANNELS + 3) * hw);
    if (mask.every((v) => v === 0)) empty++;
    assert.ok(mask.every((v) => v === 0 || v === 1));
  }
  // σ of the share is √(0.25·0.75/4000) ≈ 0.007: ±0.03 is over 4σ.
  assert.ok(Math.abs(empty / n - 0.25) < 0.03, `share without hints ${empty / n}`);
  // The count of an image with hints: mean 1/p = 8.
  const r = new Rng(8);
  let sum = 0, hinted = 0;
  for (let i = 0; i < 20000; i++) {
    const k = hintCount(r);
    if (k > 0) sum += k, hinted++;
  }
  assert.ok(Math.abs(sum / hinted - 8) < 0.3, `mean count ${sum / hinted}`);
  assert.ok(Math.abs(1 - hinted / 20000 - 0.25) < 0.02);
});

Deno.test("sampleHints: a revealed patch is a square of side 1–9 showing the float64 mean ab of its pixels", () => {
  const size = 16, hw = size * size;
  const planes = randomPlanes(1, size, 3);
  const sides: number[] = [];
  for (let seed = 0; sides.length < 40; seed++) {
    // Images whose count draw is 1: their map holds exactly one patch.
    if (hintCount(new Rng(seed)) !== 1) continue;
    const map = sampleHints(planes, size, new Rng(seed));
    let x0 = size, x1 = -1, y0 = size, y1 = -1, count = 0;
    for (let p = 0; p < hw; p++) {
      if (map[2 * hw + p] !== 1) continue;
      const x = p % size, y = Math.floor(p / size);
      x0 = Math.min(x0, x), x1 = Math.max(x1, x), y0 = Math.min(y0, y), y1 = Math.max(y1, y);
      count++;
    }
    const side = x1 - x0 + 1;
    assert.equal(y1 - y0 + 1, side, `seed ${seed}: square`);
    assert.equal(count, side * side, `seed ${seed}: full square`);
    assert.ok(side >= 1 && side <= MAX_PATCH, `seed ${seed}: side ${side}`);
    sides.push(side);
    let a = 0, b = 0;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const p = y * size + x;
        const [, pa, pb] = rgbToLabCpu(planes[p], planes[hw + p], planes[2 * hw + p]);
        a += pa, b += pb;
      }
    }
    const want = [a / count / MODEL_AB_SCALE, b / count / MODEL_AB_SCALE];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const p = y * size + x, inPatch = x >= x0 && x <= x1 && y >= y0 && y <= y1;
        for (const c of [0, 1]) {
          const v = map[c * hw + p];
          if (inPatch) {
            assert.ok(Math.abs(v - want[c]) < 1e-6, `seed ${seed} channel ${c}: ${v} vs ${want[c]}`);
          } else assert.equal(v, 0);
        }
      }
    }
  }
  // Sides are uniform on 1..9: 40 draws reach both ends of the range.
  assert.ok(Math.min(...sides) <= 2 && Math.max(...sides) >= 8, `sides ${sides}`);
});

// ---------------------------------------------------------------------------
// The generator's input and widening (GPU).

await gpu();

Deno.test("generatorInput: L alone for an automatic model, which refuses hints; L and the map (or zeros) for a hint model", async () => {
  assert.equal(takesHints({ inputChannels: 1 }), false);
  assert.equal(takesHints({ inputChannels: 4 }), true);
  await tidyAsync(async () => {
    const Lvalues = Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i / 10 - 0.5);
    const L = tensor(Lvalues, [2, 1, 3, 3]);
    assert.equal(generatorInput({ inputChannels: 1 }, L), L);
    assert.throws(
      () => generatorInput({ inputChannels: 1 }, L, new Float32Array(2 * 3 * 9)),
      /^Error: colorize: this model takes no colour hints \(it was trained without --hints-input\)$/,
    );
    assert.throws(
      () => generatorInput({ inputChannels: 1 }, L, tensor(new Float32Array(54), [2, 3, 3, 3])),
      /takes no colour hints/,
    );
    const zero = generatorInput({ inputChannels: 4 }, L);
    assert.deepEqual(zero.shape, [2, 4, 3, 3]);
    const z = await zero.data();
    for (let n = 0; n < 2; n++) {
      assert.deepEqual(z.subarray(n * 36, n * 36 + 9), Lvalues.subarray(n * 9, n * 9 + 9));
      assert.ok(z.subarray(n * 36 + 9, (n + 1) * 36).every((v) => v === 0), `image ${n}: zero hint channels`);
    }
    const map = Float32Array.from({ length: 2 * 3 * 9 }, (_, i) => i + 1);
    const given = await generatorInput({ inputChannels: 4 }, L, map).data();
    for (let n = 0; n < 2; n++) {
      assert.deepEqual(given.subarray(n * 36 + 9, (n + 1) * 36), map.subarray(n * 27, (n + 1) * 27));
    }
    assert.throws(
      () => generatorInput({ inputChannels: 4 }, L, tensor(new Float32Array(27), [1, 3, 3, 3])),
      /hint map \[1, 3, 3, 3\] does not match \[2, 3, 3, 3\]/,
    );
  });
});

/** Every tensor of G's state dict set to seeded random values (positive running variances). */
function randomState(G: Generator, seed: number): Map<string, Float32Array> {
  const r = new Rng(seed), out = new Map<string, Float32Array>();
  for (const [name, t] of G.stateDict()) {
    const v = new Float32Array(t.size);
    for (let i = 0; i < v.length; i++) {
      v[i] = name.endsWith("running_var")
        ? 0.5 + r.next()
        : name.endsWith("num_batches_tracked")
        ? 3
        : 0.3 * r.normal();
    }
    out.set(name, v);
  }
  return out;
}

/**
 * Loads random weights into the automatic `auto`, widens them into `wide` and checks that both colour a
 * random L the same with zero hints and with random hints (the hint weights start at zero).
 */
async function checkWidening(auto: Generator, wide: Generator, size: number, reads: string[]) {
  const state = randomState(auto, 5);
  auto.loadStateDict(state);
  const widened = widenForHints(state, wide);
  wide.loadStateDict(widened);
  for (const [name, w] of widened) {
    if (reads.includes(name)) assert.equal(w.length, wide.stateDict().get(name)!.size, `${name} widened`);
    else assert.equal(w, state.get(name), `${name} passed on as it is`);
  }
  auto.eval();
  wide.eval();
  const r = rng(9);
  await tidyAsync(async () => {
    const L = tensor(r.uniform(2 * size * size), [2, 1, size, size]);
    const expected = await noGrad(() => auto.forward(L)).data();
    const zeroHints = await noGrad(() => wide.forward(generatorInput(wide.config, L))).data();
    assertClose(zeroHints, expected, { atol: 1e-5 }, "zero hints");
    const mask = Float32Array.from(r.uniform(2 * size * size), (v) => (v > 0 ? 1 : 0));
    const map = new Float32Array(2 * 3 * size * size);
    const ab = r.uniform(2 * 2 * size * size);
    for (let n = 0; n < 2; n++) {
      const hw = size * size;
      map.set(ab.subarray(2 * n * hw, (2 * n + 2) * hw), 3 * n * hw);
      map.set(mask.subarray(n * hw, (n + 1) * hw), (3 * n + 2) * hw);
    }
    const withHints = await noGrad(() => wide.forward(generatorInput(wide.config, L, map))).data();
    assertClose(withHints, expected, { atol: 1e-5 }, "random hints, zero hint weights");
  });
}

Deno.test("widenForHints: a tiny U-Net and its widened 4-channel copy colour alike (only the first conv grows)", async () => {
  manualSeed(1);
  const auto = new Unet({ nDown: 5, ngf: 8 }), wide = new Unet({ nDown: 5, ngf: 8, inputChannels: 4 });
  const state = randomState(auto, 5);
  const widened = widenForHints(state, wide);
  const first = widened.get("model.model.0.weight")!, old = state.get("model.model.0.weight")!;
  assert.deepEqual(wide.stateDict().get("model.model.0.weight")!.shape, [8, 4, 4, 4]);
  for (let o = 0; o < 8; o++) {
    assert.deepEqual(
      first.subarray(o * 64, o * 64 + 16),
      old.subarray(o * 16, (o + 1) * 16),
      `filter ${o}, channel 0`,
    );
    assert.ok(
      first.subarray(o * 64 + 16, (o + 1) * 64).every((v) => v === 0),
      `filter ${o}, hint channels zero`,
    );
  }
  await checkWidening(auto, wide, 32, ["model.model.0.weight"]);
  auto.dispose();
  wide.dispose();
});

Deno.test("widenForHints: the ResNet U-Net, which concatenates its input back before the last block, colours alike widened", async () => {
  manualSeed(2);
  const auto = new ResnetUnet(), wide = new ResnetUnet({ inputChannels: 4 });
  // The stem, and the residual block and head after the input is concatenated back: 97 → 100 channels.
  const grown = [...wide.stateDict()]
    .filter(([name, t]) => t.size !== auto.stateDict().get(name)!.size)
    .map(([name, t]) => `${name} ${t.shape.join("×")}`);
  assert.deepEqual(grown, [
    "encoder.conv1.weight 64×4×7×7",
    "res.layers.0.0.weight 100×100×3×3",
    "res.layers.0.2.weight 100",
    "res.layers.0.2.bias 100",
    "res.layers.0.2.running_mean 100",
    "res.layers.0.2.running_var 100",
    "res.layers.1.0.weight 100×100×3×3",
    "res.layers.1.2.weight 100",
    "res.layers.1.2.bias 100",
    "res.layers.1.2.running_mean 100",
    "res.layers.1.2.running_var 100",
    "head.weight 2×100×1×1",
  ]);
  const state = randomState(auto, 5);
  const widened = widenForHints(state, wide);
  // A square weight grows on both axes: the old block in the leading corner, zeros elsewhere.
  const w = widened.get("res.layers.0.0.weight")!, old = state.get("res.layers.0.0.weight")!;
  for (let o = 0; o < 100; o++) {
    for (let c = 0; c < 100; c++) {
      const got = w.subarray((o * 100 + c) * 9, (o * 100 + c + 1) * 9);
      if (o < 97 && c < 97) assert.deepEqual(got, old.subarray((o * 97 + c) * 9, (o * 97 + c + 1) * 9));
      else assert.ok(got.every((v) => v === 0), `res.layers.0.0.weight[${o}, ${c}] is zero`);
    }
  }
  // Norms of the new channels are identities: scale 1, shift 0, running mean 0, variance 1.
  const tail = (name: string) => [...widened.get(name)!.subarray(97)];
  assert.deepEqual(tail("res.layers.0.2.weight"), [1, 1, 1]);
  assert.deepEqual(tail("res.layers.0.2.bias"), [0, 0, 0]);
  assert.deepEqual(tail("res.layers.1.2.running_mean"), [0, 0, 0]);
  assert.deepEqual(tail("res.layers.1.2.running_var"), [1, 1, 1]);
  await checkWidening(auto, wide, 32, grown.map((g) => g.split(" ")[0]));
  auto.dispose();
  wide.dispose();
});

Deno.test("widenForHints: refuses a target without hint input; leaves a tensor of the wrong size to loadStateDict", () => {
  manualSeed(3);
  const auto = new Unet({ nDown: 5, ngf: 8 }), wide = new Unet({ nDown: 5, ngf: 8, inputChannels: 4 });
  assert.throws(() => widenForHints(new Map(), auto), /the target model takes no hints/);
  const state = randomState(auto, 1);
  state.set("model.model.0.weight", new Float32Array(7));
  const widened = widenForHints(state, wide);
  assert.equal(widened.get("model.model.0.weight")!.length, 7);
  assert.throws(() => wide.loadStateDict(widened), /loadStateDict: "model.model.0.weight" has 7 values/);
  auto.dispose();
  wide.dispose();
});

Deno.test("hintAdapterMask: the U-Net's first-conv hint weights, nothing of its L weights; other generators refused", () => {
  const { name, mask } = hintAdapterMask({ ...UNET_DEFAULTS, nDown: 5, ngf: 8, inputChannels: 4 });
  assert.equal(name, "model.model.0.weight");
  // [8 filters, 4 input channels, 4, 4]: per filter 16 zeros (L) then 48 ones (a, b, mask).
  assert.equal(mask.length, 8 * 4 * 16);
  for (let i = 0; i < mask.length; i++) assert.equal(mask[i], i % 64 < 16 ? 0 : 1, `entry ${i}`);
  assert.throws(() => hintAdapterMask({ ...UNET_DEFAULTS, nDown: 5, ngf: 8 }), /the model takes no hints/);
  assert.throws(
    () => hintAdapterMask({ ...RESNET_UNET_DEFAULTS, inputChannels: 4 }),
    /a hint adapter needs a U-Net/,
  );
});

Deno.test("spreadHints: colour stops at a thin edge between regions of equal lightness (geodesic, not straight-line distance)", async () => {
  await gpu();
  const size = 24;
  const pred = new Float32Array(2 * size * size);
  // Uniform lightness with a one-pixel bright wall down column 9: both sides are equally light.
  const L = Float32Array.from({ length: size * size }, (_, i) => i % size === 9 ? 0.8 : -0.2);
  const hint = { cell: [6, 12] as [number, number], a: 60, b: 0 };
  const P = tensor(pred, [1, 2, size, size]), l = tensor(L, [1, 1, size, size]);
  const spread = spreadHints(P, l, [hint]);
  const out = await spread.data();
  for (const t of [P, l, spread]) t.dispose();
  assertClose(out, spreadHintsReference(pred, L, [hint], size), { atol: 1e-5, rtol: 1e-4 });
  // Six cells from the hint on its own side, and six cells from it across the wall: a straight-line
  // distance with the lightness at the two ends would weigh them alike.
  const sameSide = out[12 * size], across = out[12 * size + 12], full = 60 / MODEL_AB_SCALE;
  assert.ok(sameSide > 0.5 * full, `same side: ${sameSide} of ${full}`);
  assert.ok(across < 0.1 * sameSide, `across the wall ${across} vs same side ${sameSide}`);
});

Deno.test("spreadHints: the GPU blend equals its float64 reference; no hints return the prediction", async () => {
  await gpu();
  const size = 24, r = rng(7);
  const pred = Float32Array.from({ length: 2 * size * size }, () => r.next() * 2 - 1);
  // Two flat regions of lightness, so the lightness term matters.
  const L = Float32Array.from(
    { length: size * size },
    (_, i) => (i % size < 12 ? -0.6 : 0.5) + 0.01 * r.next(),
  );
  const hints = [{ cell: [3, 4] as [number, number], a: 60, b: -20 }, {
    cell: [20, 17] as [number, number],
    a: -40,
    b: 70,
  }];
  const P = tensor(pred, [1, 2, size, size]), l = tensor(L, [1, 1, size, size]);
  assert.equal(spreadHints(P, l, []), P);
  const spread = spreadHints(P, l, hints);
  const out = await spread.data();
  for (const t of [P, l, spread]) t.dispose();
  const want = spreadHintsReference(pred, L, hints, size);
  assertClose(out, want, { atol: 1e-5, rtol: 1e-4 });
  // At a hint's own cell the blend is close to the hint (eps is small), and across the lightness edge
  // a hint counts for less than at the same distance on its own side.
  const plane = size * size;
  assert.ok(Math.abs(out[4 * size + 3] - 60 / MODEL_AB_SCALE) < 0.05);
  const own = Math.abs(out[4 * size + 9] - 60 / MODEL_AB_SCALE),
    across = Math.abs(out[4 * size + 15] - 60 / MODEL_AB_SCALE);
  assert.ok(own < across, `same side ${own} vs across the edge ${across}`);
  assert.ok(Number.isFinite(out[plane]));
});
