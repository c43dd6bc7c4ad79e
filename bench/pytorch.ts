/**
 * The PyTorch (CPU) column of the benchmark: runs bench/pytorch_ref.py with Debian's python3-torch
 * for a row's counterpart and turns its JSON into a harness {@link Result}. Each row starts its own
 * Python process right after our run of that row, so both see the same machine load.
 *
 * PyTorch runs on the same CPU cores that lavapipe uses for our kernels, with as many threads
 * (torch.set_num_threads; bench.ts sets lavapipe's LP_NUM_THREADS to the same number): OpenBLAS (not
 * Debian's default reference BLAS, about 10× slower at matmul) single-threaded, because the script's
 * thread count sets the parallelism; OpenMP threads that sleep rather than spin while they wait
 * (see {@link ompWaitPolicy}).
 */

import type { Result, Timing } from "./harness.ts";
import { describe, inferenceFlops, type ModelConfig, stepFlops } from "./pix2pix.ts";

const PYTHON = "/usr/bin/python3";
const TORCH = "/usr/lib/python3/dist-packages/torch";
const OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread";
const SCRIPT = new URL("./pytorch_ref.py", import.meta.url).pathname;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Why the PyTorch column must stay empty here, or null when it can run. */
export async function torchUnavailable(): Promise<string | null> {
  if (!(await exists(PYTHON))) return `${PYTHON} not found`;
  if (!(await exists(TORCH))) return "python3-torch not installed";
  if (!(await exists(`${OPENBLAS}/libblas.so.3`))) {
    return "libopenblas0-pthread not installed (Debian's reference BLAS would flatter us)";
  }
  return null;
}

/**
 * GNU OpenMP's threads spin at every parallel region's barrier by default ("ACTIVE"). While other
 * jobs share the cores, the spinning thread holds the core its descheduled sibling needs: the default
 * 128² step measured 0.66–0.79 s with spinning and 0.20–0.21 s with "PASSIVE" (sleeping) waits on this
 * 2-core machine under load, which would flatter us. Lavapipe's workers sleep on condition variables,
 * so PASSIVE is the like-for-like setting; an OMP_WAIT_POLICY in the environment wins.
 */
export function ompWaitPolicy(): string {
  return Deno.env.get("OMP_WAIT_POLICY") ?? "PASSIVE";
}

/** What pytorch_ref.py prints (the fields a run asked for). */
export interface TorchReport {
  torch: string;
  threads: number;
  matmul?: TorchTiming;
  trainStep?: TorchTiming;
  inference?: TorchTiming;
  /** Wall time of the step the profiler measured, without the profiler. */
  stepMs?: number;
  /** torch.profiler's self time per op over one training step, largest first. */
  profile?: { name: string; calls: number; selfMs: number }[];
}

/** A timing from pytorch_ref.py: median wall ms, every sample, median process CPU ms. */
export interface TorchTiming {
  ms: number;
  samplesMs: number[];
  cpuMs: number;
}

/**
 * Runs pytorch_ref.py with `threads` intra-op threads and `args`, and parses its JSON; a failure's
 * message ends with its stderr.
 */
export async function runTorch(threads: number, args: string[]): Promise<TorchReport> {
  const out = await new Deno.Command(PYTHON, {
    args: [SCRIPT, "--threads", String(threads), ...args],
    env: { LD_LIBRARY_PATH: OPENBLAS, OPENBLAS_NUM_THREADS: "1", OMP_WAIT_POLICY: ompWaitPolicy() },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new Error(`pytorch_ref.py failed (exit ${out.code}): ${err}`);
  }
  return JSON.parse(text.split("\n").at(-1)!);
}

const modelArgs = (c: ModelConfig) => [
  "--size",
  String(c.size),
  "--ngf",
  String(c.ngf),
  "--ndf",
  String(c.ndf),
  "--n-down",
  String(c.nDown),
  "--batch",
  String(c.batch),
];

function result(op: string, shape: string, flops: number, t: TorchTiming | undefined): Result {
  if (!t) {
    return { op, shape, ms: NaN, gflops: null, samplesMs: [], error: "no timing in pytorch_ref.py's output" };
  }
  return { op, shape, ms: t.ms, gflops: flops / (t.ms * 1e6), samplesMs: t.samplesMs, cpuMs: t.cpuMs };
}

/**
 * PyTorch's run of the row `op shape`, or undefined when the row has no PyTorch counterpart.
 * Failures come back as a Result with `error` set, so one bad row does not end the benchmark.
 */
export async function torchRow(
  op: string,
  shape: string,
  models: ModelConfig[],
  t: Timing,
  threads: number,
): Promise<Result | undefined> {
  const timing = ["--warmup", String(t.warmup), "--runs", String(t.runs)];
  try {
    if (op === "matmul" && shape === "1024×1024 · 1024×1024") {
      const r = await runTorch(threads, ["--case", "matmul", "--matmul", "1024", ...timing]);
      return result(op, shape, 2 * 1024 ** 3, r.matmul);
    }
    const c = models.find((m) => describe(m) === shape);
    if (!c) return undefined;
    if (op === "pix2pix train step") {
      const r = await runTorch(threads, ["--case", "train", ...modelArgs(c), ...timing]);
      return result(op, shape, stepFlops(c), r.trainStep);
    }
    if (op === "generator inference") {
      const r = await runTorch(threads, ["--case", "inference", ...modelArgs(c), ...timing]);
      return result(op, shape, inferenceFlops(c), r.inference);
    }
  } catch (e) {
    return { op, shape, ms: NaN, gflops: null, samplesMs: [], error: (e as Error).message };
  }
  return undefined;
}

/** torch.profiler's per-op table of one training step of `c` (after `warmup` steps). */
export function torchProfile(c: ModelConfig, threads: number, warmup = 1): Promise<TorchReport> {
  return runTorch(threads, ["--case", "profile", ...modelArgs(c), "--warmup", String(warmup)]);
}
