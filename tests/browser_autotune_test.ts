/**
 * Autotuning in a real browser and in Deno: one workload (tuneWorkload below) runs in headless
 * Chromium on its SwiftShader WebGPU adapter, on the bundle built from the unchanged sources
 * (web/dist/engine.js), and in Deno on lavapipe. Each time: a linear layer (the matmul kernels), a
 * conv2d and a convTranspose2d are run untuned, then tuned with `autotune(warmUp)`; the tuner must
 * decide every shape, answer the second call from its cache without timing anything, and every
 * candidate (each pinned in turn) must give the untuned results: bit-identical for the
 * convolutions, within f32 rounding for matmul.
 *
 * Run as a program (`deno run -A tests/browser_autotune_test.ts CONFIG`) this file is its own
 * browser driver, printing what the page reported as JSON: playwright-core reads os.homedir() and
 * /proc/sys at load time, which needs more permissions than the tests have (as in
 * tests/browser/driver.ts). It only drives the given Chromium; it never downloads one.
 */

import assert from "node:assert/strict";

/** One op's decision and how every pinned candidate compared with the untuned result. */
interface OpReport {
  op: string;
  shape: string;
  choice: string;
  ms: Record<string, number | null>;
  /** Largest |candidate − untuned| by candidate, and whether all values were equal. */
  pinned: Record<string, { maxDiff: number; equal: boolean }>;
}

/** What {@link tuneWorkload} reports. */
interface WorkloadReport {
  adapter: string;
  version: string;
  ops: OpReport[];
  /** Candidate launches timed by the first tune, and in all after it (must not change). */
  timedByTune: number;
  timedAfter: number;
  /** Tuner state after the second (tuned) run: calls answered from the cache, shapes queued. */
  hits: number;
  pending: number;
  /** Decisions made by a second tune() after the tuned run (none: nothing was new). */
  retuned: number;
  /** Largest |tuned − untuned| per op of the tuned run. */
  tunedDiff: number[];
  /** Wall time of the three ops (with readbacks) with each candidate pinned, compiled already. */
  pinnedMs: Record<string, number>;
}

/**
 * The workload, self-contained (the browser gets its source text): loads the engine from
 * `engineUrl`, computes three ops untuned, tunes them, reruns them, then pins every candidate.
 */
async function tuneWorkload(engineUrl: string): Promise<WorkloadReport> {
  const E: typeof import("../mod.ts") = await import(engineUrl);
  await E.initGpu();
  const fixed = (n: number, seed: number) => {
    const rng = new E.Rng(seed);
    return Float32Array.from({ length: n }, () => 2 * rng.next() - 1);
  };
  const t = (shape: number[], seed: number) => E.tensor(fixed(shape.reduce((a, b) => a * b), seed), shape);
  const inputs = {
    x: t([72, 40], 1),
    w: t([36, 40], 2),
    b: t([36], 3),
    img: t([2, 6, 12, 10], 4),
    k: t([40, 6, 4, 4], 5),
    kb: t([40], 6),
    up: t([2, 40, 6, 5], 7),
    kt: t([40, 6, 4, 4], 8),
    ktb: t([6], 9),
  };
  const i = inputs;
  const opts = { stride: 2, padding: 1 };
  const ops = [
    () => E.linear(i.x, i.w, i.b),
    () => E.conv2d(i.img, i.k, i.kb, opts),
    () => E.convTranspose2d(i.up, i.kt, i.ktb, opts),
  ];
  const runAll = async () => {
    const out: Float32Array[] = [];
    for (const op of ops) {
      const y = E.noGrad(op);
      out.push(await y.data());
      y.dispose();
    }
    return out;
  };
  const diff = (a: Float32Array, b: Float32Array) => {
    let m = 0, equal = a.length === b.length;
    for (let j = 0; j < a.length; j++) {
      m = Math.max(m, Math.abs(a[j] - b[j]));
      if (a[j] !== b[j]) equal = false;
    }
    return { maxDiff: m, equal };
  };
  const tuner = E.autotuner;
  tuner.clear();
  tuner.enabled = false;
  try {
    const base = await runAll();
    const results = await E.autotune(() => runAll());
    const timedByTune = tuner.timedLaunches;
    const tuned = await runAll();
    const hits = tuner.hits, pending = tuner.pending;
    const retuned = (await tuner.tune()).length;
    const ops: OpReport[] = results.map((r) => ({ ...r, pinned: {} }));
    const pinnedMs: Record<string, number> = {};
    for (const candidate of Object.keys(results[0].ms)) {
      for (const r of results) tuner.set(r.op, r.shape, candidate);
      const t0 = performance.now();
      const got = await runAll();
      pinnedMs[candidate] = performance.now() - t0;
      // Ops and results are in the same order: linear, conv2d, convTranspose2d.
      const byOp = ["matmul", "conv", "convTranspose"];
      for (const o of ops) o.pinned[candidate] = diff(got[byOp.indexOf(o.op)], base[byOp.indexOf(o.op)]);
    }
    return {
      adapter: E.runtime().adapterName,
      version: E.ENGINE_VERSION,
      ops,
      timedByTune,
      timedAfter: tuner.timedLaunches,
      hits,
      pending,
      retuned,
      tunedDiff: tuned.map((y, j) => diff(y, base[j]).maxDiff),
      pinnedMs,
    };
  } finally {
    tuner.enabled = false;
    tuner.clear();
    for (const v of Object.values(inputs)) v.dispose();
  }
}

/** The judgements, the same for both adapters. */
function check(r: WorkloadReport, where: string) {
  for (const o of r.ops) {
    console.log(
      `${where}: ${o.op} ${o.shape}: ${o.choice} (${
        Object.entries(o.ms).map(([k, v]) => `${k} ${v === null ? "failed" : `${v.toFixed(2)} ms`}`).join(
          ", ",
        )
      })`,
    );
  }
  console.log(
    `${where}: the three ops, each candidate pinned (compiled, with readbacks): ${
      Object.entries(r.pinnedMs).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ")
    }`,
  );
  assert.deepEqual(
    r.ops.map((o) => o.op).sort(),
    ["conv", "convTranspose", "matmul"],
    `${where}: every op tuned`,
  );
  for (const o of r.ops) {
    const candidates = Object.keys(o.ms);
    assert.deepEqual(candidates, ["register", "shared32", "shared64"], `${where} ${o.op}: candidates`);
    assert.ok(candidates.includes(o.choice), `${where} ${o.op}: choice ${o.choice}`);
    assert.ok((o.ms[o.choice] ?? 0) > 0, `${where} ${o.op}: the choice ran`);
    for (const c of candidates) {
      const p = o.pinned[c];
      // Convolutions: same reduction order and fma in every kernel, so equal. Matmul: sums of 40
      // products in [-1, 1], f32 error below K²·2⁻²⁴ ≈ 1e-4 for either summation order.
      if (o.op === "matmul") assert.ok(p.maxDiff <= 1e-4, `${where} matmul ${c}: off by ${p.maxDiff}`);
      else assert.ok(p.equal, `${where} ${o.op} ${c}: differs by up to ${p.maxDiff} from the untuned result`);
    }
  }
  assert.equal(r.pending, 0, `${where}: nothing queued after tuning`);
  assert.equal(r.hits, 3, `${where}: the tuned run used the cache`);
  assert.equal(r.retuned, 0, `${where}: nothing to tune the second time`);
  assert.ok(r.timedByTune > 0, `${where}: candidates were timed`);
  assert.equal(r.timedAfter, r.timedByTune, `${where}: cached choices time nothing`);
  assert.ok(r.tunedDiff[0] <= 1e-4 && r.tunedDiff[1] === 0 && r.tunedDiff[2] === 0, `${where}: tuned run`);
}

/** What the test passes to the driver. */
interface DriverConfig {
  base: string;
  chromium: string;
  args: string[];
  timeout: number;
}

/** Driver mode: opens a page of the served origin and runs the workload in it. */
async function drive(
  config: DriverConfig,
): Promise<{ result?: WorkloadReport; error?: string; log: string[] }> {
  const { chromium } = await import("playwright-core");
  const log: string[] = [];
  const profile = await Deno.makeTempDir({ prefix: "browser_profile_" });
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium,
    headless: true,
    args: config.args,
  });
  ctx.setDefaultTimeout(config.timeout);
  try {
    const page = await ctx.newPage();
    page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => log.push(`page error: ${e.message}`));
    // Any document of the served origin will do (127.0.0.1 is a secure context, so WebGPU works):
    // the bundle itself, shown as text, then imported as a module.
    const engine = `${config.base}/web/dist/engine.js`;
    await page.goto(engine);
    const result = await page.evaluate(tuneWorkload, engine);
    return { result, log };
  } catch (e) {
    return { error: e instanceof Error ? e.stack ?? e.message : String(e), log };
  } finally {
    await ctx.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await drive(JSON.parse(Deno.args[0]) as DriverConfig)));
} else {
  const { fileURLToPath } = await import("node:url");
  const { join } = await import("node:path");
  const { serveStatic } = await import("../cli/serve.ts");
  const { bundle } = await import("../cli/bundle.ts");
  const { gpu } = await import("./helpers.ts");
  const ROOT = fileURLToPath(new URL("..", import.meta.url));
  const { CHROMIUM, CHROMIUM_ARGS } = await import("./browser/chromium.ts");

  Deno.test("autotune on lavapipe (Deno): decided, cached, every candidate gives the untuned results", async () => {
    await gpu();
    const r = await tuneWorkload(new URL("../mod.ts", import.meta.url).href);
    check(r, "lavapipe");
  });

  Deno.test({
    name: "autotune in Chromium (SwiftShader): decided, cached, every candidate gives the untuned results",
    // The static server outlives the test's own ops until it is aborted.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      try {
        await Deno.stat(CHROMIUM);
      } catch {
        throw new Error(
          `the browser tests need Chromium at ${CHROMIUM}: install it with "apt-get install -y chromium"`,
        );
      }
      await bundle(ROOT);
      const ac = new AbortController();
      const server = serveStatic({ root: ROOT, port: 0, signal: ac.signal });
      let out: Awaited<ReturnType<typeof drive>>;
      try {
        const config: DriverConfig = {
          base: `http://127.0.0.1:${server.addr.port}`,
          chromium: CHROMIUM,
          args: [...CHROMIUM_ARGS],
          timeout: 120_000,
        };
        const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", join(ROOT, "tests", "browser_autotune_test.ts"), JSON.stringify(config)],
          cwd: ROOT,
          env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(300_000),
        }).output();
        const err = new TextDecoder().decode(stderr);
        assert.equal(code, 0, `the browser driver failed (exit ${code}):\n${err}`);
        out = JSON.parse(new TextDecoder().decode(stdout)) as Awaited<ReturnType<typeof drive>>;
      } finally {
        ac.abort();
        await server.finished;
      }
      assert.ok(out.result && !out.error, `in the browser: ${out.error}\n${out.log.join("\n")}`);
      console.log(`browser adapter: "${out.result.adapter}"`);
      check(out.result, "SwiftShader");
    },
  });
}
