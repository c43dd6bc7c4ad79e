/**
 * WGSL for reductions: a full sum (optionally of a fused elementwise term, which
 * is how losses avoid a temporary tensor), a per-channel sum over N, H, W, and the
 * broadcasts that are their backward passes.
 *
 * Full sums are multi-pass: each workgroup reduces a contiguous chunk (vec4 loads,
 * then a tree in workgroup memory) to one partial; partials are reduced again until
 * one value is left. The tree makes the sum close to pairwise, so f32 rounding grows
 * like log(n) rather than n.
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/** Invocations per reduction workgroup: WebGPU's guaranteed maximum, so the tree has 8 levels. */
export const REDUCE_WG = 256;
/** vec4 loads per invocation and pass. Measured on lavapipe at 1–4M elements: 1 → 16 → 32 loads
 * per invocation goes from 0.5 to ~4.5 GB/s; more loads gain little and leave a GPU fewer workgroups. */
export const REDUCE_LOADS = 32;
/** Elements one workgroup reduces in one pass. */
export const REDUCE_CHUNK = REDUCE_WG * REDUCE_LOADS * 4;

/** What a {@link REDUCE} pass is specialised on. */
export interface ReduceVariant {
  /** Number of same-shaped vec4 inputs `in0…` (1 or 2). */
  inputs: 1 | 2;
  /** The summed vec4 term, of `x0` (`x1`) and the f32 uniform `a`. */
  expr: string;
  /** WGSL helper functions `expr` may call ("" for none). */
  fns: string;
}

/**
 * A reduction pass: `out[group] = scale · Σ EXPR` over the group's chunk of `n` elements.
 * `EXPR` is a vec4 expression of `x0` (and `x1` when `inputs` is 2: same-shaped tensors
 * read with the same index) and the f32 uniform `a`; components past `n` are masked
 * after EXPR, so garbage in the buffer's tail (pooled buffers are rounded up) never
 * leaks in, even as NaN. `fns` holds WGSL helper functions that EXPR may call.
 * Bindings: `in0…` (vec4, read), `out` (one partial per group); uniforms {n, groups, scale, a}.
 */
export const REDUCE = defineKernel({
  name: "reduce",
  bindings: (v: ReduceVariant) => [
    ...Array.from({ length: v.inputs }, (_, k) => read(`in${k}`, "vec4<f32>")),
    write("out"),
  ],
  uniforms: { n: "u32", groups: "u32", scale: "f32", a: "f32" },
  body: (v) => /* wgsl */ `
var<workgroup> sh: array<f32, ${REDUCE_WG}>;
${v.fns}
fn term(i: u32) -> vec4<f32> {
  let a = p.a;
  ${Array.from({ length: v.inputs }, (_, k) => `let x${k} = in${k}[i];`).join(" ")}
  return ${v.expr};
}

@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = wid.x + wid.y * nwg.x;
  let n4 = (p.n + 3u) / 4u;
  let base = group * ${REDUCE_WG * REDUCE_LOADS}u + lid.x;
  var s = vec4<f32>(0.0);
  for (var j = 0u; j < ${REDUCE_LOADS}u; j++) {
    let i = base + j * ${REDUCE_WG}u;
    if (i >= n4) { break; }
    let idx = vec4<u32>(i * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
    s += select(vec4<f32>(0.0), term(i), idx < vec4<u32>(p.n));
  }
  sh[lid.x] = (s.x + s.y) + (s.z + s.w);
  workgroupBarrier();
  for (var w = ${REDUCE_WG / 2}u; w > 0u; w = w >> 1u) {
    if (lid.x < w) { sh[lid.x] += sh[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u && group < p.groups) { out[group] = sh[0] * p.scale; }
}`,
});

/** A variant that is only a vec4 flag: whether the inner size is read as vec4 (a multiple of 4). */
export interface VecVariant {
  /** Read and write `vec4<f32>` instead of `f32`. */
  vec: boolean;
}

/**
 * Per-channel sum of [N, C, S] (S = H·W, 1 for [N, C]) into [C]: one workgroup per
 * channel, each invocation strides over the N·S elements of its channel, then a tree.
 * With `vec`, S is a multiple of 4 and is read as vec4 (p.s counts vec4s).
 * (n, s) advance by precomputed steps so the loop has no integer division.
 * Bindings: `x` (read), `out` [C]; uniforms {n, c, s, stepN, stepS, scale}.
 */
export const SUM_CHANNELS = defineKernel({
  name: "sumChannels",
  bindings: (v: VecVariant) => [read("x", v.vec ? "vec4<f32>" : "f32"), write("out")],
  uniforms: { n: "u32", c: "u32", s: "u32", stepN: "u32", stepS: "u32", scale: "f32" },
  body: (v) => {
    const T = v.vec ? "vec4<f32>" : "f32";
    return /* wgsl */ `
var<workgroup> sh: array<f32, ${REDUCE_WG}>;

@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = wid.x + wid.y * nwg.x;
  var acc = ${T}(0.0);
  if (c < p.c) {
    var n = lid.x / p.s;
    var s = lid.x % p.s;
    loop {
      if (n >= p.n) { break; }
      acc += x[(n * p.c + c) * p.s + s];
      n += p.stepN;
      s += p.stepS;
      if (s >= p.s) { s -= p.s; n += 1u; }
    }
  }
  sh[lid.x] = ${v.vec ? "(acc.x + acc.y) + (acc.z + acc.w)" : "acc"};
  workgroupBarrier();
  for (var w = ${REDUCE_WG / 2}u; w > 0u; w = w >> 1u) {
    if (lid.x < w) { sh[lid.x] += sh[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u && c < p.c) { out[c] = sh[0] * p.scale; }
}`;
  },
});

/**
 * Backward of a per-channel sum: `out[n, c, s] = g[c]` over [N, C, S]; with `vec`, S is
 * a multiple of 4 and p.s, p.total count vec4s.
 * Bindings: `g` [C] (read), `out`; uniforms {total, c, s}.
 */
export const BROADCAST_CHANNELS = defineKernel({
  name: "broadcastChannels",
  bindings: (v: VecVariant) => [read("g"), write("out", v.vec ? "vec4<f32>" : "f32")],
  uniforms: { total: "u32", c: "u32", s: "u32" },
  body: (v) => /* wgsl */ `
${flatMain("i", "p.total")}
  out[i] = ${v.vec ? "vec4<f32>" : "f32"}(g[(i / p.s) % p.c]);
}`,
});

/** What a {@link SCALAR_GRAD} kernel is specialised on. */
export interface ScalarGradVariant {
  /** Number of same-sized vec4 inputs `in0…` (0, 1 or 2). */
  inputs: 0 | 1 | 2;
  /** vec4 (or scalar, splatted) expression of `g0`, `x0…`, `a` and `b`. */
  expr: string;
}

/**
 * Elementwise map over vec4s whose expression may read the scalar upstream gradient
 * `g0 = g[0]` (backward of full reductions and losses): `out[i] = EXPR(x0, x1, g0, a, b)`.
 * Writes whole vec4s: the output's pooled buffer is rounded up to 16 bytes, so the
 * tail lanes land in padding that no tensor reads.
 * Bindings: `g` (read), `in0…` (vec4, read), `out` (vec4); uniforms {n4, a, b}.
 */
export const SCALAR_GRAD = defineKernel({
  name: "scalarGrad",
  bindings: (v: ScalarGradVariant) => [
    read("g"),
    ...Array.from({ length: v.inputs }, (_, k) => read(`in${k}`, "vec4<f32>")),
    write("out", "vec4<f32>"),
  ],
  uniforms: { n4: "u32", a: "f32", b: "f32" },
  body: (v) => /* wgsl */ `
${flatMain("i", "p.n4")}
  let g0 = g[0];
  let a = p.a; let b = p.b;
  ${Array.from({ length: v.inputs }, (_, k) => `let x${k} = in${k}[i];`).join(" ")}
  out[i] = vec4<f32>(${v.expr});
}`,
});
