/**
 * What a run measures: the training losses (read back from the GPU in batches,
 * averaged per checkpoint and per epoch), the validation metrics, and the
 * metrics.jsonl history with one line per checkpoint.
 */

import type { Tensor } from "../../engine/tensor.ts";
import type { StepLosses } from "../../models/pix2pix.ts";
import { atomicWriteText, readJsonLines } from "../fsutil.ts";
import { formatNumber } from "../progress.ts";

/** One line of metrics.jsonl. Training losses are means over the steps since the previous line. */
export interface MetricsRecord {
  step: number;
  /** Epochs completed, fractional (2.5: half-way through the third). */
  epoch: number;
  phase: "pretrain" | "gan";
  lossD: number | null;
  lossGGan: number | null;
  lossL1: number | null;
  valL1: number | null;
  valPsnr: number | null;
  /** Mean validation colorfulness over the originals' (absent in files written before it existed). */
  valColorfulness?: number | null;
  /** The same three for the moving average of G, when the run keeps one. */
  emaValL1?: number | null;
  emaValPsnr?: number | null;
  emaValColorfulness?: number | null;
  /** Learning rate of the epoch the record belongs to (absent in files written before it existed). */
  lr?: number;
  /** Seconds of training so far. */
  time: number;
}

/** Validation metrics of one generator (see {@link MetricsRecord}). */
export interface ValMetrics {
  valL1: number | null;
  valPsnr: number | null;
  valColorfulness: number | null;
}

/** The training losses of one step, read back (undefined: the step had no such loss). */
export interface LossValues {
  step: number;
  lossD?: number;
  lossGGan?: number;
  lossL1: number;
}

/** Adds up losses read back from the GPU; `mean()` gives null for a loss that never occurred. */
export class LossMeans {
  #sum = { lossD: 0, lossGGan: 0, lossL1: 0 };
  #n = { lossD: 0, lossGGan: 0, lossL1: 0 };
  /** Counts the losses `l` has. */
  add(l: Partial<Record<keyof LossMeans["mean"], number>>) {
    for (const k of ["lossD", "lossGGan", "lossL1"] as const) {
      const v = l[k];
      if (v !== undefined) this.#sum[k] += v, this.#n[k]++;
    }
  }
  /** The mean of each loss since the last {@link reset}. */
  get mean(): { lossD: number | null; lossGGan: number | null; lossL1: number | null } {
    const m = (k: "lossD" | "lossGGan" | "lossL1") => (this.#n[k] ? this.#sum[k] / this.#n[k] : null);
    return { lossD: m("lossD"), lossGGan: m("lossGGan"), lossL1: m("lossL1") };
  }
  /** Starts over. */
  reset() {
    this.#sum = { lossD: 0, lossGGan: 0, lossL1: 0 };
    this.#n = { lossD: 0, lossGGan: 0, lossL1: 0 };
  }
}

/**
 * Losses of steps not yet read back (GPU scalars). Reading them after every step would stall the
 * pipeline; they are read a batch at a time instead.
 */
export class PendingLosses {
  #steps: { step: number; lossD?: Tensor; lossGGan?: Tensor; lossL1: Tensor }[] = [];

  /** Steps waiting to be read. */
  get length(): number {
    return this.#steps.length;
  }

  /** Holds the losses of `step` (1-based: the count of steps done once it is) until {@link read}. */
  push(step: number, losses: StepLosses) {
    this.#steps.push({ step, ...losses });
  }

  /** Reads every held loss back, in step order, and disposes of the GPU scalars. */
  async read(): Promise<LossValues[]> {
    if (!this.#steps.length) return [];
    const steps = this.#steps;
    this.#steps = [];
    const values = await Promise.all(
      steps.map(async (p) => ({
        step: p.step,
        lossD: p.lossD ? await p.lossD.item() : undefined,
        lossGGan: p.lossGGan ? await p.lossGGan.item() : undefined,
        lossL1: await p.lossL1.item(),
      })),
    );
    for (const p of steps) p.lossD?.dispose(), p.lossGGan?.dispose(), p.lossL1.dispose();
    return values;
  }
}

/** The names of the losses in `v` that are not finite (a diverged step). */
export function nonFiniteLosses(v: LossValues): ("lossD" | "lossGGan" | "lossL1")[] {
  return (["lossD", "lossGGan", "lossL1"] as const).filter((k) =>
    v[k] !== undefined && !Number.isFinite(v[k])
  );
}

/**
 * The metrics history a run continues: for a resumed run, the lines of `path` up to the
 * checkpoint's step `resumedStep` (lines past it belong to work that was lost, and are dropped from
 * the file); for a fresh run (`resumedStep` null), none (the file is emptied).
 */
export async function loadMetricsHistory(path: string, resumedStep: number | null): Promise<MetricsRecord[]> {
  const lines = await readJsonLines<MetricsRecord>(path);
  const history = resumedStep === null ? [] : lines;
  const kept = history.filter((r) => typeof r.step === "number" && r.step <= (resumedStep ?? 0));
  if (kept.length !== history.length || resumedStep === null) {
    await atomicWriteText(path, kept.map((r) => JSON.stringify(r) + "\n").join(""));
  }
  return kept;
}

/** "L1 0.0712 PSNR 21.30 dB colour 64%": one generator's validation line. */
export function valText(m: ValMetrics): string {
  return `L1 ${formatNumber(Number(m.valL1!.toFixed(4)))} PSNR ${m.valPsnr!.toFixed(2)} dB` +
    (m.valColorfulness !== null ? ` colour ${Math.round(100 * m.valColorfulness)}%` : "");
}

/**
 * The line printed at a checkpoint: the mean training losses since the previous one, then the
 * validation of the trained generator and of its moving average.
 */
export function checkpointLine(
  step: number,
  m: LossMeans["mean"],
  trained: ValMetrics,
  average: ValMetrics | null,
): string {
  const f = (x: number | null, d = 4) => (x === null ? "-" : formatNumber(Number(x.toFixed(d))));
  return `step ${step}: L1 ${f(m.lossL1)}${m.lossD !== null ? ` D ${f(m.lossD)}` : ""}` +
    `${m.lossGGan !== null ? ` G ${f(m.lossGGan)}` : ""}` +
    (trained.valL1 !== null ? `  val ${valText(trained)}` : "") +
    (average?.valL1 != null ? `  ema ${valText(average)}` : "") +
    `  [checkpoint saved]`;
}
