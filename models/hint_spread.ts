/**
 * Hint spreading: a hint model's prediction blended with its colour hints by a normalized convolution
 * along geodesic distances guided by the lightness, so that a hint's colour fills the object around it,
 * stops at its edges, and does so however far the network's own training got (MODEL.md, "Colour hints").
 * Kernels: shaders/hints.ts.
 */

import { MODEL_AB_SCALE, MODEL_L_SCALE } from "../engine/color.ts";
import { grid1d, runtime } from "../engine/gpu.ts";
import { fmtShape, Tensor, tensor } from "../engine/tensor.ts";
import { HINT_BLEND, HINT_PROPAGATE } from "../shaders/hints.ts";

/**
 * How the colorizer spreads hints over the prediction of a hint model ({@link spreadHints}): the spatial
 * spread σ as a share of the model's side, the lightness spread σ in Lab L units (a step across a
 * lightness edge of σ counts as σ_space pixels more), the weight of the network's own prediction against a
 * hint's at its own cell, and the filter's iterations. Chosen on the training-internal split (MODEL.md,
 * "Colour hints").
 */
export const HINT_SPREAD = { sigmaSpace: 1 / 4, sigmaLight: 20, eps: 0.02, iterations: 3 };

/** A hint placed in the model's square: its cell and its a, b in Lab units. */
export interface SquareHint {
  cell: [number, number];
  a: number;
  b: number;
}

/**
 * The filter's numbers for a square of side `size`: each iteration's feedback coefficient (its σ halves
 * from one iteration to the next so that together they have σ_space: Gastal & Oliveira 2011, eq. 14), the
 * geodesic length per unit of model lightness (L/50 − 1), and the mass a hint starts with, 2πσ², so that
 * after filtering it weighs about 1 at its own cell in a flat region, as `eps` assumes.
 */
function filterSettings(size: number) {
  const s = HINT_SPREAD.sigmaSpace * size, n = HINT_SPREAD.iterations;
  const feedback = Array.from({ length: n }, (_, i) => {
    const sigma = s * Math.sqrt(3) * 2 ** (n - 1 - i) / Math.sqrt(4 ** n - 1);
    return Math.exp(-Math.SQRT2 / sigma);
  });
  return { feedback, ratio: s * MODEL_L_SCALE / HINT_SPREAD.sigmaLight, mass: 2 * Math.PI * s * s };
}

/** The three planes the filter starts from: each hint's mass, and its mass times its a and b (model units). */
function hintPlanes(hints: readonly SquareHint[], size: number, mass: number): Float32Array {
  const plane = size * size, planes = new Float32Array(3 * plane);
  for (const h of hints) {
    const i = h.cell[1] * size + h.cell[0];
    planes[i] += mass;
    planes[plane + i] += mass * h.a / MODEL_AB_SCALE;
    planes[2 * plane + i] += mass * h.b / MODEL_AB_SCALE;
  }
  return planes;
}

/**
 * A hint model's prediction `pred` [1, 2, size, size] (model units) blended with `hints`, guided by the
 * model's input lightness `L` [1, 1, size, size] (L/50 − 1): the hints' mass and colour are propagated by
 * the domain transform's recursive filter (horizontal and vertical passes, {@link HINT_SPREAD} iterations),
 * whose distances grow across lightness edges, and each pixel becomes (eps·pred + mass·colour) / (eps +
 * mass). Zhang et al.'s network learns to spread hints from long training; this makes the colours follow
 * them however far the network's training got. No hints: `pred` itself.
 */
export function spreadHints(pred: Tensor, L: Tensor, hints: readonly SquareHint[]): Tensor {
  if (hints.length === 0) return pred;
  const size = L.shape[3];
  if (pred.shape.join() !== `1,2,${size},${size}` || L.shape.join() !== `1,1,${size},${size}`) {
    throw new Error(
      `spreadHints: prediction ${fmtShape(pred.shape)} and L ${fmtShape(L.shape)} do not match`,
    );
  }
  const { feedback, ratio, mass } = filterSettings(size);
  const planes = tensor(hintPlanes(hints, size, mass), [3, size, size]);
  const rt = runtime();
  for (const f of feedback) {
    for (const vertical of [false, true]) {
      rt.dispatch(HINT_PROPAGATE, { vertical }, {
        buffers: { l: L.buffer, planes: planes.buffer },
        uniforms: { size, feedback: f, ratio },
        workgroups: grid1d(size),
      });
    }
  }
  const out = Tensor.empty([1, 2, size, size], "spreadHints");
  rt.dispatch(HINT_BLEND, undefined, {
    buffers: { pred: pred.buffer, planes: planes.buffer, out: out.buffer },
    uniforms: { size, eps: HINT_SPREAD.eps },
    workgroups: grid1d(size * size),
  });
  planes.dispose();
  return out;
}

/** Float64 reference of {@link spreadHints} on plain arrays (pred: 2·size², L: size²), for the tests. */
export function spreadHintsReference(
  pred: ArrayLike<number>,
  L: ArrayLike<number>,
  hints: readonly SquareHint[],
  size: number,
): Float64Array {
  const { feedback, ratio, mass } = filterSettings(size);
  const plane = size * size, J = Float64Array.from(hintPlanes(hints, size, mass));
  // One recursive pass along the lines of `J` whose k-th element is at base + k·stride.
  const pass = (f: number, lineBase: (line: number) => number, stride: number) => {
    for (let line = 0; line < size; line++) {
      const base = lineBase(line);
      for (let c = 0; c < 3; c++) {
        const o = c * plane;
        for (let k = 1; k < size; k++) {
          const i = base + k * stride, w = f ** (1 + ratio * Math.abs(L[i] - L[i - stride]));
          J[o + i] += w * (J[o + i - stride] - J[o + i]);
        }
        for (let k = size - 1; k > 0; k--) {
          const i = base + (k - 1) * stride, w = f ** (1 + ratio * Math.abs(L[i + stride] - L[i]));
          J[o + i] += w * (J[o + i + stride] - J[o + i]);
        }
      }
    }
  };
  for (const f of feedback) {
    pass(f, (row) => row * size, 1);
    pass(f, (col) => col, size);
  }
  const out = new Float64Array(2 * plane), eps = HINT_SPREAD.eps;
  for (let i = 0; i < plane; i++) {
    out[i] = (eps * pred[i] + J[plane + i]) / (eps + J[i]);
    out[plane + i] = (eps * pred[plane + i] + J[2 * plane + i]) / (eps + J[i]);
  }
  return out;
}
