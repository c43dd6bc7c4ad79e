/**
 * WGSL for 2-D convolution and transposed convolution, forward and backward.
 *
 * Three implicit-GEMM kernels cover both ops (engine/ops/conv.ts says which one
 * computes what):
 *  - {@link CONV_FORWARD}: direct convolution (conv2d forward, convTranspose2d input gradient);
 *  - {@link CONV_TRANSPOSE}: transposed convolution with an explicit output size
 *    (convTranspose2d forward, conv2d input gradient);
 *  - {@link CONV_WEIGHT_GRAD}: the correlation of two activations that gives a weight gradient;
 * plus {@link CONV_REPACK} (transposed-conv weights regrouped by output residue class),
 * {@link CONV_SUM_SPLITS} (split weight-gradient reductions) and {@link CONV_BIAS_GRAD}.
 *
 * The kernel geometry (kH, kW, strides, paddings) and the register tile are part of each
 * kernel's variant and baked into the source as constants, so the inner loops are unrolled at
 * generation time; tensor sizes are uniforms, so one pipeline serves every layer of a geometry.
 *
 * Performance notes (lavapipe, which runs each invocation as one SIMD lane):
 * a storage-buffer load whose address differs between lanes is a loop over the
 * lanes with a bounds check per lane and component, so a vec4 load costs about as
 * much as a hundred multiply-adds (measurements: bench/RESULTS.md). Two things follow:
 *  - big register tiles (up to 512 outputs per invocation: channels × rows × pixels)
 *    so each loaded value feeds many multiply-adds; 2-D pixel tiles load each input
 *    row once for every output row and tap that reads it, and the register tiles are
 *    picked per shape by a cost model of these loads (engine/ops/conv.ts);
 *  - vec4 loads: one lane loop fetches four floats. Input rows and weights are
 *    read as `array<vec4<f32>>` windows; when the row start's alignment is not
 *    known at generation time, an aligned superset is loaded and each element is
 *    picked with `select` on the runtime offset (ALU is cheap here).
 * No shared memory in these: workgroup-memory tiling measured slower on lavapipe. For adapters
 * where it is fast, {@link CONV_FORWARD_SHARED} and {@link CONV_TRANSPOSE_SHARED} compute the
 * direct and transposed convolutions as shared-memory tiled implicit GEMMs with the same results;
 * engine/autotune.ts chooses per adapter and shape when asked.
 * Bindings read as vec4 arrays need buffers sized in multiples of 16 bytes,
 * which the buffer pool guarantees; reads past a tensor's end only ever feed
 * masked-out elements (out-of-bounds WGSL loads are safe, never a fault).
 */

import { flatMain, WG } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";
import { SHARED_WG, sharedGemmMain, type SharedTile } from "./matmul.ts";

/** Kernel size, stride and zero padding per axis: what a conv pipeline is specialised on. */
export interface ConvGeometry {
  /** Kernel height. */
  kh: number;
  /** Kernel width. */
  kw: number;
  /** Vertical stride. */
  sh: number;
  /** Horizontal stride. */
  sw: number;
  /** Zero rows added above and below the input. */
  ph: number;
  /** Zero columns added left and right of the input. */
  pw: number;
}

/** Register tile of one invocation: `tc` channels × `tp` pixels along a row (columns for the weight gradient). */
export interface ConvTile {
  /** Channels per invocation. */
  tc: number;
  /** Pixels (weight gradient: columns) per invocation. */
  tp: number;
  /**
   * Output rows per invocation (weight gradient: rows of `a` per step); absent: 1, and the direct
   * convolution uses its row generator.
   */
  th?: number;
  /** Weight gradient only: channels of `b` per invocation (absent: 1, and the row generator). */
  tcb?: number;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** `a + k` as WGSL source, folding k = 0 and writing negative k as a subtraction. */
function plus(a: string, k: number): string {
  return k === 0 ? a : k > 0 ? `${a} + ${k}` : `${a} - ${-k}`;
}

const COMP = ["x", "y", "z", "w"];

/** A run of `len` consecutive floats of a vec4 array, loaded into `${name}0…` (0 where masked). */
interface Window {
  /** Name of an `array<vec4<f32>>` binding. */
  arr: string;
  /** Prefix of the element variables. */
  name: string;
  len: number;
  /** i32 WGSL expression: flat float index of element 0 (may be negative, then masked). */
  start: string;
  /**
   * `start mod 4` when known at generation time; then `mask` must be constant over
   * each aligned group of four (rows whose length is a multiple of 4), and whole
   * vec4s are masked. Otherwise elements are picked and masked one by one.
   */
  offset?: number;
  /** bool WGSL expression: element s (any integer, also outside [0, len)) is valid; null = always. */
  mask: ((s: number) => string) | null;
}

/** WGSL lines defining `${w.name}${s}` for s < len; see {@link Window}. */
function loadWindow(w: Window): string[] {
  const out: string[] = [];
  const n = w.name;
  if (w.offset !== undefined) {
    const o = w.offset;
    const nq = Math.ceil((o + w.len) / 4);
    out.push(`let ${n}b = (${plus(w.start, -o)}) >> 2u;`);
    for (const q of range(nq)) {
      const load = `${w.arr}[u32(${plus(`${n}b`, q)})]`;
      out.push(`let ${n}v${q} = ${w.mask ? `select(vec4<f32>(), ${load}, ${w.mask(4 * q - o)})` : load};`);
    }
    for (const s of range(w.len)) out.push(`let ${n}${s} = ${n}v${(s + o) >> 2}.${COMP[(s + o) & 3]};`);
    return out;
  }
  const nq = ((w.len + 2) >> 2) + 1;
  out.push(`let ${n}s = ${w.start};`);
  out.push(`let ${n}b = ${n}s >> 2u;`);
  out.push(`let ${n}o = ${n}s & 3;`);
  out.push(`let ${n}o1 = ${n}o == 1; let ${n}o2 = ${n}o == 2; let ${n}o3 = ${n}o == 3;`);
  for (const q of range(nq)) out.push(`let ${n}v${q} = ${w.arr}[u32(${plus(`${n}b`, q)})];`);
  for (const s of range(w.len)) {
    const c = (o: number) => `${n}v${(s + o) >> 2}.${COMP[(s + o) & 3]}`;
    const pick = `select(select(select(${c(0)}, ${c(1)}, ${n}o1), ${c(2)}, ${n}o2), ${c(3)}, ${n}o3)`;
    out.push(`let ${n}${s} = ${w.mask ? `select(0.0, ${pick}, ${w.mask(s)})` : pick};`);
  }
  return out;
}

/** What {@link CONV_FORWARD} is specialised on: geometry, tile, and flags that depend on tensor sizes. */
export interface ConvForwardVariant extends ConvGeometry, ConvTile {
  /** A bias `b` is bound and added. */
  bias: boolean;
  /** Input width is a multiple of 4 (input rows start 16-byte aligned). */
  alignIn: boolean;
  /** Output width is a multiple of 4 (output rows can be written as vec4). */
  alignOut: boolean;
  /** Output rows per invocation (a th × tp pixel tile); absent: one row (the row generator). */
  th?: number;
}

/**
 * Direct convolution:
 * y[n,co,oh,ow] = b[co] + Σ_{ci,kh,kw} x[n,ci,oh·sh−ph+kh, ow·sw−pw+kw] · w[co,ci,kh,kw].
 *
 * Bindings: x, w, (b), y (x always read as vec4s; w as vec4s when kw ≥ 3, y as vec4s when
 * alignOut and tp is a multiple of 4), uniforms {n, cin, h, w, cout, oh, ow, owBlocks, ohBlocks,
 * total}. Dispatch: flat index over ⌈cout/tc⌉·n·ohBlocks·owBlocks (owBlocks = ⌈ow/tp⌉, ohBlocks =
 * ⌈oh/th⌉), pixels fastest. An invocation computes tc channels × th rows × tp pixels. Without th
 * (the row generator, also used for kernels larger than 4×4): per (ci, kh) it loads one input-row
 * window of (tp−1)·sw + kw floats and the kw taps of its tc channels, then does tc·tp·kw
 * multiply-adds. With th: per ci it loads the tc·kh·kw taps once and each of the
 * (th−1)·sh + kh input rows once, and does tc·th·tp·kh·kw multiply-adds, every output still
 * summing over (ci, kh, kw) in order.
 */
export const CONV_FORWARD = defineKernel({
  name: "convForward",
  bindings: (v: ConvForwardVariant) => [
    read("x", "vec4<f32>"),
    read("w", forwardVecW(v) ? "vec4<f32>" : "f32"),
    ...(v.bias ? [read("b")] : []),
    write("y", forwardVecOut(v) ? "vec4<f32>" : "f32"),
  ],
  uniforms: {
    n: "u32",
    cin: "u32",
    h: "u32",
    w: "u32",
    cout: "u32",
    oh: "u32",
    ow: "u32",
    owBlocks: "u32",
    ohBlocks: "u32",
    total: "u32",
  },
  body: (v) => (v.th === undefined ? convForwardBody(v) : convForwardTileBody(v)),
});

/** Weights are read as vec4 only where a tap row can be (kw ≥ 3); 1x1 and 2-wide kernels read floats. */
function forwardVecW(g: ConvGeometry): boolean {
  return g.kw >= 3;
}

/** Output rows are written as vec4s when they start aligned and the tile covers whole vec4s. */
function forwardVecOut(v: ConvForwardVariant): boolean {
  return v.alignOut && v.tp % 4 === 0;
}

function convForwardBody(v: ConvForwardVariant): string {
  const g = v;
  const { tc, tp } = v;
  const kk = g.kh * g.kw;
  const win = (tp - 1) * g.sw + g.kw;
  const staticIn = v.alignIn && (tp * g.sw) % 4 === 0;
  const vecOut = forwardVecOut(v);
  const vecW = forwardVecW(g);
  const pre: string[] = [];
  const xWin: Window = { arr: "x", name: "x", len: win, start: "rb", mask: null };
  if (staticIn) {
    // Row starts are multiples of 4 and ow0·sw is too, so ix0 ≡ −pw (mod 4) everywhere.
    const o = (4 - (g.pw % 4)) % 4;
    xWin.offset = o;
    // Vector q covers columns ix0 − o + 4q …; whole vectors are inside or outside [0, W).
    for (const q of range(Math.ceil((o + win) / 4))) {
      pre.push(`let m${4 * q} = ${plus("ix0", 4 * q - o)} >= 0 && ${plus("ix0", 4 * q - o)} < W;`);
    }
    xWin.mask = (s) => `m${s + o}`;
  } else {
    for (const s of range(win)) pre.push(`let m${s} = ${plus("ix0", s)} >= 0 && ${plus("ix0", s)} < W;`);
    xWin.mask = (s) => `m${s}`;
  }
  const body: string[] = [];
  body.push(`for (var kh = 0u; kh < ${g.kh}u; kh++) {
      let iy = iy0 + i32(kh);
      if (iy >= 0 && iy < H) {
        let rb = i32((xplane + u32(iy)) * p.w) + ix0;`);
  body.push(...loadWindow(xWin).map((l) => `        ${l}`));
  for (const c of range(tc)) {
    if (vecW) {
      body.push(
        ...loadWindow({
          arr: "w",
          name: `w${c}_`,
          len: g.kw,
          start: `i32(wr${c} + kh * ${g.kw}u)`,
          offset: g.kw % 4 === 0 ? 0 : undefined,
          mask: null,
        }).map((l) => `        ${l}`),
      );
    } else {
      for (const kw of range(g.kw)) {
        body.push(`        let w${c}_${kw} = w[wr${c} + kh * ${g.kw}u + ${kw}u];`);
      }
    }
    for (const kw of range(g.kw)) {
      for (const j of range(tp)) {
        body.push(`        a${c}_${j} = fma(x${j * g.sw + kw}, w${c}_${kw}, a${c}_${j});`);
      }
    }
  }
  body.push(`      }
    }`);
  const writes: string[] = [];
  const bias = (c: number) => (v.bias ? ` + b[min(co0 + ${c}u, p.cout - 1u)]` : "");
  if (vecOut) {
    for (const q of range(tp / 4)) {
      writes.push(`  if (ow0 + ${4 * q}u < p.ow) {`);
      for (const c of range(tc)) {
        const val = `vec4<f32>(${range(4).map((k) => `a${c}_${4 * q + k}`).join(", ")})${bias(c)}`;
        writes.push(
          `    if (co0 + ${c}u < p.cout) { y[(ybase + ${c}u * plane + ow0 + ${4 * q}u) >> 2u] = ${val}; }`,
        );
      }
      writes.push(`  }`);
    }
  } else {
    for (const j of range(tp)) {
      writes.push(`  if (ow0 + ${j}u < p.ow) {`);
      for (const c of range(tc)) {
        writes.push(
          `    if (co0 + ${c}u < p.cout) { y[ybase + ${c}u * plane + ow0 + ${j}u] = a${c}_${j}${bias(c)}; }`,
        );
      }
      writes.push(`  }`);
    }
  }
  return /* wgsl */ `
${flatMain("t", "p.total")}
  let owb = t % p.owBlocks;
  let r = t / p.owBlocks;
  let oh = r % p.oh;
  let r2 = r / p.oh;
  let n = r2 % p.n;
  let co0 = (r2 / p.n) * ${tc}u;
  let ow0 = owb * ${tp}u;
  let ix0 = i32(ow0) * ${g.sw} - ${g.pw};
  let iy0 = i32(oh) * ${g.sh} - ${g.ph};
  let H = i32(p.h);
  let W = i32(p.w);
  ${pre.join("\n  ")}
  let wstride = p.cin * ${kk}u;
  ${range(tc).map((c) => `let wc${c} = min(co0 + ${c}u, p.cout - 1u) * wstride;`).join("\n  ")}
  ${range(tc).flatMap((c) => range(tp).map((j) => `var a${c}_${j} = 0.0;`)).join("\n  ")}
  for (var ci = 0u; ci < p.cin; ci++) {
    let xplane = (n * p.cin + ci) * p.h;
    ${range(tc).map((c) => `let wr${c} = wc${c} + ci * ${kk}u;`).join("\n    ")}
    ${body.join("\n    ")}
  }
  let plane = p.oh * p.ow;
  let ybase = (n * p.cout + co0) * plane + oh * p.ow;
${writes.join("\n")}
}`;
}

/**
 * {@link CONV_FORWARD} with a th × tp pixel tile: per input channel, every input row that the
 * tile's th output rows read is loaded once and used for each output row and tap that reads it
 * (stride 1: th + kh − 1 rows instead of th·kh). Each output still sums over (ci, kh, kw) in order.
 */
function convForwardTileBody(v: ConvForwardVariant): string {
  const g = v;
  const { tc, tp } = v;
  const th = v.th ?? 1;
  const kk = g.kh * g.kw;
  const win = (tp - 1) * g.sw + g.kw;
  const rows = (th - 1) * g.sh + g.kh;
  const staticIn = v.alignIn && (tp * g.sw) % 4 === 0;
  const vecOut = forwardVecOut(v);
  const vecW = forwardVecW(g);
  const pre: string[] = [];
  let colMask: (s: number) => string;
  let offset: number | undefined;
  if (staticIn) {
    const o = (4 - (g.pw % 4)) % 4;
    offset = o;
    for (const q of range(Math.ceil((o + win) / 4))) {
      pre.push(`let m${4 * q} = ${plus("ix0", 4 * q - o)} >= 0 && ${plus("ix0", 4 * q - o)} < W;`);
    }
    colMask = (s) => `m${s + o}`;
  } else {
    for (const s of range(win)) pre.push(`let m${s} = ${plus("ix0", s)} >= 0 && ${plus("ix0", s)} < W;`);
    colMask = (s) => `m${s}`;
  }
  for (const r of range(rows)) {
    pre.push(`let rv${r} = ${plus("iy0", r)} >= 0 && ${plus("iy0", r)} < H;`);
  }
  const body: string[] = [];
  for (const c of range(tc)) {
    for (const kh of range(g.kh)) {
      if (vecW) {
        body.push(
          ...loadWindow({
            arr: "w",
            name: `w${c}_${kh}_`,
            len: g.kw,
            start: `i32(wr${c} + ${kh * g.kw}u)`,
            offset: g.kw % 4 === 0 ? 0 : undefined,
            mask: null,
          }),
        );
      } else {
        for (const kw of range(g.kw)) body.push(`let w${c}_${kh}_${kw} = w[wr${c} + ${kh * g.kw + kw}u];`);
      }
    }
  }
  for (const r of range(rows)) {
    const uses = range(th).map((t) => [t, r - t * g.sh]).filter(([, k]) => k >= 0 && k < g.kh);
    if (uses.length === 0) continue;
    const inner: string[] = [];
    inner.push(
      ...loadWindow({
        arr: "x",
        name: `x${r}_`,
        len: win,
        start: `xp + (${plus("iy0", r)}) * W + ix0`,
        offset,
        mask: colMask,
      }),
    );
    for (const [t, k] of uses) {
      for (const c of range(tc)) {
        for (const kw of range(g.kw)) {
          for (const j of range(tp)) {
            inner.push(`a${c}_${t}_${j} = fma(x${r}_${j * g.sw + kw}, w${c}_${k}_${kw}, a${c}_${t}_${j});`);
          }
        }
      }
    }
    body.push(`if (rv${r}) {`, ...inner.map((l) => `  ${l}`), `}`);
  }
  const writes: string[] = [];
  const bias = (c: number) => (v.bias ? ` + b[min(co0 + ${c}u, p.cout - 1u)]` : "");
  for (const t of range(th)) {
    writes.push(`  if (oh0 + ${t}u < p.oh) {`);
    const row = `ybase + ${t}u * p.ow`;
    if (vecOut) {
      for (const q of range(tp / 4)) {
        writes.push(`    if (ow0 + ${4 * q}u < p.ow) {`);
        for (const c of range(tc)) {
          const val = `vec4<f32>(${range(4).map((k) => `a${c}_${t}_${4 * q + k}`).join(", ")})${bias(c)}`;
          writes.push(
            `      if (co0 + ${c}u < p.cout) { y[(${row} + ${c}u * plane + ow0 + ${
              4 * q
            }u) >> 2u] = ${val}; }`,
          );
        }
        writes.push(`    }`);
      }
    } else {
      for (const j of range(tp)) {
        writes.push(`    if (ow0 + ${j}u < p.ow) {`);
        for (const c of range(tc)) {
          writes.push(
            `      if (co0 + ${c}u < p.cout) { y[${row} + ${c}u * plane + ow0 + ${j}u] = a${c}_${t}_${j}${
              bias(c)
            }; }`,
          );
        }
        writes.push(`    }`);
      }
    }
    writes.push(`  }`);
  }
  return /* wgsl */ `
${flatMain("t", "p.total")}
  let owb = t % p.owBlocks;
  let r = t / p.owBlocks;
  let ohb = r % p.ohBlocks;
  let r2 = r / p.ohBlocks;
  let n = r2 % p.n;
  let co0 = (r2 / p.n) * ${tc}u;
  let ow0 = owb * ${tp}u;
  let oh0 = ohb * ${th}u;
  let ix0 = i32(ow0) * ${g.sw} - ${g.pw};
  let iy0 = i32(oh0) * ${g.sh} - ${g.ph};
  let H = i32(p.h);
  let W = i32(p.w);
  ${pre.join("\n  ")}
  let wstride = p.cin * ${kk}u;
  ${range(tc).map((c) => `let wc${c} = min(co0 + ${c}u, p.cout - 1u) * wstride;`).join("\n  ")}
  ${
    range(tc).flatMap((c) => range(th).flatMap((t) => range(tp).map((j) => `var a${c}_${t}_${j} = 0.0;`)))
      .join("\n  ")
  }
  for (var ci = 0u; ci < p.cin; ci++) {
    let xp = i32((n * p.cin + ci) * p.h * p.w);
    ${range(tc).map((c) => `let wr${c} = wc${c} + ci * ${kk}u;`).join("\n    ")}
    ${body.join("\n    ")}
  }
  let plane = p.oh * p.ow;
  let ybase = (n * p.cout + co0) * plane + oh0 * p.ow;
${writes.join("\n")}
}`;
}

/** Taps of one output residue class of a transposed conv, padded to whole vec4s: the repacked row length. */
export function transposeTaps(g: ConvGeometry): number {
  return Math.ceil((Math.ceil(g.kh / g.sh) * Math.ceil(g.kw / g.sw)) / 4) * 4;
}

/**
 * Repacks transposed-conv weights w [cin, cout, kh, kw] by output residue class:
 * wp[cls][ci][co][t] with cls = rh·sw + rw and t = v·nu + u the tap
 * (kh, kw) = (khBase + sh·v, kwBase + sw·u) that class uses (khBase = (rh + ph) mod sh,
 * likewise kw); taps past the kernel and the padding up to {@link transposeTaps} are 0.
 * Then one invocation reads all taps of a (ci, co) pair as consecutive vec4s, instead
 * of picking a strided subset out of whole kernel rows.
 *
 * Bindings: w, wp (both vec4s), uniforms {pairs = cin·cout}. Variant: the geometry. Flat
 * dispatch over the (ci, co) pairs: each invocation reads its kh·kw taps once and writes every
 * class's row.
 */
export const CONV_REPACK = defineKernel({
  name: "convRepack",
  bindings: [read("w", "vec4<f32>"), write("wp", "vec4<f32>")],
  uniforms: { pairs: "u32" },
  body: convRepackBody,
});

function convRepackBody(g: ConvGeometry): string {
  const nv = Math.ceil(g.kh / g.sh);
  const nu = Math.ceil(g.kw / g.sw);
  const t4 = transposeTaps(g);
  const kk = g.kh * g.kw;
  const lines = loadWindow({
    arr: "w",
    name: "k",
    len: kk,
    start: `i32(i * ${kk}u)`,
    offset: kk % 4 === 0 ? 0 : undefined,
    mask: null,
  });
  // Every class, tap and source index is known here: the stores are straight-line code.
  for (const rh of range(g.sh)) {
    for (const rw of range(g.sw)) {
      const taps = range(t4).map((t) => {
        const kh = ((rh + g.ph) % g.sh) + Math.floor(t / nu) * g.sh;
        const kw = ((rw + g.pw) % g.sw) + (t % nu) * g.sw;
        return t < nv * nu && kh < g.kh && kw < g.kw ? `k${kh * g.kw + kw}` : "0.0";
      });
      const cls = rh * g.sw + rw;
      for (const q of range(t4 / 4)) {
        lines.push(
          `wp[(${cls}u * p.pairs + i) * ${t4 / 4}u + ${q}u] = vec4<f32>(${
            taps.slice(4 * q, 4 * q + 4).join(", ")
          });`,
        );
      }
    }
  }
  return /* wgsl */ `
${flatMain("i", "p.pairs")}
  ${lines.join("\n  ")}
}`;
}

/** What {@link CONV_TRANSPOSE} is specialised on: geometry, tile (th = 1 when absent) and bias. */
export interface ConvTransposeVariant extends ConvGeometry, ConvTile {
  /** A bias `b` is bound and added. */
  bias: boolean;
}

/**
 * Transposed convolution with an explicit output size (PyTorch's conv_transpose2d):
 * y[n,co,oy,ox] = b[co] + Σ x[n,ci,iy,ix] · w[ci,co,kh,kw] over oy = iy·sh − ph + kh, ox = ix·sw − pw + kw.
 *
 * Bindings: x (vec4s), wp (weights repacked by {@link CONV_REPACK}, vec4s), (b), y,
 * uniforms {n, cin, h, w, cout, oh, ow, qhBlocks, qwBlocks, total}.
 * Dispatch: flat index over ⌈cout/tc⌉ · sh · sw · n · qhBlocks · qwBlocks (pixels fastest) with
 * qhBlocks = ⌈⌈oh/sh⌉/th⌉, qwBlocks = ⌈⌈ow/sw⌉/tp⌉.
 *
 * Output pixels of one residue class (oy mod sh, ox mod sw) receive exactly the taps
 * kh ≡ oy+ph (mod sh), kw ≡ ox+pw (mod sw) (a sub-pixel convolution), so only those
 * taps are visited, never a wasted divisibility test. An invocation computes tc channels ×
 * th rows × tp pixels of one class: rows oy, oy+sh, … and pixels ox, ox+sw, …, which read
 * consecutive input rows and columns, so per ci each of the th + ⌈kh/sh⌉ − 1 input rows is
 * loaded once. Every output sums over (ci, kh, kw) in order.
 */
export const CONV_TRANSPOSE = defineKernel({
  name: "convTranspose",
  bindings: (v: ConvTransposeVariant) => [
    read("x", "vec4<f32>"),
    read("wp", "vec4<f32>"),
    ...(v.bias ? [read("b")] : []),
    write("y"),
  ],
  uniforms: {
    n: "u32",
    cin: "u32",
    h: "u32",
    w: "u32",
    cout: "u32",
    oh: "u32",
    ow: "u32",
    qhBlocks: "u32",
    qwBlocks: "u32",
    total: "u32",
  },
  body: convTransposeBody,
});

function convTransposeBody(v: ConvTransposeVariant): string {
  const g = v;
  const { tc, tp } = v;
  const th = v.th ?? 1;
  const nv = Math.ceil(g.kh / g.sh);
  const nu = Math.ceil(g.kw / g.sw);
  const t4 = transposeTaps(g);
  const win = tp + nu - 1;
  const rows = th + nv - 1;
  const pre: string[] = [];
  // Window slot s holds input column cx0 − (nu−1) + s; tap u and pixel j read slot j − u + nu − 1.
  for (const s of range(win)) {
    pre.push(`let m${s} = ${plus("cx0", s - (nu - 1))} >= 0 && ${plus("cx0", s - (nu - 1))} < W;`);
  }
  // Input row slot rr holds row qy0 + dy0 − (nv−1) + rr; output row t and tap v read slot t − v + nv − 1.
  for (const rr of range(rows)) {
    pre.push(`let iy${rr} = ${plus("i32(qy0) + dy0", rr - (nv - 1))};`);
    pre.push(`let rv${rr} = iy${rr} >= 0 && iy${rr} < H;`);
  }
  const body: string[] = [];
  for (const c of range(tc)) {
    for (const q of range(t4 / 4)) body.push(`let wv${c}_${q} = wp[wr${c} + ${q}u];`);
  }
  // Rows from the last: each output then visits its taps v = 0, 1, … in order, as CONV_TRANSPOSE_SHARED.
  for (const rr of range(rows).reverse()) {
    const uses = range(th).map((t) => [t, t + nv - 1 - rr]).filter(([, vv]) => vv >= 0 && vv < nv);
    body.push(`if (rv${rr}) {`);
    body.push(
      ...loadWindow({
        arr: "x",
        name: `x${rr}_`,
        len: win,
        start: plus(`xp + iy${rr} * W + cx0`, -(nu - 1)),
        mask: (s) => `m${s}`,
      }).map((l) => `  ${l}`),
    );
    for (const [t, vv] of uses) {
      // Taps past the kernel (kh not a multiple of sh) are skipped, as the row loop always did.
      if (g.kh % g.sh !== 0) body.push(`  if (kh${vv} < ${g.kh}) {`);
      for (const c of range(tc)) {
        for (const u of range(nu)) {
          const tap = vv * nu + u;
          const wgt = `wv${c}_${tap >> 2}.${COMP[tap & 3]}`;
          for (const j of range(tp)) {
            body.push(`  a${c}_${t}_${j} = fma(x${rr}_${j - u + nu - 1}, ${wgt}, a${c}_${t}_${j});`);
          }
        }
      }
      if (g.kh % g.sh !== 0) body.push(`  }`);
    }
    body.push(`}`);
  }
  const writes: string[] = [];
  for (const t of range(th)) {
    writes.push(`  if (oy0 + ${t * g.sh}u < p.oh) {`);
    for (const j of range(tp)) {
      writes.push(`    if (ox0 + ${j * g.sw}u < p.ow) {`);
      for (const c of range(tc)) {
        const b = v.bias ? ` + b[co0 + ${c}u]` : "";
        writes.push(
          `      if (co0 + ${c}u < p.cout) { y[ybase + ${c}u * plane + ${t * g.sh}u * p.ow + ox0 + ${
            j * g.sw
          }u] = a${c}_${t}_${j}${b}; }`,
        );
      }
      writes.push(`    }`);
    }
    writes.push(`  }`);
  }
  return /* wgsl */ `
${flatMain("t", "p.total")}
  let qxb = t % p.qwBlocks;
  let r = t / p.qwBlocks;
  let qy0 = (r % p.qhBlocks) * ${th}u;
  let r2 = r / p.qhBlocks;
  let n = r2 % p.n;
  let r3 = r2 / p.n;
  let cls = r3 % ${g.sw * g.sh}u;
  let rw = cls % ${g.sw}u;
  let rh = cls / ${g.sw}u;
  let co0 = (r3 / ${g.sh * g.sw}u) * ${tc}u;
  let oy0 = rh + qy0 * ${g.sh}u;
  let ox0 = rw + qxb * ${tp * g.sw}u;
  if (oy0 >= p.oh || ox0 >= p.ow) { return; }
  let H = i32(p.h);
  let W = i32(p.w);
  // Taps of this residue class: kh = khBase + sh·v reads input row qy + (rh + ph − kh)/sh (exact
  // division), that is qy + dy0 − v.
  let khBase = i32((rh + ${g.ph % g.sh}u) % ${g.sh}u);
  let kwBase = i32((rw + ${g.pw % g.sw}u) % ${g.sw}u);
  ${range(nv).map((vv) => `let kh${vv} = khBase + ${vv * g.sh};`).join("\n  ")}
  let dy0 = (i32(rh) + ${g.ph} - khBase) / ${g.sh};
  let cx0 = i32(qxb * ${tp}u) + (i32(rw) + ${g.pw} - kwBase) / ${g.sw};
  ${pre.join("\n  ")}
  let wcls = cls * p.cin;
  ${
    range(tc).flatMap((c) => range(th).flatMap((t) => range(tp).map((j) => `var a${c}_${t}_${j} = 0.0;`)))
      .join("\n  ")
  }
  for (var ci = 0u; ci < p.cin; ci++) {
    let xp = i32((n * p.cin + ci) * p.h * p.w);
    let wci = (wcls + ci) * p.cout;
    ${range(tc).map((c) => `let wr${c} = (wci + min(co0 + ${c}u, p.cout - 1u)) * ${t4 / 4}u;`).join("\n    ")}
    ${body.join("\n    ")}
  }
  let plane = p.oh * p.ow;
  let ybase = (n * p.cout + co0) * plane + oy0 * p.ow;
${writes.join("\n")}
}`;
}

/** What {@link CONV_WEIGHT_GRAD} is specialised on: geometry, tile, and flags that depend on tensor sizes. */
export interface ConvWeightGradVariant extends ConvGeometry, ConvTile {
  /** Width of `a` is a multiple of 4. */
  alignA: boolean;
  /** Width of `b` is a multiple of 4. */
  alignB: boolean;
}

/**
 * Weight gradient as a correlation of two activations:
 * out[ca,cb,kh,kw] = Σ_{n,i,j} a[n,ca,i,j] · b[n,cb,i·sh−ph+kh, j·sw−pw+kw] (zero outside b).
 * For conv2d, a = dy and b = x (out = dw [Cout,Cin,kH,kW]); for convTranspose2d,
 * a = x and b = dy (out = dw [Cin,Cout,kH,kW]).
 *
 * Bindings: a, b (both vec4s), out (vec4s when kh·kw is a multiple of 4),
 * uniforms {n, ca, ha, wa, cb, hb, wb, total, rowsPerSplit, rows, splits, cbBlocks, haBlocks}.
 * Dispatch: flat index over ⌈ca/tc⌉ · splits · cbBlocks (cbBlocks = ⌈cb/tcb⌉, fastest). An
 * invocation owns tc channels of `a` × tcb channels of `b` × all kh·kw taps, and sums the row
 * blocks [split·rowsPerSplit, …) of the `rows` = n·haBlocks blocks of th rows of `a` (haBlocks =
 * ⌈ha/th⌉); with several splits (when the outputs alone give too few invocations) each writes its
 * own slice of `out` ([splits, ca, cb, kh, kw]) and {@link CONV_SUM_SPLITS} adds the slices.
 * Without tcb in the variant (the row generator: tcb = th = 1): per row and tp columns, tc windows
 * of tp floats of `a`, kh windows of (tp−1)·sw + kw floats of `b`, and tc·tp·kh·kw multiply-adds.
 * With tcb (the tile generator): per block of th rows and tp columns, tc·th windows of `a` and,
 * per channel of `b`, each of its (th−1)·sh + kh rows that the block reads once, then
 * tc·tcb·th·tp·kh·kw multiply-adds.
 */
export const CONV_WEIGHT_GRAD = defineKernel({
  name: "convWeightGrad",
  bindings: (v: ConvWeightGradVariant) => [
    read("a", "vec4<f32>"),
    read("b", "vec4<f32>"),
    write("out", weightGradVecOut(v) ? "vec4<f32>" : "f32"),
  ],
  uniforms: {
    n: "u32",
    ca: "u32",
    ha: "u32",
    wa: "u32",
    cb: "u32",
    hb: "u32",
    wb: "u32",
    total: "u32",
    rowsPerSplit: "u32",
    rows: "u32",
    splits: "u32",
    cbBlocks: "u32",
    haBlocks: "u32",
  },
  body: (v) => (v.tcb === undefined ? convWeightGradBody(v) : convWeightGradTileBody(v)),
});

/** Each (ca, cb) pair's kh·kw outputs are written as vec4s when they fill whole vec4s. */
function weightGradVecOut(g: ConvGeometry): boolean {
  return (g.kh * g.kw) % 4 === 0;
}

function convWeightGradBody(v: ConvWeightGradVariant): string {
  const g = v;
  const { tc, tp } = v;
  const kk = g.kh * g.kw;
  const win = (tp - 1) * g.sw + g.kw;
  const staticA = v.alignA && tp % 4 === 0;
  const staticB = v.alignB && (tp * g.sw) % 4 === 0;
  const vecOut = weightGradVecOut(g);
  const ob = (4 - (g.pw % 4)) % 4;
  const body: string[] = [];
  for (const c of range(tc)) {
    body.push(
      ...loadWindow({
        arr: "a",
        name: `v${c}_`,
        len: tp,
        start: `i32(ar${c} + j)`,
        offset: staticA ? 0 : undefined,
        mask: (s) => `(j + ${s}u < p.wa)`,
      }),
    );
  }
  for (const kh of range(g.kh)) {
    body.push(`if (rv${kh}) {`);
    body.push(
      ...loadWindow({
        arr: "b",
        name: `x${kh}_`,
        len: win,
        start: `rb${kh} + bx0`,
        offset: staticB ? ob : undefined,
        mask: (s) => `(${plus("bx0", s)} >= 0 && ${plus("bx0", s)} < WB)`,
      }).map((l) => `  ${l}`),
    );
    for (const c of range(tc)) {
      for (const kw of range(g.kw)) {
        for (const j of range(tp)) {
          body.push(
            `  s${c}_${kh * g.kw + kw} = fma(v${c}_${j}, x${kh}_${j * g.sw + kw}, s${c}_${kh * g.kw + kw});`,
          );
        }
      }
    }
    body.push(`}`);
  }
  const writes: string[] = [];
  for (const c of range(tc)) {
    writes.push(`  if (ca0 + ${c}u < p.ca) {`);
    if (vecOut) {
      for (const q of range(kk / 4)) {
        const val = `vec4<f32>(${range(4).map((k) => `s${c}_${4 * q + k}`).join(", ")})`;
        writes.push(`    out[((obase + ${c}u * ostride) >> 2u) + ${q}u] = ${val};`);
      }
    } else {
      for (const k of range(kk)) writes.push(`    out[obase + ${c}u * ostride + ${k}u] = s${c}_${k};`);
    }
    writes.push(`  }`);
  }
  return /* wgsl */ `
${flatMain("t", "p.total")}
  let cb = t % p.cb;
  let r = t / p.cb;
  let split = r % p.splits;
  let ca0 = (r / p.splits) * ${tc}u;
  let HB = i32(p.hb);
  let WB = i32(p.wb);
  ${range(tc).map((c) => `let ac${c} = min(ca0 + ${c}u, p.ca - 1u);`).join("\n  ")}
  ${range(tc).flatMap((c) => range(kk).map((k) => `var s${c}_${k} = 0.0;`)).join("\n  ")}
  let row0 = split * p.rowsPerSplit;
  let row1 = min(row0 + p.rowsPerSplit, p.rows);
  for (var row = row0; row < row1; row++) {
    let i = row % p.ha;
    let n = row / p.ha;
    let iy0 = i32(i) * ${g.sh} - ${g.ph};
    let bplane = (n * p.cb + cb) * p.hb;
    ${
    range(g.kh).map((kh) => `let rv${kh} = ${plus("iy0", kh)} >= 0 && ${plus("iy0", kh)} < HB;`).join(
      "\n    ",
    )
  }
    ${range(g.kh).map((kh) => `let rb${kh} = i32((bplane + u32(${plus("iy0", kh)})) * p.wb);`).join("\n    ")}
    ${range(tc).map((c) => `let ar${c} = ((n * p.ca + ac${c}) * p.ha + i) * p.wa;`).join("\n    ")}
    for (var j = 0u; j < p.wa; j += ${tp}u) {
      let bx0 = i32(j) * ${g.sw} - ${g.pw};
      ${body.join("\n      ")}
    }
  }
  let ostride = p.cb * ${kk}u;
  let obase = ((split * p.ca + ca0) * p.cb + cb) * ${kk}u;
${writes.join("\n")}
}`;
}

/** {@link CONV_WEIGHT_GRAD}'s tile generator: tc × tcb channels, th rows × tp columns of `a` per step. */
function convWeightGradTileBody(v: ConvWeightGradVariant): string {
  const g = v;
  const { tc, tp } = v;
  const tcb = v.tcb ?? 1;
  const th = v.th ?? 1;
  const kk = g.kh * g.kw;
  const win = (tp - 1) * g.sw + g.kw;
  const rows = (th - 1) * g.sh + g.kh;
  const staticA = v.alignA && tp % 4 === 0;
  const staticB = v.alignB && (tp * g.sw) % 4 === 0;
  const ob = (4 - (g.pw % 4)) % 4;
  const vecOut = weightGradVecOut(g);
  const body: string[] = [];
  for (const c of range(tc)) {
    for (const t of range(th)) {
      body.push(
        ...loadWindow({
          arr: "a",
          name: `v${c}_${t}_`,
          len: tp,
          start: `ar${c}_${t} + i32(j)`,
          offset: staticA ? 0 : undefined,
          mask: (s) => `av${t} && (j + ${s}u < p.wa)`,
        }),
      );
    }
  }
  for (const r of range(rows)) {
    const uses = range(th).map((t) => [t, r - t * g.sh]).filter(([, k]) => k >= 0 && k < g.kh);
    if (uses.length === 0) continue;
    body.push(`if (rb${r}) {`);
    for (const cb of range(tcb)) {
      body.push(
        ...loadWindow({
          arr: "b",
          name: `x${cb}_${r}_`,
          len: win,
          start: `bp${cb} + (${plus("iy0", r)}) * WB + bx0`,
          offset: staticB ? ob : undefined,
          mask: (s) => `(${plus("bx0", s)} >= 0 && ${plus("bx0", s)} < WB)`,
        }).map((l) => `  ${l}`),
      );
    }
    for (const [t, kh] of uses) {
      // Consecutive fmas go to different accumulators (tcb·kw chains interleaved): a chain of
      // fmas on one accumulator would wait for each result (latency, not throughput, bound).
      for (const c of range(tc)) {
        for (const j of range(tp)) {
          for (const cb of range(tcb)) {
            for (const kw of range(g.kw)) {
              const acc = `s${c}_${cb}_${kh * g.kw + kw}`;
              body.push(`  ${acc} = fma(v${c}_${t}_${j}, x${cb}_${r}_${j * g.sw + kw}, ${acc});`);
            }
          }
        }
      }
    }
    body.push(`}`);
  }
  const writes: string[] = [];
  for (const c of range(tc)) {
    for (const cb of range(tcb)) {
      writes.push(`  if (ca0 + ${c}u < p.ca && cb0 + ${cb}u < p.cb) {`);
      const o = `obase + ${c}u * ostride + ${cb * kk}u`;
      if (vecOut) {
        for (const q of range(kk / 4)) {
          const val = `vec4<f32>(${range(4).map((k) => `s${c}_${cb}_${4 * q + k}`).join(", ")})`;
          writes.push(`    out[((${o}) >> 2u) + ${q}u] = ${val};`);
        }
      } else {
        for (const k of range(kk)) writes.push(`    out[${o} + ${k}u] = s${c}_${cb}_${k};`);
      }
      writes.push(`  }`);
    }
  }
  return /* wgsl */ `
${flatMain("t", "p.total")}
  let cb0 = (t % p.cbBlocks) * ${tcb}u;
  let r = t / p.cbBlocks;
  let split = r % p.splits;
  let ca0 = (r / p.splits) * ${tc}u;
  let HB = i32(p.hb);
  let WB = i32(p.wb);
  ${range(tc).map((c) => `let ac${c} = min(ca0 + ${c}u, p.ca - 1u);`).join("\n  ")}
  ${range(tcb).map((c) => `let bc${c} = min(cb0 + ${c}u, p.cb - 1u);`).join("\n  ")}
  ${
    range(tc).flatMap((c) => range(tcb).flatMap((cb) => range(kk).map((k) => `var s${c}_${cb}_${k} = 0.0;`)))
      .join("\n  ")
  }
  let row0 = split * p.rowsPerSplit;
  let row1 = min(row0 + p.rowsPerSplit, p.rows);
  for (var row = row0; row < row1; row++) {
    let i0 = (row % p.haBlocks) * ${th}u;
    let n = row / p.haBlocks;
    let iy0 = i32(i0) * ${g.sh} - ${g.ph};
    ${range(th).map((t) => `let av${t} = i0 + ${t}u < p.ha;`).join("\n    ")}
    ${
    range(tc).flatMap((c) =>
      range(th).map((t) =>
        `let ar${c}_${t} = i32(((n * p.ca + ac${c}) * p.ha + min(i0 + ${t}u, p.ha - 1u)) * p.wa);`
      )
    ).join("\n    ")
  }
    ${range(tcb).map((c) => `let bp${c} = i32((n * p.cb + bc${c}) * p.hb * p.wb);`).join("\n    ")}
    ${range(rows).map((r) => `let rb${r} = ${plus("iy0", r)} >= 0 && ${plus("iy0", r)} < HB;`).join("\n    ")}
    for (var j = 0u; j < p.wa; j += ${tp}u) {
      let bx0 = i32(j) * ${g.sw} - ${g.pw};
      ${body.join("\n      ")}
    }
  }
  let ostride = p.cb * ${kk}u;
  let obase = ((split * p.ca + ca0) * p.cb + cb0) * ${kk}u;
${writes.join("\n")}
}`;
}

/** What the shared-memory conv kernels are specialised on: geometry, register block and bias. */
export interface ConvSharedVariant extends ConvGeometry {
  /** Outputs per invocation and axis: a workgroup computes 16t channels × 16t pixels. */
  t: SharedTile;
  /** A bias `b` is bound and added. */
  bias: boolean;
}

/**
 * {@link CONV_FORWARD} as an implicit GEMM with shared-memory tiling ({@link sharedGemmMain}): the
 * product of the weights as a [cout, cin·kh·kw] matrix and the im2col matrix of x
 * [cin·kh·kw, n·oh·ow], whose columns are gathered straight from x while staging (zero where the
 * window leaves the input), never stored. The alternative for adapters where workgroup memory is
 * fast; engine/autotune.ts times both. The reduction visits (ci, kh, kw) in the same order with the
 * same `fma` as {@link CONV_FORWARD}, and a zero input adds exactly nothing, so both kernels give
 * equal results.
 *
 * Bindings: x, w, (b), y (all f32), uniforms {n, cin, h, w, cout, oh, ow, total = n·oh·ow}.
 * Dispatch: [gx, ⌈cout/16t⌉, gz] with gx·gz ≥ ⌈total/16t⌉ pixel blocks (see `grid`).
 */
export const CONV_FORWARD_SHARED = defineKernel({
  name: "convForwardShared",
  bindings: (v: ConvSharedVariant) => [read("x"), read("w"), ...(v.bias ? [read("b")] : []), write("y")],
  uniforms: { n: "u32", cin: "u32", h: "u32", w: "u32", cout: "u32", oh: "u32", ow: "u32", total: "u32" },
  body: (v) => {
    const side = SHARED_WG * v.t;
    const kk = v.kh * v.kw;
    return sharedGemmMain({
      t: v.t,
      k: `p.cin * ${kk}u`,
      setup: `let co0 = wid.y * ${side}u;
  let j0 = (wid.x + wid.z * nwg.x) * ${side}u;
  let plane = p.oh * p.ow;
  let H = i32(p.h);
  let W = i32(p.w);
  // The im2col column (output pixel) this invocation stages: the same one at every step.
  let sj = j0 + li % ${side}u;
  let sPix = sj % plane;
  let sImg = (sj / plane) * p.cin;
  let sIy = i32(sPix / p.ow) * ${v.sh} - ${v.ph};
  let sIx = i32(sPix % p.ow) * ${v.sw} - ${v.pw};
  let sOk = sj < p.total;`,
      stageA: (e) =>
        `let e = ${e};
      let kk = e % 16u; let co = co0 + e / 16u; let gk = k0 + kk;
      var val = 0.0;
      if (co < p.cout && gk < kTotal) { val = w[co * kTotal + gk]; }
      As[kk * ${side}u + e / 16u] = val;`,
      stageB: (e) =>
        `let kk = (${e}) / ${side}u; let gk = k0 + kk;
      let ci = gk / ${kk}u; let tap = gk % ${kk}u;
      let iy = sIy + i32(tap / ${v.kw}u); let ix = sIx + i32(tap % ${v.kw}u);
      var val = 0.0;
      if (sOk && gk < kTotal && iy >= 0 && iy < H && ix >= 0 && ix < W) {
        val = x[((sImg + ci) * p.h + u32(iy)) * p.w + u32(ix)];
      }
      Bs[kk * ${side}u + li % ${side}u] = val;`,
      store: (r, c, acc) => {
        const co = `co0 + ty + ${SHARED_WG * r}u`, j = `j0 + tx + ${SHARED_WG * c}u`;
        return `if (${co} < p.cout && ${j} < p.total) { y[((${j}) / plane * p.cout + ${co}) * plane + (${j}) % plane] = ${acc}${
          v.bias ? ` + b[${co}]` : ""
        }; }`;
      },
    });
  },
});

/**
 * {@link CONV_TRANSPOSE} as an implicit GEMM with shared-memory tiling ({@link sharedGemmMain}), one
 * product per output residue class (a sub-pixel convolution, as there): the class's repacked
 * weights as a [cout, cin·taps] matrix times the gathered input [cin·taps, n·qh·qw]. Same
 * reduction order and `fma` as {@link CONV_TRANSPOSE}, so equal results; engine/autotune.ts times
 * both.
 *
 * Bindings: x, wp (from {@link CONV_REPACK}), (b), y (all f32), uniforms
 * {n, cin, h, w, cout, oh, ow, qh, qw, total = n·qh·qw}. Dispatch: [gx, ⌈cout/16t⌉·sh·sw, gz] with
 * gx·gz ≥ ⌈total/16t⌉ pixel blocks; the class is the fastest part of the y index.
 */
export const CONV_TRANSPOSE_SHARED = defineKernel({
  name: "convTransposeShared",
  bindings: (v: ConvSharedVariant) => [read("x"), read("wp"), ...(v.bias ? [read("b")] : []), write("y")],
  uniforms: {
    n: "u32",
    cin: "u32",
    h: "u32",
    w: "u32",
    cout: "u32",
    oh: "u32",
    ow: "u32",
    qh: "u32",
    qw: "u32",
    total: "u32",
  },
  body: (v) => {
    const side = SHARED_WG * v.t;
    const nv = Math.ceil(v.kh / v.sh);
    const nu = Math.ceil(v.kw / v.sw);
    const taps = nv * nu;
    const t4 = transposeTaps(v);
    const classes = v.sh * v.sw;
    // Taps past the kernel read rows that CONV_TRANSPOSE skips; their weights are 0 anyway.
    const khCheck = v.kh % v.sh === 0 ? "" : ` && khBase + ${v.sh}u * tv < ${v.kh}u`;
    return sharedGemmMain({
      t: v.t,
      k: `p.cin * ${taps}u`,
      setup: `let cls = wid.y % ${classes}u;
  let co0 = (wid.y / ${classes}u) * ${side}u;
  let rw = cls % ${v.sw}u;
  let rh = cls / ${v.sw}u;
  // This class's taps kh = khBase + sh·v, kw = kwBase + sw·u read input row qy + dyBase − v and
  // column qx + dxBase − u (exact divisions, as in CONV_TRANSPOSE).
  let khBase = (rh + ${v.ph % v.sh}u) % ${v.sh}u;
  let kwBase = (rw + ${v.pw % v.sw}u) % ${v.sw}u;
  let dyBase = (i32(rh) + ${v.ph} - i32(khBase)) / ${v.sh};
  let dxBase = (i32(rw) + ${v.pw} - i32(kwBase)) / ${v.sw};
  let j0 = (wid.x + wid.z * nwg.x) * ${side}u;
  let qplane = p.qh * p.qw;
  let H = i32(p.h);
  let W = i32(p.w);
  let wcls = cls * p.cin;
  // The gathered column (output pixel of the class) this invocation stages at every step.
  let sj = j0 + li % ${side}u;
  let sq = sj % qplane;
  let sImg = (sj / qplane) * p.cin;
  let sIy = i32(sq / p.qw) + dyBase;
  let sIx = i32(sq % p.qw) + dxBase;
  let sOk = sj < p.total;`,
      stageA: (e) =>
        `let e = ${e};
      let kk = e % 16u; let co = co0 + e / 16u; let gk = k0 + kk;
      var val = 0.0;
      if (co < p.cout && gk < kTotal) { val = wp[((wcls + gk / ${taps}u) * p.cout + co) * ${t4}u + gk % ${taps}u]; }
      As[kk * ${side}u + e / 16u] = val;`,
      stageB: (e) =>
        `let kk = (${e}) / ${side}u; let gk = k0 + kk;
      let ci = gk / ${taps}u; let tap = gk % ${taps}u;
      let tv = tap / ${nu}u;
      let iy = sIy - i32(tv); let ix = sIx - i32(tap % ${nu}u);
      var val = 0.0;
      if (sOk && gk < kTotal && iy >= 0 && iy < H && ix >= 0 && ix < W${khCheck}) {
        val = x[((sImg + ci) * p.h + u32(iy)) * p.w + u32(ix)];
      }
      Bs[kk * ${side}u + li % ${side}u] = val;`,
      store: (r, c, acc) => {
        const co = `co0 + ty + ${SHARED_WG * r}u`, j = `j0 + tx + ${SHARED_WG * c}u`;
        return `{
    let j = ${j}; let co = ${co}; let q = j % qplane;
    let oy = rh + (q / p.qw) * ${v.sh}u; let ox = rw + (q % p.qw) * ${v.sw}u;
    if (co < p.cout && j < p.total && oy < p.oh && ox < p.ow) {
      y[((j / qplane * p.cout + co) * p.oh + oy) * p.ow + ox] = ${acc}${v.bias ? " + b[co]" : ""};
    }
  }`;
      },
    });
  },
});

/**
 * out[i] = Σ_s parts[s·m + i] for s < splits: adds the split-reduction slices of the weight gradient.
 * Bindings: parts, out, uniforms {m, splits}. Flat dispatch over the m outputs.
 */
export const CONV_SUM_SPLITS = defineKernel({
  name: "convSumSplits",
  bindings: [read("parts"), write("out")],
  uniforms: { m: "u32", splits: "u32" },
  body: () => /* wgsl */ `
${flatMain("i", "p.m")}
  var s = 0.0;
  for (var k = 0u; k < p.splits; k++) { s += parts[k * p.m + i]; }
  out[i] = s;
}`,
});

/**
 * Bias gradient: db[c] = Σ_{n,h,w} dy[n,c,h,w]. One workgroup per channel (flat
 * workgroup index); each lane sums a strided part, then a tree reduction in
 * workgroup memory combines the lanes.
 * Bindings: dy, db, uniforms {n, c, hw}. Dispatch: c workgroups.
 */
export const CONV_BIAS_GRAD = defineKernel({
  name: "convBiasGrad",
  bindings: [read("dy"), write("db")],
  uniforms: { n: "u32", c: "u32", hw: "u32" },
  body: () => /* wgsl */ `
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = wid.x + wid.y * nwg.x;
  var s = 0.0;
  if (c < p.c) {
    for (var n = 0u; n < p.n; n++) {
      let base = (n * p.c + c) * p.hw;
      for (var i = lid; i < p.hw; i += ${WG}u) { s += dy[base + i]; }
    }
  }
  part[lid] = s;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) { part[lid] += part[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u && c < p.c) { db[c] = part[0]; }
}`,
});
