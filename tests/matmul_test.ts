/**
 * matmul (every transpose/bias/vec4/scalar variant, batched) and linear against float64
 * references, a hand-computed case, gradient checks and errors.
 * Kernel: shaders/matmul.ts; ops: engine/ops/matmul.ts.
 */
import assert from "node:assert/strict";
import { assertClose, gpu, gradCheck, rng } from "./helpers.ts";
import { linear, matmul, matmulTuning, type MatmulVariantName, runMatmul } from "../engine/ops/matmul.ts";
import { tensor, tidy, tidyAsync } from "../engine/tensor.ts";

await gpu();

/**
 * Products of K values in [-1, 1]: the f32 result of a length-K dot product is off by at most
 * ~K·u·Σ|aᵢbᵢ| ≤ K²·2⁻²⁴ (≈ 1e-5 for K = 13, the largest inner size here). 2e-5 also covers
 * the gradients (dot products of length M or N ≤ 13 with R in [-1, 1]) and is 1000× smaller
 * than any single wrong term.
 */
const TOL = { atol: 2e-5 };

/** float64 C = op(A)·op(B) + bias, batched (batch 0 = unbatched; a 2-D operand is shared). */
function refMatmul(
  a: Float64Array,
  b: Float64Array,
  m: number,
  n: number,
  k: number,
  o: {
    transA?: boolean;
    transB?: boolean;
    bias?: Float64Array;
    batch?: number;
    batchA?: boolean;
    batchB?: boolean;
  } = {},
): Float64Array {
  const batch = o.batch ?? 0;
  const out = new Float64Array(Math.max(1, batch) * m * n);
  for (let z = 0; z < Math.max(1, batch); z++) {
    const ao = batch && o.batchA !== false ? z * m * k : 0;
    const bo = batch && o.batchB !== false ? z * k * n : 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = o.bias ? o.bias[j] : 0;
        for (let p = 0; p < k; p++) {
          const av = o.transA ? a[ao + p * m + i] : a[ao + i * k + p];
          const bv = o.transB ? b[bo + j * k + p] : b[bo + p * n + j];
          s += av * bv;
        }
        out[(z * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

Deno.test("matmul: hand-computed 2×2", async () => {
  await tidyAsync(async () => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = tensor([5, 6, 7, 8], [2, 2]);
    // [[1·5+2·7, 1·6+2·8], [3·5+4·7, 3·6+4·8]]: small integers, exact in f32.
    assertClose(await matmul(a, b).data(), [19, 22, 43, 50], { atol: 0 }, "2x2");
  });
});

// [M, K, N]: odd sizes (scalar kernel), multiples of 4 (vec4 kernel), vec4 with a row tail, and
// M ≥ 8 (8-row tiles) with tails.
const SIZES: [number, number, number][] = [
  [5, 7, 3],
  [1, 1, 1],
  [4, 8, 12],
  [6, 8, 4],
  [13, 4, 9],
  [3, 12, 8],
  [9, 4, 4],
  [12, 8, 8],
];

for (const [m, k, n] of SIZES) {
  Deno.test(`matmul ${m}×${k}·${k}×${n}: forward and gradients vs float64`, async () => {
    await gradCheck({
      label: `matmul ${m}x${k}x${n}`,
      inputs: [{ data: rng(m * 100 + k).uniform(m * k), shape: [m, k] }, {
        data: rng(n * 7 + k).uniform(k * n),
        shape: [k, n],
      }],
      gpuFn: ([a, b]) => matmul(a, b),
      refFn: ([a, b]) => refMatmul(a, b, m, n, k),
      forward: TOL,
      grad: TOL,
    });
  });
}

// Every transpose case of the differentiable matmul, each gradient stored in its operand's layout:
// scalar and vec4 sizes, and a batched stack (attention's Aᵀ·B and A·Bᵀ are batched).
for (const [transA, transB] of [[true, false], [false, true], [true, true]]) {
  const name = `${transA ? "Aᵀ" : "A"}·${transB ? "Bᵀ" : "B"}`;
  Deno.test(`matmul ${name}: forward and gradients vs float64, 2-D and batched`, async () => {
    for (const [m, k, n, batch] of [[5, 7, 3, 0], [4, 8, 12, 0], [6, 4, 9, 2], [8, 4, 4, 3]]) {
      const lead = batch ? [batch] : [];
      await gradCheck({
        label: `matmul ${name} ${m}x${k}x${n} batch ${batch}`,
        inputs: [
          {
            data: rng(m * 31 + k).uniform(Math.max(1, batch) * m * k),
            shape: [...lead, ...(transA ? [k, m] : [m, k])],
          },
          {
            data: rng(n * 17 + k).uniform(Math.max(1, batch) * k * n),
            shape: [...lead, ...(transB ? [n, k] : [k, n])],
          },
        ],
        gpuFn: ([a, b]) => matmul(a, b, { transA, transB }),
        refFn: ([a, b]) => refMatmul(a, b, m, n, k, { transA, transB, batch }),
        forward: TOL,
        grad: TOL,
      });
    }
  });
}

Deno.test("runMatmul: all transpose and bias combinations, vec4 and scalar variants", async () => {
  // Scalar, vec4, vec4 with a row tail (scalar with transA), then the same with 8-row tiles:
  // 12 rows with transA reads a clamped second block of 4.
  for (const [m, k, n] of [[5, 7, 3], [8, 12, 4], [7, 8, 8], [11, 5, 6], [12, 8, 8], [9, 4, 12]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const withBias of [false, true]) {
          const a = rng(1).uniform(m * k), b = rng(2).uniform(k * n), bias = rng(3).uniform(n);
          await tidyAsync(async () => {
            const y = runMatmul(
              tensor(Float32Array.from(a), transA ? [k, m] : [m, k]),
              tensor(Float32Array.from(b), transB ? [n, k] : [k, n]),
              { transA, transB, bias: withBias ? tensor(Float32Array.from(bias)) : null },
            );
            assert.deepEqual(y.shape, [m, n]);
            const ref = refMatmul(a, b, m, n, k, { transA, transB, bias: withBias ? bias : undefined });
            assertClose(
              await y.data(),
              ref,
              TOL,
              `${m}x${k}x${n} tA=${transA} tB=${transB} bias=${withBias}`,
            );
          });
        }
      }
    }
  }
});

Deno.test("runMatmul: the large register tiles (up to 32 rows × 4 vec4) on shapes with tails", async () => {
  // Large tiles are normally picked only for big matrices; lowering the threshold selects them here.
  const saved = matmulTuning.minThreads;
  matmulTuning.minThreads = 1;
  try {
    // K ≤ 36 here: the K²·2⁻²⁴ bound is ~8e-5; 1e-4 stays far below one wrong term (~0.1).
    const tol = { atol: 1e-4 };
    for (const [m, k, n] of [[37, 12, 28], [33, 8, 20], [64, 16, 16], [20, 36, 8]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = rng(4).uniform(m * k), b = rng(5).uniform(k * n), bias = rng(6).uniform(n);
          await tidyAsync(async () => {
            const y = runMatmul(
              tensor(Float32Array.from(a), transA ? [k, m] : [m, k]),
              tensor(Float32Array.from(b), transB ? [n, k] : [k, n]),
              { transA, transB, bias: tensor(Float32Array.from(bias)) },
            );
            const ref = refMatmul(a, b, m, n, k, { transA, transB, bias });
            assertClose(await y.data(), ref, tol, `${m}x${k}x${n} tA=${transA} tB=${transB}`);
          });
        }
      }
    }
    await tidyAsync(async () => {
      const a = rng(7).uniform(3 * 36 * 8), b = rng(8).uniform(3 * 8 * 20);
      const y = runMatmul(
        tensor(Float32Array.from(a), [3, 36, 8]),
        tensor(Float32Array.from(b), [3, 8, 20]),
      );
      assertClose(await y.data(), refMatmul(a, b, 36, 20, 8, { batch: 3 }), tol, "batched 3×36×8·8×20");
    });
  } finally {
    matmulTuning.minThreads = saved;
  }
});

Deno.test("runMatmul: batched, with a shared 2-D operand (weights × im2col columns)", async () => {
  for (const [m, k, n] of [[3, 8, 12], [5, 7, 3], [9, 8, 4]]) {
    const batch = 3;
    const w = rng(4).uniform(m * k), cols = rng(5).uniform(batch * k * n), a3 = rng(6).uniform(batch * m * k);
    await tidyAsync(async () => {
      const y = runMatmul(
        tensor(Float32Array.from(w), [m, k]),
        tensor(Float32Array.from(cols), [batch, k, n]),
      );
      assert.deepEqual(y.shape, [batch, m, n]);
      assertClose(
        await y.data(),
        refMatmul(w, cols, m, n, k, { batch, batchA: false }),
        TOL,
        `shared A ${m}x${k}x${n}`,
      );
      const z = runMatmul(
        tensor(Float32Array.from(a3), [batch, m, k]),
        tensor(Float32Array.from(cols), [batch, k, n]),
      );
      assertClose(await z.data(), refMatmul(a3, cols, m, n, k, { batch }), TOL, `batched ${m}x${k}x${n}`);
    });
  }
  // Batched matmul with gradients.
  const [b, m, k, n] = [2, 3, 5, 4];
  await gradCheck({
    label: "batched matmul",
    inputs: [{ data: rng(8).uniform(b * m * k), shape: [b, m, k] }, {
      data: rng(9).uniform(b * k * n),
      shape: [b, k, n],
    }],
    gpuFn: ([x, y]) => matmul(x, y),
    refFn: ([x, y]) => refMatmul(x, y, m, n, k, { batch: b }),
    forward: TOL,
    grad: TOL,
  });
});

for (
  const [batch, inF, outF, withBias] of [[3, 5, 7, true], [2, 8, 4, true], [4, 12, 3, false], [
    1,
    6,
    9,
    true,
  ]] as const
) {
  Deno.test(`linear: batch ${batch}, ${inF} → ${outF}${withBias ? " + bias" : ""}, gradients of x, W, b`, async () => {
    const inputs = [
      { data: rng(11).uniform(batch * inF), shape: [batch, inF] },
      { data: rng(12).uniform(outF * inF), shape: [outF, inF] },
    ];
    if (withBias) inputs.push({ data: rng(13).uniform(outF), shape: [outF] });
    await gradCheck({
      label: `linear ${batch}x${inF}->${outF}`,
      inputs,
      gpuFn: ([x, w, b]) => linear(x, w, b),
      refFn: ([x, w, b]) => refMatmul(x, w, batch, outF, inF, { transB: true, bias: b }),
      forward: TOL,
      grad: TOL,
    });
  });
}

Deno.test("matmul and linear: errors name the op and the shapes", () => {
  tidy(() => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(8), [4, 2]);
    assert.throws(() => matmul(a, b), /matmul.*3 and 4.*\[2, 3\].*\[4, 2\]/);
    assert.throws(() => matmul(a, tensor([1, 2, 3])), /matmul.*\[2, 3\].*\[3\]/);
    assert.throws(() => runMatmul(a, a, { transB: true, bias: tensor([1, 2, 3]) }), /matmul.*bias.*\[2\]/);
    assert.throws(() => linear(a, b), /linear.*x \[2, 3\].*weight \[4, 2\]/);
    assert.throws(
      () => linear(a, tensor(new Float32Array(12), [4, 3]), tensor([1, 2])),
      /linear.*bias \[2\]/,
    );
  });
});

// ---------------------------------------------------------------------------
// The shared-memory kernel (MATMUL_SHARED, 32- and 64-wide tiles), which the autotuner may choose
// instead of the register kernel: forced for every product, gradients included.

/** Runs `fn` with every matmul on `variant`'s kernel. */
async function withVariant(variant: MatmulVariantName, fn: () => Promise<void>) {
  matmulTuning.variant = variant;
  try {
    await fn();
  } finally {
    matmulTuning.variant = null;
  }
}

for (const variant of ["shared32", "shared64"] as const) {
  Deno.test(`runMatmul ${variant}: all transpose and bias combinations, tails of every tile, vs float64`, async () => {
    await withVariant(variant, async () => {
      // Odd sizes, multiples of 4, one tile exactly, tails past one and two tiles, K past one stage.
      // K ≤ 70: the K²·2⁻²⁴ bound is ~3e-4; 5e-4 stays far below one wrong term (~0.1).
      const tol = { atol: 5e-4 };
      for (
        const [m, k, n] of [[5, 7, 3], [1, 1, 1], [32, 16, 64], [37, 12, 28], [70, 33, 65], [129, 70, 40]]
      ) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const withBias of [false, true]) {
              const a = rng(21).uniform(m * k), b = rng(22).uniform(k * n), bias = rng(23).uniform(n);
              await tidyAsync(async () => {
                const y = runMatmul(
                  tensor(Float32Array.from(a), transA ? [k, m] : [m, k]),
                  tensor(Float32Array.from(b), transB ? [n, k] : [k, n]),
                  { transA, transB, bias: withBias ? tensor(Float32Array.from(bias)) : null },
                );
                assertClose(
                  await y.data(),
                  refMatmul(a, b, m, n, k, { transA, transB, bias: withBias ? bias : undefined }),
                  tol,
                  `${variant} ${m}x${k}x${n} tA=${transA} tB=${transB} bias=${withBias}`,
                );
              });
            }
          }
        }
      }
    });
  });

  Deno.test(`runMatmul ${variant}: batched, with a shared 2-D operand, and gradients`, async () => {
    await withVariant(variant, async () => {
      for (const [m, k, n] of [[3, 8, 12], [5, 7, 3], [40, 20, 36]]) {
        const batch = 3;
        const w = rng(24).uniform(m * k), cols = rng(25).uniform(batch * k * n);
        const a3 = rng(26).uniform(batch * m * k);
        const tol = { atol: 1e-4 };
        await tidyAsync(async () => {
          const y = runMatmul(
            tensor(Float32Array.from(w), [m, k]),
            tensor(Float32Array.from(cols), [batch, k, n]),
          );
          assertClose(await y.data(), refMatmul(w, cols, m, n, k, { batch, batchA: false }), tol, `shared A`);
          const z = runMatmul(
            tensor(Float32Array.from(a3), [batch, m, k]),
            tensor(Float32Array.from(cols), [batch, k, n]),
          );
          assertClose(await z.data(), refMatmul(a3, cols, m, n, k, { batch }), tol, `batched ${m}x${k}x${n}`);
        });
      }
      const [m, k, n] = [9, 5, 6];
      await gradCheck({
        label: `${variant} matmul`,
        inputs: [{ data: rng(27).uniform(2 * m * k), shape: [2, m, k] }, {
          data: rng(28).uniform(2 * k * n),
          shape: [2, k, n],
        }],
        gpuFn: ([x, y]) => matmul(x, y),
        refFn: ([x, y]) => refMatmul(x, y, m, n, k, { batch: 2 }),
        forward: TOL,
        grad: TOL,
      });
      await gradCheck({
        label: `${variant} linear`,
        inputs: [
          { data: rng(29).uniform(3 * 7), shape: [3, 7] },
          { data: rng(30).uniform(5 * 7), shape: [5, 7] },
          { data: rng(31).uniform(5), shape: [5] },
        ],
        gpuFn: ([x, w, b]) => linear(x, w, b),
        refFn: ([x, w, b]) => refMatmul(x, w, 3, 5, 7, { transB: true, bias: b }),
        forward: TOL,
        grad: TOL,
      });
    });
  });
}
