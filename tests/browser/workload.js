// @ts-check
/**
 * Fixed computations run on the engine wherever it is loaded from: the local
 * sources (Deno, lavapipe), a URL import (a fresh Deno process) or the browser
 * bundle (Chromium, SwiftShader). Plain JavaScript taking the engine module as
 * an argument, so the very same file runs in all three without a build step and
 * the callers only compare the numbers.
 *
 * @typedef {typeof import("../../mod.ts")} Engine
 */

/**
 * n values in [lo, hi) from the engine's own seeded PRNG, rounded to f32.
 * @param {Engine} E
 * @param {number} n
 * @param {number} seed
 * @param {number} [lo]
 * @param {number} [hi]
 * @returns {Float32Array}
 */
export function fixedValues(E, n, seed, lo = -1, hi = 1) {
  const rng = new E.Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.next();
  return out;
}

/**
 * The generator of the URL import test: U-Net (nDown 5, ngf 4: 2^5 = 32, the
 * smallest side it takes) with the seeded default initialisation, eval mode,
 * on a fixed batch of two 32×32 L planes.
 * @param {Engine} E
 * @returns {Promise<{ shape: number[], values: number[], parameters: number }>}
 */
export async function generatorForward(E) {
  await E.initGpu();
  E.manualSeed(1234);
  const G = new E.Unet({ nDown: 5, ngf: 4 }).eval();
  const x = E.tensor(fixedValues(E, 2 * 32 * 32, 99), [2, 1, 32, 32]);
  try {
    const y = E.noGrad(() => G.forward(x));
    try {
      return { shape: [...y.shape], values: Array.from(await y.data()), parameters: G.parameterCount() };
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
    G.dispose();
  }
}

/**
 * A few pix2pix training steps of a tiny model from a fixed seed: the D and G
 * updates with Adam, batch norm in training mode, BCE and L1 losses, and the
 * generator's eval-mode output afterwards (so the updated weights and running
 * statistics are compared too, not only the losses).
 * @param {Engine} E
 * @param {number} [steps]
 * @returns {Promise<{ losses: number[][], output: number[] }>}
 */
export async function trainSteps(E, steps = 3) {
  await E.initGpu();
  E.manualSeed(4321);
  const p = new E.Pix2Pix({ nDown: 5, ngf: 4 }, { ndf: 4 }, { lr: 1e-3 });
  const L = E.tensor(fixedValues(E, 2 * 32 * 32, 7), [2, 1, 32, 32]);
  const ab = E.tensor(fixedValues(E, 2 * 2 * 32 * 32, 8, -0.5, 0.5), [2, 2, 32, 32]);
  try {
    const losses = [];
    for (let i = 0; i < steps; i++) {
      const s = p.trainStep(L, ab);
      const row = [];
      for (const t of [s.lossD, s.lossGGan, s.lossL1]) {
        if (!t) throw new Error("trainStep returned no loss");
        row.push(await t.item());
        t.dispose();
      }
      losses.push(row);
    }
    p.G.eval();
    const y = E.noGrad(() => p.G.forward(L));
    try {
      return { losses, output: Array.from(await y.data()) };
    } finally {
      y.dispose();
    }
  } finally {
    L.dispose();
    ab.dispose();
    p.dispose();
  }
}
