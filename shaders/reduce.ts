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

import { FLAT_INDEX, WG } from "./common.ts";

/** Invocations per reduction workgroup: WebGPU's guaranteed maximum, so the tree has 8 levels. */
export const REDUCE_WG = 256;
/** vec4 loads per invocation and pass. Measured on lavapipe at 1–4M elements: 1 → 16 → 32 loads
 * per invocation goes from 0.5 to ~4.5 GB/s; more loads gain little and leave a GPU fewer workgroups. */
export const REDUCE_LOADS = 32;
/** Elements one workgroup reduces in one pass. */
export const REDUCE_CHUNK = REDUCE_WG * REDUCE_LOADS * 4;

/**
 * A reduction pass: `out[group] = scale · Σ EXPR` over the group's chunk of `n` elements.
 * `EXPR` is a vec4 expression of `x0` (and `x1` when `inputs` is 2: same-shaped tensors
 * read with the same index) and the f32 uniform `a`; components past `n` are masked
 * after EXPR, so garbage in the buffer's tail (pooled buffers are rounded up) never
 * leaks in, even as NaN. `fns` holds WGSL helper functions that EXPR may call.
 */
export function reduceShader(inputs: 1 | 2, expr = "x0", fns = ""): string {
  const decls = Array.from(
    { length: inputs },
    (_, k) => `@group(0) @binding(${k}) var<storage, read> in${k}: array<vec4<f32>>;`,
  ).join("\n");
  const loads = Array.from({ length: inputs }, (_, k) => `let x${k} = in${k}[i];`).join(" ");
  return /* wgsl */ `
${decls}
@group(0) @binding(${inputs}) var<storage, read_write> out: array<f32>;
struct P { n: u32, groups: u32, scale: f32, a: f32 }
@group(0) @binding(${inputs + 1}) var<uniform> p: P;
var<workgroup> sh: array<f32, ${REDUCE_WG}>;
${fns}
fn term(i: u32) -> vec4<f32> {
  let a = p.a;
  ${loads}
  return ${expr};
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
}`;
}

/**
 * Per-channel sum of [N, C, S] (S = H·W, 1 for [N, C]) into [C]: one workgroup per
 * channel, each invocation strides over the N·S elements of its channel, then a tree.
 * With `vec`, S is a multiple of 4 and is read as vec4 (p.s counts vec4s).
 * (n, s) advance by precomputed steps so the loop has no integer division.
 */
export function sumChannelsShader(vec: boolean): string {
  const T = vec ? "vec4<f32>" : "f32";
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
struct P { n: u32, c: u32, s: u32, stepN: u32, stepS: u32, scale: f32, pad0: u32, pad1: u32 }
@group(0) @binding(2) var<uniform> p: P;
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
  sh[lid.x] = ${vec ? "(acc.x + acc.y) + (acc.z + acc.w)" : "acc"};
  workgroupBarrier();
  for (var w = ${REDUCE_WG / 2}u; w > 0u; w = w >> 1u) {
    if (lid.x < w) { sh[lid.x] += sh[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u && c < p.c) { out[c] = sh[0] * p.scale; }
}`;
}

/**
 * Backward of a per-channel sum: `out[n, c, s] = g[c]` over [N, C, S]; with `vec`, S is
 * a multiple of 4 and p.s, p.total count vec4s.
 */
export function broadcastChannelsShader(vec: boolean): string {
  const T = vec ? "vec4<f32>" : "f32";
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<${T}>;
struct P { total: u32, c: u32, s: u32, pad: u32 }
@group(0) @binding(2) var<uniform> p: P;
${FLAT_INDEX}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.total) { return; }
  out[i] = ${T}(g[(i / p.s) % p.c]);
}`;
}

/**
 * Elementwise map over vec4s whose expression may read the scalar upstream gradient
 * `g0 = g[0]` (backward of full reductions and losses): `out[i] = EXPR(x0, x1, g0, a, b)`.
 * Writes whole vec4s: the output's pooled buffer is rounded up to 16 bytes, so the
 * tail lanes land in padding that no tensor reads.
 */
export function scalarGradShader(inputs: 0 | 1 | 2, expr: string): string {
  const decls = Array.from(
    { length: inputs },
    (_, k) => `@group(0) @binding(${k + 1}) var<storage, read> in${k}: array<vec4<f32>>;`,
  ).join("\n");
  const loads = Array.from({ length: inputs }, (_, k) => `let x${k} = in${k}[i];`).join(" ");
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> g: array<f32>;
${decls}
@group(0) @binding(${inputs + 1}) var<storage, read_write> out: array<vec4<f32>>;
struct P { n4: u32, a: f32, b: f32, pad: u32 }
@group(0) @binding(${inputs + 2}) var<uniform> p: P;
${FLAT_INDEX}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n4) { return; }
  let g0 = g[0];
  let a = p.a; let b = p.b;
  ${loads}
  out[i] = vec4<f32>(${expr});
}`;
}
