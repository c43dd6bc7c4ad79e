/**
 * WGSL for per-pixel colour conversions on NCHW tensors: sRGB ⇄ CIE Lab (as
 * skimage's rgb2lab/lab2rgb), sRGB ⇄ YUV (BT.601, as skimage's rgb2yuv), and
 * the pix2pix normalisation of Lab (L/50−1, ab/110).
 *
 * Every conversion is a function vec3 → vec3 applied to one pixel; a kernel
 * reads the pixel either from one 3-channel tensor or from an L tensor
 * [N,1,H,W] plus an ab tensor [N,2,H,W], and writes it in either layout too,
 * so fused conversions (RGB → model input) cost one pass over memory.
 * The constants come from engine/color.ts so that CPU and GPU share them.
 */

import { FLAT_INDEX, WG } from "./common.ts";

/** A 3×3 matrix, row-major. */
export type Mat3 = readonly [number, number, number, number, number, number, number, number, number];

/** Constants the colour kernels are generated from (see engine/color.ts). */
export interface ColorConstants {
  xyzFromRgb: Mat3;
  rgbFromXyz: Mat3;
  yuvFromRgb: Mat3;
  rgbFromYuv: Mat3;
  white: readonly [number, number, number];
}

/** How the pixels of a kernel's input or output are stored. */
export type PixelLayout = "rgb" | "l+ab";

/** The conversion steps a kernel can chain, in order. */
export type ColorStep = "rgbToLab" | "labToRgb" | "rgbToYuv" | "yuvToRgb" | "labToModel" | "modelToLab";

/** An f32 literal that round-trips the float64 value to its nearest f32. */
function lit(v: number): string {
  const s = Math.fround(v).toPrecision(9);
  return s.includes(".") || s.includes("e") ? s : `${s}.0`;
}

/** WGSL mat3x3 is column-major: transposing the row-major matrix makes `m * v` the usual product. */
function mat(m: Mat3): string {
  const cols = [0, 1, 2].map((c) => `${lit(m[c])}, ${lit(m[3 + c])}, ${lit(m[6 + c])}`);
  return `mat3x3<f32>(${cols.join(", ")})`;
}

function functions(k: ColorConstants): string {
  return /* wgsl */ `
const XYZ_FROM_RGB = ${mat(k.xyzFromRgb)};
const RGB_FROM_XYZ = ${mat(k.rgbFromXyz)};
const YUV_FROM_RGB = ${mat(k.yuvFromRgb)};
const RGB_FROM_YUV = ${mat(k.rgbFromYuv)};
const WHITE = vec3<f32>(${k.white.map(lit).join(", ")});

// Lab inputs are clamped to a range far outside any real colour so that cubing and the
// matrix product cannot overflow to inf (inf − inf would give NaN); results there clip anyway.
const LAB_LIMIT = vec3<f32>(1.0e4, 1.0e5, 1.0e5);

fn rgbToLab(rgb: vec3<f32>) -> vec3<f32> {
  let lin = select(rgb / 12.92, pow((max(rgb, vec3<f32>(0.04045)) + 0.055) / 1.055, vec3<f32>(2.4)),
                   rgb > vec3<f32>(0.04045));
  let t = (XYZ_FROM_RGB * lin) / WHITE;
  let f = select(7.787 * t + 16.0 / 116.0, pow(max(t, vec3<f32>(0.008856)), vec3<f32>(1.0 / 3.0)),
                 t > vec3<f32>(0.008856));
  return vec3<f32>(116.0 * f.y - 16.0, 500.0 * (f.x - f.y), 200.0 * (f.y - f.z));
}

fn labToRgb(labIn: vec3<f32>) -> vec3<f32> {
  let lab = clamp(labIn, -LAB_LIMIT, LAB_LIMIT);
  let fy = (lab.x + 16.0) / 116.0;
  // skimage clips only z (the one that can go negative for ordinary colours) to 0.
  let f = vec3<f32>(lab.y / 500.0 + fy, fy, max(fy - lab.z / 200.0, 0.0));
  let t = select((f - 16.0 / 116.0) / 7.787, f * f * f, f > vec3<f32>(0.2068966));
  let lin = RGB_FROM_XYZ * (t * WHITE);
  let srgb = select(lin * 12.92, 1.055 * pow(max(lin, vec3<f32>(0.0031308)), vec3<f32>(1.0 / 2.4)) - 0.055,
                    lin > vec3<f32>(0.0031308));
  return clamp(srgb, vec3<f32>(0.0), vec3<f32>(1.0));
}

fn rgbToYuv(rgb: vec3<f32>) -> vec3<f32> { return YUV_FROM_RGB * rgb; }
fn yuvToRgb(yuv: vec3<f32>) -> vec3<f32> { return RGB_FROM_YUV * yuv; }
fn labToModel(lab: vec3<f32>) -> vec3<f32> { return vec3<f32>(lab.x / 50.0 - 1.0, lab.yz / 110.0); }
fn modelToLab(m: vec3<f32>) -> vec3<f32> { return vec3<f32>((m.x + 1.0) * 50.0, m.yz * 110.0); }
`;
}

/**
 * A kernel applying `steps` in order to each pixel. Storage bindings: the input
 * buffer(s) (one for "rgb", L then ab for "l+ab"), then the output buffer(s)
 * likewise; the uniform {pixels: N·H·W, hw: H·W} binds last.
 */
export function colorShader(
  k: ColorConstants,
  steps: readonly ColorStep[],
  input: PixelLayout,
  output: PixelLayout,
): string {
  const decls: string[] = [];
  let b = 0;
  for (const name of input === "rgb" ? ["x"] : ["xl", "xab"]) {
    decls.push(`@group(0) @binding(${b++}) var<storage, read> ${name}: array<f32>;`);
  }
  for (const name of output === "rgb" ? ["y"] : ["yl", "yab"]) {
    decls.push(`@group(0) @binding(${b++}) var<storage, read_write> ${name}: array<f32>;`);
  }
  const load = input === "rgb"
    ? "let i3 = n * 3u * p.hw + s; var v = vec3<f32>(x[i3], x[i3 + p.hw], x[i3 + 2u * p.hw]);"
    : "let i2 = n * 2u * p.hw + s; var v = vec3<f32>(xl[i], xab[i2], xab[i2 + p.hw]);";
  const store = output === "rgb"
    ? "let o3 = n * 3u * p.hw + s; y[o3] = v.x; y[o3 + p.hw] = v.y; y[o3 + 2u * p.hw] = v.z;"
    : "let o2 = n * 2u * p.hw + s; yl[i] = v.x; yab[o2] = v.y; yab[o2 + p.hw] = v.z;";
  return /* wgsl */ `
${decls.join("\n")}
struct P { pixels: u32, hw: u32, pad0: u32, pad1: u32 }
@group(0) @binding(${b}) var<uniform> p: P;
${FLAT_INDEX}
${functions(k)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.pixels) { return; }
  let n = i / p.hw;
  let s = i - n * p.hw;
  ${load}
  ${steps.map((st) => `v = ${st}(v);`).join(" ")}
  ${store}
}`;
}
