/**
 * WGSL for softmax over the last axis of a tensor viewed as [rows, cols], and its backward pass.
 *
 * One workgroup per row: each invocation strides over the row, then a tree in workgroup memory
 * combines the lanes. The forward pass subtracts the row's maximum before exponentiating, so
 * no exp overflows whatever the logits (the largest term is exp(0) = 1 and the sum is ≥ 1).
 * Rows of attention maps are a few thousand values at most, so one workgroup per row keeps
 * every row's reduction in one pass without partials.
 */

import { defineKernel, read, write } from "./kernel.ts";

/** Invocations per softmax workgroup (one row each): WebGPU's guaranteed maximum is 256. */
export const SOFTMAX_WG = 64;

/** The workgroup-memory tree that leaves `op(sh[0], …, sh[WG − 1])` in `sh[0]`. */
function tree(op: string): string {
  return /* wgsl */ `
  workgroupBarrier();
  for (var w = ${SOFTMAX_WG / 2}u; w > 0u; w = w >> 1u) {
    if (lid.x < w) { sh[lid.x] = ${op}(sh[lid.x], sh[lid.x + w]); }
    workgroupBarrier();
  }`;
}

const ROW_MAIN = /* wgsl */ `
var<workgroup> sh: array<f32, ${SOFTMAX_WG}>;

fn plus(a: f32, b: f32) -> f32 { return a + b; }

@compute @workgroup_size(${SOFTMAX_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  // Every invocation reaches every barrier (uniform control flow): rows past the end only skip
  // their loads and stores.
  let live = row < p.rows;
  let base = row * p.cols;`;

/**
 * `y[r, j] = exp(x[r, j] − max_j x[r, ·]) / Σ_j exp(x[r, j] − max)`.
 * Bindings: `x` (read), `y`; uniforms {rows, cols}.
 */
export const SOFTMAX = defineKernel({
  name: "softmax",
  bindings: [read("x"), write("y")],
  uniforms: { rows: "u32", cols: "u32" },
  body: () =>
    /* wgsl */ `${ROW_MAIN}
  var m = -3.4028234e38;
  if (live) {
    for (var j = lid.x; j < p.cols; j += ${SOFTMAX_WG}u) { m = max(m, x[base + j]); }
  }
  sh[lid.x] = m;
  ${tree("max")}
  let rowMax = sh[0];
  workgroupBarrier();
  var s = 0.0;
  if (live) {
    for (var j = lid.x; j < p.cols; j += ${SOFTMAX_WG}u) { s += exp(x[base + j] - rowMax); }
  }
  sh[lid.x] = s;
  ${tree("plus")}
  let inv = 1.0 / sh[0];
  if (live) {
    for (var j = lid.x; j < p.cols; j += ${SOFTMAX_WG}u) { y[base + j] = exp(x[base + j] - rowMax) * inv; }
  }
}`,
});

/**
 * Backward of softmax through its output: `dx[r, j] = y[r, j] · (dy[r, j] − Σ_k dy[r, k] · y[r, k])`.
 * Bindings: `y`, `g` (the upstream gradient dy; read), `dx`; uniforms {rows, cols}.
 */
export const SOFTMAX_BACKWARD = defineKernel({
  name: "softmaxBackward",
  bindings: [read("y"), read("g"), write("dx")],
  uniforms: { rows: "u32", cols: "u32" },
  body: () =>
    /* wgsl */ `${ROW_MAIN}
  var s = 0.0;
  if (live) {
    for (var j = lid.x; j < p.cols; j += ${SOFTMAX_WG}u) { s += g[base + j] * y[base + j]; }
  }
  sh[lid.x] = s;
  ${tree("plus")}
  let dot = sh[0];
  if (live) {
    for (var j = lid.x; j < p.cols; j += ${SOFTMAX_WG}u) { dx[base + j] = y[base + j] * (g[base + j] - dot); }
  }
}`,
});
