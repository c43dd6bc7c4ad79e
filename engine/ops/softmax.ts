/**
 * Softmax over the last axis, with its gradient (dx = y ⊙ (dy − Σ_row dy ⊙ y)), for attention maps.
 * Kernels: shaders/softmax.ts. References and gradient checks: tests/softmax_test.ts.
 */

import { grid, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { SOFTMAX, SOFTMAX_BACKWARD } from "../../shaders/softmax.ts";

/** [rows, cols] of x viewed as a stack of last-axis rows; throws for any axis but the last. */
function rowsOf(x: Tensor, dim: number): [number, number] {
  if (x.rank < 1 || (dim !== -1 && dim !== x.rank - 1)) {
    throw new Error(
      `softmax: only the last axis is supported, got dim ${dim} for shape ${fmtShape(x.shape)}`,
    );
  }
  const cols = x.shape[x.rank - 1];
  return [cols === 0 ? 0 : x.size / cols, cols];
}

/** Low-level (no graph): `kernel` over every last-axis row of `buffers`, into a new tensor of `shape`. */
function runRows(
  op: string,
  kernel: typeof SOFTMAX | typeof SOFTMAX_BACKWARD,
  buffers: Record<string, GPUBuffer>,
  outName: string,
  shape: readonly number[],
  rows: number,
  cols: number,
): Tensor {
  const out = Tensor.empty(shape, op);
  if (out.size === 0) return out;
  runtime().dispatch(kernel, undefined, {
    buffers: { ...buffers, [outName]: out.buffer },
    uniforms: { rows, cols },
    workgroups: grid(rows),
  });
  return out;
}

/**
 * softmax(x) along the last axis: exp(x − max) / Σ exp(x − max) per row, like torch.softmax with
 * dim −1. Only the last axis is supported (`dim` −1 or rank − 1): attention puts its positions there.
 */
export function softmax(x: Tensor, dim = -1): Tensor {
  const [rows, cols] = rowsOf(x, dim);
  const y = runRows("softmax", SOFTMAX, { x: x.buffer }, "y", x.shape, rows, cols);
  // Differentiated through its output, as tanh and sigmoid are.
  return record("softmax", [x], y, (g) => [
    runRows("softmaxBackward", SOFTMAX_BACKWARD, { y: y.buffer, g: g.buffer }, "dx", x.shape, rows, cols),
  ]);
}
