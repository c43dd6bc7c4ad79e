/**
 * Reductions: full sum and mean (scalar results of shape [], like torch), and the
 * per-channel sum that gives bias gradients, with gradients.
 * Kernels: shaders/reduce.ts. References and gradient checks: tests/reduce_test.ts.
 */

import { grid, grid1d, Params, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { zeros } from "./buffers.ts";
import {
  broadcastChannelsShader,
  REDUCE_CHUNK,
  REDUCE_WG,
  reduceShader,
  scalarGradShader,
  sumChannelsShader,
} from "../../shaders/reduce.ts";

// Generated WGSL is memoised so a training step does not rebuild the same strings every call.
const shaders = new Map<string, string>();
function shader(key: string, make: () => string): string {
  let s = shaders.get(key);
  if (s === undefined) {
    s = make();
    shaders.set(key, s);
  }
  return s;
}

/**
 * Low-level (no graph): `scale · Σᵢ EXPR(x0[i], x1[i])` as a tensor of `shape` (one element).
 * EXPR is a vec4 WGSL expression of `x0`, `x1` and the f32 uniform `a` (see
 * {@link reduceShader}; `fns` are WGSL helpers it may call); the inputs must have equal sizes. Losses use it to fuse their
 * elementwise term into the first reduction pass.
 */
export function reduceAll(
  op: string,
  inputs: Tensor[],
  expr = "x0",
  scale = 1,
  a = 0,
  shape: readonly number[] = [],
  fns = "",
): Tensor {
  if (inputs.length < 1 || inputs.length > 2) throw new Error(`${op}: reduceAll takes 1 or 2 inputs`);
  const n = inputs[0].size;
  for (const t of inputs) {
    if (t.size !== n) {
      throw new Error(`${op}: sizes of ${inputs.map((i) => fmtShape(i.shape)).join(" and ")} differ`);
    }
  }
  const rt = runtime();
  let count = n;
  let buffers = inputs.map((t) => t.buffer);
  let wgsl = shader(
    `reduce${inputs.length}:${fns}:${expr}`,
    () => reduceShader(inputs.length as 1 | 2, expr, fns),
  );
  let prev: Tensor | null = null;
  for (;;) {
    const groups = Math.max(1, Math.ceil(count / REDUCE_CHUNK));
    const last = groups === 1;
    const out = Tensor.empty(last ? shape : [groups], op);
    rt.dispatch({
      wgsl,
      buffers: [...buffers, out.buffer],
      params: new Params().u32(count, groups).f32(last ? scale : 1, a),
      workgroups: grid(groups),
    });
    prev?.dispose();
    if (last) return out;
    prev = out;
    buffers = [out.buffer];
    count = groups;
    wgsl = shader("reduce1::x0", () => reduceShader(1));
  }
}

/**
 * Low-level (no graph): `out[i] = EXPR` over a new tensor of `shape`, where EXPR is a vec4
 * expression of `g0` (the single value of `g`), `x0`, `x1` (same-sized inputs) and the
 * scalars `a`, `b`. The backward pass of every full reduction and loss.
 */
export function scalarGrad(
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
  runtime().dispatch({
    wgsl: shader(`sgrad${inputs.length}:${expr}`, () => scalarGradShader(inputs.length as 0 | 1 | 2, expr)),
    buffers: [g.buffer, ...inputs.map((t) => t.buffer), out.buffer],
    params: new Params().u32(n4).f32(a, b).u32(0),
    workgroups: grid1d(n4),
  });
  return out;
}

/** Sum of all elements, as a 0-d tensor (shape []) like torch.sum. */
export function sum(x: Tensor): Tensor {
  const y = reduceAll("sum", [x], "x0", 1, 0);
  return record("sum", [x], y, (g) => [scalarGrad("sumBackward", g, [], "g0", x.shape)]);
}

/** Mean of all elements, as a 0-d tensor (NaN for an empty tensor, like torch.mean). */
export function mean(x: Tensor): Tensor {
  const s = 1 / x.size;
  const y = reduceAll("mean", [x], "x0", s, 0);
  return record("mean", [x], y, (g) => [scalarGrad("meanBackward", g, [], "g0 * a", x.shape, s)]);
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
export function sumChannelsKernel(x: Tensor, scale = 1): Tensor {
  const [n, c, s] = channelDims("sumChannels", x.shape);
  // Nothing to add up (N or H·W is 0): the sum is zero; the kernel would divide by zero.
  if (n * s === 0) return zeros([c]);
  const out = Tensor.empty([c], "sumChannels");
  if (c === 0) return out;
  const vec = s % 4 === 0;
  const units = vec ? s / 4 : s;
  const rt = runtime();
  rt.dispatch({
    wgsl: shader(`sumChannels:${vec}`, () => sumChannelsShader(vec)),
    buffers: [x.buffer, out.buffer],
    params: new Params()
      .u32(n, c, units, Math.floor(REDUCE_WG / units), REDUCE_WG % units)
      .f32(scale)
      .u32(0, 0),
    workgroups: grid(c),
  });
  return out;
}

/** Low-level (no graph): broadcasts g [C] to `shape` = [N, C, ...] (backward of sumChannels). */
export function broadcastChannelsKernel(g: Tensor, shape: readonly number[]): Tensor {
  const [, c, s] = channelDims("broadcastChannels", shape);
  if (g.size !== c) {
    throw new Error(`broadcastChannels: ${fmtShape(g.shape)} does not match channels of ${fmtShape(shape)}`);
  }
  const out = Tensor.empty(shape, "broadcastChannels");
  const vec = s % 4 === 0;
  const total = vec ? out.size / 4 : out.size;
  if (total === 0) return out;
  runtime().dispatch({
    wgsl: shader(`broadcastChannels:${vec}`, () => broadcastChannelsShader(vec)),
    buffers: [g.buffer, out.buffer],
    params: new Params().u32(total, c, vec ? s / 4 : s, 0),
    workgroups: grid1d(total),
  });
  return out;
}

/** Sums [N, C, ...] over all dimensions but the channel one, giving [C] (bias gradients). */
export function sumChannels(x: Tensor): Tensor {
  const y = sumChannelsKernel(x);
  return record("sumChannels", [x], y, (g) => [broadcastChannelsKernel(g, x.shape)]);
}
