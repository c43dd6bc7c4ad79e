/**
 * WGSL for C = op(A) · op(B) (+ bias), op = identity or transpose, optionally batched.
 *
 * Register tiling without workgroup memory: each invocation computes `rows` (4 to 32) rows
 * × `cols` (1 to 4) vec4s of columns of C from vec4 loads. Lavapipe runs invocations as SIMD
 * lanes along x (columns): B loads differ per lane and are the expensive ones, A values are
 * the same across lanes. More rows cut the B loads per multiply-add, more columns the A
 * loads: at 1024³ on 2 busy cores (load ~2.5), 32 × 4 measured 16 GFLOPS, 16 × 4 12, and
 * 8 × 1 6.5 (shared-memory tiling is slower on lavapipe, whose barriers are expensive).
 * engine/ops/matmul.ts falls back to small tiles when M or N is small, to waste less work.
 * {@link MATMUL_SHARED} is the shared-memory tiled alternative for adapters where workgroup
 * memory is fast; engine/autotune.ts chooses between them per adapter and shape when asked.
 *
 * The transpose flags change only which index a load uses, so backward passes
 * (dA = g·Bᵀ, dB = Aᵀ·g) run on the same kernel with no transposed copies.
 *
 * Two variants: `vec` reads A, B and C as vec4 arrays and needs N % 4 = 0, K % 4 = 0 and,
 * with transA, M % 4 = 0 (the contiguous dimension of each operand); a tail of rows is
 * handled by clamped loads and guarded stores. The scalar variant has the same tile with
 * scalar loads, clamping and guards on every edge, for any sizes.
 */

import { defineKernel, read, write } from "./kernel.ts";

/** Shape of a matmul kernel variant. */
export interface MatmulVariant {
  transA: boolean;
  transB: boolean;
  bias: boolean;
  vec: boolean;
  /** Rows of C per invocation: 4 to 32. */
  rows: 4 | 8 | 16 | 32;
  /**
   * vec4 columns of C per invocation (vec variant only; default 1). Each A value loaded then
   * feeds 4·cols multiply-adds: at 1024³ on lavapipe 32 rows × 4 vec4s reach ~16 GFLOPS
   * against ~6.5 for 8 × 1 (measured under the same load).
   */
  cols?: 1 | 2 | 4;
}

/** Workgroup size [x, y] in invocations; each covers 4 columns × `rows` rows of C. */
export const MATMUL_WG: readonly [number, number] = [16, 4];

const J = [0, 1, 2, 3];
const COMP = ["x", "y", "z", "w"];

/** vec4 columns per invocation; the scalar variant always has one. */
function cols(v: MatmulVariant): number {
  return v.vec ? v.cols ?? 1 : 1;
}

/** Indices of the vec4 columns of an invocation. */
function Q(v: MatmulVariant): number[] {
  return Array.from({ length: cols(v) }, (_, q) => q);
}

/** Accumulator of row r, vec4 column q (one column keeps the single-column names). */
function acc(v: MatmulVariant, r: number, q: number): string {
  return cols(v) === 1 ? `acc${r}` : `acc${r}_${q}`;
}

/**
 * C = op(A) · op(B) (+ bias). Bindings: A, B, [bias] (with `bias`), C; uniforms m, n, k and the
 * batch strides strideA, strideB, strideC (0 broadcasts an operand over the batch; vec4 units in
 * the vec variant). A is [M, K] ([K, M] with transA), B is [K, N] ([N, K] with transB), C is
 * [M, N]; gid.z is the batch.
 */
export const MATMUL = defineKernel({
  name: "matmul",
  bindings: (v: MatmulVariant) => {
    const T = v.vec ? "vec4<f32>" : "f32";
    return [read("A", T), read("B", T), ...(v.bias ? [read("bias", T)] : []), write("C", T)];
  },
  uniforms: { m: "u32", n: "u32", k: "u32", strideA: "u32", strideB: "u32", strideC: "u32" },
  body: (v) => {
    const R = Array.from({ length: v.rows }, (_, r) => r);
    const head = /* wgsl */ `
@compute @workgroup_size(${MATMUL_WG[0]}, ${MATMUL_WG[1]}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * ${4 * cols(v)}u;
  let m0 = gid.y * ${v.rows}u;
  if (n0 >= p.n || m0 >= p.m) { return; }
  let aOff = gid.z * p.strideA;
  let bOff = gid.z * p.strideB;
  let cOff = gid.z * p.strideC;
  ${R.map((r) => Q(v).map((q) => `var ${acc(v, r, q)} = vec4<f32>(0.0);`).join(" ")).join(" ")}
  ${v.transA && v.vec ? "" : R.map((r) => `let mr${r} = min(m0 + ${r}u, p.m - 1u);`).join(" ")}`;
    return head + (v.vec ? vecBody(v, R) : scalarBody(v, R)) + "\n}";
  },
});

function vecBody(v: MatmulVariant, R: number[]): string {
  const blocks = Array.from({ length: v.rows / 4 }, (_, q) => q);
  const one = cols(v) === 1;
  const b = (j: number, q: number) => (one ? `b${j}` : `b${j}_${q}`);
  const d = (i: number, q: number) => (one ? `d${i}` : `d${i}_${q}`);
  // vec4 column q of the invocation; columns past N are clamped for loads and not stored.
  const cq = (q: number) => (q === 0 ? "col4" : `cq${q}`);
  const loadB = v.transB
    // Rows 4·cq..4·cq+3 of B hold columns of op(B): load 4 vec4s along K, then transpose in registers.
    ? Q(v).map((q) =>
      `${J.map((i) => `let ${d(i, q)} = B[bOff + (${cq(q)} * 4u + ${i}u) * k4 + kk];`).join(" ")}
    ${
        J.map((j) => `let ${b(j, q)} = vec4<f32>(${J.map((i) => `${d(i, q)}.${COMP[j]}`).join(", ")});`).join(
          "\n    ",
        )
      }`
    ).join("\n    ")
    : Q(v).map((q) => J.map((j) => `let ${b(j, q)} = B[bOff + (k + ${j}u) * n4 + ${cq(q)}];`).join(" ")).join(
      "\n    ",
    );
  // a(r, j) = op(A)[m0 + r, k + j]. With transA, row k + j of A holds op(A)'s column: one vec4
  // per block of 4 rows (blocks past M are clamped; their results are not stored).
  const loadA = v.transA
    ? blocks.map((q) => J.map((j) => `let c${q}${j} = A[aOff + (k + ${j}u) * m4 + rb${q}];`).join(" ")).join(
      "\n    ",
    )
    : R.map((r) => `let a${r} = A[aRow${r} + kk];`).join(" ");
  const a = (r: number, j: number) => (v.transA ? `c${r >> 2}${j}.${COMP[r & 3]}` : `a${r}.${COMP[j]}`);
  const fmas = R.flatMap((r) =>
    Q(v).map((q) => `${acc(v, r, q)} += ${J.map((j) => `${a(r, j)} * ${b(j, q)}`).join(" + ")};`)
  ).join("\n    ");
  const rowSetup = v.transA
    ? blocks.map((q) => `let rb${q} = min(m0 / 4u + ${q}u, m4 - 1u);`).join(" ")
    : R.map((r) => `let aRow${r} = aOff + mr${r} * k4;`).join(" ");
  return /* wgsl */ `
  let n4 = p.n / 4u;
  let k4 = p.k / 4u;
  let m4 = p.m / 4u;
  let col4 = gid.x * ${cols(v)}u;
  ${Q(v).slice(1).map((q) => `let cq${q} = min(col4 + ${q}u, n4 - 1u);`).join(" ")}
  ${rowSetup}
  for (var kk = 0u; kk < k4; kk++) {
    let k = kk * 4u;
    ${loadB}
    ${loadA}
    ${fmas}
  }
  ${v.bias ? Q(v).map((q) => `let bv${q} = bias[${cq(q)}];`).join(" ") : ""}
  ${
    R.flatMap((r) =>
      Q(v).map((q) =>
        `if (m0 + ${r}u < p.m${
          q ? ` && col4 + ${q}u < n4` : ""
        }) { C[cOff + (m0 + ${r}u) * n4 + col4 + ${q}u] = ${acc(v, r, q)}${v.bias ? ` + bv${q}` : ""}; }`
      )
    ).join("\n  ")
  }`;
}

function scalarBody(v: MatmulVariant, R: number[]): string {
  const aIdx = (r: number) => (v.transA ? `aOff + k * p.m + mr${r}` : `aOff + mr${r} * p.k + k`);
  const bIdx = (i: number) => (v.transB ? `bOff + nc${i} * p.k + k` : `bOff + k * p.n + nc${i}`);
  return /* wgsl */ `
  ${J.map((i) => `let nc${i} = min(n0 + ${i}u, p.n - 1u);`).join(" ")}
  for (var k = 0u; k < p.k; k++) {
    let b = vec4<f32>(${J.map(bIdx).map((e) => `B[${e}]`).join(", ")});
    ${R.map((r) => `acc${r} += A[${aIdx(r)}] * b;`).join("\n    ")}
  }
  ${
    R.map((r) =>
      `if (m0 + ${r}u < p.m) {
    ${
        J.map((i) =>
          `if (n0 + ${i}u < p.n) { C[cOff + (m0 + ${r}u) * p.n + n0 + ${i}u] = acc${r}.${COMP[i]}${
            v.bias ? ` + bias[n0 + ${i}u]` : ""
          }; }`
        ).join("\n    ")
      }
  }`
    ).join("\n  ")
  }`;
}

/** Invocations per side of a shared-memory kernel's workgroup: 16 × 16 = 256, WebGPU's default limit. */
export const SHARED_WG = 16;
/** Reduction values staged in workgroup memory per step of a shared-memory kernel. */
const SHARED_K = 16;

/**
 * Outputs per invocation and axis of a shared-memory kernel: t × t, so one workgroup computes a
 * 16t × 16t tile of the product (32 × 32 or 64 × 64).
 */
export type SharedTile = 2 | 4;

/** What {@link sharedGemmMain} needs from a kernel: how to stage its operands and store results. */
export interface SharedGemm {
  /** Outputs per invocation and axis. */
  t: SharedTile;
  /** WGSL u32 expression: the length of the reduction. */
  k: string;
  /** WGSL statements run once per invocation before the reduction (may use tx, ty, li, wid, nwg). */
  setup: string;
  /**
   * WGSL statements for element `e` (a u32 expression below 256t, the same for every step) of the
   * A tile, rows 16t × 16 reduction values: they must set `As[kk * 16t + mm]` to op(A)[row mm, k0 + kk],
   * or 0 outside the operand.
   */
  stageA: (e: string) => string;
  /** Likewise for the B tile, 16 reduction values × 16t columns: `Bs[kk * 16t + nn]`. */
  stageB: (e: string) => string;
  /** WGSL storing `acc` (the sum for tile row ty + 16r, tile column tx + 16c) where it is in range. */
  store: (r: number, c: number, acc: string) => string;
}

/**
 * The `main` of a shared-memory tiled product: the classic GEMM of the CUDA programming guide's
 * shared-memory example, with a register block per invocation. Each step stages 16 reduction
 * values of both operand tiles in workgroup memory (every invocation loads t values of each, so
 * neighbouring invocations load neighbouring addresses), then every invocation reads its t rows
 * and t columns from there and does t² multiply-adds per value. An invocation owns the rows
 * ty + 16r and the columns tx + 16c, so neighbouring invocations read neighbouring workgroup
 * memory words and store neighbouring outputs. The sums run over k in order with `fma`, one
 * product at a time.
 */
export function sharedGemmMain(g: SharedGemm): string {
  const T = Array.from({ length: g.t }, (_, i) => i);
  const side = SHARED_WG * g.t;
  const threads = SHARED_WG * SHARED_WG;
  const acc = (r: number, c: number) => `acc${r}_${c}`;
  return /* wgsl */ `
var<workgroup> As: array<f32, ${SHARED_K * side}>;
var<workgroup> Bs: array<f32, ${SHARED_K * side}>;
@compute @workgroup_size(${SHARED_WG}, ${SHARED_WG}, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let li = ty * ${SHARED_WG}u + tx;
  ${g.setup}
  ${T.map((r) => T.map((c) => `var ${acc(r, c)} = 0.0;`).join(" ")).join("\n  ")}
  let kTotal = ${g.k};
  for (var k0 = 0u; k0 < kTotal; k0 += ${SHARED_K}u) {
    ${T.map((i) => `{\n      ${g.stageA(`li + ${i * threads}u`)}\n    }`).join("\n    ")}
    ${T.map((i) => `{\n      ${g.stageB(`li + ${i * threads}u`)}\n    }`).join("\n    ")}
    workgroupBarrier();
    for (var kk = 0u; kk < ${SHARED_K}u; kk++) {
      ${T.map((r) => `let a${r} = As[kk * ${side}u + ty + ${SHARED_WG * r}u];`).join(" ")}
      ${T.map((c) => `let b${c} = Bs[kk * ${side}u + tx + ${SHARED_WG * c}u];`).join(" ")}
      ${
    T.map((r) => T.map((c) => `${acc(r, c)} = fma(a${r}, b${c}, ${acc(r, c)});`).join(" ")).join("\n      ")
  }
    }
    workgroupBarrier();
  }
  ${T.flatMap((r) => T.map((c) => g.store(r, c, acc(r, c)))).join("\n  ")}
}`;
}

/** What {@link MATMUL_SHARED} is specialised on. */
export interface MatmulSharedVariant {
  /** A is stored [K, M]. */
  transA: boolean;
  /** B is stored [N, K]. */
  transB: boolean;
  /** A bias is bound and added to every row. */
  bias: boolean;
  /** Outputs per invocation and axis: the workgroup computes a 16t × 16t tile of C. */
  t: SharedTile;
}

/**
 * C = op(A) · op(B) (+ bias) with shared-memory tiling ({@link sharedGemmMain}): the alternative to
 * {@link MATMUL} for adapters where workgroup memory is fast (real GPUs, usually); engine/autotune.ts
 * times both. Same operands, uniforms and batching as {@link MATMUL}, but scalar bindings and
 * strides in floats, so any sizes work. Bindings: A, B, [bias], C. Dispatch:
 * [⌈N/16t⌉, ⌈M/16t⌉, batch].
 */
export const MATMUL_SHARED = defineKernel({
  name: "matmulShared",
  bindings: (v: MatmulSharedVariant) => [read("A"), read("B"), ...(v.bias ? [read("bias")] : []), write("C")],
  uniforms: { m: "u32", n: "u32", k: "u32", strideA: "u32", strideB: "u32", strideC: "u32" },
  body: (v) => {
    const side = SHARED_WG * v.t;
    // Coalesced staging: consecutive invocations take consecutive addresses of the operand's
    // contiguous dimension (K for A and Bᵀ, M for Aᵀ, N for B).
    const stageA = (e: string) =>
      `let e = ${e};
      ${v.transA ? `let mm = e % ${side}u; let kk = e / ${side}u;` : `let kk = e % 16u; let mm = e / 16u;`}
      let gm = m0 + mm; let gk = k0 + kk;
      var val = 0.0;
      if (gm < p.m && gk < p.k) { val = A[aOff + ${v.transA ? "gk * p.m + gm" : "gm * p.k + gk"}]; }
      As[kk * ${side}u + mm] = val;`;
    const stageB = (e: string) =>
      `let e = ${e};
      ${v.transB ? `let kk = e % 16u; let nn = e / 16u;` : `let nn = e % ${side}u; let kk = e / ${side}u;`}
      let gn = n0 + nn; let gk = k0 + kk;
      var val = 0.0;
      if (gn < p.n && gk < p.k) { val = B[bOff + ${v.transB ? "gn * p.k + gk" : "gk * p.n + gn"}]; }
      Bs[kk * ${side}u + nn] = val;`;
    return sharedGemmMain({
      t: v.t,
      k: "p.k",
      setup: `let m0 = wid.y * ${side}u;
  let n0 = wid.x * ${side}u;
  let aOff = wid.z * p.strideA;
  let bOff = wid.z * p.strideB;
  let cOff = wid.z * p.strideC;`,
      stageA,
      stageB,
      store: (r, c, acc) => {
        const row = `(m0 + ty + ${SHARED_WG * r}u)`, col = `(n0 + tx + ${SHARED_WG * c}u)`;
        return `if (${row} < p.m && ${col} < p.n) { C[cOff + ${row} * p.n + ${col}] = ${acc}${
          v.bias ? ` + bias[${col}]` : ""
        }; }`;
      },
    });
  },
});
