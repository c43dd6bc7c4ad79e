/**
 * WGSL of hint spreading (models/hints.ts): a hint model's prediction blended with its colour hints by an
 * edge-aware normalized convolution, so that a hint's colour reaches the whole object around it.
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/**
 * For each pixel p of a size×size square: `out[c, p] = (eps·pred[c, p] + Σ_h w_h(p)·hint_h[c]) /
 * (eps + Σ_h w_h(p))` with `w_h(p) = exp(−|p − cell_h|²·invSpace − (l[p] − l[cell_h])²·invLight)`, for
 * the `count` hints `hints[4h..4h+3]` = (cell x, cell y, a, b), all in model units. The weights fall off
 * with distance and with the difference in lightness, so colour spreads over the hint's object and
 * stops at edges in the lightness.
 * Bindings `pred` [2, size, size], `l` [size, size], `hints`, `out` [2, size, size]; uniforms {size,
 * count, invSpace, invLight, eps}.
 */
export const SPREAD_HINTS = defineKernel({
  name: "hintSpread",
  bindings: [read("pred"), read("l"), read("hints"), write("out")],
  uniforms: { size: "u32", count: "u32", invSpace: "f32", invLight: "f32", eps: "f32" },
  body: () => /* wgsl */ `
${flatMain("i", "p.size * p.size")}
  let plane = p.size * p.size;
  let x = f32(i % p.size);
  let y = f32(i / p.size);
  let lp = l[i];
  var wsum = p.eps;
  var sa = p.eps * pred[i];
  var sb = p.eps * pred[plane + i];
  for (var h = 0u; h < p.count; h++) {
    let hx = hints[4u * h];
    let hy = hints[4u * h + 1u];
    let dl = lp - l[u32(hy) * p.size + u32(hx)];
    let d2 = (x - hx) * (x - hx) + (y - hy) * (y - hy);
    let w = exp(-d2 * p.invSpace - dl * dl * p.invLight);
    wsum += w;
    sa += w * hints[4u * h + 2u];
    sb += w * hints[4u * h + 3u];
  }
  out[i] = sa / wsum;
  out[plane + i] = sb / wsum;
}`,
});
