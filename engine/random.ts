/**
 * Seeded randomness. Initialisers draw from {@link Rng} on the CPU; GPU kernels
 * that need random numbers (dropout) take a fresh 32-bit seed from
 * {@link nextSeed} per call, so a run is reproducible after {@link manualSeed}.
 */

/** A small, fast, seedable PRNG (mulberry32) with a normal sampler. */
export class Rng {
  #s: number;
  #spare: number | null = null;
  /** Equal seeds give equal sequences; only the low 32 bits are used. */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** A uniformly distributed 32-bit unsigned integer. */
  nextU32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

let global = new Rng(0);

/** Seeds the global generator used by initialisers and dropout. */
export function manualSeed(seed: number): void {
  global = new Rng(seed);
}

/** The global generator (after {@link manualSeed}). */
export function globalRng(): Rng {
  return global;
}

/** A fresh 32-bit seed for one GPU kernel launch. */
export function nextSeed(): number {
  return global.nextU32();
}

/**
 * Fisher–Yates shuffle of `xs` in place; returns `xs`. For i from the last
 * index down to 1 it swaps xs[i] with xs[floor(rng.next()·(i + 1))], one draw
 * per step. That sequence of draws is part of the contract: dataset splits and
 * epoch orders are derived from it, so the same seed must keep giving the same
 * order.
 */
export function shuffle<T>(xs: T[], rng: Rng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
