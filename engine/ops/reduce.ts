/**
 * Reductions: full sum and mean (scalar results of shape [], like torch), and the
 * per-channel sum that gives bias gradients, with gradients.
 * Kernels: shaders/reduce.ts. References and gradient checks: tests/reduce_test.ts.
 */

import { grid, grid1d, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { zeros } from "./buffers.ts";
import {
  BROADCAST_CHANNELS,
  REDUCE,
  REDUCE_CHUNK,
  REDUCE_WG,
  type ReduceVariant,
  SCALAR_GRAD,
  SUM_CHANNELS,
} from "../../shaders/reduce.ts";

/** The variant of every pass after the first: a plain sum of the partials. */
const PARTIALS: ReduceVariant = { inputs: 1, expr: "x0", fns: "" };

/**
 * Low-level (no graph): `scale · Σᵢ EXPR(x0[i], x1[i])` as a tensor of `shape` (one element).
 * EXPR is a vec4 WGSL expression of `x0`, `x1` and the f32 uniform `a` (see
 * {@link REDUCE}; `fns` are WGSL helpers it may call); the inputs must have equal sizes. Losses use it to fuse their
 * elementwise term into the first reduction pass.
 */
export function runReduce(
  op: string,
  inputs: Tensor[],
  expr = "x0",
  scale = 1,
  a = 0,
  shape: readonly number[] = [],
  fns = "",
): Tensor {
  if (inputs.length < 1 || inputs.length > 2) throw new Error(`${op}: runReduce takes 1 or 2 inputs`);
  const n = inputs[0].size;
  for (const t of inputs) {
    if (t.size !== n) {
      throw new Error(`${op}: sizes of ${inputs.map((i) => fmtShape(i.shape)).join(" and ")} differ`);
    }
  }
  const rt = runtime();
  let count = n;
  let buffers: Record<string, GPUBuffer> = {};
  inputs.forEach((t, k) => buffers[`in${k}`] = t.buffer);
  let variant: ReduceVariant = { inputs: inputs.length as 1 | 2, expr, fns };
  let prev: Tensor | null = null;
  for (;;) {
    const groups = Math.max(1, Math.ceil(count / REDUCE_CHUNK));
    const last = groups === 1;
    const out = Tensor.empty(last ? shape : [groups], op);
    rt.dispatch(REDUCE, variant, {
      buffers: { ...buffers, out: out.buffer },
      uniforms: { n: count, groups, scale: last ? scale : 1, a },
      workgroups: grid(groups),
    });
    prev?.dispose();
    if (last) return out;
    prev = out;
    buffers = { in0: out.buffer };
    count = groups;
    variant = PARTIALS;
  }
}

/**
 * Low-level (no graph): `out[i] = EXPR` over a new tensor of `shape`, where EXPR is a vec4
 * expression of `g0` (the single value of `g`), `x0`, `x1` (same-sized inputs) and the
 * scalars `a`, `b`. The backward pass of every full reduction and loss.
 */
export function runScalarGrad(
  op: string,
  g: Tensor,
  inputs: Tensor[],
  expr: string,
  shape: readonly number[],
  a = 0,
  b = 0,
): Tensor {
  if (g.size !== 1) throw new Error(`${op}: upstream gradient of shape ${fmtShape(g.shape)} is not a scalar`);
  const out = Tensor.empty(shape, op);
  const n4 = Math.ceil(out.size / 4);
  if (n4 === 0) return out;
  const buffers: Record<string, GPUBuffer> = { g: g.buffer, out: out.buffer };
  inputs.forEach((t, k) => buffers[`in${k}`] = t.buffer);
  runtime().dispatch(SCALAR_GRAD, { inputs: inputs.length as 0 | 1 | 2, expr }, {
    buffers,
    uniforms: { n4, a, b },
    workgroups: grid1d(n4),
  });
  return out;
}

/** Sum of all elements, as a 0-d tensor (shape []) like torch.sum. */
export function sum(x: Tensor): Tensor {
  const y = runReduce("sum", [x], "x0", 1, 0);
  return record("sum", [x], y, (g) => [runScalarGrad("sumBackward", g, [], "g0", x.shape)]);
}

/** Mean of all elements, as a 0-d tensor (NaN for an empty tensor, like torch.mean). */
export function mean(x: Tensor): Tensor {
  const s = 1 / x.size;
  const y = runReduce("mean", [x], "x0", s, 0);
  return record("mean", [x], y, (g) => [runScalarGrad("meanBackward", g, [], "g0 * a", x.shape, s)]);
}

function channelDims(op: string, shape: readonly number[]): [number, number, number] {
  if (shape.length < 2) {
    throw new Error(`${op}: expected [N, C, ...] with at least 2 dimensions, got ${fmtShape(shape)}`);
  }
  return [shape[0], shape[1], shape.slice(2).reduce((p, d) => p * d, 1)];
}

/**
 * Low-level (no graph): sums [N, C, ...] over every dimension except 1, giving [C] (scaled
 * by `scale`). For [B, F] it sums over the batch: the bias gradient of linear.
 */
export function runSumChannels(x: Tensor, scale = 1): Tensor {
  const [n, c, s] = channelDims("sumChannels", x.shape);
  // Nothing to add up (N or H·W is 0): the sum is zero; the kernel would divide by zero.
  if (n * s === 0) return zeros([c]);
  const out = Tensor.empty([c], "sumChannels");
  if (c === 0) return out;
  const vec = s % 4 === 0;
  const units = vec ? s / 4 : s;
  const rt = runtime();
  rt.dispatch(SUM_CHANNELS, { vec }, {
    buffers: { x: x.buffer, out: out.buffer },
    uniforms: { n, c, s: units, stepN: Math.floor(REDUCE_WG / units), stepS: REDUCE_WG % units, scale },
    workgroups: grid(c),
  });
  return out;
}

/** Low-level (no graph): broadcasts g [C] to `shape` = [N, C, ...] (backward of sumChannels). */
export function runBroadcastChannels(g: Tensor, shape: readonly number[]): Tensor {
  const [, c, s] = channelDims("broadcastChannels", shape);
  if (g.size !== c) {
    throw new Error(`broadcastChannels: ${fmtShape(g.shape)} does not match channels of ${fmtShape(shape)}`);
  }
  const out = Tensor.empty(shape, "broadcastChannels");
  const vec = s % 4 === 0;
  const total = vec ? out.size / 4 : out.size;
  if (total === 0) return out;
  runtime().dispatch(BROADCAST_CHANNELS, { vec }, {
    buffers: { g: g.buffer, out: out.buffer },
    uniforms: { total, c, s: vec ? s / 4 : s },
    workgroups: grid1d(total),
  });
  return out;
}

/** Sums [N, C, ...] over all dimensions but the channel one, giving [C] (bias gradients). */
export function sumChannels(x: Tensor): Tensor {
  const y = runSumChannels(x);
  return record("sumChannels", [x], y, (g) => [runBroadcastChannels(g, x.shape)]);
}
