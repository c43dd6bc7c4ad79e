/**
 * Benchmark harness: times GPU work as wall-clock time from recording the
 * dispatches to the GPU reporting them done, and prints results as a table
 * whose columns are a list, so a comparison column is one more entry.
 */

import process from "node:process";
import { runtime } from "../engine/gpu.ts";
import { type Tensor, tidyAsync } from "../engine/tensor.ts";
import { fill } from "../engine/ops/buffers.ts";

/**
 * What the harness needs from a tensor library, so the same case list can be timed on our
 * engine and on TensorFlow.js with identical clocks: free a run's tensors, and wait for the GPU.
 */
export interface Engine {
  name: string;
  /** Runs one sample; tensors it creates and does not keep are freed afterwards. */
  scope(fn: () => unknown): Promise<void>;
  /** Submits pending work and resolves when the GPU has finished all of it. */
  sync(): Promise<void>;
  /** The device whose validation errors would make a sample meaningless. */
  device: GPUDevice;
}

/** Our engine: tidy frees every intermediate; a sync is a submit plus onSubmittedWorkDone. */
export function ourEngine(): Engine {
  const rt = runtime();
  return {
    name: "ours",
    scope: async (fn) => {
      await tidyAsync(async () => {
        await fn();
      });
    },
    sync: () => rt.sync(),
    device: rt.device,
  };
}

/** One benchmark row: what is timed, and how much arithmetic it does. */
export interface Case {
  op: string;
  shape: string;
  /** Floating-point operations per run; omitted where a FLOP count would mislead (memory-bound ops). */
  flops?: number;
  /**
   * Creates the inputs (not timed) and returns the work to time. `run` records dispatches
   * (kernel rows) or also awaits a read of a loss (model rows: the read is part of a step);
   * tensors it creates are disposed after each run.
   */
  setup(): { run: () => Tensor | Tensor[] | void | Promise<unknown>; dispose: () => void };
  /** Images per run, for model rows (images/s). */
  images?: number;
}

/** Timing of one case. */
export interface Result {
  op: string;
  shape: string;
  /** Median wall-clock milliseconds per run. */
  ms: number;
  gflops: number | null;
  /** Every timed sample, for spotting noise. */
  samplesMs: number[];
  /**
   * Median CPU milliseconds of the whole process per run (every thread: ours includes lavapipe's
   * worker threads). Other jobs on a shared machine stretch wall time far more than this, unless
   * a library's threads spin while waiting for each other (OpenMP does; lavapipe does not).
   */
  cpuMs?: number;
  /** A WebGPU error raised by the case's kernels; its timings are then meaningless. */
  error?: string;
}

/** How many runs to discard (pipeline compilation, pool warm-up) and how many to time. */
export interface Timing {
  warmup: number;
  runs: number;
}

/** The middle value (the mean of the two middle values for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs a case `warmup + runs` times, each run alone on an idle GPU, and keeps the median.
 * An invalid kernel makes WebGPU skip the work, which would time as impossibly fast, so
 * errors are captured and reported instead.
 */
export async function measure(c: Case, timing: Timing, engine: Engine = ourEngine()): Promise<Result> {
  engine.device.pushErrorScope("validation");
  const { run, dispose } = c.setup();
  const samplesMs: number[] = [], cpuSamples: number[] = [];
  let error: string | undefined;
  try {
    for (let i = 0; i < timing.warmup + timing.runs; i++) {
      // Start from an idle queue so one run's tail is not billed to the next.
      await engine.sync();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await engine.scope(run);
      await engine.sync();
      if (i >= timing.warmup) {
        samplesMs.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpuSamples.push((c.user + c.system) / 1000);
      }
    }
  } catch (e) {
    error = (e as Error).message;
  } finally {
    dispose();
    await engine.sync();
    const gpuError = await engine.device.popErrorScope();
    error ??= gpuError?.message;
  }
  const ms = error ? NaN : median(samplesMs);
  const gflops = error || c.flops === undefined ? null : c.flops / (ms * 1e6);
  const cpuMs = error ? undefined : median(cpuSamples);
  return { op: c.op, shape: c.shape, ms, gflops, samplesMs, cpuMs, ...(error ? { error } : {}) };
}

/** One line of {@link submitCost}: what was timed, and its median over the repetitions. */
export interface CostRow {
  what: string;
  ms: number;
}

async function timeIt(reps: number, fn: () => unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

/**
 * What the fixed cost of a submit + wait is made of, on our device: the synchronous calls
 * (recording, `queue.submit`) and the waits (`onSubmittedWorkDone`, `mapAsync`) on an idle queue,
 * each the median of `reps`. A timer's latency is the yardstick for the waits: Deno's WebGPU
 * resolves both kinds of wait from a loop that polls the device and then sleeps 10 ms.
 */
export async function submitCost(reps = 15): Promise<CostRow[]> {
  const rt = runtime();
  const { device } = rt;
  const q = device.queue;
  await rt.sync();
  const rows: CostRow[] = [];
  const add = async (what: string, fn: () => unknown) => {
    await rt.sync();
    rows.push({ what, ms: await timeIt(reps, fn) });
  };
  const staging = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const src = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_SRC });
  try {
    await add("setTimeout(0) (event-loop timer, for scale)", () => new Promise((r) => setTimeout(r, 0)));
    await add("queue.submit([]) (no command buffer)", () => q.submit([]));
    await add(
      "createCommandEncoder + finish + submit (empty)",
      () => q.submit([device.createCommandEncoder().finish()]),
    );
    await add("record 1 tiny dispatch + flush (our submit)", () => {
      fill([1], 0).dispose();
      rt.flush();
    });
    await add("onSubmittedWorkDone, idle queue", () => q.onSubmittedWorkDone());
    await add("1 tiny dispatch, submit, onSubmittedWorkDone (the bench's floor)", async () => {
      fill([1], 0).dispose();
      await rt.sync();
    });
    await add(
      "two onSubmittedWorkDone awaited together",
      () => Promise.all([q.onSubmittedWorkDone(), q.onSubmittedWorkDone()]),
    );
    await add("copy 4 bytes, submit, mapAsync + unmap (a readback)", async () => {
      const e = device.createCommandEncoder();
      e.copyBufferToBuffer(src, 0, staging, 0, 4);
      q.submit([e.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      staging.unmap();
    });
    await add("1 tiny dispatch + tensor.item() (a loss read)", async () => {
      const t = fill([1], 0);
      await t.item();
      t.dispose();
    });
  } finally {
    staging.destroy();
    src.destroy();
  }
  return rows;
}

/** A table column: a header and how to show one result in it. */
export interface Column {
  header: string;
  cell: (r: Result) => string;
  /** Numbers align right. */
  right?: boolean;
}

/** The default columns; add entries (e.g. a TensorFlow.js time) to widen the table. */
export const COLUMNS: Column[] = [
  { header: "op", cell: (r) => r.op },
  { header: "shape", cell: (r) => r.shape },
  { header: "ms", cell: (r) => (r.error ? "error" : r.ms.toFixed(r.ms < 10 ? 2 : 1)), right: true },
  { header: "GFLOPS", cell: (r) => (r.gflops === null ? "-" : r.gflops.toFixed(2)), right: true },
];

/** Formats a header line, a rule, and one line per result. */
export function formatTable(results: Result[], columns: Column[] = COLUMNS): string {
  const cells = results.map((r) => columns.map((c) => c.cell(r)));
  const widths = columns.map((c, j) => Math.max(c.header.length, ...cells.map((row) => row[j].length)));
  const line = (row: string[]) =>
    row.map((s, j) => (columns[j].right ? s.padStart(widths[j]) : s.padEnd(widths[j]))).join("  ").trimEnd();
  return [
    line(columns.map((c) => c.header)),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map(line),
  ].join("\n");
}
