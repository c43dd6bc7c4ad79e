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
