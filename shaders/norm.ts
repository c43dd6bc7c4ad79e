/**
 * WGSL for batch and instance normalisation.
 *
 * Both are "normalise each group of elements by its own mean and variance"; they differ only in
 * which elements form a group. With x viewed as [N, C, S] (S = product of the spatial dims):
 * - batch norm: group c holds x[n, c, s] for all n, s (N runs of S contiguous values, C·S apart);
 * - instance norm: group g = n·C + c holds the S contiguous values x[n, c, :].
 * In both cases group g starts at g·S and is `outer` runs of S values spaced `outerStride` apart,
 * so one family of kernels, parameterised by uniforms rather than by mode, serves both.
 *
 * Kernels:
 * - {@link NORM_STATS}: one workgroup per group computes mean and 1/sqrt(var + eps) (two passes);
 * - {@link NORMALIZE}: elementwise y = (x − mean)·invstd·w + b;
 * - {@link NORM_GRAD_SUMS}: one workgroup per group computes Σg and Σg·x̂ for the backward;
 * - {@link NORM_INPUT_GRAD}: elementwise dx;
 * - {@link NORM_AFFINE_GRAD}: per-channel sums of the group sums (dweight, dbias);
 * - {@link NORM_EVAL_STATS}: mean/invstd from running statistics (batch norm in eval mode).
 * The statistics live in one small [2, G] buffer: mean at g, invstd at G + g.
 */

import { flatMain, WG } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/** Invocations per workgroup of the per-group kernels (WebGPU default limit; REDUCE assumes 16·16). */
export const NORM_WG = 256;

/**
 * Uniforms of the per-group kernels, in f32 or vec4 units. Element j (0 ≤ j < count) of group g is
 * x[g·inner + n·outerStride + s] with n = j / inner, s = j % inner; each invocation advances j by
 * NORM_WG, i.e. s by sStep = NORM_WG % inner and n by nStep = NORM_WG / inner (precomputed on the
 * CPU so the inner loop has no integer division, which is slow on CPU-backed adapters).
 * {@link NORM_STATS} adds `eps` and `momentum`.
 */
const GROUP_UNIFORMS = {
  groups: "u32",
  inner: "u32",
  count: "u32",
  outerStride: "u32",
  sStep: "u32",
  nStep: "u32",
} as const;

/**
 * A reduction of one vec2 per invocation through workgroup memory: a two-level tree of fan-in 16
 * (16 invocations each add 16 slots, then every invocation adds those 16 partial sums). It needs 3
 * barriers instead of the 9 of a binary tree; barriers are what a CPU adapter pays most for
 * (it switches between all 256 invocations at each one), and the 16 serial adds cost little anywhere.
 */
const REDUCE = /* wgsl */ `
var<workgroup> red: array<vec2<f32>, ${NORM_WG}>;
fn reduce(lid: u32, v: vec2<f32>) -> vec2<f32> {
  red[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var acc = red[lid * 16u];
    for (var k = 1u; k < 16u; k++) { acc += red[lid * 16u + k]; }
    red[lid * 16u] = acc;
  }
  workgroupBarrier();
  var r = red[0];
  for (var k = 1u; k < 16u; k++) { r += red[k * 16u]; }
  // Nobody may overwrite red[] for the next reduction before everyone has read the result.
  workgroupBarrier();
  return r;
}`;

/** A loop over this invocation's share of group g's elements; `body` sees the element index `idx`. */
function forEachInGroup(body: string): string {
  return /* wgsl */ `{
    var n = lid / p.inner;
    var s = lid % p.inner;
    for (var j = lid; j < p.count; j += ${NORM_WG}u) {
      let idx = base + n * p.outerStride + s;
      ${body}
      s += p.sStep;
      n += p.nStep;
      if (s >= p.inner) { s -= p.inner; n += 1u; }
    }
  }`;
}

const GROUP_MAIN = /* wgsl */ `
@compute @workgroup_size(${NORM_WG})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.groups) { return; }
  let base = g * p.inner;`;

/** Element type of a kernel working in f32 or vec4 units, and its horizontal sum. */
function unit(vec4: boolean): { T: string; hsum: (v: string) => string } {
  return vec4 ? { T: "vec4<f32>", hsum: (v) => `dot(${v}, vec4<f32>(1.0))` } : { T: "f32", hsum: (v) => v };
}

/** What {@link NORM_STATS} is specialised on. */
export type NormStatsVariant = {
  /** Also update running statistics in place (bindings runMean, runVar). */
  running: boolean;
  /** Load vec4 units (needs S % 4 == 0). */
  vec4: boolean;
};

/**
 * Per-group mean and inverse standard deviation (biased variance), written to stats[g] and
 * stats[groups + g]. Two passes in f32: the first sums x − x[first] (shifting by a member of the
 * group keeps the partial sums small when the mean is large), the second sums (x − mean)² and the
 * residual Σ(x − mean), which corrects the mean's rounding error (the "corrected two-pass"
 * algorithm). E[x²] − E[x]² would lose all precision for activations like 1000 ± 1.
 * With `vec4` (S % 4 == 0) each invocation loads vec4 units: 4x fewer loop iterations, which is
 * what costs on CPU-backed adapters.
 *
 * With `running`, also updates running statistics in place (batch norm training):
 * running = (1 − momentum)·running + momentum·stat, with the unbiased variance for runVar.
 * Bindings: x, stats, runMean?, runVar?; uniforms: the group layout, eps, momentum.
 * One workgroup per group.
 */
export const NORM_STATS = defineKernel({
  name: "normStats",
  bindings: (v: NormStatsVariant) => [
    read("x", unit(v.vec4).T),
    write("stats"),
    ...(v.running ? [write("runMean"), write("runVar")] : []),
  ],
  uniforms: { ...GROUP_UNIFORMS, eps: "f32", momentum: "f32" },
  body: ({ running, vec4 }) => {
    const { T, hsum } = unit(vec4);
    const update = running
      ? /* wgsl */ `
    runMean[g] = (1.0 - p.momentum) * runMean[g] + p.momentum * mean;
    runVar[g] = (1.0 - p.momentum) * runVar[g] + p.momentum * m2 / (cnt - 1.0);`
      : "";
    return /* wgsl */ `
${REDUCE}
${GROUP_MAIN}
  let cnt = f32(p.count) * ${vec4 ? 4 : 1}.0;
  let shift = x[base]${vec4 ? ".x" : ""};
  var a1 = ${T}(0.0);
  ${forEachInGroup("a1 += x[idx] - shift;")}
  let mean0 = shift + reduce(lid, vec2<f32>(${hsum("a1")}, 0.0)).x / cnt;
  a1 = ${T}(0.0);
  var a2 = ${T}(0.0);
  ${forEachInGroup("let d = x[idx] - mean0; a2 += d * d; a1 += d;")}
  let r = reduce(lid, vec2<f32>(${hsum("a2")}, ${hsum("a1")}));
  let mean = mean0 + r.y / cnt;
  let m2 = max(r.x - r.y * r.y / cnt, 0.0);
  if (lid == 0u) {
    stats[g] = mean;
    stats[p.groups + g] = 1.0 / sqrt(m2 / cnt + p.eps);${update}
  }
}`;
  },
});

/**
 * Uniforms of the elementwise kernels: `n` units (f32 or vec4) in all, `inner` units per [n, c]
 * run, C `channels`, G `groups` and `gstride` (0 for batch norm, whose group is the channel; C for
 * instance norm, whose group is n·C + c). {@link NORM_INPUT_GRAD} adds `invCount` = 1 / (elements
 * per group).
 */
const FLAT_UNIFORMS = {
  n: "u32",
  inner: "u32",
  channels: "u32",
  groups: "u32",
  gstride: "u32",
} as const;

/**
 * How an elementwise kernel is launched.
 * - `vec4`: each invocation handles a vec4 (needs S % 4 == 0, so a vec4 never straddles groups);
 * - `runs`: a [⌈S/WG⌉, C, N] grid, so channel and group come from the workgroup id and are the
 *   same for the whole workgroup. The flat alternative divides the index by S per invocation and
 *   gathers the per-group values lane by lane, which makes it ~1.7x slower on CPU adapters; it is
 *   kept for small planes (which would leave most of a run-workgroup idle) and huge grids.
 */
export type NormLaunch = {
  /** Each invocation handles a vec4. */
  vec4: boolean;
  /** A [⌈S/WG⌉, C, N] grid rather than a flat one. */
  runs: boolean;
};

function elementwiseMain(launch: NormLaunch): string {
  if (launch.runs) {
    return /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  if (gid.x >= p.inner) { return; }
  let c = wid.y;
  let g = c + wid.z * p.gstride;
  let i = (wid.z * p.channels + c) * p.inner + gid.x;`;
  }
  return /* wgsl */ `
${flatMain("i", "p.n")}
  let q = i / p.inner;
  let c = q % p.channels;
  let g = select(c, q, p.gstride != 0u);`;
}

/** What {@link NORMALIZE} is specialised on: the launch shape and which affine vectors are bound. */
export type NormalizeVariant = NormLaunch & {
  /** A per-channel scale is bound. */
  weight: boolean;
  /** A per-channel shift is bound. */
  bias: boolean;
};

/**
 * y = (x − mean[g])·invstd[g]·weight[c] + bias[c].
 * Bindings: x, stats, weight?, bias?, out; uniforms: the elementwise layout.
 */
export const NORMALIZE = defineKernel({
  name: "normalize",
  bindings: (v: NormalizeVariant) => {
    const { T } = unit(v.vec4);
    return [
      read("x", T),
      read("stats"),
      ...(v.weight ? [read("weight")] : []),
      ...(v.bias ? [read("bias")] : []),
      write("out", T),
    ];
  },
  uniforms: FLAT_UNIFORMS,
  body: (v) => /* wgsl */ `
${elementwiseMain(v)}
  var y = (x[i] - stats[g]) * stats[p.groups + g];
  ${v.weight ? "y = y * weight[c];" : ""}
  ${v.bias ? "y = y + bias[c];" : ""}
  out[i] = y;
}`,
});

/** What {@link NORM_GRAD_SUMS} is specialised on. */
export type NormGradSumsVariant = {
  /** Load vec4 units (needs S % 4 == 0). */
  vec4: boolean;
};

/**
 * Per-group Σg and Σg·x̂ (x̂ recomputed from x and the saved stats), written to sums[g] and
 * sums[groups + g]: the two reductions every normalisation backward needs.
 * Bindings: grad, x, stats, sums; uniforms: the group layout. One workgroup per group.
 */
export const NORM_GRAD_SUMS = defineKernel({
  name: "normGradSums",
  bindings: (v: NormGradSumsVariant) => {
    const { T } = unit(v.vec4);
    return [read("grad", T), read("x", T), read("stats"), write("sums")];
  },
  uniforms: GROUP_UNIFORMS,
  body: ({ vec4 }) => {
    const { T, hsum } = unit(vec4);
    return /* wgsl */ `
${REDUCE}
${GROUP_MAIN}
  let mean = stats[g];
  let invstd = stats[p.groups + g];
  var a1 = ${T}(0.0);
  var a2 = ${T}(0.0);
  ${forEachInGroup("let gv = grad[idx]; a1 += gv; a2 += gv * (x[idx] - mean);")}
  let r = reduce(lid, vec2<f32>(${hsum("a1")}, ${hsum("a2")}));
  if (lid == 0u) {
    sums[g] = r.x;
    sums[p.groups + g] = r.y * invstd;
  }
}`;
  },
});

/** What {@link NORM_INPUT_GRAD} is specialised on. */
export type NormInputGradVariant = NormLaunch & {
  /** The statistics were the batch's own (so they depend on x). */
  training: boolean;
  /** A per-channel scale is bound. */
  weight: boolean;
};

/**
 * dx of the normalisation. With batch statistics (`training`), mean and variance depend on x:
 *   dx = w·invstd·(g − Σg/n − x̂·Σ(g·x̂)/n)
 * (bindings grad, x, stats, sums, weight?, out). With fixed statistics (batch norm in eval mode)
 * it is the affine map's derivative dx = w·invstd·g (bindings grad, stats, weight?, out).
 * Uniforms: the elementwise layout and invCount.
 */
export const NORM_INPUT_GRAD = defineKernel({
  name: "normInputGrad",
  bindings: (v: NormInputGradVariant) => {
    const { T } = unit(v.vec4);
    return [
      read("grad", T),
      ...(v.training ? [read("x", T)] : []),
      read("stats"),
      ...(v.training ? [read("sums")] : []),
      ...(v.weight ? [read("weight")] : []),
      write("out", T),
    ];
  },
  uniforms: { ...FLAT_UNIFORMS, invCount: "f32" },
  body: (v) => {
    const scaleExpr = `stats[p.groups + g]${v.weight ? " * weight[c]" : ""}`;
    const body = v.training
      ? /* wgsl */ `
  let xhat = (x[i] - stats[g]) * stats[p.groups + g];
  out[i] = (${scaleExpr}) * (grad[i] - sums[g] * p.invCount - xhat * (sums[p.groups + g] * p.invCount));`
      : /* wgsl */ `
  out[i] = grad[i] * (${scaleExpr});`;
    return /* wgsl */ `
${elementwiseMain(v)}
${body}
}`;
  },
});

/**
 * out[c] = Σ over the groups of channel c of sums[row·groups + g] (g = k·channels + c): dbias from
 * row 0 (Σg) and dweight from row 1 (Σg·x̂). For batch norm each channel has one group.
 * Bindings: sums, out; uniforms: channels, groups, row.
 */
export const NORM_AFFINE_GRAD = defineKernel({
  name: "normAffineGrad",
  bindings: [read("sums"), write("out")],
  uniforms: { channels: "u32", groups: "u32", row: "u32" },
  body: () => /* wgsl */ `
${flatMain("c", "p.channels")}
  var acc = 0.0;
  for (var g = c; g < p.groups; g += p.channels) { acc += sums[p.row * p.groups + g]; }
  out[c] = acc;
}`,
});

/**
 * stats = [runningMean, 1/sqrt(runningVar + eps)]: a snapshot, so running statistics updated
 * after this forward do not change its backward.
 * Bindings: runMean, runVar, stats; uniforms: channels, eps.
 */
export const NORM_EVAL_STATS = defineKernel({
  name: "normEvalStats",
  bindings: [read("runMean"), read("runVar"), write("stats")],
  uniforms: { channels: "u32", eps: "f32" },
  body: () => /* wgsl */ `
${flatMain("c", "p.channels")}
  stats[c] = runMean[c];
  stats[p.channels + c] = 1.0 / sqrt(runVar[c] + p.eps);
}`,
});
