/**
 * Kernel benchmarks: `deno task bench [--full] [--runs=N] [--warmup=N] [--only=text]`.
 *
 * Prints the adapter, then one row per case: median milliseconds and GFLOPS.
 * The default (quick) sizes finish in about a minute on the lavapipe software
 * adapter; --full uses the layer shapes of the 256×256 pix2pix U-Net.
 * Results also go to bench/results/latest.json.
 */

import { initGpu, runtime } from "../engine/gpu.ts";
import { noGrad } from "../engine/autograd.ts";
import { Tensor } from "../engine/tensor.ts";
import { uniform_ } from "../engine/init.ts";
import { fill } from "../engine/ops/elementwise.ts";
import { manualSeed } from "../engine/random.ts";
import { matmul } from "../engine/ops/linear.ts";
import { conv2d, convTranspose2d } from "../engine/ops/conv.ts";
import { batchNorm } from "../engine/ops/norm.ts";
import { type Case, formatTable, measure, type Result } from "./harness.ts";

const args = new Map(Deno.args.map((a) => {
  const [k, v = "true"] = a.replace(/^--/, "").split("=");
  return [k, v] as const;
}));
const full = args.has("full");
const timing = { warmup: Number(args.get("warmup") ?? 2), runs: Number(args.get("runs") ?? 5) };
const only = args.get("only");

/** A tensor of U(-1, 1) values: realistic data, no zeros or denormals that a CPU adapter could shortcut. */
function rand(shape: number[], requiresGrad = false): Tensor {
  const t = uniform_(Tensor.empty(shape), -1, 1);
  t.requiresGrad = requiresGrad;
  return t;
}

/**
 * Times one backward function of `y`'s op alone (no forward, no graph walk): the
 * gradients for exactly the inputs in `wrt`, given a random upstream gradient.
 * `inputs` are freed with `y` afterwards.
 */
function gradOf(y: Tensor, wrt: Tensor[], inputs: Tensor[]) {
  const node = y.node;
  if (!node) throw new Error(`bench: ${y} has no graph node`);
  const g = rand([...y.shape]);
  const needs = node.inputs.map((t) => !!t && wrt.includes(t));
  return {
    run: () => noGrad(() => node.backward(g, needs)).filter((t) => t !== null),
    dispose: () => [...inputs, y, g].forEach((t) => t.dispose()),
  };
}

/** One one-element dispatch: the fixed cost of a submit and a wait, included in every other row. */
const overheadCase: Case = {
  op: "submit + wait",
  shape: "1 tiny dispatch",
  setup: () => ({ run: () => fill([1], 0), dispose: () => {} }),
};

function matmulCase(m: number, k: number, n: number): Case {
  return {
    op: "matmul",
    shape: `${m}×${k} · ${k}×${n}`,
    flops: 2 * m * n * k,
    setup() {
      const a = rand([m, k]), b = rand([k, n]);
      return { run: () => noGrad(() => matmul(a, b)), dispose: () => [a, b].forEach((t) => t.dispose()) };
    },
  };
}

/** A 4×4, stride-2, padding-1 layer as the U-Net uses it: `hw` is the input height and width. */
interface Layer {
  cin: number;
  cout: number;
  hw: number;
}

/**
 * Forward, input-gradient and weight-gradient cases for a conv or transposed conv.
 * Each pass does the same multiply-adds: 2·N·Cout·OH·OW·Cin·k² for the conv, and
 * 2·N·Cin·IH·IW·Cout·k² for the transposed conv (the conv it is the gradient of).
 */
function convCases(kind: "conv2d" | "convTranspose2d", { cin, cout, hw }: Layer): Case[] {
  const k = 4, n = 1;
  const down = kind === "conv2d";
  const ohw = down ? hw / 2 : hw * 2;
  const small = down ? ohw : hw;
  const flops = 2 * n * cin * cout * small * small * k * k;
  const shape = `${cin}→${cout} ${hw}²→${ohw}²`;
  const wShape = down ? [cout, cin, k, k] : [cin, cout, k, k];
  const op = (x: Tensor, w: Tensor) =>
    down
      ? conv2d(x, w, null, { stride: 2, padding: 1 })
      : convTranspose2d(x, w, null, { stride: 2, padding: 1, outputPadding: 0 });
  const pass = (label: string, wrt: "x" | "w" | null): Case => ({
    op: `${kind} ${label}`,
    shape,
    flops,
    setup() {
      const x = rand([n, cin, hw, hw], wrt === "x"), w = rand(wShape, wrt === "w");
      if (!wrt) {
        return {
          run: () => noGrad(() => op(x, w)),
          dispose: () => [x, w].forEach((t) => t.dispose()),
        };
      }
      return gradOf(op(x, w), [wrt === "x" ? x : w], [x, w]);
    },
  });
  return [pass("fwd", null), pass("dx", "x"), pass("dw", "w")];
}

/** Training-mode batch norm: forward (statistics + normalise) and backward (dx, dγ, dβ) separately. */
function batchNormCases(shape: number[]): Case[] {
  const c = shape[1];
  const make = () => {
    const x = rand(shape, true), w = rand([c], true), b = rand([c], true);
    const mean = rand([c]), variance = uniform_(Tensor.empty([c]), 0.5, 1.5);
    const fwd = () => batchNorm(x, mean, variance, w, b, { training: true, momentum: 0.1, eps: 1e-5 });
    return { fwd, all: [x, w, b, mean, variance] };
  };
  const label = `[${shape.join(", ")}]`;
  return [
    {
      op: "batchNorm fwd",
      shape: label,
      setup() {
        const { fwd, all } = make();
        return { run: () => noGrad(fwd), dispose: () => all.forEach((t) => t.dispose()) };
      },
    },
    {
      op: "batchNorm bwd",
      shape: label,
      setup() {
        const { fwd, all } = make();
        return gradOf(fwd(), all.slice(0, 3), all);
      },
    },
  ];
}

/** Encoder convs and decoder transposed convs of the 256×256 U-Net (decoder inputs include the skip). */
const FULL = {
  conv: [
    { cin: 1, cout: 64, hw: 256 },
    { cin: 64, cout: 128, hw: 128 },
    { cin: 128, cout: 256, hw: 64 },
    { cin: 256, cout: 512, hw: 32 },
    { cin: 512, cout: 512, hw: 2 },
  ],
  convT: [
    { cin: 1024, cout: 256, hw: 16 },
    { cin: 512, cout: 128, hw: 32 },
    { cin: 256, cout: 64, hw: 64 },
    { cin: 128, cout: 2, hw: 128 },
  ],
};
/** The same layers at half the image size, so the quick run stays short on a software adapter. */
const QUICK = {
  conv: FULL.conv.map((l) => ({ ...l, hw: Math.max(2, l.hw / 2) })),
  convT: [{ cin: 512, cout: 256, hw: 16 }, { cin: 128, cout: 2, hw: 64 }],
};

const sizes = full ? FULL : QUICK;
const cases: Case[] = [
  overheadCase,
  matmulCase(1024, 1024, 1024),
  ...sizes.conv.flatMap((l) => convCases("conv2d", l)),
  ...sizes.convT.flatMap((l) => convCases("convTranspose2d", l)),
  ...batchNormCases([1, 64, 128, 128]),
].filter((c) => !only || `${c.op} ${c.shape}`.includes(only));

await initGpu();
const adapter = runtime().adapterName;
console.log(`adapter: ${adapter}`);
console.log(
  `sizes: ${full ? "full (256×256 U-Net layers)" : "quick (pass --full for 256×256 U-Net layers)"}; ` +
    `median of ${timing.runs} runs after ${timing.warmup} warm-ups; conv kernels 4×4, stride 2, padding 1, N=1\n`,
);

manualSeed(1);
const results: Result[] = [];
for (const c of cases) {
  const r = await measure(c, timing);
  results.push(r);
  const outcome = r.error ? `error: ${r.error}` : `${r.ms.toFixed(1)} ms`;
  await Deno.stderr.write(new TextEncoder().encode(`  ${c.op} ${c.shape}: ${outcome}\n`));
}
console.log(formatTable(results));
const failed = results.filter((r) => r.error);
for (const r of failed) console.log(`\nerror in ${r.op} ${r.shape}: ${r.error}`);

const outDir = new URL("./results/", import.meta.url);
await Deno.mkdir(outDir, { recursive: true });
const round = (v: number | null) => (v === null || Number.isNaN(v) ? null : Math.round(v * 1000) / 1000);
const report = {
  date: new Date().toISOString(),
  adapter,
  deno: Deno.version.deno,
  sizes: full ? "full" : "quick",
  timing,
  rows: results.map((r) => ({
    ...r,
    ms: round(r.ms),
    gflops: round(r.gflops),
    samplesMs: r.samplesMs.map(round),
  })),
};
await Deno.writeTextFile(new URL("latest.json", outDir), JSON.stringify(report, null, 2) + "\n");
console.log(`\nwrote bench/results/latest.json`);
if (failed.length) Deno.exit(1);
