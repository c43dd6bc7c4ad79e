/**
 * `deno task colorize --hints FILE` and `--hint X,Y,#RRGGBB` (its main function, in-process) with tiny
 * random models: a hint model's output changes with hints (random weights still read the hint channels)
 * and is exactly what colorizeRgba gives for the same hints; a hints file and the equivalent --hint
 * flags give byte-identical files, applied in order (file first); a hint outside one of several photos
 * fails that photo only; every malformed file or flag, and hints for an automatic model, is one line,
 * exit 2, with nothing written; a diverse hint model takes hints with --samples. Hints without --model
 * go to the default model, the shipped models/default.safetensors (the real file, on a tiny photo),
 * which is a hint model; a default without hint input refuses them on one line naming it.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gpu } from "./helpers.ts";
import { type CliIo, DEFAULT_MODEL_URL, main } from "../cli/colorize.ts";
import { buildGenerator, decodeCheckpoint, encodeCheckpoint } from "../models/checkpoint.ts";
import { colorizeRgba } from "../models/colorize.ts";
import { parseHints } from "../models/hints.ts";
import { Unet } from "../models/unet.ts";
import { DiverseGenerator } from "../models/diverse.ts";
import { initPix2pixWeights } from "../models/init.ts";
import { manualSeed } from "../engine/random.ts";
import { readImage, type RgbaImage, writeImage } from "../cli/image.ts";

await gpu();

const dir = await Deno.makeTempDir({ prefix: "colorize_hints_test_" });
const hintModel = join(dir, "hint.safetensors");
const autoModel = join(dir, "auto.safetensors");
const diverseHintModel = join(dir, "diverse-hint.safetensors");

/** A tiny U-Net (random, seeded); `inputChannels` 4 makes it a hint model. Trained size 32 = colorize's default. */
async function writeUnet(path: string, inputChannels: number, seed: number) {
  manualSeed(seed);
  const G = new Unet({ nDown: 5, ngf: 4, inputChannels });
  initPix2pixWeights(G);
  // The N(0, 0.02) init predicts nearly gray; 100× on the last layer gives real colour (as in
  // tests/colorize_test.ts), so a change in the hint channels shows up in the 8-bit output.
  const last = G.stateDict().get("model.model.3.weight")!;
  G.loadStateDict(new Map([["model.model.3.weight", (await last.data()).map((v) => 100 * v)]]), false);
  await Deno.writeFile(path, await encodeCheckpoint({ G, train: { size: 32 } }));
  G.dispose();
}
await writeUnet(hintModel, 4, 21);
await writeUnet(autoModel, 1, 22);
{
  manualSeed(23);
  const G = new DiverseGenerator({ layers: 3, filters: 6, noiseChannels: 1, inputChannels: 4 });
  await Deno.writeFile(diverseHintModel, await encodeCheckpoint({ G, train: { size: 32 } }));
  G.dispose();
}

/** A smooth gradient with some texture; W×H. */
function photo(w: number, h: number): RgbaImage {
  const rgba = new Uint8Array(4 * w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = 4 * (y * w + x);
      rgba[p] = 40 + Math.round(170 * x / (w - 1));
      rgba[p + 1] = 60 + Math.round(120 * y / (h - 1)) + ((x + y) & 1 ? 20 : -20);
      rgba[p + 2] = 128 + Math.round(70 * Math.sin(0.4 * x + 0.3 * y));
      rgba[p + 3] = 255;
    }
  }
  return { width: w, height: h, rgba };
}

/** Captures what the CLI writes. */
function capture(): CliIo & { errors: string[]; infos: string[] } {
  const errors: string[] = [], infos: string[] = [];
  return { errors, infos, error: (l) => errors.push(l), info: (l) => infos.push(l), progress: false };
}

async function run(
  args: string[],
  opts: Parameters<typeof main>[2] = {},
): Promise<{ code: number; errors: string[] }> {
  const io = capture();
  return { code: await main([...args, "-q"], io, opts), errors: io.errors };
}

async function fresh(name: string): Promise<string> {
  const d = join(dir, name);
  await Deno.mkdir(d, { recursive: true });
  return d;
}

async function listing(d: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(d)) names.push(e.name);
  return names.sort();
}

const W = 24, H = 18;
const HINTS = [
  { x: 3, y: 4, color: "#b03a2e" },
  { x: 18.5, y: 12, color: "#2e86c1" },
  { x: 10, y: 9, color: "#1e8449" },
];
const FLAGS = HINTS.flatMap((h) => ["--hint", `${h.x},${h.y},${h.color}`]);

Deno.test("colorize --hints/--hint: hints change a hint model's output, file and flags give the same bytes, as colorizeRgba", async () => {
  const d = await fresh("same");
  const input = join(d, "photo.png");
  await writeImage(input, photo(W, H));
  const file = join(d, "hints.json");
  await Deno.writeTextFile(file, JSON.stringify(HINTS));
  const out = (name: string) => join(d, name);

  assert.deepEqual(await run([input, "--model", hintModel, "-o", out("none.png")]), { code: 0, errors: [] });
  assert.deepEqual(await run([input, "--model", hintModel, "-o", out("file.png"), "--hints", file]), {
    code: 0,
    errors: [],
  });
  assert.deepEqual(await run([input, "--model", hintModel, "-o", out("flags.png"), ...FLAGS]), {
    code: 0,
    errors: [],
  });
  const none = await Deno.readFile(out("none.png"));
  const fromFile = await Deno.readFile(out("file.png"));
  assert.deepEqual(await Deno.readFile(out("flags.png")), fromFile, "--hints FILE vs the same --hint flags");
  assert.notDeepEqual(fromFile, none, "hints must change the output");

  // The CLI's result is colorizeRgba's for parseHints of the same JSON (what the web page does), and
  // without hints the hint model colours as colorizeRgba without them.
  const G = buildGenerator(decodeCheckpoint(await Deno.readFile(hintModel), hintModel));
  const img = await readImage(input);
  const want = await colorizeRgba(G, img, 32, { seed: 1, hints: parseHints(HINTS, W, H) });
  assert.deepEqual((await readImage(out("file.png"))).rgba, want.rgba);
  assert.deepEqual(
    (await readImage(out("none.png"))).rgba,
    (await colorizeRgba(G, img, 32, { seed: 1 })).rgba,
  );
  G.dispose();
});

Deno.test("colorize --hints/--hint: file hints come first, then --hint ones in order (later ones win where they overlap)", async () => {
  const d = await fresh("order");
  const input = join(d, "photo.png");
  await writeImage(input, photo(W, H));
  const red = join(d, "red.json");
  await Deno.writeTextFile(red, JSON.stringify([{ x: 8, y: 8, color: "#ff0000" }]));
  const outs: Uint8Array[] = [];
  for (
    const [name, args] of [
      ["file-then-flag.png", ["--hint", "8,8,#0000ff", "--hints", red]],
      ["red-then-blue.png", ["--hint", "8,8,#f00", "--hint", "8,8,#0000ff"]],
      ["blue-then-red.png", ["--hint", "8,8,#0000ff", "--hint", "8,8,#ff0000"]],
    ] as const
  ) {
    assert.deepEqual(await run([input, "--model", hintModel, "-o", join(d, name), ...args]), {
      code: 0,
      errors: [],
    });
    outs.push(await Deno.readFile(join(d, name)));
  }
  // Wherever --hints is written on the command line, its hints are applied before the --hint ones.
  assert.deepEqual(outs[0], outs[1]);
  assert.notDeepEqual(outs[1], outs[2]);
});

Deno.test("colorize --hint: a hint outside one of several photos fails that photo only; outside the only photo is exit 2", async () => {
  const d = await fresh("outside");
  const big = join(d, "big.png"), small = join(d, "small.png");
  await writeImage(big, photo(W, H));
  await writeImage(small, photo(12, 10));
  const file = join(d, "hints.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify([{ x: 2, y: 2, color: "#fff" }, { x: 20, y: 5, color: "#b03a2e" }]),
  );
  assert.deepEqual(await run([big, small, "--model", hintModel, "--hints", file]), {
    code: 1,
    errors: [
      `colorize: ${small}: ${file}: hint 2: (20, 5) is outside the 12×10 photo (x from 0 to 11, y from 0 to 9)`,
    ],
  });
  assert.deepEqual(await listing(d), ["big.color.png", "big.png", "hints.json", "small.png"]);

  // The same for a flag, and with the only photo: nothing could be done, because of the command line.
  assert.deepEqual(await run([small, "--model", hintModel, "--hint=-1,3,#fff"]), {
    code: 2,
    errors: [
      `colorize: ${small}: --hint -1,3,#fff: (-1, 3) is outside the 12×10 photo (x from 0 to 11, y from 0 to 9)`,
    ],
  });
  assert.deepEqual(await run([small, "--model", hintModel, "--hint", "5,10,#fff"]), {
    code: 2,
    errors: [
      `colorize: ${small}: --hint 5,10,#fff: (5, 10) is outside the 12×10 photo (x from 0 to 11, y from 0 to 9)`,
    ],
  });
  assert.deepEqual(await listing(d), ["big.color.png", "big.png", "hints.json", "small.png"]);
});

Deno.test("colorize --hints/--hint: every malformed file or flag is one line naming it, exit 2, nothing written", async () => {
  const d = await fresh("bad");
  const input = join(d, "photo.png");
  await writeImage(input, photo(W, H));
  const file = async (name: string, text: string) => {
    const path = join(d, name);
    await Deno.writeTextFile(path, text);
    return path;
  };
  const ARRAY = 'hints must be a JSON array of {"x": …, "y": …, "color": "#rrggbb"} objects';
  const SYNTAX = "expected X,Y,#RRGGBB (pixels from the top-left corner, then an sRGB colour)";
  const cases: [string[], string | RegExp][] = [
    [["--hints", join(d, "missing.json")], `colorize: ${join(d, "missing.json")}: no such file or directory`],
    [["--hints", d], `colorize: ${d}: is a folder, not a hints file`],
    [
      ["--hints", await file("text.json", "x=3, y=4")],
      new RegExp(`^colorize: ${join(d, "text.json")}: not JSON: \\S.*$`),
    ],
    [
      ["--hints", await file("empty.json", "")],
      new RegExp(`^colorize: ${join(d, "empty.json")}: not JSON: \\S.*$`),
    ],
    [
      ["--hints", await file("object.json", '{"x": 1, "y": 2, "color": "#fff"}')],
      `colorize: ${d}/object.json: ${ARRAY}`,
    ],
    [["--hints", await file("null.json", "null")], `colorize: ${d}/null.json: ${ARRAY}`],
    [
      ["--hints", await file("element.json", '[{"x": 1, "y": 2, "color": "#fff"}, [3, 4, "#fff"]]')],
      `colorize: ${d}/element.json: hint 2 is not an object {"x": …, "y": …, "color": "#rrggbb"}`,
    ],
    [
      ["--hints", await file("x.json", '[{"x": "1", "y": 2, "color": "#fff"}]')],
      `colorize: ${d}/x.json: hint 1: "x" must be a number`,
    ],
    [
      ["--hints", await file("y.json", '[{"x": 1, "color": "#fff"}]')],
      `colorize: ${d}/y.json: hint 1: "y" must be a number`,
    ],
    [
      [
        "--hints",
        await file("colour.json", '[{"x": 1, "y": 2, "color": "#fff"}, {"x": 1, "y": 2, "color": "#ggg"}]'),
      ],
      `colorize: ${d}/colour.json: hint 2: colour "#ggg" is not #rrggbb or #rgb`,
    ],
    [
      ["--hints", await file("nocolour.json", '[{"x": 1, "y": 2}]')],
      `colorize: ${d}/nocolour.json: hint 1: "color" must be a string like "#b03a2e"`,
    ],
    [["--hint", "12,x,#fff"], `colorize: --hint 12,x,#fff: Y "x" is not a number; ${SYNTAX}`],
    [["--hint", ",3,#fff"], `colorize: --hint ,3,#fff: X "" is not a number; ${SYNTAX}`],
    [["--hint", "12,3"], `colorize: --hint 12,3: ${SYNTAX}`],
    [["--hint", "1,2,#fff,4"], `colorize: --hint 1,2,#fff,4: ${SYNTAX}`],
    [["--hint", "1,2,red"], `colorize: --hint 1,2,red: colour "red" is not #rrggbb or #rgb; ${SYNTAX}`],
    // A good flag does not hide a bad one after it.
    [
      ["--hint", "1,2,#fff", "--hint", "1,2,#12345"],
      `colorize: --hint 1,2,#12345: colour "#12345" is not #rrggbb or #rgb; ${SYNTAX}`,
    ],
  ];
  for (const [args, want] of cases) {
    const { code, errors } = await run([input, "--model", hintModel, ...args]);
    assert.equal(code, 2, args.join(" "));
    assert.equal(errors.length, 1, `${args.join(" ")}: ${errors.join("\n")}`);
    if (typeof want === "string") assert.equal(errors[0], want);
    else assert.match(errors[0], want);
  }
  assert.ok(!(await listing(d)).some((n) => n.includes(".color")), "nothing written");
});

Deno.test("colorize --hints/--hint: a model without hint input is refused before any photo, even with an empty file", async () => {
  const d = await fresh("automatic");
  const input = join(d, "photo.png");
  await writeImage(input, photo(W, H));
  const empty = join(d, "empty.json");
  await Deno.writeTextFile(empty, "[]");
  const refused = (option: string) =>
    `colorize: ${option}: ${autoModel} takes no colour hints (trained without --hints-input)`;
  assert.deepEqual(await run([input, "--model", autoModel, "--hints", empty]), {
    code: 2,
    errors: [refused("--hints")],
  });
  assert.deepEqual(await run([input, "--model", autoModel, "--hint", "1,2,#fff"]), {
    code: 2,
    errors: [refused("--hint")],
  });
  // Checked before the photos: a missing photo is not even reported.
  assert.deepEqual(await run([join(d, "gone.png"), "--model", autoModel, "--hint", "1,2,#fff"]), {
    code: 2,
    errors: [refused("--hint")],
  });
  assert.deepEqual(await listing(d), ["empty.json", "photo.png"]);
  // An empty file for a hint model is no hints: the same output as none.
  assert.deepEqual(await run([input, "--model", hintModel, "-o", join(d, "a.png"), "--hints", empty]), {
    code: 0,
    errors: [],
  });
  assert.deepEqual(await run([input, "--model", hintModel, "-o", join(d, "b.png")]), { code: 0, errors: [] });
  assert.deepEqual(await Deno.readFile(join(d, "a.png")), await Deno.readFile(join(d, "b.png")));
});

Deno.test("colorize --hint with --samples: a diverse hint model gives N colourings, each changed by the hints", async () => {
  const d = await fresh("samples");
  const input = join(d, "photo.png");
  await writeImage(input, photo(W, H));
  const o = (name: string) => join(d, name);
  assert.deepEqual(await run([input, "--model", diverseHintModel, "--samples", "2", "-o", o("plain.png")]), {
    code: 0,
    errors: [],
  });
  assert.deepEqual(
    await run([input, "--model", diverseHintModel, "--samples", "2", "-o", o("hinted.png"), ...FLAGS]),
    { code: 0, errors: [] },
  );
  const [p1, p2, h1, h2] = await Promise.all(
    ["plain-1.png", "plain-2.png", "hinted-1.png", "hinted-2.png"].map((n) => Deno.readFile(o(n))),
  );
  assert.notDeepEqual(h1, h2, "two seeds, two colourings");
  assert.notDeepEqual(h1, p1, "hints change sample 1");
  assert.notDeepEqual(h2, p2, "hints change sample 2");
});

Deno.test("colorize --hints/--hint without --model: the default model, as if named by --model; a default without hint input refuses them, naming it", async () => {
  const d = await fresh("shipped-tiny");
  const input = join(d, "photo.png");
  await writeImage(input, photo(W, H));
  const file = join(d, "hints.json");
  await Deno.writeTextFile(file, JSON.stringify(HINTS));
  const opts = { defaultModel: pathToFileURL(hintModel) };
  assert.deepEqual(await run([input, "-o", join(d, "implicit.png"), "--hints", file], opts), {
    code: 0,
    errors: [],
  });
  assert.deepEqual(await run([input, "-o", join(d, "explicit.png"), "--model", hintModel, ...FLAGS], opts), {
    code: 0,
    errors: [],
  });
  assert.deepEqual(
    await Deno.readFile(join(d, "implicit.png")),
    await Deno.readFile(join(d, "explicit.png")),
  );
  // A default model without hint input (a user's own, saved over the shipped one): one line naming it.
  const automatic = { defaultModel: pathToFileURL(autoModel) };
  const named = relative(Deno.cwd(), autoModel);
  for (
    const [args, option] of [[["--hints", file], "--hints"], [["--hint", "1,2,#fff"], "--hint"]] as const
  ) {
    assert.deepEqual(await run([input, "-o", join(d, "none.png"), ...args], automatic), {
      code: 2,
      errors: [`colorize: ${option}: ${named} takes no colour hints (trained without --hints-input)`],
    });
  }
  // Without hints that model colours as usual.
  assert.deepEqual(await run([input, "-o", join(d, "auto.png")], automatic), { code: 0, errors: [] });
  assert.ok(!(await listing(d)).includes("none.png"), "nothing written by the refused runs");
});

Deno.test("colorize --hint without --model uses the shipped models/default.safetensors, a hint model: same bytes as --model, changed by the hint", async () => {
  const shipped = fileURLToPath(DEFAULT_MODEL_URL);
  await Deno.stat(shipped).catch(() => {
    throw new Error(`${shipped} is missing: the shipped model must be in the repository`);
  });
  const d = await fresh("shipped");
  const input = join(d, "photo.png");
  // Tiny, so the shipped model (its trained size) costs the same whatever the photo; the hint's point
  // and colour are far from what a model predicts on this gradient.
  await writeImage(input, photo(16, 12));
  const hint = ["--hint", "8,6,#e0c020"];
  const out = (name: string) => join(d, name);
  assert.deepEqual(await run([input, "-o", out("implicit.png"), ...hint]), { code: 0, errors: [] });
  assert.deepEqual(await run([input, "-o", out("explicit.png"), "--model", shipped, ...hint]), {
    code: 0,
    errors: [],
  });
  assert.deepEqual(await run([input, "-o", out("plain.png")]), { code: 0, errors: [] });
  const implicit = await Deno.readFile(out("implicit.png"));
  assert.deepEqual(
    implicit,
    await Deno.readFile(out("explicit.png")),
    "--hint alone vs --model default.safetensors",
  );
  assert.notDeepEqual(implicit, await Deno.readFile(out("plain.png")), "the hint changed the output");
});
