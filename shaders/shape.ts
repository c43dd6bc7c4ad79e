/**
 * WGSL for shape ops: block copies (concat, slice and their gradients) and 2-D padding.
 *
 * A concat or slice along dimension d sees both tensors as [outer, size_d · inner]
 * rows: a "small" tensor X with rows of `rowX` elements sits at column `offset` of the
 * rows of a "large" tensor Y (`rowY` elements). The copies run over X (or over Y for
 * the zero-filling embed), one invocation per element, or per vec4 when rowX, rowY and
 * offset are multiples of 4 (channel concat of H·W planes almost always is).
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/** What the row-copy kernels are specialised on. */
export interface BlockVariant {
  /** rowX, rowY and offset are multiples of 4, so whole vec4s are copied (counts are in vec4s). */
  vec: boolean;
}

/** What {@link BLOCK_COPY} is specialised on. */
export interface BlockCopyVariant extends BlockVariant {
  /** `scatter` writes X into Y's rows; `gather` reads X out of them. */
  mode: "scatter" | "gather";
}

const elem = (vec: boolean) => vec ? "vec4<f32>" : "f32";

/**
 * `scatter`: Y[row o, offset + r] = X[o, r] (concat forward, into a preallocated Y).
 * `gather`: X[o, r] = Y[row o, offset + r] (slice forward, concat backward).
 * Bindings: `src` (read), `dst`; uniforms {n, rowX, rowY, offset} where n is X's element
 * (or vec4) count.
 */
export const BLOCK_COPY = defineKernel({
  name: "blockCopy",
  bindings: (v: BlockCopyVariant) => [read("src", elem(v.vec)), write("dst", elem(v.vec))],
  uniforms: { n: "u32", rowX: "u32", rowY: "u32", offset: "u32" },
  body: (v) => /* wgsl */ `
${flatMain("i", "p.n")}
  let o = i / p.rowX;
  let r = i - o * p.rowX;
  ${
    v.mode === "scatter"
      ? "dst[o * p.rowY + p.offset + r] = src[i];"
      : "dst[i] = src[o * p.rowY + p.offset + r];"
  }
}`,
});

/**
 * Slice backward as one gather: over Y (n elements or vec4s), Y[o, c] = X[o, c − offset]
 * inside the slice and 0 outside, so no separate zero fill and no atomics.
 * Bindings: `src` = X (read), `dst` = Y; uniforms {n, rowX, rowY, offset}.
 */
export const EMBED = defineKernel({
  name: "embed",
  bindings: (v: BlockVariant) => [read("src", elem(v.vec)), write("dst", elem(v.vec))],
  uniforms: { n: "u32", rowX: "u32", rowY: "u32", offset: "u32" },
  body: (v) => /* wgsl */ `
${flatMain("i", "p.n")}
  let o = i / p.rowY;
  let c = i - o * p.rowY;
  // Unsigned wrap-around makes c − offset huge for c < offset, so one comparison tests both ends.
  let r = c - p.offset;
  if (r < p.rowX) {
    dst[i] = src[o * p.rowX + r];
  } else {
    dst[i] = ${elem(v.vec)}(0.0);
  }
}`,
});

/** What the padding kernels are specialised on. */
export interface PadVariant {
  /** Reflect padding (PyTorch's "reflect") rather than zeros. */
  reflect: boolean;
}

/**
 * 2-D padding of [P, H, W] planes to [P, Ho, Wo] (top/left offsets), zero or reflect
 * (PyTorch's reflect: the edge pixel is not repeated, so pad < size).
 * Bindings: `x` (read), `out`; uniforms {n, h, w, ho, wo, top, left}.
 */
export const PAD = defineKernel({
  name: "pad",
  bindings: [read("x"), write("out")],
  uniforms: { n: "u32", h: "i32", w: "i32", ho: "u32", wo: "u32", top: "i32", left: "i32" },
  body: (v: PadVariant) => {
    const fetch = v.reflect
      ? `var ih = i32(oh) - p.top;
  var iw = i32(ow) - p.left;
  ih = select(ih, -ih, ih < 0);
  ih = select(ih, 2 * (p.h - 1) - ih, ih >= p.h);
  iw = select(iw, -iw, iw < 0);
  iw = select(iw, 2 * (p.w - 1) - iw, iw >= p.w);
  out[i] = x[(plane * u32(p.h) + u32(ih)) * u32(p.w) + u32(iw)];`
      : `let ih = i32(oh) - p.top;
  let iw = i32(ow) - p.left;
  if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w) {
    out[i] = x[(plane * u32(p.h) + u32(ih)) * u32(p.w) + u32(iw)];
  } else {
    out[i] = 0.0;
  }`;
    return /* wgsl */ `
${flatMain("i", "p.n")}
  let ow = i % p.wo;
  let t = i / p.wo;
  let oh = t % p.ho;
  let plane = t / p.ho;
  ${fetch}
}`;
  },
});

/**
 * Backward of {@link PAD} as a gather over the input [P, H, W]: zero padding is a
 * crop; reflect sums the output pixels that copy each input pixel. With pad < size each
 * input row is copied by at most 3 output rows (itself, its mirror above the top edge,
 * its mirror below the bottom edge), likewise columns, so at most 9 terms.
 * Bindings: `g` (read), `out`; uniforms {n, h, w, ho, wo, top, left, bottom, right}.
 */
export const PAD_BACKWARD = defineKernel({
  name: "padBackward",
  bindings: [read("g"), write("out")],
  uniforms: {
    n: "u32",
    h: "i32",
    w: "i32",
    ho: "u32",
    wo: "u32",
    top: "i32",
    left: "i32",
    bottom: "i32",
    right: "i32",
  },
  body: (v: PadVariant) => {
    const body = v.reflect
      ? `let rows = array<i32, 3>(ih + p.top, p.top - ih, p.top + 2 * (p.h - 1) - ih);
  let rowOk = array<bool, 3>(true, ih >= 1 && ih <= p.top, ih <= p.h - 2 && ih >= p.h - 1 - p.bottom);
  let cols = array<i32, 3>(iw + p.left, p.left - iw, p.left + 2 * (p.w - 1) - iw);
  let colOk = array<bool, 3>(true, iw >= 1 && iw <= p.left, iw <= p.w - 2 && iw >= p.w - 1 - p.right);
  var s = 0.0;
  for (var a = 0; a < 3; a++) {
    if (!rowOk[a]) { continue; }
    let rowBase = (plane * p.ho + u32(rows[a])) * p.wo;
    for (var b = 0; b < 3; b++) {
      if (colOk[b]) { s += g[rowBase + u32(cols[b])]; }
    }
  }
  out[i] = s;`
      : `out[i] = g[(plane * p.ho + u32(ih + p.top)) * p.wo + u32(iw + p.left)];`;
    return /* wgsl */ `
${flatMain("i", "p.n")}
  let iw = i32(i % u32(p.w));
  let t = i / u32(p.w);
  let ih = i32(t % u32(p.h));
  let plane = t / u32(p.h);
  ${body}
}`;
  },
});

/** What {@link PIXEL_SHUFFLE} is specialised on. */
export interface PixelShuffleVariant {
  /** `shuffle` writes [N, C, H·r, W·r] from [N, C·r², H, W]; `unshuffle` the inverse. */
  mode: "shuffle" | "unshuffle";
}

/**
 * PixelShuffle and its inverse as one gather over the output (torch.nn.functional.pixel_shuffle /
 * pixel_unshuffle): with the small layout [N, C·r², H, W] and the large [N, C, H·r, W·r],
 * large[n, c, h·r + i, w·r + j] = small[n, c·r² + i·r + j, h, w].
 * Bindings: `x` (read), `out`; uniforms {n (output elements), h, w (small spatial size), r}.
 */
export const PIXEL_SHUFFLE = defineKernel({
  name: "pixelShuffle",
  bindings: [read("x"), write("out")],
  uniforms: { n: "u32", h: "u32", w: "u32", r: "u32" },
  body: (v: PixelShuffleVariant) =>
    v.mode === "shuffle"
      ? /* wgsl */ `
${flatMain("i", "p.n")}
  let wr = p.w * p.r;
  let hr = p.h * p.r;
  let ow = i % wr;
  let t = i / wr;
  let oh = t % hr;
  let nc = t / hr;
  out[i] = x[((nc * p.r * p.r + (oh % p.r) * p.r + ow % p.r) * p.h + oh / p.r) * p.w + ow / p.r];
}`
      : /* wgsl */ `
${flatMain("i", "p.n")}
  let iw = i % p.w;
  let t = i / p.w;
  let ih = t % p.h;
  let q = t / p.h;
  let nc = q / (p.r * p.r);
  let k = q % (p.r * p.r);
  out[i] = x[(nc * p.h * p.r + ih * p.r + k / p.r) * p.w * p.r + iw * p.r + k % p.r];
}`,
});
