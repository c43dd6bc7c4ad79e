/**
 * Matrix products: a low-level kernel with transpose flags and bias (no graph), and
 * the differentiable `matmul` and `linear` built on it.
 * Kernel: MATMUL in shaders/matmul.ts. References and gradient checks: tests/matmul_test.ts.
 */

import { runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { MATMUL, MATMUL_WG } from "../../shaders/matmul.ts";
import { runSumChannels } from "./reduce.ts";

/** Tuning knob: tests set minThreads to 1 so that small shapes run the big register tiles too. */
export const matmulTuning = { minThreads: 256 };

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
  // vec4 loads need the contiguous dimension of every operand to be a multiple of 4.
  const vec = n % 4 === 0 && k % 4 === 0 && (!transA || m % 4 === 0);
  const { rows, cols } = pickMatmulTile(m, n, vec, Math.max(1, batch));
  const wg = [Math.ceil(n / 4 / cols / MATMUL_WG[0]), Math.ceil(m / rows / MATMUL_WG[1]), Math.max(1, batch)];
  if (wg.some((w) => w > 65535)) {
    out.dispose();
    throw new Error(`matmul: too large for one dispatch (workgroups ${wg.join("×")}): ${desc()}`);
  }
  const unit = vec ? 4 : 1;
  runtime().dispatch(MATMUL, { transA, transB, bias: !!bias, vec, rows, cols }, {
    buffers: { A: a.buffer, B: b.buffer, bias: bias?.buffer, C: out.buffer },
    uniforms: {
      m,
      n,
      k,
      strideA: batchA ? (m * k) / unit : 0,
      strideB: batchB ? (k * n) / unit : 0,
      strideC: (m * n) / unit,
    },
    workgroups: wg as [number, number, number],
  });
  return out;
}

/**
 * Matrix product of [M, K] and [K, N] (or of two [batch, …] stacks of equal batch), with
 * gradients dA = g·Bᵀ and dB = Aᵀ·g from the transposing kernel.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3) || (a.rank === 3 && a.shape[0] !== b.shape[0])) {
    throw new Error(
      `matmul: expected [M, K]·[K, N] or [B, M, K]·[B, K, N], got ${fmtShape(a.shape)} and ${
        fmtShape(b.shape)
      }`,
    );
  }
  const y = runMatmul(a, b);
  return record("matmul", [a, b], y, (g, needs) => [
    needs[0] ? runMatmul(g, b, { transB: true }) : null,
    needs[1] ? runMatmul(a, g, { transA: true }) : null,
  ]);
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
