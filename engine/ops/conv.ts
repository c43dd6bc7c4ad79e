/**
 * 2-D convolution and transposed convolution (torch.nn.functional.conv2d and
 * conv_transpose2d), forward and backward. Kernels: shaders/conv.ts.
 * References and gradient checks: tests/conv_test.ts, tests/reference/conv.ts.
 *
 * Three kernels serve both ops, because each op's input gradient is the other op:
 *
 * | computes                         | conv2d        | convTranspose2d |
 * | -------------------------------- | ------------- | --------------- |
 * | direct convolution               | forward       | dx              |
 * | transposed conv, explicit size   | dx            | forward         |
 * | activation correlation           | dw (dy ⋆ x)   | dw (x ⋆ dy)     |
 *
 * plus a per-channel sum for the bias gradient. The transposed kernel first regroups its weights by
 * output residue class (one small pass over the weights per call) so that each input channel's taps
 * for a class are consecutive vec4s.
 *
 * The direct and transposed convolutions also have shared-memory tiled kernels (implicit GEMMs,
 * {@link CONV_VARIANTS}); with tuning on (engine/autotune.ts) the fastest is chosen per adapter and
 * shape. The weight gradient has only its register-tiled kernel.
 */

import { grid, grid1d, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { autotuner, type TuneBench } from "../autotune.ts";
import {
  CONV_BIAS_GRAD,
  CONV_FORWARD,
  CONV_FORWARD_SHARED,
  CONV_REPACK,
  CONV_SUM_SPLITS,
  CONV_TRANSPOSE,
  CONV_TRANSPOSE_SHARED,
  CONV_WEIGHT_GRAD,
  type ConvGeometry,
  type ConvTile,
  transposeTaps,
} from "../../shaders/conv.ts";
import { SHARED_WG } from "../../shaders/matmul.ts";
import { zeros } from "./buffers.ts";

/** A per-axis setting: one number for both axes, or [height, width] as in PyTorch. */
export type Pair = number | [number, number];

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  /** Step of the kernel over the input (default 1); 2 halves each spatial side. */
  stride?: Pair;
  /** Zero rows/columns added on each side of the input (default 0). */
  padding?: Pair;
}

/** Options of {@link convTranspose2d}. */
export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/columns added on the bottom/right of the output (PyTorch's output_padding); < stride. */
  outputPadding?: Pair;
}

/**
 * The ways to compute a direct or transposed convolution: `register` (CONV_FORWARD or
 * CONV_TRANSPOSE with a register tile picked from the shapes, the default) and `shared32` / `shared64`
 * (CONV_FORWARD_SHARED or CONV_TRANSPOSE_SHARED with 32×32 or 64×64 channel × pixel workgroup
 * tiles). All give equal results (same reduction order and fma).
 */
export const CONV_VARIANTS = ["register", "shared32", "shared64"] as const;

/** One of {@link CONV_VARIANTS}. */
export type ConvVariantName = typeof CONV_VARIANTS[number];

/**
 * Tuning knobs. `forward`, `transpose` and `weightGrad` force a register tile for
 * every call (benchmarks and tests use this); null picks one per shape (see `modelTiles`). The
 * tile is part of each kernel's variant (pipelines are cached per variant), so changing them is
 * safe.
 */
export const convTuning = {
  /**
   * Forces one of {@link CONV_VARIANTS} for the direct and transposed convolutions (null: the
   * register kernels, or the autotuner's choice when it is enabled and no tile is forced).
   */
  variant: null as ConvVariantName | null,
  forward: null as ConvTile | null,
  transpose: null as ConvTile | null,
  weightGrad: null as ConvTile | null,
  /** The weight gradient splits its reduction until it has this many invocations (cores busy). */
  weightGradMinThreads: 1024,
  /** Automatic tiles shrink the channel tile until a dispatch has this many invocations. */
  minThreads: 256,
  /**
   * Most multiply-adds per input channel in the unrolled body of one invocation of the 2-D tiled
   * kernels. Lavapipe's compile time grows with it: about 1 s for the one-row kernels' 1024, 3–5 s
   * for 4096, 5–10 s for 8192 (once per variant; Mesa's shader cache keeps the result).
   */
  maxUnroll: 8192,
  /**
   * Calls a pipeline is assumed to serve once compiled (a training run: thousands): the tile
   * pickers charge {@link compileCost} / compileRuns per call, so a layer whose work is small
   * keeps a small body. Mesa's shader cache keeps compiled kernels across runs.
   */
  compileRuns: 10000,
  /**
   * Whether automatic tiles come from the cost model of lavapipe (true: up to 512 outputs per
   * invocation, large unrolled bodies) or are the first version's small tiles (false:
   * {@link pickTile}, one output row per invocation). null (the default): the cost model on a
   * lavapipe adapter (described as llvmpipe), whose costs it measures, and small tiles elsewhere:
   * other adapters compile the large bodies far more slowly (SwiftShader in Chromium several times
   * slower than lavapipe) and GPUs would spill such register tiles. Also for timing old against
   * new in one process.
   */
  modelTiles: null as boolean | null,
};

/** Whether automatic tiles come from the cost model: see {@link convTuning}.modelTiles. */
function useModelTiles(): boolean {
  return convTuning.modelTiles ?? /llvmpipe|lavapipe/i.test(runtime().adapterName);
}

/**
 * Relative cost per output pixel of a tp-pixel tile (lavapipe measurements: loads are
 * amortised over more pixels in wider tiles), used to trade wasted tail pixels for speed.
 */
const TP_COST: Record<number, number> = { 1: 4, 2: 2.4, 4: 1.6, 8: 1.2, 16: 1 };

/**
 * What one lavapipe invocation pays, in ns (measured on a Zen 4 core, bench/RESULTS.md): a storage
 * load runs as a loop over the 8 SIMD lanes with a bounds check per lane and component, about
 * 5.5 ns per vec4 and 2.2 ns per float and lane, while an fma on a register tile too large for
 * the registers costs about 0.05 ns and a select 0.03 ns. Loads dominate, so the tiles are chosen
 * to load as little as possible per multiply-add.
 */
const COST = { vec4: 5.5, scalar: 2.2, fma: 0.05, select: 0.03 };

/**
 * Lavapipe's compile time per multiply-add of a kernel's unrolled body, in ns (measured without
 * Mesa's shader cache: 5–20 s for 8192), spread over {@link convTuning}.compileRuns calls: what
 * a large body must save per call to be worth compiling.
 */
function compileCost(body: number): number {
  return (1.5e6 * body) / convTuning.compileRuns;
}

/** Loads and selects of a {@link loadWindow}-style run of `len` floats (static offset or not). */
function windowCost(len: number, offset: number | undefined): number {
  if (offset !== undefined) return COST.vec4 * Math.ceil((offset + len) / 4);
  return COST.vec4 * (((len + 2) >> 2) + 1) + COST.select * 4 * len;
}

/** Threads lavapipe runs workgroups on (its default is the core count, at most 16). */
function cores(): number {
  const n = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(16, n));
}

/** Time of `invocations` lanes of `laneCost` ns in workgroups of 64 spread over the cores. */
function parallelCost(invocations: number, laneCost: number): number {
  const wgs = Math.ceil(invocations / 64);
  return Math.ceil(wgs / cores()) * 64 * laneCost;
}

/** Tiles already picked, by op, shape and maxUnroll (a step meets the same few shapes every time). */
const picked = new Map<string, ConvTile>();

function memo(key: string, pick: () => ConvTile): ConvTile {
  let t = picked.get(key);
  if (!t) picked.set(key, t = pick());
  return t;
}

function memoTile(op: string, d: ConvDims, pick: (d: ConvDims) => ConvTile): ConvTile {
  return memo(`${op} ${convKey(d)} ${convTuning.maxUnroll}`, () => pick(d));
}

/**
 * The direct convolution's tile for `d`: channels × rows × pixels minimising {@link COST} over
 * the whole dispatch, with at most 512 accumulators and {@link convTuning}.maxUnroll
 * multiply-adds in the unrolled body per input channel. Kernels larger than 4×4 keep the row
 * generator ({@link pickTile}).
 */
function pickForwardTile(d: ConvDims): ConvTile {
  const { g, n, cin, cout, oh, ow } = d;
  const kk = g.kh * g.kw;
  if (kk > 16) return pickTile(cout, ow, n * oh);
  let best: ConvTile = { tc: 1, tp: 1, th: 1 };
  let bestCost = Infinity;
  const maxTc = Math.min(32, 2 ** Math.ceil(Math.log2(cout)));
  for (let tc = 1; tc <= maxTc; tc *= 2) {
    for (const tp of [1, 2, 4, 8, 16]) {
      for (let th = 1; th <= 8; th++) {
        if (tc * tp * th > 512 || tc * tp * th * kk > convTuning.maxUnroll) continue;
        if (th > 1 && th > oh) continue;
        const win = (tp - 1) * g.sw + g.kw;
        const rows = (th - 1) * g.sh + g.kh;
        const staticIn = d.w % 4 === 0 && (tp * g.sw) % 4 === 0;
        const xCost = rows * windowCost(win, staticIn ? (4 - (g.pw % 4)) % 4 : undefined);
        const wCost = tc * g.kh *
          (g.kw >= 3 ? windowCost(g.kw, g.kw % 4 === 0 ? 0 : undefined) : g.kw * COST.scalar);
        const perCi = xCost + wCost + COST.fma * tc * tp * th * kk;
        const store = tc * th * (ow % 4 === 0 && tp % 4 === 0 ? (tp / 4) * COST.vec4 : tp * COST.scalar);
        const invocations = Math.ceil(cout / tc) * n * Math.ceil(oh / th) * Math.ceil(ow / tp);
        const cost = parallelCost(invocations, cin * perCi + store) + compileCost(tc * tp * th * kk);
        if (cost < bestCost * 0.999) {
          bestCost = cost;
          best = { tc, tp, th };
        }
      }
    }
  }
  return best;
}

/**
 * The transposed convolution's tile for `d`, per output residue class: channels × rows × pixels
 * of the class, minimising {@link COST} like {@link pickForwardTile}.
 */
function pickTransposeTile(d: ConvDims): ConvTile {
  const { g, n, cin, cout, oh, ow } = d;
  const nv = Math.ceil(g.kh / g.sh), nu = Math.ceil(g.kw / g.sw);
  const qh = Math.ceil(oh / g.sh), qw = Math.ceil(ow / g.sw);
  const t4 = transposeTaps(g);
  let best: ConvTile = { tc: 1, tp: 1, th: 1 };
  let bestCost = Infinity;
  const maxTc = Math.min(32, 2 ** Math.ceil(Math.log2(cout)));
  for (let tc = 1; tc <= maxTc; tc *= 2) {
    for (const tp of [1, 2, 4, 8, 16]) {
      for (let th = 1; th <= 8; th++) {
        if (tc * tp * th > 512 || tc * tp * th * nv * nu > convTuning.maxUnroll) continue;
        if (th > 1 && th > qh) continue;
        const perCi = tc * (t4 / 4) * COST.vec4 + (th + nv - 1) * windowCost(tp + nu - 1, undefined) +
          COST.fma * tc * tp * th * nv * nu;
        const store = tc * th * tp * COST.scalar;
        const invocations = Math.ceil(cout / tc) * g.sh * g.sw * n * Math.ceil(qh / th) * Math.ceil(qw / tp);
        const cost = parallelCost(invocations, cin * perCi + store) + compileCost(tc * tp * th * nv * nu);
        if (cost < bestCost * 0.999) {
          bestCost = cost;
          best = { tc, tp, th };
        }
      }
    }
  }
  return best;
}

/** The tile for `channels` output channels and rows of `rowLen` pixels, `rows` rows in all. */
export function pickTile(channels: number, rowLen: number, rows: number): ConvTile {
  let tp = 16;
  let best = Infinity;
  for (const t of [16, 8, 4, 2, 1]) {
    const cost = Math.ceil(rowLen / t) * t * TP_COST[t];
    if (cost < best - 1e-9) {
      best = cost;
      tp = t;
    }
  }
  let tc = Math.min(16, 2 ** Math.ceil(Math.log2(Math.max(1, channels))));
  const threads = (c: number) => Math.ceil(channels / c) * rows * Math.ceil(rowLen / tp);
  while (tc > 2 && threads(tc) < convTuning.minThreads) tc /= 2;
  return { tc, tp };
}

function pair(op: string, name: string, v: Pair | undefined, def: number, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [def, def] : typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (
    (typeof v === "object" && (!Array.isArray(v) || v.length !== 2)) ||
    !p.every((e) => Number.isInteger(e) && e >= min)
  ) {
    throw new Error(
      `${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`,
    );
  }
  return p;
}

/**
 * Validates ranks, channel counts, bias and emptiness. `transposed` selects the weight
 * layout: [Cin, Cout, kH, kW] for convTranspose2d, [Cout, Cin, kH, kW] for conv2d.
 */
function checkShapes(
  op: string,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null | undefined,
  transposed: boolean,
) {
  if (x.rank !== 4) {
    throw new Error(`${op}: input must be 4-D [N, C, H, W], got shape ${fmtShape(x.shape)}`);
  }
  if (weight.rank !== 4) {
    throw new Error(`${op}: weight must be 4-D, got shape ${fmtShape(weight.shape)}`);
  }
  const layout = transposed ? "[Cin, Cout, kH, kW]" : "[Cout, Cin, kH, kW]";
  const inCh = weight.shape[transposed ? 0 : 1];
  const outCh = weight.shape[transposed ? 1 : 0];
  if (x.shape[1] !== inCh) {
    throw new Error(
      `${op}: input ${fmtShape(x.shape)} has ${x.shape[1]} channels but weight ${
        fmtShape(weight.shape)
      } expects ${inCh} (weight is ${layout})`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outCh)) {
    throw new Error(
      `${op}: bias of shape ${fmtShape(bias.shape)} does not match the ${outCh} output channels of weight ${
        fmtShape(weight.shape)
      } (weight is ${layout})`,
    );
  }
  if (weight.shape.some((d) => d === 0) || x.shape.slice(1).some((d) => d === 0)) {
    throw new Error(
      `${op}: empty channel, spatial or kernel dimension in input ${fmtShape(x.shape)} or weight ${
        fmtShape(weight.shape)
      }`,
    );
  }
}

// ---------------------------------------------------------------------------
// Kernel launchers (no validation, no graph): shapes are checked by the ops.

/** Sizes of one direct or transposed convolution launch. */
interface ConvDims {
  g: ConvGeometry;
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  oh: number;
  ow: number;
  bias: boolean;
}

/** The autotuner's shape key: every size and flag that can change which kernel is fastest. */
function convKey(d: ConvDims): string {
  const { g } = d;
  return `${d.n}x${d.cin}x${d.h}x${d.w} -> ${d.cout}x${d.oh}x${d.ow} k${g.kh}x${g.kw} s${g.sh}x${g.sw} p${g.ph}x${g.pw}${
    d.bias ? " bias" : ""
  }`;
}

/**
 * Which of {@link CONV_VARIANTS} runs: the forced one, the register kernel when a tile is forced,
 * the autotuner's choice when it is on, else the register kernel.
 */
function convVariant(op: "conv" | "convTranspose", d: ConvDims): ConvVariantName {
  if (convTuning.variant) return convTuning.variant;
  if ((op === "conv" ? convTuning.forward : convTuning.transpose) || !autotuner.enabled) return "register";
  return autotuner.choose(op, convKey(d), CONV_VARIANTS, () => convBench(op, d));
}

/** y = direct convolution of x [N,Cin,H,W] with w [Cout,Cin,kH,kW] (+ b), output [N,Cout,OH,OW]. */
function runConv(
  op: string,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  g: ConvGeometry,
  oh: number,
  ow: number,
) {
  const [n, cin, h, wd] = x.shape;
  const cout = w.shape[0];
  const y = Tensor.empty([n, cout, oh, ow], op);
  if (y.size === 0) return y;
  const d: ConvDims = { g, n, cin, h, w: wd, cout, oh, ow, bias: !!b };
  launchConv(convVariant("conv", d), d, x.buffer, w.buffer, b?.buffer, y.buffer);
  return y;
}

/** Records one direct convolution of `variant`. */
function launchConv(
  variant: ConvVariantName,
  d: ConvDims,
  x: GPUBuffer,
  w: GPUBuffer,
  b: GPUBuffer | undefined,
  y: GPUBuffer,
) {
  const { g, n, cin, h, cout, oh, ow } = d;
  if (variant !== "register") {
    const t = variant === "shared32" ? 2 : 4;
    const side = SHARED_WG * t;
    const total = n * oh * ow;
    const [gx, gz] = grid(Math.ceil(total / side));
    runtime().dispatch(CONV_FORWARD_SHARED, { ...g, t, bias: d.bias }, {
      buffers: { x, w, b, y },
      uniforms: { n, cin, h, w: d.w, cout, oh, ow, total },
      workgroups: [gx, Math.ceil(cout / side), gz],
    });
    return;
  }
  const tile = convTuning.forward ??
    (useModelTiles() ? memoTile("conv", d, pickForwardTile) : pickTile(cout, ow, n * oh));
  const owBlocks = Math.ceil(ow / tile.tp);
  const ohBlocks = Math.ceil(oh / (tile.th ?? 1));
  const total = Math.ceil(cout / tile.tc) * n * ohBlocks * owBlocks;
  const v = {
    ...g,
    tc: tile.tc,
    tp: tile.tp,
    bias: d.bias,
    alignIn: d.w % 4 === 0,
    alignOut: ow % 4 === 0,
    ...(tile.th === undefined ? {} : { th: tile.th }),
  };
  runtime().dispatch(CONV_FORWARD, v, {
    buffers: { x, w, b, y },
    uniforms: { n, cin, h, w: d.w, cout, oh, ow, owBlocks, ohBlocks, total },
    workgroups: grid1d(total),
  });
}

/** y = transposed convolution of x [N,Cin,H,W] with w [Cin,Cout,kH,kW] (+ b), output [N,Cout,oh,ow]. */
function runConvTranspose(
  op: string,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  g: ConvGeometry,
  oh: number,
  ow: number,
) {
  const [n, cin, h, wd] = x.shape;
  const cout = w.shape[1];
  const y = Tensor.empty([n, cout, oh, ow], op);
  if (y.size === 0) return y;
  const d: ConvDims = { g, n, cin, h, w: wd, cout, oh, ow, bias: !!b };
  const variant = convVariant("convTranspose", d);
  const wp = runRepackTransposeWeights(w, g);
  launchConvTranspose(variant, d, x.buffer, wp.buffer, b?.buffer, y.buffer);
  wp.dispose();
  return y;
}

/** Records one transposed convolution of `variant` on repacked weights `wp`. */
function launchConvTranspose(
  variant: ConvVariantName,
  d: ConvDims,
  x: GPUBuffer,
  wp: GPUBuffer,
  b: GPUBuffer | undefined,
  y: GPUBuffer,
) {
  const { g, n, cin, h, cout, oh, ow } = d;
  const qh = Math.ceil(oh / g.sh);
  const qw = Math.ceil(ow / g.sw);
  if (variant !== "register") {
    const t = variant === "shared32" ? 2 : 4;
    const side = SHARED_WG * t;
    const total = n * qh * qw;
    const [gx, gz] = grid(Math.ceil(total / side));
    runtime().dispatch(CONV_TRANSPOSE_SHARED, { ...g, t, bias: d.bias }, {
      buffers: { x, wp, b, y },
      uniforms: { n, cin, h, w: d.w, cout, oh, ow, qh, qw, total },
      workgroups: [gx, Math.ceil(cout / side) * g.sh * g.sw, gz],
    });
    return;
  }
  const tile = convTuning.transpose ??
    (useModelTiles()
      ? memoTile("convTranspose", d, pickTransposeTile)
      : pickTile(cout, qw, n * qh * g.sh * g.sw));
  const th = tile.th ?? 1;
  const qwBlocks = Math.ceil(qw / tile.tp);
  const qhBlocks = Math.ceil(qh / th);
  const total = Math.ceil(cout / tile.tc) * g.sh * g.sw * n * qhBlocks * qwBlocks;
  runtime().dispatch(CONV_TRANSPOSE, { ...g, tc: tile.tc, tp: tile.tp, th, bias: d.bias }, {
    buffers: { x, wp, b, y },
    uniforms: { n, cin, h, w: d.w, cout, oh, ow, qhBlocks, qwBlocks, total },
    workgroups: grid1d(total),
  });
}

/**
 * Zero-filled inputs of one shape for the autotuner (zeros: no denormals to slow a CPU adapter);
 * the transposed convolution's weights are repacked once here, so only the convolution is timed.
 */
function convBench(op: "conv" | "convTranspose", d: ConvDims): TuneBench {
  const { g } = d;
  const x = zeros([d.n, d.cin, d.h, d.w]);
  const w = zeros(op === "conv" ? [d.cout, d.cin, g.kh, g.kw] : [d.cin, d.cout, g.kh, g.kw]);
  const wp = op === "conv" ? w : runRepackTransposeWeights(w, g);
  const b = d.bias ? zeros([d.cout]) : null;
  const y = Tensor.empty([d.n, d.cout, d.oh, d.ow], "autotune");
  return {
    run(variant) {
      const name = CONV_VARIANTS.find((v) => v === variant);
      if (!name) throw new Error(`${op}: no variant ${variant}`);
      if (op === "conv") launchConv(name, d, x.buffer, w.buffer, b?.buffer, y.buffer);
      else launchConvTranspose(name, d, x.buffer, wp.buffer, b?.buffer, y.buffer);
    },
    dispose() {
      for (const t of [x, w, wp, b, y]) t?.dispose();
    },
  };
}

/** Transposed-conv weights [cin, cout, kh, kw] regrouped by output residue class (see CONV_REPACK). */
function runRepackTransposeWeights(w: Tensor, g: ConvGeometry): Tensor {
  const [cin, cout] = w.shape;
  const total = g.sh * g.sw * cin * cout * transposeTaps(g);
  const wp = Tensor.empty([total], "convTranspose.repack");
  runtime().dispatch(CONV_REPACK, g, {
    buffers: { w: w.buffer, wp: wp.buffer },
    uniforms: { pairs: cin * cout },
    workgroups: grid1d(cin * cout),
  });
  return wp;
}

/** Weight-gradient tile: tc channels of `a`; 4 columns per step (its cost is per row, not per pixel). */
function pickWeightGradTile(ca: number): ConvTile {
  return { tc: Math.min(16, 2 ** Math.ceil(Math.log2(Math.max(1, ca)))), tp: 4 };
}

/** Sizes of one weight-gradient launch: out[ca,cb,kh,kw] = Σ a[n,ca,i,j]·b[n,cb,…]. */
interface WeightGradDims {
  g: ConvGeometry;
  n: number;
  ca: number;
  ha: number;
  wa: number;
  cb: number;
  hb: number;
  wb: number;
}

/** How a weight-gradient launch divides its work: the tile, and the reduction's row blocks and splits. */
interface WeightGradPlan {
  tile: ConvTile;
  /** Row blocks of `a` (n·⌈ha/th⌉) and how many each split sums. */
  rows: number;
  rowsPerSplit: number;
  splits: number;
  /** Invocations per split: channel blocks of `a` × channel blocks of `b`. */
  lanes: number;
}

/**
 * Splits the reduction when the outputs alone give fewer than {@link convTuning}.weightGradMinThreads
 * invocations (a first layer with one input channel would leave cores idle), keeping the partial
 * sums within a few MB.
 */
function planWeightGrad(d: WeightGradDims, tile: ConvTile): WeightGradPlan {
  const th = tile.tcb === undefined ? 1 : tile.th ?? 1;
  const rows = d.n * Math.ceil(d.ha / th);
  const lanes = Math.ceil(d.ca / tile.tc) * Math.ceil(d.cb / (tile.tcb ?? 1));
  const outSize = d.ca * d.cb * d.g.kh * d.g.kw;
  const maxSplits = Math.max(1, Math.floor((1 << 22) / outSize));
  const want = Math.max(1, Math.min(Math.ceil(convTuning.weightGradMinThreads / lanes), rows, maxSplits));
  const rowsPerSplit = Math.ceil(rows / want);
  return { tile, rows, rowsPerSplit, splits: Math.ceil(rows / rowsPerSplit), lanes };
}

/**
 * The weight gradient's tile for `d`: tc channels of `a` × tcb channels of `b` (tc·tcb·kh·kw
 * accumulators, at most 512) and th rows × tp columns of `a` per step, minimising {@link COST}
 * over the dispatch and the split sums, with at most {@link convTuning}.maxUnroll multiply-adds
 * in the unrolled step.
 */
function pickWeightGradTileModel(d: WeightGradDims): ConvTile {
  const { g, ca, cb, wa } = d;
  const kk = g.kh * g.kw;
  const ob = (4 - (g.pw % 4)) % 4;
  let best: ConvTile = { tc: 1, tp: 4, tcb: 1, th: 1 };
  let bestCost = Infinity;
  const pow2 = (x: number) => Math.min(32, 2 ** Math.ceil(Math.log2(Math.max(1, x))));
  for (let tc = 1; tc <= pow2(ca); tc *= 2) {
    for (let tcb = 1; tcb <= pow2(cb); tcb *= 2) {
      if (tc * tcb * kk > 512) continue;
      for (const tp of [1, 2, 4, 8, 16]) {
        for (let th = 1; th <= 8; th++) {
          if (tc * tcb * th * tp * kk > convTuning.maxUnroll || (th > 1 && th > d.ha)) continue;
          const tile = { tc, tp, tcb, th };
          const plan = planWeightGrad(d, tile);
          const win = (tp - 1) * g.sw + g.kw;
          const rowsB = (th - 1) * g.sh + g.kh;
          // Measured: fmas slow down once the accumulators and the operands they read exceed
          // about 700 values per invocation (spill traffic): 2.6× slower at 800.
          const live = tc * tcb * kk + tc * th * tp + tcb * win;
          const fma = COST.fma * (1 + Math.max(0, live - 700) / 64);
          const step = tc * th * windowCost(tp, wa % 4 === 0 && tp % 4 === 0 ? 0 : undefined) +
            tcb * rowsB * windowCost(win, d.wb % 4 === 0 && (tp * g.sw) % 4 === 0 ? ob : undefined) +
            fma * tc * tcb * th * tp * kk;
          const lane = plan.rowsPerSplit * Math.ceil(wa / tp) * step +
            tc * tcb * Math.ceil(kk / 4) * COST.vec4;
          let cost = parallelCost(plan.lanes * plan.splits, lane) + compileCost(tc * tcb * th * tp * kk);
          if (plan.splits > 1) cost += parallelCost(ca * cb * kk, (plan.splits + 1) * COST.scalar);
          if (cost < bestCost * 0.999) {
            bestCost = cost;
            best = tile;
          }
        }
      }
    }
  }
  return best;
}

/** out[ca,cb,kh,kw] = Σ a[n,ca,i,j]·b[n,cb,i·sh−ph+kh, j·sw−pw+kw]: a weight gradient. */
function runWeightGrad(op: string, a: Tensor, b: Tensor, g: ConvGeometry): Tensor {
  const [n, ca, ha, wa] = a.shape;
  const [, cb, hb, wb] = b.shape;
  if (n * ha === 0) return zeros([ca, cb, g.kh, g.kw]);
  const out = Tensor.empty([ca, cb, g.kh, g.kw], op);
  const rt = runtime();
  const d: WeightGradDims = { g, n, ca, ha, wa, cb, hb, wb };
  const key =
    `weightGrad ${n}x${ca}x${ha}x${wa} ${cb}x${hb}x${wb} k${g.kh}x${g.kw} s${g.sh}x${g.sw} p${g.ph}x${g.pw} ${convTuning.maxUnroll} ${convTuning.compileRuns} ${convTuning.weightGradMinThreads}`;
  const tile = convTuning.weightGrad ??
    (useModelTiles() ? memo(key, () => pickWeightGradTileModel(d)) : pickWeightGradTile(ca));
  const { rows, rowsPerSplit, splits, lanes } = planWeightGrad(d, tile);
  const total = lanes * splits;
  const tiled = tile.tcb === undefined ? {} : { tcb: tile.tcb, th: tile.th ?? 1 };
  const variant = { ...g, tc: tile.tc, tp: tile.tp, alignA: wa % 4 === 0, alignB: wb % 4 === 0, ...tiled };
  const target = splits > 1 ? Tensor.empty([splits * out.size], op) : out;
  rt.dispatch(CONV_WEIGHT_GRAD, variant, {
    buffers: { a: a.buffer, b: b.buffer, out: target.buffer },
    uniforms: {
      n,
      ca,
      ha,
      wa,
      cb,
      hb,
      wb,
      total,
      rowsPerSplit,
      rows,
      splits,
      cbBlocks: Math.ceil(cb / (tile.tcb ?? 1)),
      haBlocks: Math.ceil(ha / (tile.tcb === undefined ? 1 : tile.th ?? 1)),
    },
    workgroups: grid1d(total),
  });
  if (splits > 1) {
    rt.dispatch(CONV_SUM_SPLITS, undefined, {
      buffers: { parts: target.buffer, out: out.buffer },
      uniforms: { m: out.size, splits },
      workgroups: grid1d(out.size),
    });
    target.dispose();
  }
  return out;
}

/** db[c] = Σ_{n,h,w} dy[n,c,h,w]. */
function runBiasGrad(op: string, dy: Tensor): Tensor {
  const [n, c, h, w] = dy.shape;
  const db = Tensor.empty([c], op);
  runtime().dispatch(CONV_BIAS_GRAD, undefined, {
    buffers: { dy: dy.buffer, db: db.buffer },
    uniforms: { n, c, hw: h * w },
    workgroups: grid(c),
  });
  return db;
}

// ---------------------------------------------------------------------------
// Ops

/**
 * 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) with zero padding.
 * x [N, Cin, H, W], weight [Cout, Cin, kH, kW], bias [Cout] or null;
 * returns [N, Cout, OH, OW] with OH = ⌊(H + 2·padH − kH) / strideH⌋ + 1 (likewise OW).
 * Differentiable with respect to x, weight and bias.
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  const op = "conv2d";
  checkShapes(op, x, weight, bias, false);
  const [sh, sw] = pair(op, "stride", opts.stride, 1, 1);
  const [ph, pw] = pair(op, "padding", opts.padding, 0, 0);
  const [, , h, w] = x.shape;
  const [, , kh, kw] = weight.shape;
  if (h + 2 * ph < kh || w + 2 * pw < kw) {
    throw new Error(
      `${op}: kernel ${kh}x${kw} of weight ${fmtShape(weight.shape)} is larger than the padded input ` +
        `${h + 2 * ph}x${w + 2 * pw} (input ${fmtShape(x.shape)}, padding ${ph},${pw})`,
    );
  }
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const g: ConvGeometry = { kh, kw, sh, sw, ph, pw };
  const y = runConv(op, x, weight, bias ?? null, g, oh, ow);
  return record(op, [x, weight, bias], y, (dy, needs) => [
    needs[0] ? runConvTranspose("conv2d.dx", dy, weight, null, g, h, w) : null,
    needs[1] ? runWeightGrad("conv2d.dw", dy, x, g) : null,
    needs[2] ? runBiasGrad("conv2d.db", dy) : null,
  ]);
}

/**
 * 2-D transposed convolution (torch.nn.functional.conv_transpose2d), the gradient of
 * conv2d with respect to its input. x [N, Cin, H, W], weight [Cin, Cout, kH, kW], bias
 * [Cout] or null; returns [N, Cout, OH, OW] with
 * OH = (H − 1)·strideH − 2·padH + kH + outputPaddingH (likewise OW), outputPadding < stride.
 * Differentiable with respect to x, weight and bias.
 */
export function convTranspose2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  opts: ConvTranspose2dOptions = {},
): Tensor {
  const op = "convTranspose2d";
  checkShapes(op, x, weight, bias, true);
  const [sh, sw] = pair(op, "stride", opts.stride, 1, 1);
  const [ph, pw] = pair(op, "padding", opts.padding, 0, 0);
  const [oph, opw] = pair(op, "outputPadding", opts.outputPadding, 0, 0);
  if (oph >= sh || opw >= sw) {
    throw new Error(
      `${op}: outputPadding ${oph},${opw} must be smaller than stride ${sh},${sw} (input ${
        fmtShape(x.shape)
      }, weight ${fmtShape(weight.shape)})`,
    );
  }
  const [, , h, w] = x.shape;
  const [, , kh, kw] = weight.shape;
  const oh = (h - 1) * sh - 2 * ph + kh + oph;
  const ow = (w - 1) * sw - 2 * pw + kw + opw;
  if (oh <= 0 || ow <= 0) {
    throw new Error(
      `${op}: output size ${oh}x${ow} is not positive (input ${fmtShape(x.shape)}, weight ${
        fmtShape(weight.shape)
      }, stride ${sh},${sw}, padding ${ph},${pw}, outputPadding ${oph},${opw})`,
    );
  }
  const g: ConvGeometry = { kh, kw, sh, sw, ph, pw };
  const y = runConvTranspose(op, x, weight, bias ?? null, g, oh, ow);
  return record(op, [x, weight, bias], y, (dy, needs) => [
    // conv of dy with the [Cin, Cout, …] weight read as conv layout [Cout', Cin'] gives [N, Cin, H, W].
    needs[0] ? runConv("convTranspose2d.dx", dy, weight, null, g, h, w) : null,
    needs[1] ? runWeightGrad("convTranspose2d.dw", x, dy, g) : null,
    needs[2] ? runBiasGrad("convTranspose2d.db", dy) : null,
  ]);
}

/**
 * The input gradient of {@link conv2d} without autodiff (like tf.conv2dBackpropInput and
 * torch.nn.grad.conv2d_input), for benchmarks and custom backward passes: dy [N, Cout, OH, OW],
 * weight [Cout, Cin, kH, kW] → dx of shape `inputShape` [N, Cin, H, W].
 */
export function conv2dBackpropInput(
  dy: Tensor,
  weight: Tensor,
  inputShape: readonly number[],
  opts: Conv2dOptions = {},
): Tensor {
  const op = "conv2dBackpropInput";
  const g = backpropGeometry(op, dy, inputShape, weight.shape, opts);
  if (weight.rank !== 4 || weight.shape[0] !== dy.shape[1] || weight.shape[1] !== inputShape[1]) {
    throw new Error(
      `${op}: weight ${fmtShape(weight.shape)} does not map input ${fmtShape(inputShape)} to dy ${
        fmtShape(dy.shape)
      }`,
    );
  }
  return runConvTranspose(op, dy, weight, null, g, inputShape[2], inputShape[3]);
}

/**
 * The weight gradient of {@link conv2d} without autodiff (like tf.conv2dBackpropFilter and
 * torch.nn.grad.conv2d_weight): x [N, Cin, H, W], dy [N, Cout, OH, OW] → dw of shape
 * `weightShape` [Cout, Cin, kH, kW].
 */
export function conv2dBackpropFilter(
  x: Tensor,
  dy: Tensor,
  weightShape: readonly number[],
  opts: Conv2dOptions = {},
): Tensor {
  const op = "conv2dBackpropFilter";
  const g = backpropGeometry(op, dy, x.shape, weightShape, opts);
  if (
    weightShape.length !== 4 || x.rank !== 4 || weightShape[0] !== dy.shape[1] ||
    weightShape[1] !== x.shape[1] || x.shape[0] !== dy.shape[0]
  ) {
    throw new Error(
      `${op}: weight shape ${fmtShape(weightShape)} does not map x ${fmtShape(x.shape)} to dy ${
        fmtShape(dy.shape)
      }`,
    );
  }
  return runWeightGrad(op, dy, x, g);
}

/** Checks that dy has the conv2d output shape for input `xs` and weight `ws`; returns the geometry. */
function backpropGeometry(
  op: string,
  dy: Tensor,
  xs: readonly number[],
  ws: readonly number[],
  opts: Conv2dOptions,
): ConvGeometry {
  const [sh, sw] = pair(op, "stride", opts.stride, 1, 1);
  const [ph, pw] = pair(op, "padding", opts.padding, 0, 0);
  if (
    xs.length !== 4 || ws.length !== 4 || dy.rank !== 4 || xs.some((d) => d === 0) || ws.some((d) => d === 0)
  ) {
    throw new Error(
      `${op}: need 4-D non-empty shapes, got x ${fmtShape(xs)}, weight ${fmtShape(ws)}, dy ${
        fmtShape(dy.shape)
      }`,
    );
  }
  const [, , h, w] = xs;
  const [, , kh, kw] = ws;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (
    h + 2 * ph < kh || w + 2 * pw < kw || dy.shape[0] !== xs[0] || dy.shape[2] !== oh || dy.shape[3] !== ow
  ) {
    throw new Error(
      `${op}: dy ${fmtShape(dy.shape)} is not the conv2d output of x ${fmtShape(xs)} and weight ${
        fmtShape(ws)
      } (expected [${xs[0]}, ${ws[0]}, ${oh}, ${ow}])`,
    );
  }
  return { kh, kw, sh, sw, ph, pw };
}
