/**
 * Hint spreading: a hint model's prediction blended with its colour hints by an edge-aware normalized
 * convolution guided by the lightness, so that a hint's colour reaches the object around it however far the
 * network's own training got (MODEL.md, "Colour hints"). Kernel: shaders/hints.ts.
 */

import { MODEL_AB_SCALE, MODEL_L_SCALE } from "../engine/color.ts";
import { grid1d, runtime } from "../engine/gpu.ts";
import { fmtShape, Tensor, tensor } from "../engine/tensor.ts";
import { SPREAD_HINTS } from "../shaders/hints.ts";

/**
 * How the colorizer spreads hints over the prediction of a hint model ({@link spreadHints}): the spatial
 * spread σ as a share of the model's side, the lightness spread σ in Lab L units, and the weight of the
 * network's own prediction against a hint's at distance 0. Chosen on the training-internal split (MODEL.md,
 * "Colour hints").
 */
export const HINT_SPREAD = { sigmaSpace: 3 / 16, sigmaLight: 10, eps: 0.05 };

/** A hint placed in the model's square: its cell and its a, b in Lab units. */
export interface SquareHint {
  cell: [number, number];
  a: number;
  b: number;
}

function spreadUniforms(size: number) {
  const s = HINT_SPREAD.sigmaSpace * size, l = HINT_SPREAD.sigmaLight / MODEL_L_SCALE;
  return { invSpace: 1 / (2 * s * s), invLight: 1 / (2 * l * l), eps: HINT_SPREAD.eps };
}

/**
 * A hint model's prediction `pred` [1, 2, size, size] (model units) blended with `hints` by an
 * edge-aware normalized convolution guided by the model's input lightness `L` [1, 1, size, size]
 * (L/50 − 1): each pixel becomes (eps·pred + Σ w·hint) / (eps + Σ w), w falling off with the distance
 * to the hint's cell (σ = {@link HINT_SPREAD}.sigmaSpace of the side) and with the difference in
 * lightness (σ = sigmaLight). Zhang et al.'s network learns to spread hints from long training; this
 * makes the colours follow them however far the network's training got. No hints: `pred` itself.
 */
export function spreadHints(pred: Tensor, L: Tensor, hints: readonly SquareHint[]): Tensor {
  if (hints.length === 0) return pred;
  const size = L.shape[3];
  if (pred.shape.join() !== `1,2,${size},${size}` || L.shape.join() !== `1,1,${size},${size}`) {
    throw new Error(
      `spreadHints: prediction ${fmtShape(pred.shape)} and L ${fmtShape(L.shape)} do not match`,
    );
  }
  const packed = new Float32Array(4 * hints.length);
  hints.forEach((h, i) =>
    packed.set([h.cell[0], h.cell[1], h.a / MODEL_AB_SCALE, h.b / MODEL_AB_SCALE], 4 * i)
  );
  const table = tensor(packed, [packed.length]);
  const out = Tensor.empty([1, 2, size, size], "spreadHints");
  runtime().dispatch(SPREAD_HINTS, undefined, {
    buffers: { pred: pred.buffer, l: L.buffer, hints: table.buffer, out: out.buffer },
    uniforms: { size, count: hints.length, ...spreadUniforms(size) },
    workgroups: grid1d(size * size),
  });
  table.dispose();
  return out;
}

/** Float64 reference of {@link spreadHints} on plain arrays (pred: 2·size², L: size²), for the tests. */
export function spreadHintsReference(
  pred: ArrayLike<number>,
  L: ArrayLike<number>,
  hints: readonly SquareHint[],
  size: number,
): Float64Array {
  const { invSpace, invLight, eps } = spreadUniforms(size);
  const plane = size * size, out = new Float64Array(2 * plane);
  for (let i = 0; i < plane; i++) {
    const x = i % size, y = Math.floor(i / size);
    let wsum = eps, sa = eps * pred[i], sb = eps * pred[plane + i];
    for (const h of hints) {
      const [hx, hy] = h.cell;
      const dl = L[i] - L[hy * size + hx];
      const w = Math.exp(-((x - hx) ** 2 + (y - hy) ** 2) * invSpace - dl * dl * invLight);
      wsum += w, sa += w * h.a / MODEL_AB_SCALE, sb += w * h.b / MODEL_AB_SCALE;
    }
    out[i] = sa / wsum, out[plane + i] = sb / wsum;
  }
  return out;
}
