/**
 * Benchmarks, ours side by side with TensorFlow.js WebGPU on the same adapter and with PyTorch on the
 * same CPU: `deno task bench [--full] [--no-tfjs] [--no-torch] [--profile] [--threads=N] [--runs=N]
 *   [--warmup=N] [--model-runs=N] [--only=text] [--size=N --ngf=N --ndf=N --n-down=N --batch=N]
 *   [--memory-steps=N] [--no-models] [--no-kernels] [--no-tfjs-memory] [--out=name.json]`.
 *
 * Prints the adapters, then kernel rows (median ms, GFLOPS, share of the matmul ceiling, TF.js ms
 * and GFLOPS, and our speed over theirs), then model rows: a full pix2pix training step and a
 * generator inference (ms, GFLOPS, images/s, peak GPU bytes). The default runs the kernel shapes at
 * half the 256×256 U-Net's sizes and the small model (--size etc. change it) in a few minutes on the
 * lavapipe software adapter; --full adds the 256×256 layer shapes and the 256×256 ngf 64 model.
 * When Debian's python3-torch is installed, the matmul 1024³ row and the model rows also run in
 * PyTorch (bench/pytorch_ref.py, CPU, --threads threads, OpenBLAS); otherwise its column says why not.
 * --profile adds where a training step's time goes: GPU time per kernel (timestamp queries), the
 * dispatch and submit counts, what a submit + wait costs, and PyTorch's per-op profile.
 * --threads=N gives both sides N CPU threads (default 2); the "cpu" ratio compares process CPU time,
 * which other jobs on a shared machine stretch less than wall time (with 1 thread, hardly at all).
 * --memory-steps=N trains the small model N steps and checks that GPU memory stays flat.
 * Results also go to bench/results/latest.json.
 */

import { initGpu, runtime } from "../engine/gpu.ts";
import { noGrad } from "../engine/autograd.ts";
import { Tensor } from "../engine/tensor.ts";
import { uniform_ } from "../engine/init.ts";
import { fill } from "../engine/ops/buffers.ts";
import { manualSeed } from "../engine/random.ts";
import { matmul } from "../engine/ops/matmul.ts";
import { conv2d, convTranspose2d } from "../engine/ops/conv.ts";
import { batchNorm } from "../engine/ops/norm.ts";
import {
  type Case,
  type CostRow,
  type Engine,
  formatTable,
  measure,
  ourEngine,
  type Result,
  submitCost,
} from "./harness.ts";
import {
  describe,
  FULL_MODEL,
  inferenceCase,
  memoryOverSteps,
  type MemorySample,
  type ModelConfig,
  profileStep,
  SMALL_MODEL,
  type StepMemory,
  stepMemory,
  type StepProfile,
  trainStepCase,
} from "./pix2pix.ts";
import { ompWaitPolicy, torchProfile, type TorchReport, torchRow, torchUnavailable } from "./pytorch.ts";

const args = new Map(Deno.args.map((a) => {
  const [k, v = "true"] = a.replace(/^--/, "").split("=");
  return [k, v] as const;
}));
const full = args.has("full");
const timing = { warmup: Number(args.get("warmup") ?? 2), runs: Number(args.get("runs") ?? 5) };
const only = args.get("only");
const modelTiming = {
  warmup: Number(args.get("model-warmup") ?? 1),
  runs: Number(args.get("model-runs") ?? 3),
};
const withTfjs = !args.has("no-tfjs");
const withTorch = !args.has("no-torch");
/**
 * CPU threads of both sides: lavapipe's LP_NUM_THREADS (read when the device is made, so set before
 * initGpu; an LP_NUM_THREADS already in the environment wins unless --threads is given) and
 * PyTorch's torch.set_num_threads. 2 = this machine's cores.
 */
const threads = Number(args.get("threads") ?? 2);
if (args.has("threads") || Deno.env.get("LP_NUM_THREADS") === undefined) {
  Deno.env.set("LP_NUM_THREADS", String(threads));
}
const profile = args.has("profile");
const noModels = args.has("no-models");
const noKernels = args.has("no-kernels");
const memorySteps = Number(args.get("memory-steps") ?? 0);
/** TF.js's step peak costs two more TF.js steps (minutes at 256×256 on a CPU adapter). */
const tfjsMemory = !args.has("no-tfjs-memory");

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

/**
 * Training-mode batch norm: forward (statistics + normalise), backward alone (dx, dγ, dβ), and
 * forward + backward, the row TF.js can be compared on (it cannot run a composite's gradient alone).
 */
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
    {
      op: "batchNorm fwd+bwd",
      shape: label,
      setup() {
        const { fwd, all } = make();
        const g = rand(shape);
        return {
          run() {
            const y = fwd();
            const needs = y.node!.inputs.map((t) => !!t && all.slice(0, 3).includes(t));
            return noGrad(() => y.node!.backward(g, needs)).filter((t) => t !== null);
          },
          dispose: () => [...all, g].forEach((t) => t.dispose()),
        };
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
const bnShape = [1, 64, 128, 128];
const filter = (cs: Case[]) => cs.filter((c) => !only || `${c.op} ${c.shape}`.includes(only));
const kernelCases: Case[] = noKernels ? [] : filter([
  overheadCase,
  matmulCase(1024, 1024, 1024),
  ...sizes.conv.flatMap((l) => convCases("conv2d", l)),
  ...sizes.convT.flatMap((l) => convCases("convTranspose2d", l)),
  ...batchNormCases(bnShape),
]);

const small: ModelConfig = {
  size: Number(args.get("size") ?? SMALL_MODEL.size),
  ngf: Number(args.get("ngf") ?? SMALL_MODEL.ngf),
  ndf: Number(args.get("ndf") ?? SMALL_MODEL.ndf),
  nDown: Number(args.get("n-down") ?? SMALL_MODEL.nDown),
  batch: Number(args.get("batch") ?? SMALL_MODEL.batch),
};
const models = noModels ? [] : full ? [small, FULL_MODEL] : [small];
const modelCases = filter(models.flatMap((m) => [trainStepCase(m), inferenceCase(m)]));

// Timestamp queries only for --profile, so ordinary runs use the same device as the engine always does.
await initGpu({ timestampQuery: profile });
const adapter = runtime().adapterName;
console.log(`adapter (ours): ${adapter}`);
let tf: typeof import("./tfjs.ts") | null = null;
let tfEngine: Engine | null = null;
if (withTfjs) {
  tf = await import("./tfjs.ts");
  const t = await tf.initTfjs();
  tfEngine = t.engine;
  console.log(`adapter (TF.js ${tf.tfVersion} webgpu): ${t.adapter}`);
}
/** Why the PyTorch column is empty, or null when PyTorch runs. */
const torchWhy = withTorch ? await torchUnavailable() : "not run (--no-torch)";
console.log(
  torchWhy === null
    ? `PyTorch (CPU, ${threads} threads, OpenBLAS, OMP_WAIT_POLICY=${ompWaitPolicy()}): ` +
      `bench/pytorch_ref.py; lavapipe threads: ${Deno.env.get("LP_NUM_THREADS")}`
    : `PyTorch column empty: ${torchWhy}`,
);
console.log(
  `sizes: ${full ? "full (256×256 U-Net layers)" : "quick (pass --full for 256×256 U-Net layers)"}; ` +
    `median of ${timing.runs} runs after ${timing.warmup} warm-ups (models: ${modelTiming.runs} after ` +
    `${modelTiming.warmup}); conv kernels 4×4, stride 2, padding 1, N=1\n`,
);

/** TF.js counterparts, by row key; rows TF.js has no equivalent of are left out. */
function tfCases(): Map<string, Case> {
  if (!tf) return new Map();
  const cs: Case[] = [
    tf.tfMatmulCase(1024, 1024, 1024),
    ...sizes.conv.flatMap((l) => tf!.tfConvCases("conv2d", l)),
    ...sizes.convT.flatMap((l) => tf!.tfConvCases("convTranspose2d", l)),
    ...tf.tfBatchNormCases(bnShape),
    ...models.flatMap((m) => [tf!.tfTrainStepCase(m), tf!.tfInferenceCase(m)]),
  ];
  return new Map(cs.map((c) => [`${c.op} ${c.shape}`, c]));
}
const theirs = tfCases();

const log = (s: string) => Deno.stderr.write(new TextEncoder().encode(s + "\n"));
const show = (r: Result) => (r.error ? `error: ${r.error}` : `${r.ms.toFixed(1)} ms`);

interface Row {
  ours: Result;
  tfjs?: Result;
  torch?: Result;
  images?: number;
}
/** Rows that have a PyTorch counterpart. */
const hasTorchRow = (r: Result) =>
  (r.op === "matmul" && r.shape === "1024×1024 · 1024×1024") || r.op === "pix2pix train step" ||
  r.op === "generator inference";
manualSeed(1);
const ours = ourEngine();
async function runRows(cases: Case[], t: typeof timing): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of cases) {
    // Ours then theirs for each row, so both see the same machine load (other jobs come and go).
    const r = await measure(c, t, ours);
    const tc = theirs.get(`${c.op} ${c.shape}`);
    const tr = tc && tfEngine ? await measure(tc, t, tfEngine) : undefined;
    const pr = torchWhy === null ? await torchRow(c.op, c.shape, models, t, threads) : undefined;
    await log(
      `  ${c.op} ${c.shape}: ${show(r)}${tr ? ` | tfjs ${show(tr)}` : ""}${pr ? ` | torch ${show(pr)}` : ""}`,
    );
    rows.push({ ours: r, tfjs: tr, torch: pr, images: c.images });
  }
  return rows;
}

const kernelRows = await runRows(kernelCases, timing);
const modelRows = await runRows(modelCases, modelTiming);

const ceiling = kernelRows.find((r) => r.ours.op === "matmul")?.ours.gflops ?? null;
/**
 * Every sample includes one submit + wait (~12 ms on lavapipe), which dwarfs small layers; the
 * "net" share compares GFLOPS with that floor taken off both the conv row and the matmul row.
 */
const floorMs = kernelRows.find((r) => r.ours.op === "submit + wait")?.ours.ms ?? null;
const netGflops = (r: Result) =>
  floorMs === null || r.gflops === null || r.error || r.ms <= floorMs
    ? null
    : (r.gflops * r.ms) / (r.ms - floorMs);
const mmRow = kernelRows.find((r) => r.ours.op === "matmul")?.ours;
const netCeiling = mmRow ? netGflops(mmRow) : null;
const netShare = (r: Result) => {
  const g = netGflops(r);
  return r.op.startsWith("conv") && g !== null && netCeiling ? (100 * g) / netCeiling : null;
};
const fmtMs = (r?: Result) => (!r ? "-" : r.error ? "error" : r.ms.toFixed(r.ms < 10 ? 2 : 1));
const fmtG = (r?: Result) => (!r || r.gflops === null ? "-" : r.gflops.toFixed(2));
const speedup = (
  row: Row,
) => (!row.tfjs || row.tfjs.error || row.ours.error ? null : row.tfjs.ms / row.ours.ms);
const fmtX = (row: Row) => {
  const x = speedup(row);
  return x === null ? "-" : `${x.toFixed(2)}×`;
};
/** Our speed over PyTorch's: its time over ours (below 1× we are slower). */
const torchSpeedup = (
  row: Row,
) => (!row.torch || row.torch.error || row.ours.error ? null : row.torch.ms / row.ours.ms);
/** The same from process CPU time, which other jobs on a shared machine stretch less (see --threads). */
const torchCpuSpeedup = (row: Row) =>
  !row.torch?.cpuMs || !row.ours.cpuMs || row.torch.error || row.ours.error
    ? null
    : row.torch.cpuMs / row.ours.cpuMs;
const torchCols: Col[] = [
  {
    header: "torch ms",
    cell: (r) => (r.torch ? fmtMs(r.torch) : torchWhy !== null && hasTorchRow(r.ours) ? torchWhy : "-"),
    right: true,
  },
  {
    header: "ours/torch",
    cell: (r) => {
      const x = torchSpeedup(r);
      return x === null ? "-" : `${x.toFixed(2)}×`;
    },
    right: true,
  },
  {
    header: "cpu ours/torch",
    cell: (r) => {
      const x = torchCpuSpeedup(r);
      return x === null ? "-" : `${x.toFixed(2)}×`;
    },
    right: true,
  },
];

type Col = { header: string; cell: (r: Row) => string; right?: boolean };
const table = (rows: Row[], cols: Col[]) =>
  formatTable(
    rows.map((r) => ({ ...r.ours, row: r }) as Result & { row: Row }),
    cols.map((c) => ({
      header: c.header,
      right: c.right,
      cell: (x) => c.cell((x as Result & { row: Row }).row),
    })),
  );

if (kernelRows.length) {
  console.log(table(kernelRows, [
    { header: "op", cell: (r) => r.ours.op },
    { header: "shape", cell: (r) => r.ours.shape },
    { header: "ms", cell: (r) => fmtMs(r.ours), right: true },
    { header: "GFLOPS", cell: (r) => fmtG(r.ours), right: true },
    {
      header: "% matmul",
      cell: (r) =>
        r.ours.op.startsWith("conv") && ceiling && r.ours.gflops !== null
          ? `${Math.round((100 * r.ours.gflops) / ceiling)}%`
          : "-",
      right: true,
    },
    {
      header: "% net",
      cell: (r) => {
        const x = netShare(r.ours);
        return x === null ? "-" : `${Math.round(x)}%`;
      },
      right: true,
    },
    { header: "tfjs ms", cell: (r) => fmtMs(r.tfjs), right: true },
    { header: "tfjs GFLOPS", cell: (r) => fmtG(r.tfjs), right: true },
    { header: "ours/tfjs", cell: fmtX, right: true },
    ...torchCols,
  ]));
  console.log("");
}

// Memory of a training step (ours: pool counters; TF.js: tf.profile's peak tensor bytes).
const memory: (StepMemory & { tfjsPeakBytes: number | null })[] = [];
if (!noModels && !only) {
  for (const m of models) {
    const mem = await stepMemory(m);
    const tfPeak = tf && tfjsMemory ? await tf.tfStepPeakBytes(m) : null;
    memory.push({ ...mem, tfjsPeakBytes: tfPeak });
  }
}
const mb = (b: number | null | undefined) => (b === null || b === undefined ? "-" : (b / 2 ** 20).toFixed(1));
const ips = (
  ms: number,
  images?: number,
) => (images && !Number.isNaN(ms) ? ((1000 * images) / ms).toFixed(2) : "-");
if (modelRows.length) {
  console.log(table(modelRows, [
    { header: "model", cell: (r) => r.ours.op },
    { header: "config", cell: (r) => r.ours.shape },
    { header: "ms", cell: (r) => fmtMs(r.ours), right: true },
    { header: "GFLOPS", cell: (r) => fmtG(r.ours), right: true },
    { header: "img/s", cell: (r) => ips(r.ours.ms, r.images), right: true },
    {
      header: "peak MiB",
      cell: (r) =>
        r.ours.op.includes("train") ? mb(memory.find((m) => m.config === r.ours.shape)?.peakBytes) : "-",
      right: true,
    },
    { header: "tfjs ms", cell: (r) => fmtMs(r.tfjs), right: true },
    { header: "tfjs img/s", cell: (r) => (r.tfjs ? ips(r.tfjs.ms, r.images) : "-"), right: true },
    {
      header: "tfjs peak MiB",
      cell: (r) =>
        r.ours.op.includes("train") ? mb(memory.find((m) => m.config === r.ours.shape)?.tfjsPeakBytes) : "-",
      right: true,
    },
    { header: "ours/tfjs", cell: fmtX, right: true },
    ...torchCols,
  ]));
  console.log("");
}
for (const m of memory) {
  console.log(
    `memory ${m.config}: params ${mb(m.paramBytes)} MiB + Adam moments ${mb(m.momentBytes)} MiB + ` +
      `saved activations ${mb(m.activationBytes)} MiB = ${
        mb(m.paramBytes + m.momentBytes + m.activationBytes)
      } MiB; peak ${mb(m.peakBytes)} MiB = ${m.ratio.toFixed(2)}× (goal ≤ 1.5×)`,
  );
}

let flat: { config: string; steps: number; samples: MemorySample[] } | null = null;
if (memorySteps > 0) {
  const samples = await memoryOverSteps(small, memorySteps, (s) => {
    if (s % 20 === 0) log(`  memory run: step ${s}/${memorySteps}`);
  });
  flat = { config: describe(small), steps: memorySteps, samples };
  console.log(`\nGPU memory over ${memorySteps} training steps (${describe(small)}):`);
  for (const s of samples) {
    console.log(
      `  step ${String(s.step).padStart(4)}: live ${mb(s.liveBytes)} MiB, pooled ${mb(s.pooledBytes)} MiB, ` +
        `buffers created ${s.buffersCreated}, live tensors ${s.liveTensors}`,
    );
  }
}

/** A plain two-or-more-column table: a header line, a rule, then the rows; `right` columns align right. */
function plainTable(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]) =>
    r.map((x, j) => (right[j] ? x.padStart(widths[j]) : x.padEnd(widths[j]))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

let costs: CostRow[] | null = null;
let stepProfile: StepProfile | null = null;
let torchProfiled: TorchReport | null = null;
let torchProfileError: string | null = null;
if (profile) {
  costs = await submitCost();
  console.log("What a submit + wait costs (median of 15, idle queue):");
  console.log(plainTable(["what", "ms"], costs.map((c) => [c.what, c.ms.toFixed(2)]), [false, true]));

  await log(`  profiling a training step (${describe(small)})…`);
  const p = stepProfile = await profileStep(small);
  const gpuMs = p.kernels.reduce((a, k) => a + k.ms, 0);
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const submits = `${p.submits} submit${p.submits === 1 ? "" : "s"}`;
  console.log(
    `\nOne training step, ${p.config} (${(p.flops / 1e9).toFixed(1)} GFLOP of convolutions):\n` +
      `  ${p.dispatches} dispatches in ${submits}; wall ${ms(p.wallMs)} = recording (trainStep call) ` +
      `${ms(p.recordMs)} + until the loss is read ${ms(p.readMs)}; process CPU ${ms(p.cpuMs)}\n` +
      `  profiled step (each dispatch alone in a timestamped pass): wall ${ms(p.profiledWallMs)}, ` +
      `GPU time of the dispatches ${ms(gpuMs)}`,
  );
  const timeRows = (ks: typeof p.kernels, label: (n: string) => string) =>
    ks.map((k) => [
      label(k.name),
      String(k.dispatches),
      k.ms.toFixed(1),
      `${((100 * k.ms) / gpuMs).toFixed(1)}%`,
      ((1000 * k.ms) / k.dispatches).toFixed(0),
    ]);
  const right = [false, true, true, true, true];
  console.log(
    plainTable(
      ["kernel", "dispatches", "GPU ms", "share", "µs/dispatch"],
      [
        ...timeRows(p.kernels, (n) => n),
        ["total", String(p.kernels.reduce((a, k) => a + k.dispatches, 0)), gpuMs.toFixed(1), "100%", "-"],
      ],
      right,
    ),
  );
  const short = (key: string) => (key.length > 90 ? key.slice(0, 89) + "…" : key);
  console.log("\nThe 15 costliest variants (pipeline keys):");
  console.log(
    plainTable(
      ["variant", "dispatches", "GPU ms", "share", "µs/dispatch"],
      timeRows(p.variants.slice(0, 15), short),
      right,
    ),
  );

  if (torchWhy === null) {
    await log(`  profiling the same step in PyTorch…`);
    try {
      torchProfiled = await torchProfile(small, threads);
      const ops = torchProfiled.profile ?? [];
      const total = ops.reduce((a, o) => a + o.selfMs, 0);
      const stepMs = torchProfiled.stepMs ?? NaN;
      console.log(
        `\nPyTorch ${torchProfiled.torch}, the same step: ${ms(stepMs)} unprofiled; ` +
          `torch.profiler self time per op (the 30 largest, ${ms(total)}):`,
      );
      const share = (x: number) => `${((100 * x) / total).toFixed(1)}%`;
      console.log(
        plainTable(
          ["op", "calls", "self ms", "share"],
          ops.map((o) => [o.name, String(o.calls), o.selfMs.toFixed(1), share(o.selfMs)]),
          [false, true, true, true],
        ),
      );
    } catch (e) {
      torchProfileError = (e as Error).message;
      console.log(`\nPyTorch profile failed: ${torchProfileError}`);
    }
  } else {
    console.log(`\nNo PyTorch profile: ${torchWhy}`);
  }
}

const all = [...kernelRows, ...modelRows];
const failed = all.flatMap((r) => [r.ours, r.tfjs, r.torch]).filter((r): r is Result => !!r?.error);
for (const r of failed) console.log(`\nerror in ${r.op} ${r.shape}: ${r.error}`);

const outDir = new URL("./results/", import.meta.url);
await Deno.mkdir(outDir, { recursive: true });
const round = (v: number | null) => (v === null || Number.isNaN(v) ? null : Math.round(v * 1000) / 1000);
const json = (r?: Result) =>
  r && {
    ms: round(r.ms),
    gflops: round(r.gflops),
    cpuMs: round(r.cpuMs ?? null),
    samplesMs: r.samplesMs.map(round),
    error: r.error,
  };
const report = {
  date: new Date().toISOString(),
  adapter,
  deno: Deno.version.deno,
  tfjs: tf ? tf.tfVersion : null,
  torch: torchWhy === null
    ? { blas: "OpenBLAS (pthread, 1 thread)", ompWaitPolicy: ompWaitPolicy() }
    : { why: torchWhy },
  threads: { lavapipe: Deno.env.get("LP_NUM_THREADS"), torch: threads },
  sizes: full ? "full" : "quick",
  timing,
  modelTiming,
  matmulCeilingGflops: round(ceiling),
  kernels: kernelRows.map((r) => ({
    op: r.ours.op,
    shape: r.ours.shape,
    ours: json(r.ours),
    tfjs: json(r.tfjs),
    torch: json(r.torch),
    percentOfMatmul: r.ours.op.startsWith("conv") && ceiling && r.ours.gflops !== null
      ? round((100 * r.ours.gflops) / ceiling)
      : null,
    percentOfMatmulNet: round(netShare(r.ours)),
    speedup: round(speedup(r)),
    speedupTorch: round(torchSpeedup(r)),
  })),
  models: modelRows.map((r) => ({
    op: r.ours.op,
    config: r.ours.shape,
    images: r.images,
    ours: json(r.ours),
    tfjs: json(r.tfjs),
    torch: json(r.torch),
    speedup: round(speedup(r)),
    speedupTorch: round(torchSpeedup(r)),
    speedupTorchCpu: round(torchCpuSpeedup(r)),
  })),
  memory,
  memoryOverSteps: flat,
  profile: profile
    ? { submitCost: costs, step: stepProfile, torch: torchProfiled, torchError: torchProfileError }
    : null,
};
const outName = args.get("out") ?? "latest.json";
await Deno.writeTextFile(new URL(outName, outDir), JSON.stringify(report, null, 2) + "\n");
console.log(`\nwrote bench/results/${outName}`);
if (failed.length) Deno.exit(1);
