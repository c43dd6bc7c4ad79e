/**
 * Autotuning on this adapter (lavapipe): with tuning on, the first call of an op at a shape runs
 * the default kernel and queues the shape; `tune()` times every candidate and records a choice;
 * later calls use it without timing anything. Every candidate gives the default's results: exactly
 * for the convolutions (same reduction order and fma), within f32 rounding for matmul (the
 * shared-memory kernel sums one product at a time, the register kernel four at once). Also the
 * JSON form of the decisions and the CLI's cache file (cli/tune_cache.ts).
 * Tuner: engine/autotune.ts; candidates: engine/ops/matmul.ts, engine/ops/conv.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose, gpu, numel, rng } from "./helpers.ts";
import { autotune, Autotuner, autotuner, ENGINE_VERSION, type TuneResult } from "../engine/autotune.ts";
import { MATMUL_VARIANTS, runMatmul } from "../engine/ops/matmul.ts";
import { conv2d, CONV_VARIANTS, convTranspose2d } from "../engine/ops/conv.ts";
import { type Tensor, tensor, tidyAsync } from "../engine/tensor.ts";
import { backward } from "../engine/autograd.ts";
import { conv2dRef, convTranspose2dRef } from "./reference/conv.ts";
import { loadTuneCache, saveTuneCache, tuneCachePath } from "../cli/tune_cache.ts";
import type { Runtime } from "../engine/gpu.ts";

const rt = await gpu();

/** Runs `fn` with the tuner on and fresh, and leaves it off and empty (as every other test expects). */
async function withTuner(fn: () => Promise<void>) {
  autotuner.clear();
  autotuner.enabled = true;
  try {
    await fn();
  } finally {
    autotuner.enabled = false;
    autotuner.clear();
  }
}

/** Names of the kernels dispatched while `fn` runs. */
async function kernelsOf(r: Runtime, fn: () => unknown): Promise<string[]> {
  const names: string[] = [];
  const original = r.dispatch;
  r.dispatch = ((kernel: { name: string }, variant: unknown, args: unknown) => {
    names.push(kernel.name);
    return (original as (...a: unknown[]) => void).call(r, kernel, variant, args);
  }) as Runtime["dispatch"];
  try {
    await fn();
  } finally {
    r.dispatch = original;
  }
  return names;
}

/** Float64 C = A·Bᵀ + bias for A [m, k], B [n, k]. */
function refLinear(a: Float64Array, b: Float64Array, bias: Float64Array, m: number, n: number, k: number) {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias[j];
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[j * k + p];
      out[i * n + j] = s;
    }
  }
  return out;
}

/** Checks a tuning result: every candidate timed (or failed), the choice one of them. */
function checkResult(r: TuneResult, candidates: readonly string[]) {
  assert.deepEqual(
    Object.keys(r.ms).sort(),
    [...candidates].sort(),
    `${r.op} ${r.shape}: every candidate timed`,
  );
  assert.ok(candidates.includes(r.choice), `${r.op} ${r.shape}: choice ${r.choice}`);
  assert.ok(typeof r.ms[r.choice] === "number" && r.ms[r.choice]! > 0, `${r.op}: the choice ran`);
  // The default ran, and a non-default choice beat it.
  const def = r.ms[candidates[0]];
  assert.ok(typeof def === "number" && def > 0);
  if (r.choice !== candidates[0]) assert.ok(r.ms[r.choice]! < def);
  console.log(
    `${r.op} ${r.shape}: ${r.choice} (${
      Object.entries(r.ms).map(([k, v]) => `${k} ${v === null ? "failed" : `${v.toFixed(2)} ms`}`).join(", ")
    })`,
  );
}

Deno.test("autotune: ENGINE_VERSION is deno.json's version", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(ENGINE_VERSION, deno.version);
});

Deno.test("autotune: matmul is tuned once, the choice is cached and used, results match", async () => {
  // linear-like: x [m, k] · Wᵀ [n, k] + bias, multiples of 4 (the vec4 register kernel) with tails
  // for the 32- and 64-wide shared tiles.
  const [m, k, n] = [72, 40, 36];
  const ad = rng(1).uniform(m * k), bd = rng(2).uniform(n * k), biasd = rng(3).uniform(n);
  const ref = refLinear(ad, bd, biasd, m, n, k);
  // K = 40 products of values in [-1, 1]: K²·2⁻²⁴ ≈ 1e-4 bounds the f32 error of either summation.
  const tol = { atol: 1e-4 };
  await tidyAsync(async () => {
    const a = tensor(Float32Array.from(ad), [m, k]);
    const b = tensor(Float32Array.from(bd), [n, k]);
    const bias = tensor(Float32Array.from(biasd));
    const run = () => runMatmul(a, b, { transB: true, bias });
    const base = await run().data();
    assertClose(base, ref, tol, "default");
    await withTuner(async () => {
      // First use: the default kernel runs and the shape is queued; nothing is timed yet.
      let first: Tensor | null = null;
      const k1 = await kernelsOf(rt, () => first = run());
      assert.deepEqual(k1, ["matmul"]);
      assert.deepEqual(await first!.data(), base, "the first call runs the default kernel");
      assert.equal(autotuner.pending, 1);
      assert.equal(autotuner.timedLaunches, 0);

      const results = await autotuner.tune();
      assert.equal(results.length, 1);
      const [r] = results;
      assert.equal(r.op, "matmul");
      assert.equal(r.shape, "72x40x36 tB bias");
      checkResult(r, MATMUL_VARIANTS);
      assert.equal(autotuner.choice("matmul", r.shape), r.choice);
      assert.equal(autotuner.pending, 0);
      const timed = autotuner.timedLaunches;
      assert.ok(timed >= MATMUL_VARIANTS.length);

      // Second use: the recorded choice runs, nothing is queued or timed.
      let second: Tensor | null = null;
      const k2 = await kernelsOf(rt, () => second = run());
      assert.deepEqual(k2, [r.choice === "register" ? "matmul" : "matmulShared"]);
      assert.equal(autotuner.hits, 1);
      assert.equal(autotuner.pending, 0);
      assert.deepEqual(await autotuner.tune(), []);
      assert.equal(autotuner.timedLaunches, timed, "a cached choice times nothing");
      assertClose(await second!.data(), base, tol, `tuned (${r.choice}) vs default`);

      // Every candidate, pinned, against the default and the float64 reference.
      for (const v of MATMUL_VARIANTS) {
        autotuner.set("matmul", r.shape, v);
        const y = await run().data();
        assertClose(y, base, tol, `${v} vs default`);
        assertClose(y, ref, tol, `${v} vs float64`);
      }
      assert.equal(autotuner.timedLaunches, timed);
    });
  });
});

Deno.test("autotune: conv2d and convTranspose2d (forward and input gradients) tuned, cached, equal", async () => {
  // conv2d forward and its dx (the transposed kernel), convTranspose2d forward and its dx (the
  // direct kernel): four shapes, two ops. Channels past one 32-wide tile, pixels past one 64-wide.
  const opts = { stride: 2, padding: 1 };
  const xs = [2, 6, 12, 10], ws = [40, 6, 4, 4];
  const ts = [2, 40, 6, 5], wts = [40, 6, 4, 4];
  const xd = rng(4).uniform(numel(xs)), wd = rng(5).uniform(numel(ws)), bd = rng(6).uniform(40);
  const td = rng(7).uniform(numel(ts)), wtd = rng(8).uniform(numel(wts)), btd = rng(9).uniform(6);
  const o = { stride: [2, 2] as [number, number], padding: [1, 1] as [number, number] };
  const refY = conv2dRef(xd, xs, wd, ws, bd, o);
  const refT = convTranspose2dRef(td, ts, wtd, wts, btd, o);
  // Up to Cin·kh·kw = 640 products: see tests/conv_test.ts for this tolerance.
  const FWD = { atol: 1e-5, rtol: 2e-6 };
  /** y, dx of conv2d, then y, dx of convTranspose2d, as arrays. */
  const step = async (): Promise<Float32Array[]> => {
    let out: Float32Array[] = [];
    await tidyAsync(async () => {
      const x = tensor(Float32Array.from(xd), xs), t = tensor(Float32Array.from(td), ts);
      x.requiresGrad = t.requiresGrad = true;
      const y = conv2d(x, tensor(Float32Array.from(wd), ws), tensor(Float32Array.from(bd)), opts);
      const z = convTranspose2d(t, tensor(Float32Array.from(wtd), wts), tensor(Float32Array.from(btd)), opts);
      backward(y);
      backward(z);
      out = [await y.data(), await x.grad!.data(), await z.data(), await t.grad!.data()];
    });
    return out;
  };
  const base = await step();
  assertClose(base[0], refY, FWD, "conv2d default");
  assertClose(base[2], refT, FWD, "convTranspose2d default");
  await withTuner(async () => {
    assert.deepEqual(await step(), base, "first use: the default kernels");
    assert.equal(autotuner.pending, 4);
    const results = await autotuner.tune();
    assert.deepEqual(results.map((r) => r.op).sort(), ["conv", "conv", "convTranspose", "convTranspose"]);
    for (const r of results) checkResult(r, CONV_VARIANTS);
    const timed = autotuner.timedLaunches;
    // Tuned: the choices run, results are bit-identical to the default kernels'.
    assert.deepEqual(await step(), base, "tuned choices");
    assert.equal(autotuner.hits, 4);
    assert.deepEqual(await autotuner.tune(), []);
    assert.equal(autotuner.timedLaunches, timed, "cached choices time nothing");
    // Every candidate pinned for all four shapes: still bit-identical.
    for (const v of CONV_VARIANTS) {
      for (const r of results) autotuner.set(r.op, r.shape, v);
      const kernels = await kernelsOf(rt, step);
      const shared = kernels.filter((name) => name.endsWith("Shared")).length;
      assert.equal(shared, v === "register" ? 0 : 4, `${v}: ${kernels.join(", ")}`);
      assert.deepEqual(await step(), base, `all convolutions ${v}`);
    }
  });
});

Deno.test("autotune: autotune(warmUp) tunes what the warm-up ran; choices survive JSON", async () => {
  await withTuner(async () => {
    autotuner.enabled = false;
    const a = tensor(Float32Array.from(rng(10).uniform(16 * 8)), [16, 8]);
    const b = tensor(Float32Array.from(rng(11).uniform(8 * 12)), [8, 12]);
    try {
      const results = await autotune(() => runMatmul(a, b).dispose());
      assert.equal(autotuner.enabled, true, "autotune turns tuning on");
      assert.deepEqual(results.map((r) => `${r.op} ${r.shape}`), ["matmul 16x8x12"]);
      const json = JSON.parse(JSON.stringify(autotuner.toJSON()));
      assert.equal(json.format, 1);
      const entry = json.adapters[rt.adapterName][ENGINE_VERSION]["matmul 16x8x12"];
      assert.equal(entry.choice, results[0].choice);
      assert.deepEqual(Object.keys(entry.ms), [...MATMUL_VARIANTS]);

      // Another tuner loads it (plus another adapter's and version's entries and junk, skipped).
      json.adapters["other adapter"] = {
        [ENGINE_VERSION]: { "matmul 16x8x12": { choice: "shared64", ms: {} } },
      };
      json.adapters[rt.adapterName]["0.0.0-old"] = { "matmul 16x8x12": { choice: "shared32", ms: {} } };
      json.adapters[rt.adapterName][ENGINE_VERSION]["bad"] = { choice: 3 };
      const other = new Autotuner();
      assert.equal(other.load(json), 3);
      assert.equal(other.choice("matmul", "16x8x12"), results[0].choice);
      assert.equal(other.load({ format: 2, adapters: {} }), 0);
      assert.equal(other.load("nonsense"), 0);

      // A choice that is not a candidate (an edited file) is ignored: the shape is queued again.
      autotuner.set("matmul", "16x8x12", "no-such-kernel");
      runMatmul(a, b).dispose();
      assert.equal(autotuner.pending, 1);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

Deno.test("autotune: a candidate that fails is left out, the others decide", async () => {
  await withTuner(async () => {
    const bench = () => ({
      run(name: string) {
        if (name === "broken") throw new Error("cannot run this shape");
      },
      dispose() {},
    });
    assert.equal(autotuner.choose("fake", "1", ["a", "broken", "c"], bench), "a");
    const [r] = await autotuner.tune();
    assert.equal(r.ms.broken, null);
    assert.notEqual(r.choice, "broken");
    assert.equal(autotuner.choose("fake", "1", ["a", "broken", "c"], bench), r.choice);
  });
});

Deno.test("tune cache: the CLI's file in the cache folder, saved atomically, merged, loaded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tune_cache_" });
  try {
    const env = (vars: Record<string, string>) => (name: string) => vars[name];
    assert.equal(
      tuneCachePath(env({ XDG_CACHE_HOME: dir, HOME: "/h" })),
      join(dir, "colorize", "autotune.json"),
    );
    assert.equal(tuneCachePath(env({ HOME: "/h" })), join("/h", ".cache", "colorize", "autotune.json"));
    assert.equal(tuneCachePath(env({})), null);
    const path = tuneCachePath(env({ XDG_CACHE_HOME: dir }))!;

    // Missing file: nothing loaded, no warning.
    const t1 = new Autotuner();
    assert.deepEqual(await loadTuneCache(path, t1), { path, entries: 0 });
    // Another process saved another adapter's decision first; this tuner's are added to it.
    await Deno.mkdir(join(dir, "colorize"));
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        format: 1,
        adapters: { gpu2: { [ENGINE_VERSION]: { "conv x": { choice: "shared64", ms: {} } } } },
      }),
    );
    t1.load({
      format: 1,
      adapters: { [rt.adapterName]: { [ENGINE_VERSION]: { "matmul y": { choice: "shared32", ms: {} } } } },
    });
    await saveTuneCache(path, t1);
    const saved = JSON.parse(await Deno.readTextFile(path));
    assert.equal(saved.adapters.gpu2[ENGINE_VERSION]["conv x"].choice, "shared64");
    assert.equal(saved.adapters[rt.adapterName][ENGINE_VERSION]["matmul y"].choice, "shared32");
    assert.deepEqual(
      [...Deno.readDirSync(join(dir, "colorize"))].map((e) => e.name),
      ["autotune.json"],
      "no temp file left",
    );

    const t2 = new Autotuner();
    assert.deepEqual(await loadTuneCache(path, t2), { path, entries: 2 });
    assert.equal(t2.choice("matmul", "y"), "shared32");

    // A malformed file is ignored with a warning, and the next save replaces it.
    await Deno.writeTextFile(path, "{ not json");
    const bad = await loadTuneCache(path, new Autotuner());
    assert.equal(bad.entries, 0);
    assert.match(bad.warning ?? "", /autotune cache .*autotune\.json ignored: /);
    assert.match(
      (await loadTuneCache(path.replace(".json", ".x"), new Autotuner())).warning ?? "none",
      /none/,
    );
    await Deno.writeTextFile(path, "[1, 2]");
    assert.match((await loadTuneCache(path, new Autotuner())).warning ?? "", /not an autotune cache/);
    await saveTuneCache(path, t2);
    assert.equal((await loadTuneCache(path, new Autotuner())).entries, 2);
    // Without a cache folder nothing is read or written.
    assert.deepEqual(await loadTuneCache(null, t2), { path: null, entries: 0 });
    await saveTuneCache(null, t2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
