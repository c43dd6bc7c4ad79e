/**
 * Divergence: a run whose losses or weights stop being finite ends with exit
 * status 1 and never overwrites the last good checkpoint.
 */

import { type Tensor, tidy } from "../../engine/tensor.ts";
import { noGrad } from "../../engine/autograd.ts";
import { add } from "../../engine/ops/elementwise.ts";
import { sum } from "../../engine/ops/reduce.ts";
import type { Module } from "../../engine/nn/module.ts";
import { fmtLr } from "./schedule.ts";

/** Training diverged: exit status 1, the last good checkpoint stays. */
export class DivergedError extends Error {}

/**
 * The error for `what` went wrong ("non-finite loss at step 7 (…)"), saying which checkpoint is
 * kept (`lastSavedStep` −1: none) and what to try.
 */
export function diverged(what: string, lastSavedStep: number, lr: number): DivergedError {
  return new DivergedError(
    `${what}; training stopped. ` +
      (lastSavedStep >= 0
        ? `The last good checkpoint (step ${lastSavedStep}) is kept`
        : "No checkpoint was saved") +
      `; try a lower --lr (now ${fmtLr(lr)}).`,
  );
}

/** Whether every parameter and buffer is finite: one summed scalar, one readback. */
export async function allFinite(modules: Module[]): Promise<boolean> {
  const total = noGrad(() =>
    tidy(() => {
      let acc: Tensor | null = null;
      for (const m of modules) {
        for (const t of m.stateDict().values()) {
          const s = sum(t);
          acc = acc ? add(acc, s) : s;
        }
      }
      return acc;
    })
  );
  if (!total) return true;
  const v = await total.item();
  total.dispose();
  // A sum of finite weights only overflows for weights near 1e38, which is divergence anyway.
  return Number.isFinite(v);
}
