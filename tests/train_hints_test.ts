/**
 * Hint models end to end, in subprocesses as a user runs them (tiny synthetic photos, a tiny U-Net):
 * `train --hints-input` trains, saves a 4-input-channel checkpoint and resumes; `--init FILE
 * --hints-input` starts from exactly the file's weights, widened with zeros for the hint channels; a
 * diverse model cannot be widened; `--hint-adapter` changes nothing but the hint weights, and says
 * what it needs; `eval --hints` scores a hint model with one row per hint count.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gpu } from "./helpers.ts";
import { writeImage } from "../cli/image.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../models/checkpoint.ts";
import { DiverseGenerator } from "../models/diverse.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "train-hints-test-" });

/** A 32×32 scene: sky above a horizon, textured grass below, a red sun whose place varies with k. */
function scene(k: number, S = 32) {
  const rgba = new Uint8Array(S * S * 4);
  const horizon = 12 + (k * 3) % 8, cx = (k * 11) % S, cy = horizon + (k * 5) % (S - horizon), r = 3 + k % 4;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const c = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        ? [230, 40, 40]
        : y < horizon
        ? [80 + y * 3, 140 + y * 2, 250]
        : [40 + (x % 4) * 5, 150 + ((x + y) % 7) * 8, 50];
      rgba.set([c[0], c[1], c[2], 255], 4 * (y * S + x));
    }
  }
  return { width: S, height: S, rgba };
}

const DATA = join(tmp, "data");
await Deno.mkdir(DATA);
for (let k = 0; k < 6; k++) await writeImage(join(DATA, `scene_${k}.png`), scene(k));

const TINY = ["--size", "32", "--n-down", "5", "--ngf", "8", "--ndf", "8", "--batch", "2"];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(script: string, args: string[]): Promise<Result> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, script), ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

const train = (...args: string[]) => run("cli/train.ts", args);
const evalCmd = (...args: string[]) => run("cli/eval.ts", args);

function explain(r: Result) {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

async function readCheckpoint(path: string) {
  return decodeCheckpoint(await Deno.readFile(path), path);
}

/** Runs `make` once and shares its result between the tests that need it. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => p ??= make();
}

/** A hint model trained 2 steps (its folder). */
const hintRun = once(async () => {
  const out = join(tmp, "run-hints");
  const r = await train("--data", DATA, "--out", out, ...TINY, "--hints-input", "--max-steps", "2");
  assert.equal(r.code, 0, explain(r));
  return out;
});

/** An automatic model trained 1 step, copied to tiny-automatic.safetensors. */
const automaticFile = once(async () => {
  const out = join(tmp, "run-automatic");
  const r = await train("--data", DATA, "--out", out, ...TINY, "--max-steps", "1");
  assert.equal(r.code, 0, explain(r));
  const file = join(tmp, "tiny-automatic.safetensors");
  await Deno.copyFile(join(out, "checkpoint.safetensors"), file);
  return file;
});

Deno.test("train --hints-input: trains, saves a 4-input-channel generator, resumes as a hint model", async () => {
  const out = await hintRun();
  const ck = await readCheckpoint(join(out, "checkpoint.safetensors"));
  assert.equal(ck.generatorConfig.inputChannels, 4);
  assert.equal(ck.train.step, 2);
  assert.equal(ck.generator.get("model.model.0.weight")!.length, 8 * 4 * 4 * 4);
  assert.ok(ck.generator.get("model.model.0.weight")!.every(Number.isFinite));
  // The discriminator judges the generator's whole input with ab: 4 + 2 channels.
  assert.equal(ck.discriminatorConfig?.inputChannels, 6);
  assert.equal(ck.discriminator!.get("model.0.0.weight")?.length, 8 * 6 * 4 * 4);

  // --resume continues it without being told --hints-input again.
  const r = await train("--out", out, "--resume", "--max-steps", "3");
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /resume: .* at step 2/);
  const resumed = await readCheckpoint(join(out, "checkpoint.safetensors"));
  assert.equal(resumed.train.step, 3);
  assert.deepEqual(resumed.generatorConfig, ck.generatorConfig);
});

Deno.test("train --init tiny-automatic.safetensors --hints-input: exactly the file's weights, widened with zeros", async () => {
  const file = await automaticFile();
  const from = await readCheckpoint(file);
  assert.equal(from.generatorConfig.inputChannels, 1);
  assert.equal(from.generatorEma, undefined, "no average: --init takes the raw weights");
  const out = join(tmp, "run-widened");
  const r = await train(
    "--data",
    DATA,
    "--out",
    out,
    "--size",
    "32",
    "--ndf",
    "8",
    "--batch",
    "2",
    "--init",
    file,
    "--hints-input",
    "--max-steps",
    "0",
  );
  assert.equal(r.code, 0, explain(r));
  assert.match(
    r.stdout,
    /init: G from .*tiny-automatic\.safetensors \(its weights; hint input added, its weights at zero\)/,
  );
  const ck = await readCheckpoint(join(out, "checkpoint.safetensors"));
  assert.deepEqual(ck.generatorConfig, { ...from.generatorConfig, inputChannels: 4 });
  assert.equal(ck.train.step, 0);
  assert.deepEqual([...ck.generator.keys()], [...from.generator.keys()]);
  for (const [name, w] of from.generator) {
    const got = ck.generator.get(name)!;
    if (name !== "model.model.0.weight") {
      assert.deepEqual(got, w, name);
      continue;
    }
    // [8, 4, 4, 4]: channel 0 of every filter is the file's [8, 1, 4, 4], channels 1–3 are zero.
    assert.equal(got.length, 8 * 4 * 16);
    for (let o = 0; o < 8; o++) {
      assert.deepEqual(got.subarray(o * 64, o * 64 + 16), w.subarray(o * 16, (o + 1) * 16), `filter ${o}`);
      assert.ok(got.subarray(o * 64 + 16, (o + 1) * 64).every((v) => v === 0), `filter ${o}: hint channels`);
    }
  }
});

Deno.test("train --init of a diverse model with --hints-input: one-line usage error, exit 2", async () => {
  await gpu();
  const G = new DiverseGenerator({ layers: 3, filters: 4 });
  const file = join(tmp, "tiny-diverse.safetensors");
  await Deno.writeFile(file, await encodeCheckpoint({ G }));
  G.dispose();
  const out = join(tmp, "run-diverse-hints");
  const r = await train(
    "--data",
    DATA,
    "--out",
    out,
    "--size",
    "24",
    "--batch",
    "2",
    "--init",
    file,
    "--hints-input",
  );
  assert.equal(r.code, 2, explain(r));
  assert.match(
    r.stderr,
    /--init .*tiny-diverse\.safetensors --hints-input: a diverse generator cannot be widened/,
  );
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
});

Deno.test("eval --hints 0,1,5 on a tiny hint model prints one row per count; an automatic model refuses hints", async () => {
  const model = join(await hintRun(), "checkpoint.safetensors");
  const r = await evalCmd("--data", DATA, "--model", model, "--hints", "0,1,5");
  assert.equal(r.code, 0, explain(r));
  const rows = r.stdout.trim().split("\n");
  assert.equal(rows[0], "| model | hints | PSNR (dB) | colorfulness | vs originals |");
  assert.match(rows[2], /^\| gray \(ab = 0\) \| — \| \d+\.\d\d \|/);
  for (const [k, n] of [0, 1, 5].entries()) {
    assert.match(rows[3 + k], new RegExp(`^\\| checkpoint\\.safetensors \\| ${n} \\| \\d+\\.\\d\\d \\|`));
  }
  assert.match(rows[6], /^\| originals \(6 photos\) \| — \| — \|/);
  assert.equal(rows.length, 7);

  const auto = await automaticFile();
  const e = await evalCmd("--data", DATA, "--model", auto, "--hints", "0,1");
  assert.equal(e.code, 2, explain(e));
  assert.match(e.stderr, /^eval: --hints 1: .*tiny-automatic\.safetensors takes no colour hints/);
  assert.equal(e.stderr.trim().split("\n").length, 1, e.stderr);
});

Deno.test("train --hint-adapter: only the hint weights change, running statistics included; resume keeps it", async () => {
  const file = await automaticFile();
  const from = await readCheckpoint(file);
  const out = join(tmp, "run-adapter");
  const common = ["--data", DATA, "--out", out, "--size", "32", "--ndf", "8", "--batch", "2", "--lr", "1e-2"];
  // One L1 step and one GAN step, so both step kinds are covered.
  let r = await train(
    ...common,
    "--init",
    file,
    "--hints-input",
    "--hint-adapter",
    "--pretrain-epochs",
    "1",
    "--max-steps",
    "1",
  );
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /hint adapter: only the 384 weights that read the hints learn/);
  r = await train("--out", out, "--resume", "--max-steps", "4");
  assert.equal(r.code, 0, explain(r));
  const ck = await readCheckpoint(join(out, "checkpoint.safetensors"));
  assert.equal(ck.train.step, 4);
  assert.equal((ck.train as { hintAdapter?: boolean }).hintAdapter, true);
  for (const [name, w] of from.generator) {
    const got = ck.generator.get(name)!;
    if (name !== "model.model.0.weight") {
      assert.deepEqual(got, w, name);
      continue;
    }
    // [8, 4, 4, 4]: channel 0 of every filter stays the file's; the hint channels (1–3) learned.
    for (let o = 0; o < 8; o++) {
      assert.deepEqual(got.subarray(o * 64, o * 64 + 16), w.subarray(o * 16, (o + 1) * 16), `filter ${o}`);
    }
    const hintWeights = [...got].filter((_, i) => i % 64 >= 16);
    assert.ok(hintWeights.some((v) => v !== 0), "the hint weights learned nothing");
  }
});

Deno.test("train --hint-adapter without --init or without --hints-input: one-line usage error, exit 2", async () => {
  const file = await automaticFile();
  const cases: [string[], RegExp][] = [
    [["--hints-input", "--hint-adapter"], /^train: --hint-adapter needs --init FILE/],
    [["--init", file, "--hint-adapter"], /^train: --hint-adapter needs --hints-input/],
  ];
  for (const [args, message] of cases) {
    const r = await train(
      "--data",
      DATA,
      "--out",
      join(tmp, "run-adapter-bad"),
      "--size",
      "24",
      "--batch",
      "2",
      ...args,
    );
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

Deno.test({
  name: "cleanup",
  fn: async () => await Deno.remove(tmp, { recursive: true }),
});
