/**
 * Model benchmarks of our engine: one full pix2pix training step (D step + G step, Adam) and one
 * generator inference, plus the memory figures of issue 5 (peak GPU bytes of a step against the
 * bytes it cannot avoid, and pool growth over many steps).
 */

import process from "node:process";
import { type KernelTime, runtime } from "../engine/gpu.ts";
import { noGrad } from "../engine/autograd.ts";
import { liveTensorCount, Tensor, tidy } from "../engine/tensor.ts";
import { uniform_ } from "../engine/init.ts";
import { concat } from "../engine/ops/shape.ts";
import { Pix2Pix } from "../models/pix2pix.ts";
import type { Case } from "./harness.ts";

/** A model size: image side, filters of G and D, generator depth (side = a multiple of 2^nDown). */
export interface ModelConfig {
  size: number;
  ngf: number;
  ndf: number;
  nDown: number;
  batch: number;
}

/**
 * Full-size pix2pix, as in Moein Shariatnia's colorization tutorial (2020): 256×256, ngf = ndf = 64,
 * 8 downsamplings, batch 1.
 */
export const FULL_MODEL: ModelConfig = { size: 256, ngf: 64, ndf: 64, nDown: 8, batch: 1 };
/** A CPU-friendly model: a quarter of the pixels and of the channel products (about 1/16 of the FLOPs). */
export const SMALL_MODEL: ModelConfig = { size: 128, ngf: 32, ndf: 32, nDown: 7, batch: 1 };

/** "128² ngf32 ndf32 down7 b1", the shape column of model rows. */
export function describe(c: ModelConfig): string {
  return `${c.size}² ngf${c.ngf} ndf${c.ndf} down${c.nDown} b${c.batch}`;
}

/** 2·N·Cin·Cout·k²·side² for a 4×4 convolution whose smaller side (output of a conv, input of a
 * transposed conv) is `side`. */
const conv4 = (n: number, cin: number, cout: number, side: number) => 2 * n * cin * cout * 16 * side * side;

/** Forward FLOPs of the convolutions of G (U-Net) and D (PatchGAN) for one batch. */
function forwardFlops(c: ModelConfig): { g: number; d: number } {
  const n = c.batch;
  const ch = (level: number) => c.ngf * Math.min(2 ** level, 8);
  let g = 0;
  for (let i = 0; i < c.nDown; i++) {
    const side = c.size / 2 ** (i + 1);
    g += conv4(n, i === 0 ? 1 : ch(i - 1), ch(i), side);
    const innermost = i === c.nDown - 1;
    g += conv4(n, innermost ? ch(i) : 2 * ch(i), i === 0 ? 2 : ch(i - 1), side);
  }
  // PatchGAN: three stride-2 convs, then two stride-1 convs (padding 1 shrinks the side by 1).
  let d = 0, side = c.size, cin = 3;
  for (const [cout, stride] of [[c.ndf, 2], [2 * c.ndf, 2], [4 * c.ndf, 2], [8 * c.ndf, 1], [1, 1]]) {
    side = stride === 2 ? side / 2 : side - 1;
    d += conv4(n, cin, cout, side);
    cin = cout;
  }
  return { g, d };
}

/**
 * Convolution FLOPs of one training step: G forward and backward (dx, dw) = 3× its forward; D runs
 * forward three times (fake and real for the D step, fake for the G step) and backward three times
 * (dx + dw twice, dx once) = 8× its forward. Norms, activations and Adam are left out.
 */
export function stepFlops(c: ModelConfig): number {
  const { g, d } = forwardFlops(c);
  return 3 * g + 8 * d;
}

/** Convolution FLOPs of one generator inference. */
export function inferenceFlops(c: ModelConfig): number {
  return forwardFlops(c).g;
}

function rand(shape: number[]): Tensor {
  return uniform_(Tensor.empty(shape), -1, 1);
}

function build(c: ModelConfig) {
  const model = new Pix2Pix({ ngf: c.ngf, nDown: c.nDown }, { ndf: c.ndf });
  const L = rand([c.batch, 1, c.size, c.size]), ab = rand([c.batch, 2, c.size, c.size]);
  const dispose = () => {
    model.dispose();
    L.dispose();
    ab.dispose();
  };
  return { model, L, ab, dispose };
}

/** One training step, timed up to the read of its L1 loss (a step is done when its loss is known). */
export function trainStepCase(c: ModelConfig): Case {
  return {
    op: "pix2pix train step",
    shape: describe(c),
    flops: stepFlops(c),
    images: c.batch,
    setup() {
      const { model, L, ab, dispose } = build(c);
      return {
        async run() {
          const losses = model.trainStep(L, ab);
          await losses.lossL1.item();
          for (const t of Object.values(losses)) t?.dispose();
        },
        dispose,
      };
    },
  };
}

/** Generator inference (eval mode: running statistics, no dropout), timed up to reading the ab image. */
export function inferenceCase(c: ModelConfig): Case {
  return {
    op: "generator inference",
    shape: describe(c),
    flops: inferenceFlops(c),
    images: c.batch,
    setup() {
      const { model, L, dispose } = build(c);
      model.G.eval();
      return {
        async run() {
          const out = noGrad(() => model.G.forward(L));
          await out.data();
        },
        dispose,
      };
    },
  };
}

/** Peak memory of one training step, and the bytes a step cannot do without. */
export interface StepMemory {
  config: string;
  /** Weights of G and D (trainable parameters). */
  paramBytes: number;
  /** Adam's first and second moments: twice the parameters. */
  momentBytes: number;
  /**
   * Bytes the step's forward passes hold for backward: measured as the growth of live GPU bytes
   * over G(L), D(fake) for the D step, D(real) and D(fake) for the G step, before any backward.
   */
  activationBytes: number;
  /** Highest live pool bytes during a step (after a warm-up step), including everything above. */
  peakBytes: number;
  /** peak / (params + moments + activations); the goal is ≤ 1.5. */
  ratio: number;
}

/** Measures {@link StepMemory} with the pool's peak counter around one step (after a warm-up step). */
export async function stepMemory(c: ModelConfig): Promise<StepMemory> {
  const rt = runtime();
  const { model, L, ab, dispose } = build(c);
  try {
    const warm = model.trainStep(L, ab);
    await warm.lossL1.item();
    for (const t of Object.values(warm)) t?.dispose();
    await rt.sync();
    const activationBytes = tidy(() => {
      const base = rt.pool.info().liveBytes;
      const fake = model.G.forward(L);
      const pair = concat([L, fake], 1);
      model.D.forward(pair.detach());
      model.D.forward(concat([L, ab], 1));
      model.D.forward(pair);
      return rt.pool.info().liveBytes - base;
    });
    await rt.sync();
    rt.pool.resetPeak();
    const losses = model.trainStep(L, ab);
    await losses.lossL1.item();
    const peakBytes = rt.pool.info().peakBytes;
    for (const t of Object.values(losses)) t?.dispose();
    const paramBytes = 4 * (model.G.parameterCount() + model.D.parameterCount());
    const momentBytes = 2 * paramBytes;
    return {
      config: describe(c),
      paramBytes,
      momentBytes,
      activationBytes,
      peakBytes,
      ratio: peakBytes / (paramBytes + momentBytes + activationBytes),
    };
  } finally {
    dispose();
    await rt.sync();
  }
}

/** Pool state after a given number of steps: live, pooled (free) and created buffers must stop growing. */
export interface MemorySample {
  step: number;
  liveBytes: number;
  pooledBytes: number;
  buffersCreated: number;
  liveTensors: number;
}

/**
 * Runs `steps` training steps, reading the losses every step as the training CLI's progress bar
 * would, and samples the pool at a few points: flat memory means the last samples equal the second.
 */
export async function memoryOverSteps(
  c: ModelConfig,
  steps: number,
  onProgress?: (step: number) => void,
): Promise<MemorySample[]> {
  const rt = runtime();
  const { model, L, ab, dispose } = build(c);
  const at = new Set([1, 2, 10, Math.floor(steps / 2), steps]);
  const samples: MemorySample[] = [];
  try {
    for (let step = 1; step <= steps; step++) {
      const losses = model.trainStep(L, ab);
      await losses.lossL1.item();
      for (const t of Object.values(losses)) t?.dispose();
      if (at.has(step)) {
        await rt.sync();
        const info = rt.pool.info();
        samples.push({
          step,
          liveBytes: info.liveBytes,
          pooledBytes: info.pooledBytes,
          buffersCreated: info.created,
          liveTensors: liveTensorCount(),
        });
      }
      onProgress?.(step);
    }
  } finally {
    dispose();
    await rt.sync();
  }
  return samples;
}

/** Where one training step's time goes: see {@link profileStep}. */
export interface StepProfile {
  config: string;
  /** Convolution FLOPs of the step ({@link stepFlops}). */
  flops: number;
  /** Dispatches and queue submits of one step. */
  dispatches: number;
  submits: number;
  /** Wall time of an ordinary (unprofiled) step, up to its loss being read, and its parts. */
  wallMs: number;
  /** The synchronous `trainStep` call: recording every dispatch (and the submits it makes). */
  recordMs: number;
  /** From the end of recording to the loss being on the CPU. */
  readMs: number;
  /** Process CPU time of the step (all threads). */
  cpuMs: number;
  /** Wall time of the profiled step (each dispatch in its own timestamped pass). */
  profiledWallMs: number;
  /** GPU time per kernel name and per variant, from timestamp queries, largest first. */
  kernels: KernelTime[];
  variants: KernelTime[];
}

/**
 * Profiles one training step of `c` after `warmup` steps: an ordinary step timed in parts and
 * counted (dispatches, submits), then a step with every dispatch timed on the GPU
 * (`runtime().startProfile()`; the device needs "timestamp-query").
 */
export async function profileStep(c: ModelConfig, warmup = 1): Promise<StepProfile> {
  const rt = runtime();
  const { model, L, ab, dispose } = build(c);
  const step = async () => {
    const losses = model.trainStep(L, ab);
    const recorded = performance.now();
    await losses.lossL1.item();
    for (const t of Object.values(losses)) t?.dispose();
    return recorded;
  };
  try {
    for (let i = 0; i < warmup; i++) await step();
    await rt.sync();
    const d0 = rt.dispatches, s0 = rt.submits;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const recorded = await step();
    const t1 = performance.now();
    const cpu = process.cpuUsage(c0);
    const dispatches = rt.dispatches - d0, submits = rt.submits - s0;
    await rt.sync();
    rt.startProfile();
    const p0 = performance.now();
    await step();
    const profiledWallMs = performance.now() - p0;
    const { kernels, variants } = await rt.stopProfile();
    return {
      config: describe(c),
      flops: stepFlops(c),
      dispatches,
      submits,
      wallMs: t1 - t0,
      recordMs: recorded - t0,
      readMs: t1 - recorded,
      cpuMs: (cpu.user + cpu.system) / 1000,
      profiledWallMs,
      kernels,
      variants,
    };
  } finally {
    dispose();
    await rt.sync();
  }
}
