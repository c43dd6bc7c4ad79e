/**
 * Where training stands: the train state saved in every checkpoint, which a
 * `--resume` continues from.
 */

import { resolve } from "node:path";
import type { TrainConfig } from "./options.ts";
import type { MetricsRecord } from "./metrics.ts";
import type { CropMode } from "../dataset.ts";

/** Where training stands; saved in every checkpoint. */
export interface TrainState {
  /** Epoch in progress (0-based; pretrain epochs come first). */
  epoch: number;
  /** Steps done in that epoch. */
  stepInEpoch: number;
  /** Steps done in total. */
  step: number;
  /** Seconds spent training, summed over resumed runs. */
  time: number;
  seed: number;
  size: number;
  /** `--crops`; absent in checkpoints from before random crops, which trained on fixed ones. */
  crops?: CropMode;
  batch: number;
  valSplit: number;
  epochs: number;
  pretrainEpochs: number;
  /** The last `decayEpochs` epochs lower the learning rate (see `lrFactor` in schedule.ts). */
  decayEpochs: number;
  dEvery: number;
  /** Settings a plain `--resume` reuses unless given again. */
  data: string;
  sampleEvery: number;
  saveEpochs: number;
  valImages: number;
  logEvery: number;
  keepGenerators?: boolean;
  /** `--hint-adapter`: only the hint weights learn; absent in checkpoints from before the option. */
  hintAdapter?: boolean;
}

/**
 * The state a run starts from: step 0, or where the resumed checkpoint's `saved` state stands,
 * with the settings of this invocation's `cfg` (in the key order checkpoints store them in).
 */
export function initialTrainState(cfg: TrainConfig, saved: Partial<TrainState> | null): TrainState {
  return {
    epoch: 0,
    stepInEpoch: 0,
    step: 0,
    time: 0,
    ...(saved ?? {}),
    seed: cfg.seed,
    size: cfg.size,
    crops: cfg.crops,
    batch: cfg.batch,
    valSplit: cfg.valSplit,
    epochs: cfg.epochs,
    pretrainEpochs: cfg.pretrainEpochs,
    decayEpochs: cfg.decayEpochs,
    dEvery: cfg.dEvery,
    data: resolve(cfg.data),
    sampleEvery: cfg.sampleEvery,
    saveEpochs: cfg.saveEpochs,
    valImages: cfg.valImages,
    logEvery: cfg.logEvery,
    keepGenerators: cfg.keepGenerators,
    hintAdapter: cfg.hintAdapter,
  } as TrainState;
}

/**
 * The phase of the latest step done: at step 0 of an epoch (an epoch-end checkpoint) that is the
 * epoch that just ended.
 */
export function latestPhase(state: TrainState, pretrainEpochs: number): MetricsRecord["phase"] {
  return state.epoch - (state.stepInEpoch === 0 ? 1 : 0) < pretrainEpochs ? "pretrain" : "gan";
}
