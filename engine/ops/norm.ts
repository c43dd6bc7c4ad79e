/**
 * Batch and instance normalisation with gradients (torch.nn.functional.batch_norm / instance_norm).
 * Kernels: shaders/norm.ts. References and gradient checks: tests/norm_test.ts.
 *
 * The forward saves only the per-group mean and 1/std (a [2, G] tensor); the backward recomputes
 * x̂ from x, which costs one extra read of x but no activation-sized buffer.
 */

import { grid, grid1d, Params, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import {
  NORM_AFFINE_GRAD_WGSL,
  NORM_EVAL_STATS_WGSL,
  NORM_WG,
  normalizeShader,
  normGradSumsShader,
  normInputGradShader,
  type NormLaunch,
  normStatsShader,
} from "../../shaders/norm.ts";
import { WG } from "../../shaders/common.ts";

/** Which elements share statistics; see shaders/norm.ts for the indexing. */
interface Layout {
  channels: number;
  /** Number of groups G (C for batch norm, N·C for instance norm). */
  groups: number;
  /** Contiguous run length S (product of the spatial dims). */
  inner: number;
  /** Elements per group. */
  count: number;
  /** Distance between a group's runs (C·S for batch norm; unused for instance norm). */
  outerStride: number;
  /** Batch size N. */
  batch: number;
  /** Instance norm (group = (n, c)) rather than batch norm (group = c). */
  perInstance: boolean;
}

function checkVector(op: string, name: string, t: Tensor | null | undefined, channels: number, x: Tensor) {
  if (t && (t.rank !== 1 || t.shape[0] !== channels)) {
    throw new Error(
      `${op}: ${name} of shape ${fmtShape(t.shape)} does not match the ${channels} channels of input ` +
        `${fmtShape(x.shape)} (expected [${channels}])`,
    );
  }
}

/** Params of the per-group kernels, in f32 or (when S % 4 == 0) vec4 units. */
function groupParams(lay: Layout, vec4: boolean, eps = 0, momentum = 0): Params {
  const w = vec4 ? 4 : 1;
  const inner = lay.inner / w;
  return new Params()
    .u32(lay.groups, inner, lay.count / w, lay.outerStride / w, NORM_WG % inner, Math.floor(NORM_WG / inner))
    .f32(eps, momentum);
}

/** Launch shape, uniforms and grid of the elementwise kernels (see NormLaunch in shaders/norm.ts). */
function elementwise(lay: Layout) {
  const vec4 = lay.inner % 4 === 0;
  const w = vec4 ? 4 : 1;
  const inner = lay.inner / w;
  const size = lay.batch * lay.channels * inner;
  const runsX = Math.ceil(inner / WG);
  // Planes of fewer than WG units would leave most of each run-workgroup idle.
  const runs = inner >= WG && runsX <= 65535 && lay.channels <= 65535 && lay.batch <= 65535;
  const launch: NormLaunch = { vec4, runs };
  const params = new Params()
    .u32(size, inner, lay.channels, lay.groups, lay.perInstance ? lay.channels : 0)
    .f32(1 / lay.count)
    .u32(0, 0);
  const workgroups: [number, number, number] = runs ? [runsX, lay.channels, lay.batch] : [...grid1d(size), 1];
  return { launch, params, workgroups };
}

/** Batch statistics [2, G]; optionally updates running statistics in place (no graph). */
function groupStats(
  op: string,
  x: Tensor,
  lay: Layout,
  eps: number,
  running: { mean: Tensor; var: Tensor; momentum: number } | null,
): Tensor {
  const stats = Tensor.empty([2, lay.groups], op);
  const buffers = [x.buffer, stats.buffer];
  if (running) buffers.push(running.mean.buffer, running.var.buffer);
  const vec4 = lay.inner % 4 === 0;
  runtime().dispatch({
    wgsl: normStatsShader(!!running, vec4),
    buffers,
    params: groupParams(lay, vec4, eps, running?.momentum ?? 0),
    workgroups: grid(lay.groups),
  });
  return stats;
}

function normalize(
  op: string,
  x: Tensor,
  stats: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  lay: Layout,
) {
  const y = Tensor.empty(x.shape, op);
  const { launch, params, workgroups } = elementwise(lay);
  const buffers = [x.buffer, stats.buffer];
  if (weight) buffers.push(weight.buffer);
  if (bias) buffers.push(bias.buffer);
  buffers.push(y.buffer);
  runtime().dispatch({
    wgsl: normalizeShader(!!weight, !!bias, launch),
    buffers,
    params,
    workgroups,
  });
  return y;
}

/** Runs the backward kernels for whichever of dx, dweight, dbias are needed. */
function normBackward(
  op: string,
  g: Tensor,
  x: Tensor,
  stats: Tensor,
  weight: Tensor | null,
  lay: Layout,
  batchStats: boolean,
  needs: boolean[],
): (Tensor | null)[] {
  const rt = runtime();
  const vec4 = lay.inner % 4 === 0;
  let sums: Tensor | null = null;
  if (needs[1] || needs[2] || (needs[0] && batchStats)) {
    sums = Tensor.empty([2, lay.groups], `${op}Backward`);
    rt.dispatch({
      wgsl: normGradSumsShader(vec4),
      buffers: [g.buffer, x.buffer, stats.buffer, sums.buffer],
      params: groupParams(lay, vec4),
      workgroups: grid(lay.groups),
    });
  }
  let dx: Tensor | null = null;
  if (needs[0]) {
    dx = Tensor.empty(x.shape, `${op}Backward`);
    const { launch, params, workgroups } = elementwise(lay);
    const buffers = [g.buffer];
    if (batchStats) buffers.push(x.buffer);
    buffers.push(stats.buffer);
    if (batchStats) buffers.push(sums!.buffer);
    if (weight) buffers.push(weight.buffer);
    buffers.push(dx.buffer);
    rt.dispatch({
      wgsl: normInputGradShader(batchStats, !!weight, launch),
      buffers,
      params,
      workgroups,
    });
  }
  const affine = (row: number) => {
    const out = Tensor.empty([lay.channels], `${op}Backward`);
    rt.dispatch({
      wgsl: NORM_AFFINE_GRAD_WGSL,
      buffers: [sums!.buffer, out.buffer],
      params: new Params().u32(lay.channels, lay.groups, row, 0),
      workgroups: grid1d(lay.channels),
    });
    return out;
  };
  const dw = needs[1] ? affine(1) : null;
  const db = needs[2] ? affine(0) : null;
  sums?.dispose();
  return [dx, dw, db];
}

/** Normalises with `stats`, then attaches the backward (or frees `stats` when no graph is recorded). */
function normalizeAndRecord(
  op: string,
  x: Tensor,
  stats: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  lay: Layout,
  batchStats: boolean,
): Tensor {
  const y = normalize(op, x, stats, weight, bias, lay);
  const out = record(
    op,
    [x, weight, bias],
    y,
    (g, needs) => normBackward(op, g, x, stats, weight, lay, batchStats, needs),
  );
  if (!out.node) stats.dispose();
  return out;
}

/**
 * Batch normalisation like torch.nn.functional.batch_norm, for input [N, C, ...] (NCHW, or [N, C]).
 *
 * Training: normalises each channel by the mean and biased variance over N and the spatial dims,
 * and (when running stats are given) updates them in place on the GPU without recording a graph:
 * running = (1 − momentum)·running + momentum·stat, with the unbiased variance (n/(n−1)) for
 * runningVar. Eval: normalises with the running statistics, which must be given.
 * Gradients flow to x, weight and bias (through the batch statistics when training).
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight?: Tensor | null,
  bias?: Tensor | null,
  opts: { training?: boolean; momentum?: number; eps?: number } = {},
): Tensor {
  const op = "batchNorm";
  const training = opts.training ?? false;
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  if (x.rank < 2) {
    throw new Error(`${op}: input of shape ${fmtShape(x.shape)} must be [N, C] or [N, C, H, W]`);
  }
  const [n, channels] = x.shape;
  const inner = x.shape.slice(2).reduce((a, b) => a * b, 1);
  checkVector(op, "weight", weight, channels, x);
  checkVector(op, "bias", bias, channels, x);
  checkVector(op, "runningMean", runningMean, channels, x);
  checkVector(op, "runningVar", runningVar, channels, x);
  if (!runningMean !== !runningVar) {
    throw new Error(`${op}: give both runningMean and runningVar or neither`);
  }
  if (
    runningMean && (runningMean.buffer === runningVar!.buffer || x.buffer === runningMean.buffer ||
      x.buffer === runningVar!.buffer)
  ) {
    // Training writes both in one kernel; WebGPU forbids binding one buffer twice when written.
    throw new Error(`${op}: runningMean, runningVar and the input must be distinct tensors`);
  }
  if (!training && !runningMean) {
    throw new Error(`${op}: runningMean and runningVar are required in eval mode (training: false)`);
  }
  if (training && n * inner <= 1) {
    throw new Error(
      `${op}: expected more than 1 value per channel when training, got input of shape ${fmtShape(x.shape)}`,
    );
  }
  if (x.size === 0) return Tensor.empty(x.shape, op);
  const lay: Layout = {
    channels,
    groups: channels,
    inner,
    count: n * inner,
    outerStride: channels * inner,
    batch: n,
    perInstance: false,
  };
  let stats: Tensor;
  if (training) {
    const running = runningMean ? { mean: runningMean, var: runningVar!, momentum } : null;
    stats = groupStats(op, x, lay, eps, running);
  } else {
    stats = Tensor.empty([2, channels], op);
    runtime().dispatch({
      wgsl: NORM_EVAL_STATS_WGSL,
      buffers: [runningMean!.buffer, runningVar!.buffer, stats.buffer],
      params: new Params().u32(channels).f32(eps).u32(0, 0),
      workgroups: grid1d(channels),
    });
  }
  return normalizeAndRecord(op, x, stats, weight ?? null, bias ?? null, lay, training);
}

/**
 * Instance normalisation like torch.nn.functional.instance_norm without running statistics:
 * each (n, c) plane of an [N, C, ...] input is normalised by its own mean and biased variance,
 * then scaled and shifted per channel when weight/bias are given. Gradients flow to all three.
 */
export function instanceNorm(
  x: Tensor,
  weight?: Tensor | null,
  bias?: Tensor | null,
  opts: { eps?: number } = {},
): Tensor {
  const op = "instanceNorm";
  const eps = opts.eps ?? 1e-5;
  if (x.rank < 3) {
    throw new Error(`${op}: input of shape ${fmtShape(x.shape)} must be [N, C, H, W] (or [N, C, L])`);
  }
  const [n, channels] = x.shape;
  const inner = x.shape.slice(2).reduce((a, b) => a * b, 1);
  checkVector(op, "weight", weight, channels, x);
  checkVector(op, "bias", bias, channels, x);
  if (inner <= 1) {
    throw new Error(`${op}: expected more than 1 spatial element, got input of shape ${fmtShape(x.shape)}`);
  }
  if (x.size === 0) return Tensor.empty(x.shape, op);
  const groups = n * channels;
  const lay: Layout = {
    channels,
    groups,
    inner,
    count: inner,
    outerStride: inner,
    batch: n,
    perInstance: true,
  };
  const stats = groupStats(op, x, lay, eps, null);
  return normalizeAndRecord(op, x, stats, weight ?? null, bias ?? null, lay, true);
}
