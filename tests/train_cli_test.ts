/**
 * End to end: `cli/train.ts` as a user runs it, on a folder of synthetic
 * 32×32 scenes with a tiny network (n-down 5, 8 filters), in subprocesses.
 * Covers outputs (checkpoint, samples, curve, metrics, skip summary), --resume
 * continuing the same run, SIGINT and SIGKILL leaving a loadable checkpoint,
 * L1 pretraining actually fitting, a diverging run stopping without saving
 * non-finite weights, usage errors, and the training crops (fresh random ones
 * each epoch, fixed ones with --crops fixed, centre crops for validation).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readImage, resizeRgba, writeImage } from "../cli/image.ts";
import { decodeCheckpoint } from "../models/checkpoint.ts";
import type { ResnetUnetConfig } from "../models/resnet_unet.ts";
import { exists } from "../cli/fsutil.ts";
import { lrFactor } from "../cli/train/schedule.ts";
import type { MetricsRecord } from "../cli/train/metrics.ts";
import {
  cacheSide,
  centreCrop,
  type Crop,
  epochPlan,
  loadPlanes,
  MIN_CROP,
  mixSeed,
  prepareDataset,
  prepareImage,
  splitTrainVal,
  trainingCrops,
} from "../cli/dataset.ts";
import { renderLossCurve, renderSampleGrid } from "../cli/plot.ts";
import { scene } from "./fixtures.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TRAIN = join(ROOT, "cli/train.ts");
const tmp = await Deno.makeTempDir({ prefix: "train-cli-test-" });

/** The k-th 32×32 training scene: tests/fixtures.ts's scene, its horizon height picked by 7k mod 5. */
const trainScene = (k: number) => scene(k, 32, (k * 7) % 5);

async function makeData(dir: string, n: number, extras: boolean) {
  await Deno.mkdir(join(dir, "sub"), { recursive: true });
  for (let k = 0; k < n; k++) {
    // Half in a subfolder: the walk is recursive.
    await writeImage(join(dir, k % 2 ? "sub" : "", `scene_${String(k).padStart(2, "0")}.png`), trainScene(k));
  }
  if (extras) {
    const gray = trainScene(99);
    for (let i = 0; i < gray.rgba.length; i += 4) gray.rgba.fill(gray.rgba[i + 1], i, i + 3);
    await writeImage(join(dir, "gray.png"), gray);
    await Deno.writeFile(join(dir, "corrupt.jpg"), new TextEncoder().encode("this is not a JPEG"));
  }
}

const DATA = join(tmp, "data");
const DATA4 = join(tmp, "data4");
await makeData(DATA, 16, true);
await makeData(DATA4, 4, false);

const TINY = ["--size", "32", "--n-down", "5", "--ngf", "8", "--ndf", "8", "--batch", "4"];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function spawn(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<Result> {
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

async function train(...args: string[]): Promise<Result> {
  return await finish(spawn(args));
}

function explain(r: Result) {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

async function metrics(out: string): Promise<MetricsRecord[]> {
  const text = await Deno.readTextFile(join(out, "metrics.jsonl"));
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function checkpointStep(out: string): Promise<number> {
  const path = join(out, "checkpoint.safetensors");
  const ck = decodeCheckpoint(await Deno.readFile(path), path);
  return ck.train.step as number;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string) {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function metricsLines(out: string): Promise<number> {
  try {
    return (await Deno.readTextFile(join(out, "metrics.jsonl"))).split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

Deno.test("train writes checkpoint, samples, loss curve, metrics and the skip summary", async () => {
  const out = join(tmp, "run-basic");
  // 16 photos → 13 train / 3 val → 3 steps per epoch; saves at steps 2, 3 (epoch end), 4, 6 (end).
  const r = await train("--data", DATA, "--out", out, ...TINY, "--epochs", "2", "--sample-every", "2");
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /^data: 16 images \(32×32\), skipped 1 grayscale, 1 unreadable \(see --verbose\)$/m);
  assert.match(r.stdout, /13 train \/ 3 val/);
  assert.equal(await checkpointStep(out), 6);

  const m = await metrics(out);
  assert.deepEqual(m.map((x) => x.step), [2, 3, 4, 6]);
  assert.deepEqual(m.map((x) => x.epoch), [0.6667, 1, 1.3333, 2]);
  for (const x of m) {
    for (const k of ["lossD", "lossGGan", "lossL1", "valL1", "valPsnr", "time"] as const) {
      assert.ok(Number.isFinite(x[k]), `${k} of step ${x.step} is ${x[k]}`);
    }
    assert.equal(x.phase, "gan");
    // ab/110 targets of these scenes are a few tenths; anything else means a units mix-up.
    assert.ok(x.valL1! > 0.01 && x.valL1! < 1, `valL1 ${x.valL1}`);
    assert.ok(x.valPsnr! > 5 && x.valPsnr! < 60, `valPsnr ${x.valPsnr}`);
  }

  const samples = await readImage(join(out, "samples.png"));
  // 3 cells of 32 px + 4 gutters of 4 px; 3 val photos → 3 rows.
  assert.equal(samples.width, 3 * 32 + 4 * 4);
  assert.equal(samples.height, 3 * 32 + 4 * 4);
  const curve = await readImage(join(out, "loss.png"));
  assert.deepEqual([curve.width, curve.height], [800, 400]);
  const history = [...Deno.readDirSync(join(out, "samples"))].map((e) => e.name).sort();
  assert.deepEqual(history, ["step-0000002.png", "step-0000003.png", "step-0000004.png", "step-0000006.png"]);

  // A second run reads the cache (no decoding), names the skipped files with --verbose, and refuses to
  // overwrite the checkpoint without --resume/--force.
  const again = await train("--data", DATA, "--out", out, ...TINY, "--epochs", "2");
  assert.equal(again.code, 2, explain(again));
  assert.match(again.stderr, /already holds a checkpoint/);
  const forced = await train(
    "--data",
    DATA,
    "--out",
    out,
    ...TINY,
    "--epochs",
    "1",
    "--max-steps",
    "1",
    "--force",
    "--verbose",
  );
  assert.equal(forced.code, 0, explain(forced));
  assert.match(forced.stdout, /data: 16 images \(32×32, from cache\), skipped 1 grayscale, 1 unreadable$/m);
  assert.match(forced.stderr, /skipped gray\.png: grayscale/);
  assert.match(forced.stderr, /skipped corrupt\.jpg: [^/]*$/m, "the reason, without repeating the path");
  assert.deepEqual((await metrics(out)).map((x) => x.step), [1], "--force starts metrics afresh");
});

Deno.test("--resume continues the same run: same steps, same data order, same losses", async () => {
  const args = ["--data", DATA, ...TINY, "--epochs", "5", "--sample-every", "4"];
  const a = join(tmp, "run-straight"), b = join(tmp, "run-resumed");
  const ra = await train(...args, "--out", a, "--max-steps", "8");
  assert.equal(ra.code, 0, explain(ra));
  const rb1 = await train(...args, "--out", b, "--max-steps", "4");
  assert.equal(rb1.code, 0, explain(rb1));
  assert.equal(await checkpointStep(b), 4);
  // Only --out, --resume and the stop condition: data folder, size, architecture, batch, seed, epochs and
  // reporting settings all come from the checkpoint.
  const rb2 = await train("--out", b, "--max-steps", "8", "--resume");
  assert.equal(rb2.code, 0, explain(rb2));
  assert.match(rb2.stdout, /resume: .* at step 4 \(epoch 2, step 1 in it\)/);
  const ma = await metrics(a), mb = await metrics(b);
  // Checkpoints every 4 steps and at epoch ends (3 steps per epoch): 3, 4, 6, 8.
  assert.deepEqual(mb.map((x) => x.step), [3, 4, 6, 8]);
  assert.deepEqual(mb.map((x) => x.step), ma.map((x) => x.step));
  // Same batches, crops (random by default), flips and dropout masks, and restored optimizer state: the
  // resumed run, which resumes in the middle of epoch 2, computes what
  // the straight one did. The GPU is deterministic for a fixed program, but allow float noise from
  // a different submit grouping (1e-4 relative is far below any data-order or state difference,
  // which changes these losses in the second or third digit).
  for (let i = 0; i < ma.length; i++) {
    for (const k of ["lossD", "lossGGan", "lossL1", "valL1"] as const) {
      const x = ma[i][k]!, y = mb[i][k]!;
      assert.ok(
        Math.abs(x - y) <= 1e-4 * Math.abs(x),
        `step ${ma[i].step} ${k}: straight ${x}, resumed ${y}`,
      );
    }
  }
});

Deno.test("SIGINT saves a checkpoint and exits 130; SIGKILL mid-run leaves a loadable one; both resume", async () => {
  const out = join(tmp, "run-signals");
  const args = ["--data", DATA, "--out", out, ...TINY, "--epochs", "1000", "--sample-every", "1"];
  // SIGINT after the first checkpoints: the run finishes its step, saves, and says how to continue.
  let child = spawn(args);
  await waitFor(async () => (await metricsLines(out)) >= 2, 60_000, "two checkpoints");
  child.kill("SIGINT");
  const r = await finish(child);
  assert.equal(r.code, 130, explain(r));
  assert.match(r.stdout, /interrupted at step (\d+); checkpoint saved/);
  const interruptedAt = Number(/interrupted at step (\d+)/.exec(r.stdout)![1]);
  assert.equal(await checkpointStep(out), interruptedAt);

  // SIGKILL while checkpoints are written every step: whatever instant it lands, the file is whole.
  child = spawn([...args, "--resume"]);
  const before = await metricsLines(out);
  await waitFor(async () => (await metricsLines(out)) >= before + 3, 60_000, "three more checkpoints");
  child.kill("SIGKILL");
  await finish(child);
  const step = await checkpointStep(out);
  assert.ok(step > interruptedAt, `checkpoint step ${step} after the kill`);

  const r2 = await train(...args, "--resume", "--max-steps", String(step + 2));
  assert.equal(r2.code, 0, explain(r2));
  const m = await metrics(out);
  const steps = m.map((x) => x.step);
  // Metrics continue: strictly increasing, nothing past the checkpoint's step from the killed run.
  assert.deepEqual(steps, [...steps].sort((x, y) => x - y));
  assert.equal(new Set(steps).size, steps.length, `duplicate steps in ${steps}`);
  assert.deepEqual(steps.slice(-2), [step + 1, step + 2]);
});

Deno.test("L1-only pretraining on 4 photos lowers the training L1 at least 5×", async () => {
  const out = join(tmp, "run-pretrain");
  // 4 photos, no validation split, batch 4 → one step per epoch; 100 L1 epochs, metrics every 10 steps.
  // lr 2e-3 (10× the GAN default) to fit in 100 steps. Fixed crops: fitting the same 4 images is what
  // is measured (with fresh random crops each step the drop is 4.7×, the loss being on new images).
  const r = await train(
    "--data",
    DATA4,
    "--out",
    out,
    ...TINY,
    "--crops",
    "fixed",
    "--val-split",
    "0",
    "--pretrain-epochs",
    "100",
    "--epochs",
    "0",
    "--lr",
    "2e-3",
    "--sample-every",
    "10",
    "--save-epochs",
    "1000",
  );
  assert.equal(r.code, 0, explain(r));
  const m = await metrics(out);
  assert.deepEqual(m.map((x) => x.step), [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  for (const x of m) {
    assert.equal(x.phase, "pretrain");
    assert.equal(x.lossD, null);
    assert.equal(x.valL1, null, "no validation photos");
  }
  // Mean L1 of steps 1–10 vs 91–100: measured ~0.29 → ~0.04 (7×); the first window already includes
  // some descent, so the per-step drop is larger still.
  const first = m[0].lossL1!, last = m[m.length - 1].lossL1!;
  assert.ok(first / last >= 5, `L1 ${first} → ${last} (${(first / last).toFixed(1)}×)`);
  // The sample grid shows the training photos when there is no validation split (4 rows).
  const samples = await readImage(join(out, "samples.png"));
  assert.equal(samples.height, 4 * 32 + 5 * 4);
});

Deno.test("a diverging run stops with a clear message and keeps the last good checkpoint", async () => {
  const out = join(tmp, "run-diverge");
  const base = ["--data", DATA, "--out", out, ...TINY, "--epochs", "100", "--sample-every", "3"];
  const ok = await train(...base, "--max-steps", "3");
  assert.equal(ok.code, 0, explain(ok));
  // Continue with an absurd learning rate: the weights overflow within a few steps.
  const r = await train(...base, "--resume", "--lr", "1e30", "--max-steps", "40");
  assert.equal(r.code, 1, explain(r));
  assert.match(
    r.stderr,
    /train: non-finite (loss|weights) at step \d+.*The last good checkpoint \(step 3\) is kept/,
  );
  assert.match(r.stderr, /try a lower --lr/);
  assert.equal(await checkpointStep(out), 3);
  assert.deepEqual((await metrics(out)).map((x) => x.step), [3]);
});

Deno.test("usage errors exit 2 with one line", async () => {
  const r1 = await train("--size", "32");
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /--data DIR is required/);
  const r2 = await train("--data", DATA, "--out", join(tmp, "run-bad"), "--size", "48", "--n-down", "5");
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--size 48 must be a multiple of 2\^n-down = 32/);
  const r3 = await train("--data", DATA, "--gan", "wasserstein");
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--gan: "wasserstein" is not one of vanilla, lsgan, hinge/);
  const r4 = await train("--data", join(tmp, "nope"), "--out", join(tmp, "run-bad"), ...TINY);
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /no such folder/);
  const r5 = await train("--data", DATA, "--out", join(tmp, "run-none"), "--resume");
  assert.equal(r5.code, 2);
  assert.match(r5.stderr, /--resume: no checkpoint at/);
  const r6 = await train(
    "--data",
    DATA,
    ...TINY,
    "--pretrain-epochs",
    "1",
    "--epochs",
    "2",
    "--decay-epochs",
    "4",
  );
  assert.equal(r6.code, 2);
  assert.match(r6.stderr, /--decay-epochs 4 is more than the 3 epochs of the run/);
  const h = await train("--help");
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage: deno task train --data DIR/);
  // --max-steps counts every step of the run, also on --resume, and is said once.
  assert.match(h.stdout, /--max-steps N +stop after N steps in total, the steps before a resume included/);
  assert.doesNotMatch(h.stdout, /per invocation/);
});

Deno.test("--crops fixed|random: saved with the run, kept on --resume, and it changes what is trained on", async () => {
  const base = ["--data", DATA, ...TINY, "--epochs", "2", "--sample-every", "1", "--max-steps", "1"];
  const fixed = join(tmp, "run-crops-fixed"), random = join(tmp, "run-crops-random");
  const r1 = await train(...base, "--out", fixed, "--crops", "fixed");
  assert.equal(r1.code, 0, explain(r1));
  const r2 = await train(...base, "--out", random);
  assert.equal(r2.code, 0, explain(r2));
  const crops = async (out: string) => {
    const path = join(out, "checkpoint.safetensors");
    return decodeCheckpoint(await Deno.readFile(path), path).train.crops;
  };
  assert.equal(await crops(fixed), "fixed");
  assert.equal(await crops(random), "random", "the default");
  // Same seed, same photos and flips, other pixels: the first step's losses differ.
  const [mf, mr] = [(await metrics(fixed))[0], (await metrics(random))[0]];
  assert.notEqual(mf.lossL1, mr.lossL1);
  // The crops decide the data a run sees, so a resume keeps the checkpoint's.
  const r3 = await train("--out", fixed, "--resume", "--crops", "random", "--max-steps", "2");
  assert.equal(r3.code, 0, explain(r3));
  assert.match(r3.stderr, /--resume: keeping the checkpoint's crops=fixed \(ignoring random\)/);
  assert.equal(await crops(fixed), "fixed");
  const bad = await train("--data", DATA, "--crops", "centre");
  assert.equal(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /--crops: "centre" is not one of fixed, random/);
  const h = await train("--help");
  assert.match(h.stdout, /--crops fixed\|random/);
});

Deno.test("--tune: kernel choices are timed between steps and cached in the user's cache folder; same losses", async () => {
  const base = ["--data", DATA, ...TINY, "--epochs", "1", "--sample-every", "1", "--max-steps", "2"];
  const plain = join(tmp, "run-untuned"), tuned = join(tmp, "run-tuned"), cache = join(tmp, "tune-cache");
  const r1 = await train(...base, "--out", plain);
  assert.equal(r1.code, 0, explain(r1));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...base, "--out", tuned, "--tune"],
    cwd: ROOT,
    env: { NO_COLOR: "1", XDG_CACHE_HOME: cache, XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const r2 = await finish(child);
  assert.equal(r2.code, 0, explain(r2));
  const saved = JSON.parse(await Deno.readTextFile(join(cache, "colorize", "autotune.json")));
  const tables = Object.values(saved.adapters as Record<string, Record<string, Record<string, unknown>>>);
  assert.ok(Object.keys(Object.values(tables[0])[0]).some((k) => k.startsWith("conv ")));
  // Every conv variant sums in the same order, so tuning changes no loss.
  const [mp, mt] = [await metrics(plain), await metrics(tuned)];
  assert.deepEqual(mt.map((r) => r.lossL1), mp.map((r) => r.lossL1));
  assert.match((await train("--help")).stdout, /--tune/);
});

/** `s` as a regular expression matching it literally. */
function literal(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("--out where nothing can be written: one line naming the folder, exit 2, before the data is decoded", async () => {
  // Cases that fail for root too (tests and CI run as root, where permission bits stop nothing).
  const file = join(tmp, "out-is-a-file");
  await Deno.writeTextFile(file, "not a folder");
  const cases = [join(file, "run"), join(file, "run", "deeper"), file];
  // /proc refuses new entries (mkdir) and files in it (the folder exists, so mkdir alone would pass).
  if (Deno.build.os === "linux") cases.push("/proc/no-such-run", "/proc");
  const data = join(tmp, "data-fresh");
  await makeData(data, 4, false);
  for (const out of cases) {
    const r = await train("--data", data, "--out", out, ...TINY);
    assert.equal(r.code, 2, `--out ${out}: ${explain(r)}`);
    assert.match(
      r.stderr,
      new RegExp(`^train: --out ${literal(out)}: [^\n]+\n$`),
      `--out ${out}: ${explain(r)}`,
    );
  }
  assert.equal(await Deno.readTextFile(file), "not a folder");
  // No decoding started: the first decoding of a folder writes its cache.
  assert.deepEqual([...Deno.readDirSync(data)].map((e) => e.name).sort(), [
    "scene_00.png",
    "scene_02.png",
    "sub",
  ]);
});

Deno.test("a start that fails leaves nothing behind in --out", async () => {
  // A new folder (and the one above it) is removed again when the data is missing.
  const parent = join(tmp, "debris-new");
  const r1 = await train("--data", join(tmp, "nope"), "--out", join(parent, "run"), ...TINY);
  assert.equal(r1.code, 2, explain(r1));
  assert.match(r1.stderr, /no such folder/);
  await assert.rejects(Deno.lstat(parent), Deno.errors.NotFound, "the new --out folder is removed");
  // A folder that existed stays, empty: no samples/ folder before there are samples.
  const existing = join(tmp, "debris-existing");
  await Deno.mkdir(existing);
  const r2 = await train("--data", join(tmp, "nope"), "--out", existing, ...TINY);
  assert.equal(r2.code, 2, explain(r2));
  assert.deepEqual([...Deno.readDirSync(existing)], []);
  // A failure once the photos are decoded (the only one is grayscale).
  const gray = join(tmp, "data-gray");
  await Deno.mkdir(gray);
  const g = trainScene(3);
  for (let i = 0; i < g.rgba.length; i += 4) g.rgba.fill(g.rgba[i + 1], i, i + 3);
  await writeImage(join(gray, "gray.png"), g);
  const out = join(tmp, "debris-decoded");
  const r3 = await train("--data", gray, "--out", out, ...TINY);
  assert.equal(r3.code, 2, explain(r3));
  assert.match(r3.stderr, /^train: data: none of the 1 files under .* is a usable colour photo/m);
  await assert.rejects(Deno.lstat(out), Deno.errors.NotFound, "the new --out folder is removed");
});

Deno.test("a value that starts with a dash: one line with node's hint to write --epochs=-1", async () => {
  const r = await train("--data", DATA, "--epochs", "-1");
  assert.equal(r.code, 2, explain(r));
  assert.match(
    r.stderr,
    /^train: Option '--epochs' argument is ambiguous\. .* use '--epochs=-XYZ'\. \(see --help\)\n$/,
  );
});

Deno.test("learning-rate decay: pix2pix's linear rule over the last N epochs", () => {
  // pix2pix: lr_l = 1 − max(0, epoch + 1 − n_epochs) / (n_epochs_decay + 1), here with 3 constant epochs
  // and 4 decaying ones (0-based epochs 3..6 → 4/5, 3/5, 2/5, 1/5).
  const f = Array.from({ length: 7 }, (_, e) => lrFactor(e, 7, 4));
  assert.deepEqual(f.map((x) => Number(x.toFixed(12))), [1, 1, 1, 0.8, 0.6, 0.4, 0.2]);
  assert.deepEqual([0, 5, 9].map((e) => lrFactor(e, 10, 0)), [1, 1, 1], "no decay: constant");
});

Deno.test("--decay-epochs: each epoch trains at its scheduled rate, also across a resume", async () => {
  const out = join(tmp, "run-decay");
  // 3 steps per epoch; 1 pretrain + 2 GAN epochs, the last 2 decaying: lr, 2/3·lr, 1/3·lr.
  const args = ["--data", DATA, ...TINY, "--lr", "3e-4", "--pretrain-epochs", "1", "--epochs", "2"];
  const r1 = await train(
    ...args,
    "--decay-epochs",
    "2",
    "--out",
    out,
    "--max-steps",
    "3",
    "--sample-every",
    "0",
  );
  assert.equal(r1.code, 0, explain(r1));
  const r2 = await train("--out", out, "--resume");
  assert.equal(r2.code, 0, explain(r2));
  assert.match(r2.stderr, /epoch 3\/3 lr 1e-4/, "the bar shows a decayed rate");
  const m = await metrics(out);
  assert.deepEqual(m.map((x) => x.step), [3, 6, 9]);
  assert.deepEqual(m.map((x) => Number(x.lr!.toPrecision(6))), [3e-4, 2e-4, 1e-4]);
  // The checkpoint keeps the base rate, so a longer resumed run recomputes the schedule from it.
  const ck = decodeCheckpoint(await Deno.readFile(join(out, "checkpoint.safetensors")), "ck");
  assert.equal(ck.options.lr, 3e-4);
});

Deno.test("--ema-decay and --keep-generators: average metrics, per-epoch generators, kept across a resume", async () => {
  const out = join(tmp, "run-ema");
  const args = ["--data", DATA, ...TINY, "--pretrain-epochs", "1", "--epochs", "1", "--sample-every", "0"];
  // No average during pretraining; it starts at the GAN epoch given on --resume.
  const r1 = await train(...args, "--out", out, "--keep-generators");
  assert.equal(r1.code, 0, explain(r1));
  const r2 = await train("--out", out, "--resume", "--epochs", "2", "--ema-decay", "0.5");
  assert.equal(r2.code, 0, explain(r2));
  assert.match(r2.stdout, /ema: the moving average of G \(decay 0\.5\) starts at step 6/);
  assert.match(
    r2.stdout,
    /step 9: .* val L1 [\d.]+ PSNR [\d.]+ dB colour \d+% {2}ema L1 [\d.]+ PSNR [\d.]+ dB colour \d+%/,
  );
  const m = await metrics(out);
  assert.deepEqual(m.map((x) => x.step), [3, 6, 9]);
  for (const x of m) {
    assert.ok(x.valColorfulness! >= 0 && x.valColorfulness! < 5, `colourfulness ${x.valColorfulness}`);
  }
  assert.equal(m[1].emaValPsnr, undefined, "no average before it was asked for");
  assert.ok(m[2].emaValPsnr! > 0 && m[2].emaValL1! > 0 && m[2].emaValColorfulness! >= 0);
  // A second decay is refused with a warning: the checkpoint's average keeps its own.
  const r3 = await train("--out", out, "--resume", "--epochs", "3", "--ema-decay", "0.9");
  assert.equal(r3.code, 0, explain(r3));
  assert.match(r3.stderr, /keeping the checkpoint's ema-decay=0\.5 \(ignoring 0\.9\)/);
  // --keep-generators was saved with the run: one generator file per epoch, the average once it exists.
  const files = [...Deno.readDirSync(join(out, "generators"))].map((e) => e.name).sort();
  assert.deepEqual(files, [
    "epoch-001.safetensors",
    "epoch-002.safetensors",
    "epoch-003.safetensors",
    "epoch-004.safetensors",
  ]);
  const g1 = decodeCheckpoint(await Deno.readFile(join(out, "generators", files[0])), files[0]);
  const g4 = decodeCheckpoint(await Deno.readFile(join(out, "generators", files[3])), files[3]);
  assert.equal(g1.generatorEma, undefined);
  assert.equal(g4.emaDecay, 0.5);
  assert.equal(g4.train.step, 12);
  assert.equal(g4.discriminator, undefined, "generator files hold no discriminator");
  const ck = decodeCheckpoint(await Deno.readFile(join(out, "checkpoint.safetensors")), "ck");
  assert.equal(ck.emaDecay, 0.5);
  const bad = await train("--data", DATA, ...TINY, "--out", join(tmp, "run-ema-bad"), "--ema-decay", "1");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--ema-decay 1: must be below 1/);
});

Deno.test("data order: split and epoch plans are pure functions of (seed, epoch)", () => {
  const { train, val } = splitTrainVal(100, 7, 0.2);
  assert.equal(val.length, 20);
  assert.equal(train.length, 80);
  assert.deepEqual([...train, ...val].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(splitTrainVal(100, 7, 0.2), { train, val }, "same seed, same split");
  assert.notDeepEqual(splitTrainVal(100, 8, 0.2).val, val, "another seed, another split");
  assert.equal(splitTrainVal(3, 0, 0.2).val.length, 1, "at least one val photo when asked for some");
  assert.equal(splitTrainVal(4, 0, 0).val.length, 0);

  const p3 = epochPlan(train, 7, 3, 16);
  assert.deepEqual(epochPlan(train, 7, 3, 16), p3, "same (seed, epoch), same batches and flips");
  assert.notDeepEqual(epochPlan(train, 7, 4, 16).batches[0].indices, p3.batches[0].indices);
  // 80 photos in batches of 16: 5 full batches, each photo once.
  assert.equal(p3.batches.length, 5);
  const seen = p3.batches.flatMap((b) => b.indices);
  assert.deepEqual([...seen].sort((a, b) => a - b), train);
  // Batches of 12: 6 full ones, the 8 left over are dropped this epoch.
  assert.equal(epochPlan(train, 7, 3, 12).batches.length, 6);
  const flips = p3.batches.flatMap((b) => b.flips);
  const share = flips.filter(Boolean).length / flips.length;
  assert.ok(share > 0.3 && share < 0.7, `flip share ${share}`);
  assert.ok(epochPlan(train, 7, 3, 16, false).batches.every((b) => b.flips.every((f) => !f)));
  assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
  assert.notEqual(mixSeed(2 ** 32), mixSeed(0), "high bits of large seeds count");
});

Deno.test("prepareImage takes the centre square, resizes, and rejects grayscale", () => {
  // 6×4: columns 0 and 5 are blue, 1..4 red → the centre 4×4 square is all red.
  const w = 6, h = 4, rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      rgba.set(x === 0 || x === 5 ? [0, 0, 255, 255] : [255, 0, 0, 255], 4 * (y * w + x));
    }
  }
  const planes = prepareImage({ width: w, height: h, rgba }, 4)!;
  assert.equal(planes.length, 3 * 16);
  assert.deepEqual([...planes.subarray(0, 16)], Array(16).fill(255), "R plane");
  assert.deepEqual([...planes.subarray(32, 48)], Array(16).fill(0), "B plane");
  assert.equal(prepareImage({ width: w, height: h, rgba }, 2)!.length, 3 * 4);
  const gray = new Uint8Array(16 * 4).fill(128);
  assert.equal(prepareImage({ width: 4, height: 4, rgba: gray }, 4), null);
});

/** A colourful w×h photo with structure everywhere (so any two different crops differ). */
function photo(w: number, h: number, k: number) {
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = (x * 7 + y * 13 + k * 31 + ((x * y) % 17) * 5) & 255;
      rgba.set([v, (x * 3 + k * 50) & 255, (y * 5 + 255 - v) & 255, 255], 4 * (y * w + x));
    }
  }
  return { width: w, height: h, rgba };
}

Deno.test("training crops: fresh each epoch, the same for the same (seed, epoch, photo), 60–100% of the short side", () => {
  const w = 300, h = 200, photos = Array.from({ length: 40 }, (_, i) => i);
  const dims = () => ({ width: w, height: h });
  const crops = (mode: "random" | "fixed", seed: number, epoch: number) =>
    trainingCrops(photos.map(dims), photos, mode, seed, epoch);
  const e3 = crops("random", 7, 3);
  assert.deepEqual(crops("random", 7, 3), e3, "same (seed, epoch): same crops");
  const e4 = crops("random", 7, 4), other = crops("random", 8, 3);
  const same = (a: Crop[], b: Crop[]) =>
    a.filter((c, i) => JSON.stringify(c) === JSON.stringify(b[i])).length;
  assert.ok(same(e3, e4) <= 1, `${same(e3, e4)} of 40 crops repeat in the next epoch`);
  assert.ok(same(e3, other) <= 1, `${same(e3, other)} of 40 crops repeat with another seed`);
  const sides = new Set<number>(), xs = new Set<number>(), ys = new Set<number>();
  for (const c of [...e3, ...e4, ...other]) {
    assert.ok(c.side >= Math.ceil(MIN_CROP * h) - 1 && c.side <= h, `side ${c.side}`);
    assert.ok(c.x >= 0 && c.x + c.side <= w && c.y >= 0 && c.y + c.side <= h, JSON.stringify(c));
    sides.add(c.side), xs.add(c.x), ys.add(c.y);
  }
  assert.ok(sides.size > 20 && xs.size > 20 && ys.size > 10, "scale and place vary");
  // --crops fixed: the centre square every epoch, as validation uses.
  const centre = centreCrop(w, h);
  assert.deepEqual(centre, { x: 50, y: 0, side: 200 });
  for (const e of [0, 1, 5]) {
    assert.ok(crops("fixed", 7, e).every((c) => JSON.stringify(c) === JSON.stringify(centre)));
  }
});

Deno.test("the loader: random crops per epoch from the cached photo, fixed validation crops, cache per size", async () => {
  const dir = join(tmp, "data-crops"), cache = join(tmp, "cache-crops");
  await Deno.mkdir(dir);
  const originals = [photo(200, 120, 0), photo(90, 150, 1), photo(64, 64, 2)];
  for (const [k, img] of originals.entries()) await writeImage(join(dir, `p${k}.png`), img);
  const S = 32, idx = [0, 1, 2];
  const ds = await prepareDataset({ dataDir: dir, size: S, cacheDir: cache, log: () => {} });
  try {
    assert.equal(ds.fromCache, false);
    // Photos are cached downscaled to a shorter side of size/0.6, never enlarged.
    assert.equal(cacheSide(S), 54);
    assert.deepEqual(idx.map((i) => ds.dims(i)), [
      { width: 90, height: 54 },
      { width: 54, height: 90 },
      { width: 54, height: 54 },
    ]);
    const batch = (mode: "random" | "fixed", epoch: number, flips?: boolean[]) =>
      loadPlanes(ds, idx, flips, trainingCrops(idx.map((i) => ds.dims(i)), idx, mode, 5, epoch));
    const e0 = await batch("random", 0), e1 = await batch("random", 1);
    assert.equal(e0.length, 3 * 3 * S * S);
    const hw3 = 3 * S * S;
    for (const n of idx) {
      assert.notDeepEqual(
        e0.subarray(n * hw3, (n + 1) * hw3),
        e1.subarray(n * hw3, (n + 1) * hw3),
        `photo ${n}`,
      );
    }
    // A pure function of (seed, epoch, photo): a resumed run (a new process reading the cache) loads the same.
    const again = await prepareDataset({ dataDir: dir, size: S, cacheDir: cache, log: () => {} });
    try {
      assert.equal(again.fromCache, true);
      const crops0 = trainingCrops(idx.map((i) => again.dims(i)), idx, "random", 5, 0);
      assert.deepEqual(await loadPlanes(again, idx, undefined, crops0), e0);
    } finally {
      again.close();
    }
    // Validation: the centre square, the same at every call, and what prepareImage makes of the photo.
    const val = await loadPlanes(ds, idx);
    assert.deepEqual(await loadPlanes(ds, idx), val);
    for (const [n, img] of originals.entries()) {
      const p = prepareImage(img, S)!;
      assert.deepEqual(
        val.subarray(n * hw3, (n + 1) * hw3),
        Float32Array.from(p, (b) => b / 255),
        `photo ${n}`,
      );
    }
    // --crops fixed: the validation images every epoch (mirrored where the plan says), as before random crops.
    for (const e of [0, 3]) assert.deepEqual(await batch("fixed", e), val, `epoch ${e}`);
    const flipped = await batch("fixed", 2, [true, false, false]);
    assert.equal(flipped[S - 1], val[0], "first pixel mirrored to the end of its row");
    assert.deepEqual(flipped.subarray(hw3), val.subarray(hw3));
    // On a smooth photo, the centre square made from the cached photo is within a level of the one
    // resized straight from the full photo (what the cache held before random crops).
    const smooth = { width: 400, height: 240, rgba: new Uint8Array(400 * 240 * 4) };
    for (let y = 0; y < 240; y++) {
      for (let x = 0; x < 400; x++) smooth.rgba.set([x / 2, y, 255 - x / 2, 255], 4 * (y * 400 + x));
    }
    const square = new Uint8Array(240 * 240 * 4);
    for (let y = 0; y < 240; y++) {
      square.set(smooth.rgba.subarray(4 * (y * 400 + 80), 4 * (y * 400 + 320)), 4 * y * 240);
    }
    const direct = resizeRgba({ width: 240, height: 240, rgba: square }, S, S).rgba;
    const viaCache = prepareImage(smooth, S)!;
    let worst = 0;
    for (let i = 0; i < S * S; i++) {
      for (let c = 0; c < 3; c++) {
        worst = Math.max(worst, Math.abs(direct[4 * i + c] - viaCache[c * S * S + i]));
      }
    }
    assert.ok(worst <= 1, `largest difference ${worst} levels`);
  } finally {
    ds.close();
  }
  // Another training size caches the photos afresh (a larger cached side); the first cache stays valid.
  const big = await prepareDataset({ dataDir: dir, size: 64, cacheDir: cache, log: () => {} });
  try {
    assert.equal(big.fromCache, false);
    assert.notEqual(big.cachePath, ds.cachePath);
    assert.deepEqual(big.dims(0), { width: 178, height: 107 });
    assert.deepEqual(big.dims(2), { width: 64, height: 64 }, "never enlarged");
  } finally {
    big.close();
  }
  const back = await prepareDataset({ dataDir: dir, size: S, cacheDir: cache, log: () => {} });
  assert.equal(back.fromCache, true);
  back.close();
});

Deno.test("renderLossCurve draws each series in its colour with gaps; renderSampleGrid lays out rows", () => {
  const count = (img: { rgba: Uint8Array }, c: number[]) => {
    let n = 0;
    for (let i = 0; i < img.rgba.length; i += 4) {
      if (img.rgba[i] === c[0] && img.rgba[i + 1] === c[1] && img.rgba[i + 2] === c[2]) n++;
    }
    return n;
  };
  const img = renderLossCurve(
    [
      { name: "L1", values: [0.4, 0.2, NaN, 0.1, 0.05], color: [0, 160, 0] },
      { name: "D", values: [null, null, 0.7, 0.6, 0.65], color: "#c00000" },
    ],
    320,
    200,
    { logY: true },
  );
  assert.deepEqual([img.width, img.height, img.rgba.length], [320, 200, 320 * 200 * 4]);
  // Lines plus the legend swatch (10×7) of each colour; the swatch alone is 70 pixels.
  assert.ok(count(img, [0, 160, 0]) > 150, `green pixels ${count(img, [0, 160, 0])}`);
  assert.ok(count(img, [192, 0, 0]) > 100, `red pixels ${count(img, [192, 0, 0])}`);
  // Nothing to draw still gives a framed chart, not an exception.
  const empty = renderLossCurve([{ name: "X", values: [NaN], color: [0, 0, 255] }], 100, 60);
  assert.equal(count(empty, [0, 0, 255]), 70, "only the legend swatch");
  assert.throws(() => renderLossCurve([], 10, 10), /too small/);

  const cell = (v: number) => ({ width: 8, height: 8, rgba: new Uint8Array(8 * 8 * 4).fill(v) });
  const grid = renderSampleGrid([{ gray: cell(10), fake: cell(20), real: cell(30) }, {
    gray: cell(40),
    fake: cell(50),
    real: cell(60),
  }]);
  assert.deepEqual([grid.width, grid.height], [3 * 8 + 4 * 4, 2 * 8 + 3 * 4]);
  const px = (x: number, y: number) => grid.rgba[4 * (y * grid.width + x)];
  // Row 2, column 3 (original) starts at x = 4 + 2·(8 + 4), y = 4 + 8 + 4.
  assert.equal(px(28, 16), 60);
  assert.equal(px(4, 4), 10);
  assert.equal(px(0, 0), 32, "gutter");
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(tmp, { recursive: true });
  } catch {
    // best effort
  }
});

const COLORIZE = join(ROOT, "cli/colorize.ts");

/** Runs `deno task colorize` on one photo with `model`; returns the result and the output path. */
async function colorize(model: string, dir: string) {
  const input = join(DATA4, "scene_00.png"), output = join(dir, "colorized.png");
  const r = await finish(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", COLORIZE, "-q", "--model", model, input, "-o", output],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  return { r, output };
}

Deno.test("--generator resnet-unet and diverse: a tiny run writes a checkpoint of that kind that colorize reads", async () => {
  const runs = [
    ["resnet-unet", ["--generator", "resnet-unet", "--size", "32", "--batch", "2"]],
    ["diverse", [
      "--generator",
      "diverse",
      "--layers",
      "3",
      "--filters",
      "4",
      "--size",
      "24",
      "--batch",
      "2",
    ]],
  ] as const;
  for (const [kind, args] of runs) {
    const out = join(tmp, `run-kind-${kind}`);
    const r = await train("--data", DATA4, "--out", out, ...args, "--ndf", "8", "--max-steps", "1");
    assert.equal(r.code, 0, explain(r));
    assert.match(
      r.stdout,
      kind === "diverse" ? /model: G diverse generator with 3 layers/ : /model: G ResNet U-Net/,
    );
    const path = join(out, "checkpoint.safetensors");
    const ck = decodeCheckpoint(await Deno.readFile(path), path);
    assert.equal(ck.generatorConfig.kind, kind);
    assert.equal(ck.train.step, 1);
    const { r: c, output } = await colorize(path, out);
    assert.equal(c.code, 0, explain(c));
    const img = await readImage(output);
    assert.equal(img.width, 32);
  }
});

Deno.test("--generator resnet-unet --self-attention: a tiny run's checkpoint has attention on and colorize reads it", async () => {
  const out = join(tmp, "run-self-attention");
  const r = await train(
    "--data",
    DATA4,
    "--out",
    out,
    "--generator",
    "resnet-unet",
    "--self-attention",
    "--size",
    "32",
    "--batch",
    "2",
    "--ndf",
    "8",
    "--max-steps",
    "1",
  );
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /model: G ResNet U-Net \(resnet18, batch norm, self-attention\)/);
  const path = join(out, "checkpoint.safetensors");
  const ck = decodeCheckpoint(await Deno.readFile(path), path);
  assert.equal(ck.generatorConfig.kind, "resnet-unet");
  assert.equal((ck.generatorConfig as ResnetUnetConfig).attention, true);
  assert.deepEqual(ck.generator.get("attention.gamma")?.length, 1);
  assert.equal(ck.train.step, 1);
  const { r: c, output } = await colorize(path, out);
  assert.equal(c.code, 0, explain(c));
  assert.equal((await readImage(output)).width, 32);
});

Deno.test("--init FILE: the generator starts from the file's (its average), D and optimizers fresh", async () => {
  // The init file: a U-Net trained 2 steps with a moving average, so its average differs from its weights.
  const src = join(tmp, "run-init-src");
  const r0 = await train("--data", DATA4, "--out", src, ...TINY, "--max-steps", "2", "--ema-decay", "0.5");
  assert.equal(r0.code, 0, explain(r0));
  const srcPath = join(src, "checkpoint.safetensors");
  const from = decodeCheckpoint(await Deno.readFile(srcPath), srcPath);
  const out = join(tmp, "run-init");
  // The architecture comes from the file: no --n-down/--ngf needed, the same ones are allowed.
  const r = await train(
    "--data",
    DATA4,
    "--out",
    out,
    "--size",
    "32",
    "--ndf",
    "8",
    "--batch",
    "4",
    "--ngf",
    "8",
    "--init",
    srcPath,
    "--max-steps",
    "0",
  );
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /init: G from .*run-init-src.*its moving average/);
  const path = join(out, "checkpoint.safetensors");
  const ck = decodeCheckpoint(await Deno.readFile(path), path);
  assert.deepEqual(ck.generatorConfig, from.generatorConfig);
  assert.equal(ck.train.step, 0);
  let differsFromRaw = false;
  for (const [name, t] of from.generatorEma!) {
    assert.deepEqual(ck.generator.get(name), t, name);
    if (!name.endsWith("num_batches_tracked")) {
      differsFromRaw ||= from.generator.get(name)!.some((x, i) => x !== t[i]);
    }
  }
  assert.ok(differsFromRaw, "the average and the raw weights of the init file should differ");
  // D is freshly initialised: not the init file's trained D; Adam starts at step 0.
  let dDiffers = false;
  for (const [name, t] of from.discriminator!) {
    if (ck.discriminator!.get(name)!.some((x, i) => x !== t[i])) dDiffers = true;
  }
  assert.ok(dDiffers, "D should be fresh, not the init file's");
  assert.equal(ck.optimizerG!.step, 0);
  // colorize reads the fine-tuned model.
  const { r: c } = await colorize(path, out);
  assert.equal(c.code, 0, explain(c));
});

Deno.test("generator options: usage errors name both options, exit 2, one line", async () => {
  const bad = join(tmp, "run-gen-bad");
  const cases: [string[], RegExp][] = [
    [
      ["--generator", "diverse", "--n-down", "5"],
      /--n-down is an option of --generator unet, not of --generator diverse/,
    ],
    [
      ["--ngf", "8", "--generator", "resnet-unet"],
      /--ngf is an option of --generator unet, not of --generator resnet-unet/,
    ],
    [["--encoder", "resnet34"], /--encoder is an option of --generator resnet-unet, not of --generator unet/],
    [
      ["--generator", "diverse", "--self-attention"],
      /--self-attention is an option of --generator resnet-unet, not of --generator diverse/,
    ],
    [
      ["--generator", "resnet-unet", "--layers", "3"],
      /--layers is an option of --generator diverse, not of --generator resnet-unet/,
    ],
    [["--generator", "gan"], /--generator: "gan" is not one of unet, resnet-unet, diverse/],
    [
      ["--generator", "resnet-unet", "--size", "48"],
      /--size 48 must be a multiple of 32 for the ResNet U-Net/,
    ],
    [
      ["--generator", "resnet-unet", "--size", "32", "--batch", "1"],
      /--batch 1 with --size 32: the ResNet U-Net's batch norm/,
    ],
    [
      ["--init", join(tmp, "nope.safetensors"), "--resume"],
      /--init FILE starts a new run .* --resume continues/,
    ],
    [["--init", join(tmp, "nope.safetensors")], /--init .*nope\.safetensors: /],
  ];
  for (const [args, re] of cases) {
    const r = await train("--data", DATA4, "--out", bad, ...args);
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  // --init with a different architecture option.
  const src = join(tmp, "run-kind-diverse", "checkpoint.safetensors");
  const r = await train("--data", DATA4, "--out", bad, "--init", src, "--n-down", "5");
  assert.equal(r.code, 2, explain(r));
  assert.match(
    r.stderr,
    /--init .*: the generator is the file's diverse generator .*, which has no --n-down/,
  );
  const r2 = await train("--data", DATA4, "--out", bad, "--init", src, "--generator", "unet");
  assert.equal(r2.code, 2, explain(r2));
  assert.match(r2.stderr, /not --generator unet/);
  assert.equal(await exists(bad), false);
  const h = await train("--help");
  for (
    const opt of ["--generator", "--encoder", "--layers", "--filters", "--noise-channels", "--init FILE"]
  ) {
    assert.match(h.stdout, new RegExp(opt));
  }
});
