/**
 * Pooling: 2-D max pooling (torch.nn.functional.max_pool2d), forward and backward.
 * Kernels: shaders/pool.ts. References and gradient checks: tests/pool_test.ts.
 */

import { grid1d, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { isGradEnabled, record } from "../autograd.ts";
import { MAX_POOL, MAX_POOL_BACKWARD } from "../../shaders/pool.ts";
import type { Pair } from "./conv.ts";

/** Options of {@link maxPool2d}, as F.max_pool2d's (dilation 1, floor mode). */
export interface MaxPool2dOptions {
  /** Step between windows (default: the kernel size, as in PyTorch). */
  stride?: Pair;
  /** −∞ rows/columns on each side (default 0); at most half the kernel, as PyTorch requires. */
  padding?: Pair;
}

/** Kernel, stride, padding and the input and output sizes of one pooling call. */
interface PoolGeometry {
  h: number;
  w: number;
  ho: number;
  wo: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

function pairOf(name: string, v: Pair | undefined, def: [number, number], min: number): [number, number] {
  const p: [number, number] = v === undefined ? def : typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (
    (typeof v === "object" && (!Array.isArray(v) || v.length !== 2)) ||
    !p.every((e) => Number.isInteger(e) && e >= min)
  ) {
    throw new Error(
      `maxPool2d: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`,
    );
  }
  return p;
}

/** Launcher (no graph): pooled values, and the argmax of each output when `indices` is given. */
function runMaxPool(x: Tensor, out: Tensor, indices: Tensor | null, g: PoolGeometry): void {
  if (out.size === 0) return;
  runtime().dispatch(MAX_POOL, { indices: indices !== null }, {
    buffers: { x: x.buffer, out: out.buffer, indices: indices?.buffer },
    uniforms: { n: out.size, ...g },
    workgroups: grid1d(out.size),
  });
}

/** Launcher (no graph): the input gradient of a max pooling from its upstream gradient and argmaxes. */
function runMaxPoolBackward(
  g: Tensor,
  indices: Tensor,
  shape: readonly number[],
  geom: PoolGeometry,
): Tensor {
  const out = Tensor.empty(shape, "maxPool2dBackward");
  if (out.size === 0) return out;
  runtime().dispatch(MAX_POOL_BACKWARD, undefined, {
    buffers: { g: g.buffer, indices: indices.buffer, out: out.buffer },
    uniforms: { n: out.size, ...geom },
    workgroups: grid1d(out.size),
  });
  return out;
}

/**
 * 2-D max pooling (F.max_pool2d(x, kernelSize, stride, padding)): x [N, C, H, W] → [N, C, Ho, Wo]
 * with Ho = ⌊(H + 2·padH − kH) / strideH⌋ + 1 (likewise Wo); padding counts as −∞. Among equal
 * values the first in row-major order wins, as in PyTorch, and only it receives the gradient.
 * The ResNet stem uses kernel 3, stride 2, padding 1. Argmaxes are stored only when a backward
 * pass can need them.
 */
export function maxPool2d(x: Tensor, kernelSize: Pair, opts: MaxPool2dOptions = {}): Tensor {
  if (x.rank !== 4) throw new Error(`maxPool2d: input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [kh, kw] = pairOf("kernel size", kernelSize, [1, 1], 1);
  const [sh, sw] = pairOf("stride", opts.stride, [kh, kw], 1);
  const [ph, pw] = pairOf("padding", opts.padding, [0, 0], 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new Error(
      `maxPool2d: padding ${ph},${pw} must be at most half the kernel size ${kh}x${kw} (input ${
        fmtShape(x.shape)
      })`,
    );
  }
  const [n, c, h, w] = x.shape;
  if (h + 2 * ph < kh || w + 2 * pw < kw) {
    throw new Error(
      `maxPool2d: kernel ${kh}x${kw} is larger than the padded input ${h + 2 * ph}x${w + 2 * pw} ` +
        `(input ${fmtShape(x.shape)}, padding ${ph},${pw})`,
    );
  }
  const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const geom: PoolGeometry = { h, w, ho, wo, kh, kw, sh, sw, ph, pw };
  const shape = [n, c, ho, wo];
  const out = Tensor.empty(shape, "maxPool2d");
  // Same condition as record(): without a graph nobody reads the argmaxes.
  if (!isGradEnabled() || !x.requiresGrad) {
    runMaxPool(x, out, null, geom);
    return out;
  }
  // The argmaxes are u32 bits in an f32-sized buffer; the backward closure keeps them alive.
  const indices = Tensor.empty(shape, "maxPool2dIndices");
  runMaxPool(x, out, indices, geom);
  return record("maxPool2d", [x], out, (g) => [runMaxPoolBackward(g, indices, x.shape, geom)]);
}
