/**
 * Model benchmarks of our engine: one full pix2pix training step (D step + G step, Adam) and one
 * generator inference, plus the memory figures of issue 5 (peak GPU bytes of a step against the
 * bytes it cannot avoid, and pool growth over many steps).
 */

import { runtime } from "../engine/gpu.ts";
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

/** "128² ngf32 ndf32 b1", the shape column of model rows. */
export function describe(c: ModelConfig): string {
  return `${c.size}² ngf${c.ngf} ndf${c.ndf} b${c.batch}`;
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
