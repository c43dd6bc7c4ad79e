/**
 * Matrix products: a low-level kernel with transpose flags and bias (no graph), and
 * the differentiable `matmul` and `linear` built on it.
 * Kernel: MATMUL in shaders/matmul.ts. References and gradient checks: tests/matmul_test.ts.
 */

import { runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { autotuner, type TuneBench } from "../autotune.ts";
import { MATMUL, MATMUL_SHARED, MATMUL_WG, SHARED_WG } from "../../shaders/matmul.ts";
import { runSumChannels } from "./reduce.ts";
import { zeros } from "./buffers.ts";

/**
 * The ways to compute a matmul: `register` (MATMUL with the tile {@link pickMatmulTile} picks, the
 * default) and `shared32` / `shared64` (MATMUL_SHARED with 32×32 or 64×64 workgroup tiles). With
 * tuning on (engine/autotune.ts) the fastest is chosen per adapter and shape.
 */
export const MATMUL_VARIANTS = ["register", "shared32", "shared64"] as const;

/** One of {@link MATMUL_VARIANTS}. */
export type MatmulVariantName = typeof MATMUL_VARIANTS[number];

/**
 * Tuning knobs: tests set minThreads to 1 so that small shapes run the big register tiles too, and
 * `variant` forces one of {@link MATMUL_VARIANTS} on every call (null: the default, or the
 * autotuner's choice when it is enabled).
 */
export const matmulTuning = { minThreads: 256, variant: null as MatmulVariantName | null };

/**
 * Register tile of a matmul: the biggest of 32×4, 16×4, 16×2, 8×2 (rows × vec4 columns; bigger
 * tiles load less per multiply-add, ~16 against ~6.5 GFLOPS at 1024³ on lavapipe) that fits M and
 * N and still leaves {@link matmulTuning}.minThreads invocations to spread over the cores; else
 * 8×1, or 4×1 for tiny M.
 */
function pickMatmulTile(
  m: number,
  n: number,
  vec: boolean,
  batch: number,
): { rows: 4 | 8 | 16 | 32; cols: 1 | 2 | 4 } {
  if (vec) {
    const tiles = [[32, 4], [16, 4], [16, 2], [8, 2]] as const;
    for (const [rows, cols] of tiles) {
      const threads = Math.ceil(m / rows) * Math.ceil(n / 4 / cols) * batch;
      if (m >= rows && n / 4 >= cols && threads >= matmulTuning.minThreads) {
        return { rows, cols };
      }
    }
  }
  return { rows: m >= 8 ? 8 : 4, cols: 1 };
}

/** Options of {@link runMatmul}. */
export interface MatmulOptions {
  /** Use Aᵀ: `a` is stored [K, M] (or [batch, K, M]). */
  transA?: boolean;
  /** Use Bᵀ: `b` is stored [N, K] (or [batch, N, K]). */
  transB?: boolean;
  /** [N], added to every row of the result. */
  bias?: Tensor | null;
}

/**
 * Low-level (no graph): C = op(A) · op(B) (+ bias) where op transposes when asked.
 * 2-D operands give [M, N]; a 3-D operand [batch, …] gives [batch, M, N], and a 2-D
 * operand next to a 3-D one is shared by every batch entry (a weight matrix).
 */
export function runMatmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA, transB = !!opts.transB;
  const bias = opts.bias ?? null;
  const desc = () =>
    `A ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} · B ${fmtShape(b.shape)}${transB ? "ᵀ" : ""}` +
    (bias ? ` + bias ${fmtShape(bias.shape)}` : "");
  if (a.rank < 2 || a.rank > 3 || b.rank < 2 || b.rank > 3) {
    throw new Error(`matmul: operands must be 2-D or 3-D: ${desc()}`);
  }
  const batchA = a.rank === 3 ? a.shape[0] : 0;
  const batchB = b.rank === 3 ? b.shape[0] : 0;
  if (batchA && batchB && batchA !== batchB) throw new Error(`matmul: batch sizes differ: ${desc()}`);
  const batch = Math.max(batchA, batchB);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const [kb, n] = transB ? [bc, br] : [br, bc];
  if (k !== kb) throw new Error(`matmul: inner dimensions ${k} and ${kb} differ: ${desc()}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new Error(`matmul: bias must have shape [${n}]: ${desc()}`);
  }
  const out = Tensor.empty(batch ? [batch, m, n] : [m, n], "matmul");
  if (out.size === 0) return out;
  const d: MatmulDims = {
    m,
    n,
    k,
    batch: Math.max(1, batch),
    batchA: !!batchA,
    batchB: !!batchB,
    transA,
    transB,
  };
  const variant = matmulTuning.variant ??
    (autotuner.enabled
      ? autotuner.choose("matmul", matmulKey(d, !!bias), MATMUL_VARIANTS, () => matmulBench(d, !!bias))
      : "register");
  const wg = matmulWorkgroups(variant, d);
  if (wg.some((w) => w > 65535)) {
    out.dispose();
    throw new Error(`matmul: too large for one dispatch (workgroups ${wg.join("×")}): ${desc()}`);
  }
  launchMatmul(variant, d, wg, a.buffer, b.buffer, bias?.buffer, out.buffer);
  return out;
}

/** Sizes and layout of one matmul launch. */
interface MatmulDims {
  m: number;
  n: number;
  k: number;
  /** Batch entries, at least 1. */
  batch: number;
  /** Whether A (B) has a batch dimension; a 2-D operand is shared by every entry. */
  batchA: boolean;
  batchB: boolean;
  transA: boolean;
  transB: boolean;
}

/** The autotuner's shape key: every size and flag that can change which kernel is fastest. */
function matmulKey(d: MatmulDims, bias: boolean): string {
  const batch = d.batch > 1 || d.batchA || d.batchB
    ? ` batch ${d.batch}${d.batchA ? "" : " sharedA"}${d.batchB ? "" : " sharedB"}`
    : "";
  return `${d.m}x${d.k}x${d.n}${d.transA ? " tA" : ""}${d.transB ? " tB" : ""}${bias ? " bias" : ""}${batch}`;
}

/** vec4 loads need the contiguous dimension of every operand to be a multiple of 4. */
function isVec(d: MatmulDims): boolean {
  return d.n % 4 === 0 && d.k % 4 === 0 && (!d.transA || d.m % 4 === 0);
}

/** Workgroup counts of `variant` for `d`. */
function matmulWorkgroups(variant: MatmulVariantName, d: MatmulDims): [number, number, number] {
  if (variant === "register") {
    const { rows, cols } = pickMatmulTile(d.m, d.n, isVec(d), d.batch);
    return [Math.ceil(d.n / 4 / cols / MATMUL_WG[0]), Math.ceil(d.m / rows / MATMUL_WG[1]), d.batch];
  }
  const side = SHARED_WG * (variant === "shared32" ? 2 : 4);
  return [Math.ceil(d.n / side), Math.ceil(d.m / side), d.batch];
}

/** Records one matmul of `variant` (workgroups from {@link matmulWorkgroups}). */
function launchMatmul(
  variant: MatmulVariantName,
  d: MatmulDims,
  workgroups: [number, number, number],
  A: GPUBuffer,
  B: GPUBuffer,
  bias: GPUBuffer | undefined,
  C: GPUBuffer,
) {
  const { m, n, k, transA, transB } = d;
  if (variant === "register") {
    const vec = isVec(d);
    const { rows, cols } = pickMatmulTile(m, n, vec, d.batch);
    const unit = vec ? 4 : 1;
    runtime().dispatch(MATMUL, { transA, transB, bias: !!bias, vec, rows, cols }, {
      buffers: { A, B, bias, C },
      uniforms: {
        m,
        n,
        k,
        strideA: d.batchA ? (m * k) / unit : 0,
        strideB: d.batchB ? (k * n) / unit : 0,
        strideC: (m * n) / unit,
      },
      workgroups,
    });
    return;
  }
  runtime().dispatch(MATMUL_SHARED, { transA, transB, bias: !!bias, t: variant === "shared32" ? 2 : 4 }, {
    buffers: { A, B, bias, C },
    uniforms: { m, n, k, strideA: d.batchA ? m * k : 0, strideB: d.batchB ? k * n : 0, strideC: m * n },
    workgroups,
  });
}

/** Zero-filled inputs of one shape for the autotuner (zeros: no denormals to slow a CPU adapter). */
function matmulBench(d: MatmulDims, withBias: boolean): TuneBench {
  const a = zeros([(d.batchA ? d.batch : 1) * d.m * d.k]);
  const b = zeros([(d.batchB ? d.batch : 1) * d.k * d.n]);
  const bias = withBias ? zeros([d.n]) : null;
  const c = zeros([d.batch * d.m * d.n]);
  return {
    run(variant) {
      const name = MATMUL_VARIANTS.find((v) => v === variant);
      const wg = name && matmulWorkgroups(name, d);
      if (!name || !wg || wg.some((w) => w > 65535)) throw new Error(`matmul: cannot run ${variant} here`);
      launchMatmul(name, d, wg, a.buffer, b.buffer, bias?.buffer, c.buffer);
    },
    dispose() {
      for (const t of [a, b, bias, c]) t?.dispose();
    },
  };
}

/** Transposes of the differentiable {@link matmul}: which operand enters the product transposed. */
export interface MatmulTransposes {
  /** Use Aᵀ: `a` is stored [K, M] (or [batch, K, M]). */
  transA?: boolean;
  /** Use Bᵀ: `b` is stored [N, K] (or [batch, N, K]). */
  transB?: boolean;
}

/**
 * Matrix product op(A)·op(B) of [M, K] and [K, N] (or of two [batch, …] stacks of equal batch),
 * where op transposes the operand when `transA`/`transB` asks (so attention's Aᵀ·B and A·Bᵀ need
 * no transposed copy). Gradients come from the transposing kernel, each stored in its operand's
 * layout: C = A·B: dA = g·Bᵀ, dB = Aᵀ·g; C = Aᵀ·B: dA = B·gᵀ, dB = A·g; C = A·Bᵀ: dA = g·B,
 * dB = gᵀ·A; C = Aᵀ·Bᵀ: dA = Bᵀ·gᵀ, dB = gᵀ·Aᵀ.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulTransposes = {}): Tensor {
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3) || (a.rank === 3 && a.shape[0] !== b.shape[0])) {
    throw new Error(
      `matmul: expected [M, K]·[K, N] or [B, M, K]·[B, K, N], got ${fmtShape(a.shape)} and ${
        fmtShape(b.shape)
      }`,
    );
  }
  const transA = !!opts.transA, transB = !!opts.transB;
  const y = runMatmul(a, b, { transA, transB });
  return record("matmul", [a, b], y, (g, needs) => {
    if (!transA && !transB) {
      return [
        needs[0] ? runMatmul(g, b, { transB: true }) : null,
        needs[1] ? runMatmul(a, g, { transA: true }) : null,
      ];
    }
    if (transA && !transB) {
      return [needs[0] ? runMatmul(b, g, { transB: true }) : null, needs[1] ? runMatmul(a, g) : null];
    }
    if (!transA && transB) {
      return [needs[0] ? runMatmul(g, b) : null, needs[1] ? runMatmul(g, a, { transA: true }) : null];
    }
    return [
      needs[0] ? runMatmul(b, g, { transA: true, transB: true }) : null,
      needs[1] ? runMatmul(g, a, { transA: true, transB: true }) : null,
    ];
  });
}

/**
 * F.linear: x [B, in], weight [out, in] (PyTorch layout), optional bias [out]; y = x·Wᵀ + b.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const inF = weight.shape[1];
  if (
    x.rank !== 2 || weight.rank !== 2 || x.shape[1] !== inF ||
    (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0]))
  ) {
    throw new Error(
      `linear: expected x [B, in], weight [out, in], bias [out]; got x ${fmtShape(x.shape)}, weight ${
        fmtShape(weight.shape)
      }${bias ? `, bias ${fmtShape(bias.shape)}` : ""}`,
    );
  }
  const y = runMatmul(x, weight, { transB: true, bias });
  return record("linear", [x, weight, bias ?? null], y, (g, needs) => [
    needs[0] ? runMatmul(g, weight) : null,
    needs[1] ? runMatmul(g, x, { transA: true }) : null,
    needs[2] ? runSumChannels(g) : null,
  ]);
}
