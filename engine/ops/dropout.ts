/**
 * Dropout (torch.nn.functional.dropout) with random numbers generated on the GPU.
 * Kernel: DROPOUT in shaders/dropout.ts. Tests: tests/dropout_test.ts.
 */

import { grid1d, runtime } from "../gpu.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { nextSeed } from "../random.ts";
import { DROPOUT } from "../../shaders/dropout.ts";

/** The shader's PCG hash on the CPU: pre-hashing the seed makes nearby seeds (1, 2, 3) unrelated. */
function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Masks and scales `x`; the same call on the upstream gradient is the backward. */
function applyMask(op: string, x: Tensor, seed: number, threshold: number, scale: number): Tensor {
  const out = Tensor.empty(x.shape, op);
  if (x.size === 0) return out;
  const vec4 = x.size % 4 === 0;
  const units = vec4 ? x.size / 4 : x.size;
  runtime().dispatch(DROPOUT, { vec4 }, {
    buffers: { x: x.buffer, out: out.buffer },
    uniforms: { n: units, seed, threshold, scale },
    workgroups: grid1d(units),
  });
  return out;
}

/**
 * Zeroes each element with probability p and scales the others by 1/(1 − p), while training
 * (the default, as in F.dropout). In eval mode or with p = 0 it returns `x` itself. p = 1 gives
 * zeros, as in PyTorch. The mask comes from a 32-bit `seed` (default: {@link nextSeed}, so runs
 * are reproducible after manualSeed) hashed with each element's index; the backward regenerates
 * it from the seed instead of storing it.
 */
export function dropout(x: Tensor, p: number, opts: { training?: boolean; seed?: number } = {}): Tensor {
  if (!(p >= 0 && p <= 1)) {
    throw new Error(`dropout: probability has to be between 0 and 1, but got ${p} (input ${x})`);
  }
  const training = opts.training ?? true;
  if (!training || p === 0) return x;
  const seed = pcg(opts.seed ?? nextSeed());
  // Drop where hash < threshold; p = 1 drops everything through scale 0 (the threshold saturates).
  const threshold = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const y = applyMask("dropout", x, seed, threshold, scale);
  return record("dropout", [x], y, (g) => [applyMask("dropoutBackward", g, seed, threshold, scale)]);
}
