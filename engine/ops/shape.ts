/**
 * Shape ops: reshape (a view), concat, slice, split, 2-D padding and pixel (un)shuffle, with gradients.
 * Kernels: shaders/shape.ts. References and gradient checks: tests/shape_test.ts.
 */

import { grid1d, runtime } from "../gpu.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { BLOCK_COPY, EMBED, PAD, PAD_BACKWARD, PIXEL_SHUFFLE } from "../../shaders/shape.ts";

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Normalises a possibly negative dimension index like PyTorch, or throws naming the op. */
function normDim(op: string, dim: number, rank: number, shape: readonly number[]): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(d) || d < 0 || d >= rank) {
    throw new Error(`${op}: dimension ${dim} is out of range for shape ${fmtShape(shape)}`);
  }
  return d;
}

/**
 * A view of `x` with another shape (no copy); one entry may be -1 (inferred).
 * The gradient is reshaped back.
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = [...shape];
  const free = target.filter((d) => d === -1).length;
  if (free > 1 || target.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new Error(`reshape: invalid target shape ${fmtShape(shape)} for ${fmtShape(x.shape)}`);
  }
  if (free === 1) {
    const known = prod(target.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) {
      throw new Error(
        `reshape: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`,
      );
    }
    target[target.indexOf(-1)] = x.size / known;
  }
  if (prod(target) !== x.size) {
    throw new Error(
      `reshape: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`,
    );
  }
  return record("reshape", [x], x.view(target), (g) => [g.view(x.shape)]);
}

interface Block {
  n: number;
  rowX: number;
  rowY: number;
  offset: number;
}

/**
 * Copies between a small tensor's rows and a slab of a large tensor's rows (see
 * shaders/shape.ts); vec4 when every count is a multiple of 4.
 */
function runBlockCopy(mode: "scatter" | "gather" | "embed", src: Tensor, dst: Tensor, b: Block) {
  if (b.n === 0) return;
  const vec = b.rowX % 4 === 0 && b.rowY % 4 === 0 && b.offset % 4 === 0;
  const k = vec ? 4 : 1;
  const args = {
    buffers: { src: src.buffer, dst: dst.buffer },
    uniforms: { n: b.n / k, rowX: b.rowX / k, rowY: b.rowY / k, offset: b.offset / k },
    workgroups: grid1d(b.n / k),
  };
  if (mode === "embed") runtime().dispatch(EMBED, { vec }, args);
  else runtime().dispatch(BLOCK_COPY, { mode, vec }, args);
}

/**
 * `length` entries of `x` along `dim` from `start` (x.narrow / x[:, start:start+length]),
 * copied. The gradient is g embedded in zeros.
 */
export function slice(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim("slice", dim, x.rank, x.shape);
  const size = x.shape[d];
  if (
    !Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size
  ) {
    throw new Error(
      `slice: [${start}, ${start + length}) is out of range for dim ${d} of ${fmtShape(x.shape)}`,
    );
  }
  const outer = prod(x.shape.slice(0, d));
  const inner = prod(x.shape.slice(d + 1));
  const shape = [...x.shape];
  shape[d] = length;
  const out = Tensor.empty(shape, "slice");
  const block = {
    n: outer * length * inner,
    rowX: length * inner,
    rowY: size * inner,
    offset: start * inner,
  };
  runBlockCopy("gather", x, out, block);
  return record("slice", [x], out, (g) => {
    const gx = Tensor.empty(x.shape, "sliceBackward");
    runBlockCopy("embed", g, gx, { ...block, n: x.size });
    return [gx];
  });
}

/**
 * Concatenation along `dim` (torch.cat); every other dimension must match. dim = 1 joins
 * the channels of NCHW tensors (U-Net skips). The gradient of each input is its slab of g.
 */
export function concat(xs: Tensor[], dim = 1): Tensor {
  if (xs.length === 0) throw new Error("concat: no tensors given");
  const ref = xs[0].shape;
  const d = normDim("concat", dim, ref.length, ref);
  for (const x of xs) {
    if (x.rank !== ref.length || x.shape.some((s, i) => i !== d && s !== ref[i])) {
      throw new Error(
        `concat: shapes ${xs.map((t) => fmtShape(t.shape)).join(", ")} differ outside dimension ${d}`,
      );
    }
  }
  const total = xs.reduce((a, x) => a + x.shape[d], 0);
  const inner = prod(ref.slice(d + 1));
  const shape = [...ref];
  shape[d] = total;
  const out = Tensor.empty(shape, "concat");
  const blocks: Block[] = [];
  let at = 0;
  for (const x of xs) {
    const block = { n: x.size, rowX: x.shape[d] * inner, rowY: total * inner, offset: at * inner };
    runBlockCopy("scatter", x, out, block);
    blocks.push(block);
    at += x.shape[d];
  }
  return record("concat", xs, out, (g, needs) =>
    xs.map((x, i) => {
      if (!needs[i]) return null;
      const gx = Tensor.empty(x.shape, "concatBackward");
      runBlockCopy("gather", g, gx, blocks[i]);
      return gx;
    }));
}

/**
 * Splits `x` along `dim` into pieces of the given sizes (torch.split with a list),
 * each an independent {@link slice} so each piece has its own gradient.
 */
export function split(x: Tensor, sizes: readonly number[], dim = 1): Tensor[] {
  const d = normDim("split", dim, x.rank, x.shape);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (sizes.some((s) => !Number.isInteger(s) || s < 0) || total !== x.shape[d]) {
    throw new Error(`split: sizes [${sizes.join(", ")}] do not add up to dim ${d} of ${fmtShape(x.shape)}`);
  }
  let at = 0;
  return sizes.map((s) => {
    const piece = slice(x, d, at, s);
    at += s;
    return piece;
  });
}

/** Padding modes of {@link pad}; "constant" is F.pad's name for zero padding. */
export type PadMode = "zeros" | "constant" | "reflect";

/**
 * Pads the last two dimensions (F.pad(x, [left, right, top, bottom], mode)) of a
 * tensor with at least 2 dimensions (NCHW in practice). Reflect padding needs each pad
 * smaller than the padded dimension, as in PyTorch.
 */
export function pad(
  x: Tensor,
  padding: readonly [number, number, number, number],
  mode: PadMode = "zeros",
): Tensor {
  const [left, right, top, bottom] = padding;
  if (x.rank < 2) throw new Error(`pad: expected at least 2 dimensions, got ${fmtShape(x.shape)}`);
  if (padding.length !== 4 || padding.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new Error(
      `pad: padding [${padding.join(", ")}] must be 4 non-negative integers (shape ${fmtShape(x.shape)})`,
    );
  }
  if (mode !== "zeros" && mode !== "constant" && mode !== "reflect") {
    throw new Error(`pad: unknown mode "${mode}" for ${fmtShape(x.shape)}`);
  }
  const h = x.shape[x.rank - 2], w = x.shape[x.rank - 1];
  const reflect = mode === "reflect";
  if (reflect && (left >= w || right >= w || top >= h || bottom >= h)) {
    throw new Error(
      `pad: reflect padding [${padding.join(", ")}] must be smaller than the padded dimensions of ${
        fmtShape(x.shape)
      }`,
    );
  }
  const ho = h + top + bottom, wo = w + left + right;
  const shape = [...x.shape.slice(0, -2), ho, wo];
  const out = Tensor.empty(shape, "pad");
  if (out.size > 0) {
    runtime().dispatch(PAD, { reflect }, {
      buffers: { x: x.buffer, out: out.buffer },
      uniforms: { n: out.size, h, w, ho, wo, top, left },
      workgroups: grid1d(out.size),
    });
  }
  return record("pad", [x], out, (g) => {
    const gx = Tensor.empty(x.shape, "padBackward");
    if (gx.size > 0) {
      runtime().dispatch(PAD_BACKWARD, { reflect }, {
        buffers: { g: g.buffer, out: gx.buffer },
        uniforms: { n: gx.size, h, w, ho, wo, top, left, bottom, right },
        workgroups: grid1d(gx.size),
      });
    }
    return [gx];
  });
}

/** Launcher (no graph): pixel (un)shuffle of x into a new tensor of `shape` (see PIXEL_SHUFFLE). */
function runPixelShuffle(
  mode: "shuffle" | "unshuffle",
  x: Tensor,
  shape: readonly number[],
  small: readonly number[],
  r: number,
): Tensor {
  const out = Tensor.empty(shape, `pixel_${mode}`);
  if (out.size === 0) return out;
  runtime().dispatch(PIXEL_SHUFFLE, { mode }, {
    buffers: { x: x.buffer, out: out.buffer },
    uniforms: { n: out.size, h: small[2], w: small[3], r },
    workgroups: grid1d(out.size),
  });
  return out;
}

function checkFactor(op: string, x: Tensor, r: number) {
  if (x.rank !== 4) throw new Error(`${op}: input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (!Number.isInteger(r) || r < 1) throw new Error(`${op}: factor must be an integer >= 1, got ${r}`);
}

/**
 * F.pixel_shuffle: [N, C·r², H, W] → [N, C, H·r, W·r], moving channel groups into r×r pixel
 * blocks (sub-pixel convolution upsampling). The gradient is {@link pixelUnshuffle} of g.
 */
export function pixelShuffle(x: Tensor, r: number): Tensor {
  checkFactor("pixelShuffle", x, r);
  const [n, c, h, w] = x.shape;
  if (c % (r * r) !== 0) {
    throw new Error(
      `pixelShuffle: ${c} channels of ${fmtShape(x.shape)} are not divisible by ${r}² = ${r * r}`,
    );
  }
  const y = runPixelShuffle("shuffle", x, [n, c / (r * r), h * r, w * r], x.shape, r);
  return record("pixelShuffle", [x], y, (g) => [runPixelShuffle("unshuffle", g, x.shape, x.shape, r)]);
}

/** F.pixel_unshuffle: [N, C, H·r, W·r] → [N, C·r², H, W], the inverse of {@link pixelShuffle}. */
export function pixelUnshuffle(x: Tensor, r: number): Tensor {
  checkFactor("pixelUnshuffle", x, r);
  const [n, c, h, w] = x.shape;
  if (h % r !== 0 || w % r !== 0) {
    throw new Error(
      `pixelUnshuffle: spatial size ${h}x${w} of ${fmtShape(x.shape)} is not divisible by ${r}`,
    );
  }
  const small = [n, c * r * r, h / r, w / r];
  const y = runPixelShuffle("unshuffle", x, small, small, r);
  return record("pixelUnshuffle", [x], y, (g) => [runPixelShuffle("shuffle", g, x.shape, small, r)]);
}
