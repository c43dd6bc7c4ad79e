/**
 * Parameter initialisers. Values are drawn on the CPU from the seeded global
 * generator (engine/random.ts), so two runs after the same `manualSeed` start
 * from identical weights, then uploaded once.
 */

import { runtime } from "./gpu.ts";
import type { Tensor } from "./tensor.ts";
import { globalRng, type Rng } from "./random.ts";

function write(t: Tensor, f: (i: number) => number): Tensor {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = f(i);
  runtime().upload(t.buffer, data);
  return t;
}

/** Fills `t` in place with N(mean, std²) samples. */
export function normal_(t: Tensor, mean = 0, std = 1, rng: Rng = globalRng()): Tensor {
  return write(t, () => mean + std * rng.normal());
}

/** Fills `t` in place with U(lo, hi) samples. */
export function uniform_(t: Tensor, lo = 0, hi = 1, rng: Rng = globalRng()): Tensor {
  return write(t, () => lo + (hi - lo) * rng.next());
}

/** Fills `t` in place with a constant. */
export function constant_(t: Tensor, value: number): Tensor {
  return write(t, () => value);
}

/** Fills `t` in place with zeros. */
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

/** Fills `t` in place with ones. */
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/**
 * Fan-in as PyTorch computes it: `shape[1]` times the receptive field. (For a
 * transposed conv, whose weight is [Cin, Cout, kH, kW], that is Cout·kH·kW; the
 * quirk is kept so default inits match PyTorch's.)
 */
export function fanIn(shape: readonly number[]): number {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return (shape[1] ?? 1) * receptive;
}
