/**
 * WGSL for dropout. The mask is never stored: each element's keep/drop decision is a hash of
 * (seed, element index), so the backward pass regenerates exactly the forward's mask by running
 * the same kernel on the upstream gradient with the same seed.
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/**
 * PCG hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020): one LCG step and a
 * permuted output, a bijection on u32 with good avalanche. Two rounds mix the seed and the
 * index, so different seeds give unrelated masks rather than shifted copies of one another.
 */
const PCG_HASH = /* wgsl */ `
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn keepBit(seed: u32, index: u32) -> bool {
  return pcg(pcg(index) ^ seed) >= p.threshold;
}`;

/** What a dropout kernel is specialised on. */
export interface DropoutVariant {
  /** Each invocation handles 4 elements through vec4 loads (needs a size divisible by 4). */
  vec4: boolean;
}

/**
 * out[i] = x[i]·scale where hash(seed, i) ≥ threshold, else 0. `threshold` = round(p·2³²), so an
 * element is dropped with probability p (to 2⁻³²). With `vec4`, each invocation handles elements
 * 4i…4i+3 (n counts vec4s); the hash still uses each element's own index, so both variants give
 * the same mask. Bindings: x, out; uniforms n, seed (already hashed once), threshold, scale.
 */
export const DROPOUT = defineKernel({
  name: "dropout",
  bindings: (v: DropoutVariant) => {
    const T = v.vec4 ? "vec4<f32>" : "f32";
    return [read("x", T), write("out", T)];
  },
  uniforms: { n: "u32", seed: "u32", threshold: "u32", scale: "f32" },
  body: (v) => {
    const body = v.vec4
      ? /* wgsl */ `
  let e = i * 4u;
  let keep = vec4<bool>(
    keepBit(p.seed, e), keepBit(p.seed, e + 1u), keepBit(p.seed, e + 2u), keepBit(p.seed, e + 3u),
  );
  out[i] = select(vec4<f32>(0.0), x[i] * p.scale, keep);`
      : /* wgsl */ `
  out[i] = select(0.0, x[i] * p.scale, keepBit(p.seed, i));`;
    return /* wgsl */ `
${PCG_HASH}
${flatMain("i", "p.n")}
${body}
}`;
  },
});
