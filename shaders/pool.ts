/**
 * WGSL for 2-D max pooling (torch.nn.functional.max_pool2d, dilation 1, floor mode) over [P, H, W]
 * planes (P = N·C) to [P, Ho, Wo]. Padding is −∞ (padded positions never win), and PyTorch's rule
 * padding ≤ kernel / 2 guarantees every window holds at least one real pixel.
 *
 * The forward records, per output, the flat index ih·W + iw (within its plane) of the winning
 * input pixel; the backward is a gather over the input: each input pixel sums the upstream
 * gradient of the few windows that overlap it and chose it, so no atomics are needed and the
 * result does not depend on scheduling.
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/** The geometry uniforms both pooling kernels share: input and output sizes, kernel, stride, padding. */
const GEOMETRY = {
  h: "i32",
  w: "i32",
  ho: "i32",
  wo: "i32",
  kh: "i32",
  kw: "i32",
  sh: "i32",
  sw: "i32",
  ph: "i32",
  pw: "i32",
} as const;

/** What {@link MAX_POOL} is specialised on. */
export interface MaxPoolVariant {
  /** Also write each output's argmax to `indices` (only when a backward pass will need it). */
  indices: boolean;
}

/**
 * out[q, oh, ow] = max over the window's real pixels x[q, ih, iw], ih = oh·sh − ph + a (a < kh),
 * iw = ow·sw − pw + b (b < kw); scanning rows then columns with a strict `>`, so among equal
 * values the first one wins, as in PyTorch. With `indices`, indices[o] = ih·W + iw of the winner
 * (u32 bits in an f32-sized buffer).
 * Bindings: `x` (read), `out`, `indices` (u32, only with the variant's `indices`); uniforms
 * {n (outputs), h, w, ho, wo, kh, kw, sh, sw, ph, pw}.
 */
export const MAX_POOL = defineKernel({
  name: "maxPool",
  bindings: (v: MaxPoolVariant) => [read("x"), write("out"), ...(v.indices ? [write("indices", "u32")] : [])],
  uniforms: { n: "u32", ...GEOMETRY },
  body: (v) => /* wgsl */ `
${flatMain("i", "p.n")}
  let o = i32(i);
  let ow = o % p.wo;
  let t = o / p.wo;
  let oh = t % p.ho;
  let plane = t / p.ho;
  let h0 = oh * p.sh - p.ph;
  let w0 = ow * p.sw - p.pw;
  let hs = max(h0, 0);
  let he = min(h0 + p.kh, p.h);
  let ws = max(w0, 0);
  let we = min(w0 + p.kw, p.w);
  let base = plane * p.h * p.w;
  var arg = hs * p.w + ws;
  var best = x[base + arg];
  for (var ih = hs; ih < he; ih++) {
    for (var iw = ws; iw < we; iw++) {
      let v = x[base + ih * p.w + iw];
      if (v > best) {
        best = v;
        arg = ih * p.w + iw;
      }
    }
  }
  out[i] = best;
  ${v.indices ? "indices[i] = u32(arg);" : ""}
}`,
});

/**
 * Backward of {@link MAX_POOL} as a gather over the input [P, H, W]: the windows overlapping
 * (ih, iw) are oh ∈ [⌈(ih + ph − kh + 1) / sh⌉, ⌊(ih + ph) / sh⌋] ∩ [0, Ho) (likewise ow), at most
 * ⌈kh/sh⌉·⌈kw/sw⌉ of them; out[q, ih, iw] = Σ g[q, oh, ow] over those whose argmax is (ih, iw).
 * Bindings: `g` (read), `indices` (u32, read), `out`; uniforms {n (inputs), h, w, ho, wo, kh, kw,
 * sh, sw, ph, pw}.
 */
export const MAX_POOL_BACKWARD = defineKernel({
  name: "maxPoolBackward",
  bindings: [read("g"), read("indices", "u32"), write("out")],
  uniforms: { n: "u32", ...GEOMETRY },
  body: () => /* wgsl */ `
${flatMain("i", "p.n")}
  let e = i32(i);
  let iw = e % p.w;
  let t = e / p.w;
  let ih = t % p.h;
  let plane = t / p.h;
  let me = u32(ih * p.w + iw);
  // Both numerators are ≥ 0 where used, so integer division is floor division.
  let ah = ih + p.ph - p.kh + 1;
  let aw = iw + p.pw - p.kw + 1;
  let ohLo = select(0, (ah + p.sh - 1) / p.sh, ah > 0);
  let owLo = select(0, (aw + p.sw - 1) / p.sw, aw > 0);
  let ohHi = min(p.ho - 1, (ih + p.ph) / p.sh);
  let owHi = min(p.wo - 1, (iw + p.pw) / p.sw);
  var s = 0.0;
  for (var oh = ohLo; oh <= ohHi; oh++) {
    let row = (plane * p.ho + oh) * p.wo;
    for (var ow = owLo; ow <= owHi; ow++) {
      if (indices[row + ow] == me) {
        s += g[row + ow];
      }
    }
  }
  out[i] = s;
}`,
});
