/**
 * WGSL of hint spreading (models/hint_spread.ts): a hint model's prediction blended with its colour hints
 * by a normalized convolution along geodesic distances, so that a hint's colour fills the object around it
 * and stops at its edges.
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/**
 * One pass of the domain transform's recursive filter ("Domain Transform for Edge-Aware Image and Video
 * Processing", Gastal & Oliveira, SIGGRAPH 2011) over the three size×size planes of `planes` (hint mass,
 * mass·a, mass·b), in place: one invocation per row, or per column when `vertical`, running forward then
 * backward, `J[k] += f^d · (J[k∓1] − J[k])`, with `d = 1 + ratio·|l[k] − l[k∓1]|` the geodesic length of
 * the step between neighbours: a step across an edge in the lightness `l` is long, so little passes it.
 * Bindings `l` [size, size], `planes` [3, size, size]; uniforms {size, feedback (f), ratio}.
 */
export const HINT_PROPAGATE = defineKernel<{ vertical: boolean }, "size" | "feedback" | "ratio">({
  name: "hintPropagate",
  bindings: [read("l"), write("planes")],
  uniforms: { size: "u32", feedback: "f32", ratio: "f32" },
  body: ({ vertical }) => /* wgsl */ `
${flatMain("line", "p.size")}
  let plane = p.size * p.size;
  let base = ${vertical ? "line" : "line * p.size"};
  let stride = ${vertical ? "p.size" : "1u"};
  for (var c = 0u; c < 3u; c++) {
    let o = c * plane;
    for (var k = 1u; k < p.size; k++) {
      let i = base + k * stride;
      let w = pow(p.feedback, 1.0 + p.ratio * abs(l[i] - l[i - stride]));
      planes[o + i] += w * (planes[o + i - stride] - planes[o + i]);
    }
    for (var k = p.size - 1u; k > 0u; k--) {
      let i = base + (k - 1u) * stride;
      let w = pow(p.feedback, 1.0 + p.ratio * abs(l[i + stride] - l[i]));
      planes[o + i] += w * (planes[o + i + stride] - planes[o + i]);
    }
  }
}`,
});

/**
 * The blend after propagation: `out[c, i] = (eps·pred[c, i] + planes[c + 1, i]) / (eps + planes[0, i])`:
 * the prediction where little hint mass arrived, the hints' mass-weighted colour where much did.
 * Bindings `pred` [2, size, size], `planes` [3, size, size], `out` [2, size, size]; uniforms {size, eps}.
 */
export const HINT_BLEND = defineKernel<undefined, "size" | "eps">({
  name: "hintBlend",
  bindings: [read("pred"), read("planes"), write("out")],
  uniforms: { size: "u32", eps: "f32" },
  body: () => /* wgsl */ `
${flatMain("i", "p.size * p.size")}
  let plane = p.size * p.size;
  let w = p.eps + planes[i];
  out[i] = (p.eps * pred[i] + planes[plane + i]) / w;
  out[plane + i] = (p.eps * pred[plane + i] + planes[2u * plane + i]) / w;
}`,
});
