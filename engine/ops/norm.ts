/**
 * Batch and instance normalisation with gradients (torch.nn.functional.batch_norm / instance_norm).
 * Kernels: shaders/norm.ts. References and gradient checks: tests/norm_test.ts.
 *
 * The forward saves only the per-group mean and 1/std (a [2, G] tensor); the backward recomputes
 * x̂ from x, which costs one extra read of x but no activation-sized buffer.
 */

import { grid, grid1d, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import {
  NORM_AFFINE_GRAD,
  NORM_EVAL_STATS,
  NORM_GRAD_SUMS,
  NORM_INPUT_GRAD,
  NORM_STATS,
  NORM_WG,
  NORMALIZE,
  type NormLaunch,
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

/** Uniforms of the per-group kernels, in f32 or (when S % 4 == 0) vec4 units. */
function groupUniforms(lay: Layout, vec4: boolean) {
  const w = vec4 ? 4 : 1;
  const inner = lay.inner / w;
  return {
    groups: lay.groups,
    inner,
    count: lay.count / w,
    outerStride: lay.outerStride / w,
    sStep: NORM_WG % inner,
    nStep: Math.floor(NORM_WG / inner),
  };
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
  const uniforms = {
    n: size,
    inner,
    channels: lay.channels,
    groups: lay.groups,
    gstride: lay.perInstance ? lay.channels : 0,
  };
  const workgroups: [number, number, number] = runs ? [runsX, lay.channels, lay.batch] : [...grid1d(size), 1];
  return { launch, uniforms, workgroups };
}

/** Launcher (no graph): batch statistics [2, G]; optionally updates running statistics in place. */
function runNormStats(
  op: string,
  x: Tensor,
  lay: Layout,
  eps: number,
  running: { mean: Tensor; var: Tensor; momentum: number } | null,
): Tensor {
  const stats = Tensor.empty([2, lay.groups], op);
  const vec4 = lay.inner % 4 === 0;
  runtime().dispatch(NORM_STATS, { running: !!running, vec4 }, {
    buffers: { x: x.buffer, stats: stats.buffer, runMean: running?.mean.buffer, runVar: running?.var.buffer },
    uniforms: { ...groupUniforms(lay, vec4), eps, momentum: running?.momentum ?? 0 },
    workgroups: grid(lay.groups),
  });
  return stats;
}

/** Launcher (no graph): y = (x − mean)·invstd·weight + bias with the given [2, G] stats. */
function runNormalize(
  op: string,
  x: Tensor,
  stats: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  lay: Layout,
) {
  const y = Tensor.empty(x.shape, op);
  const { launch, uniforms, workgroups } = elementwise(lay);
  runtime().dispatch(NORMALIZE, { ...launch, weight: !!weight, bias: !!bias }, {
    buffers: { x: x.buffer, stats: stats.buffer, weight: weight?.buffer, bias: bias?.buffer, out: y.buffer },
    uniforms,
    workgroups,
  });
  return y;
}

/** Launcher (no graph): the backward kernels for whichever of dx, dweight, dbias are needed. */
function runNormBackward(
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
    rt.dispatch(NORM_GRAD_SUMS, { vec4 }, {
      buffers: { grad: g.buffer, x: x.buffer, stats: stats.buffer, sums: sums.buffer },
      uniforms: groupUniforms(lay, vec4),
      workgroups: grid(lay.groups),
    });
  }
  let dx: Tensor | null = null;
  if (needs[0]) {
    dx = Tensor.empty(x.shape, `${op}Backward`);
    const { launch, uniforms, workgroups } = elementwise(lay);
    rt.dispatch(NORM_INPUT_GRAD, { ...launch, training: batchStats, weight: !!weight }, {
      buffers: {
        grad: g.buffer,
        x: batchStats ? x.buffer : undefined,
        stats: stats.buffer,
        sums: batchStats ? sums!.buffer : undefined,
        weight: weight?.buffer,
        out: dx.buffer,
      },
      uniforms: { ...uniforms, invCount: 1 / lay.count },
      workgroups,
    });
  }
  const affine = (row: number) => {
    const out = Tensor.empty([lay.channels], `${op}Backward`);
    rt.dispatch(NORM_AFFINE_GRAD, undefined, {
      buffers: { sums: sums!.buffer, out: out.buffer },
      uniforms: { channels: lay.channels, groups: lay.groups, row },
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
  const y = runNormalize(op, x, stats, weight, bias, lay);
  const out = record(
    op,
    [x, weight, bias],
    y,
    (g, needs) => runNormBackward(op, g, x, stats, weight, lay, batchStats, needs),
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
    stats = runNormStats(op, x, lay, eps, running);
  } else {
    stats = Tensor.empty([2, channels], op);
    runtime().dispatch(NORM_EVAL_STATS, undefined, {
      buffers: { runMean: runningMean!.buffer, runVar: runningVar!.buffer, stats: stats.buffer },
      uniforms: { channels, eps },
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
  const stats = runNormStats(op, x, lay, eps, null);
  return normalizeAndRecord(op, x, stats, weight ?? null, bias ?? null, lay, true);
}
