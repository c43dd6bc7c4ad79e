/**
 * Test helpers: the shared GPU, a seeded RNG, closeness checks, the message of an
 * expected error, and a gradient checker that compares the GPU backward pass
 * against central finite differences of a float64 reference implementation.
 */

import { AssertionError } from "node:assert/strict";
import { initGpu, type Runtime } from "../engine/gpu.ts";
import { type Tensor, tensor, tidyAsync } from "../engine/tensor.ts";
import { backward } from "../engine/autograd.ts";

/** The shared runtime; fails (never skips) with installation advice when there is no adapter. */
export async function gpu(): Promise<Runtime> {
  try {
    return await initGpu();
  } catch (e) {
    throw new Error(
      `GPU tests need a WebGPU adapter: ${(e as Error).message}. ` +
        `Install one with "sudo apt-get install -y mesa-vulkan-drivers".`,
    );
  }
}

/** Deterministic PRNG (mulberry32) so every test sees the same numbers on every run. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    /** n values uniform in [lo, hi), rounded to f32 so GPU and reference see the same inputs. */
    uniform(n: number, lo = -1, hi = 1): Float64Array {
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = lo + (hi - lo) * next();
      return Float64Array.from(f);
    },
  };
}

/** The message of the error `fn` throws, for matching error text; fails when it throws none. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error, got none");
}

/** Product of a shape's dimensions. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise, naming the
 * first offending index.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol: number; rtol?: number },
  label = "",
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${label}: length ${actual.length} vs expected ${expected.length}`,
    });
  }
  const rtol = tol.rtol ?? 0;
  let worst = -1, worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const allowed = tol.atol + rtol * Math.abs(expected[i]);
    if (!(err <= allowed) && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    throw new AssertionError({
      message: `${label}: index ${worst}: got ${actual[worst]}, expected ${
        expected[worst]
      } (|err| ${worstErr} > atol ${tol.atol} + rtol ${rtol}·|expected|)`,
    });
  }
}

/** One input of a checked op: its values (f32-representable) and shape. */
export interface CheckInput {
  data: Float64Array;
  shape: number[];
  /** Leave out of the gradient check (labels, targets). */
  noGrad?: boolean;
}

/**
 * Checks an op forward and backward:
 * 1. forward: GPU output vs the float64 reference, within `forward` tolerance;
 * 2. backward: with L = Σ y·R for a random R, the GPU gradient of each input vs
 *    central differences of L computed on the float64 reference with step `eps`.
 * Using the float64 reference for the differences (not the f32 GPU forward) keeps
 * the numerical gradient accurate to ~1e-9, so the tolerance measures only the
 * GPU's f32 rounding.
 */
export async function gradCheck(opts: {
  inputs: CheckInput[];
  gpuFn: (xs: Tensor[]) => Tensor;
  refFn: (xs: Float64Array[]) => Float64Array;
  forward: { atol: number; rtol?: number };
  grad: { atol: number; rtol?: number };
  eps?: number;
  seed?: number;
  label?: string;
}): Promise<void> {
  const label = opts.label ?? "gradCheck";
  const eps = opts.eps ?? 1e-6;
  await tidyAsync(async () => {
    const xs = opts.inputs.map((inp) => {
      const t = tensor(Float32Array.from(inp.data), inp.shape);
      t.requiresGrad = !inp.noGrad;
      return t;
    });
    const y = opts.gpuFn(xs);
    const ref = opts.refFn(opts.inputs.map((i) => i.data));
    assertClose(await y.data(), ref, opts.forward, `${label} forward`);

    const r = rng(opts.seed ?? 99).uniform(y.size);
    backward(y, tensor(Float32Array.from(r), y.shape));
    const loss = (xsd: Float64Array[]) => {
      const out = opts.refFn(xsd);
      let s = 0;
      for (let i = 0; i < out.length; i++) s += out[i] * r[i];
      return s;
    };
    for (let k = 0; k < xs.length; k++) {
      if (opts.inputs[k].noGrad) continue;
      const g = xs[k].grad;
      if (!g) throw new AssertionError({ message: `${label}: no gradient for input ${k}` });
      const got = await g.data();
      const data = opts.inputs.map((i) => Float64Array.from(i.data));
      const numeric = new Float64Array(data[k].length);
      for (let j = 0; j < numeric.length; j++) {
        const orig = data[k][j];
        data[k][j] = orig + eps;
        const lp = loss(data);
        data[k][j] = orig - eps;
        const lm = loss(data);
        data[k][j] = orig;
        numeric[j] = (lp - lm) / (2 * eps);
      }
      assertClose(got, numeric, opts.grad, `${label} grad of input ${k}`);
      xs[k].grad = null;
      g.dispose();
    }
  });
}
