/**
 * The training loop: epochs of steps, checkpoints with validation, and how a
 * run ends (done, --max-steps, a signal). Each checkpoint records where
 * training stands ({@link TrainState}) so that --resume sees the batches an
 * uninterrupted run would have.
 */

import type { Runtime } from "../../engine/gpu.ts";
import { manualSeed, Rng } from "../../engine/random.ts";
import { keep, tidy } from "../../engine/tensor.ts";
import { Pix2Pix } from "../../models/pix2pix.ts";
import { colorSpaceOf, describeGenerator } from "../../models/generators.ts";
import { generatorInput, hintAdapterMask, takesHints, widenForHints } from "../../models/hints.ts";
import { sampleHints } from "./hints.ts";
import { type Checkpoint, encodeCheckpoint, restorePix2Pix } from "../../models/checkpoint.ts";
import {
  type Dataset,
  epochPlan,
  loadPlanes,
  mixSeed,
  splitTrainVal,
  toBatch,
  trainingCrops,
} from "../dataset.ts";
import { formatDuration, ProgressBar } from "../progress.ts";
import { appendLine, atomicWrite } from "../fsutil.ts";
import { freshGeneratorConfig, type TrainConfig, UsageError } from "./options.ts";
import type { OpenedRun } from "./setup.ts";
import type { RunFiles } from "./files.ts";
import { initialTrainState, latestPhase, type TrainState } from "./state.ts";
import { fmtLr, lrFactor } from "./schedule.ts";
import {
  checkpointLine,
  loadMetricsHistory,
  LossMeans,
  type MetricsRecord,
  nonFiniteLosses,
  PendingLosses,
} from "./metrics.ts";
import { evaluate, type Evaluation } from "./validation.ts";
import { writeLossCurve, writeSamples } from "./samples.ts";
import { allFinite, diverged } from "./divergence.ts";
import { StopSignals } from "./signals.ts";
import { autotuner } from "../../engine/autotune.ts";
import { saveTuneCache } from "../tune_cache.ts";

/** Why the loop stopped before the last epoch's end. */
type Interruption = "max-steps" | "signal";

/** The validation of a checkpoint: the trained generator and its moving average, when kept. */
interface CheckpointEvaluation {
  trained: Evaluation;
  average: Evaluation | null;
}

/**
 * A pix2pix model with its data and output folder, trained by {@link run}. Built by
 * {@link Trainer.start}, which resumes or initialises the model and prints what the run is.
 */
export class Trainer {
  readonly #cfg: TrainConfig;
  readonly #rt: Runtime;
  readonly #ds: Dataset;
  readonly #files: RunFiles;
  readonly #model: Pix2Pix;
  readonly #state: TrainState;
  readonly #out: (s: string) => void;
  readonly #err: (s: string) => void;
  /** Photo indices trained on. */
  readonly #trainIdx: number[];
  /** Validation photos measured at each checkpoint. */
  readonly #metricSet: number[];
  /** Photos shown in the sample grid. */
  readonly #sampleSet: number[];
  readonly #stepsPerEpoch: number;
  /** Pretrain epochs, then GAN epochs. */
  readonly #totalEpochs: number;
  /** metrics.jsonl as written so far, for the loss curve. */
  readonly #history: MetricsRecord[];
  /** Losses since the last metrics line. */
  readonly #windowMeans = new LossMeans();
  /** Losses of the epoch, for the progress bar. */
  readonly #epochMeans = new LossMeans();
  readonly #pending = new PendingLosses();
  /** The step the GPU may still be running (see {@link #step}). */
  #inFlight: Promise<void> = Promise.resolve();
  /** The epoch's progress bar, null between epochs. */
  #bar: ProgressBar | null = null;
  /** The step of the checkpoint on disk, −1 while none was written by or before this run. */
  #lastSavedStep: number;
  /** Ctrl-C/SIGTERM, listened for while {@link run} trains. */
  #stop: StopSignals | null = null;
  /** `performance.now()` when {@link run} began, and the training seconds before it. */
  #clock = { start: 0, base: 0 };

  private constructor(
    run: OpenedRun,
    parts: {
      model: Pix2Pix;
      state: TrainState;
      trainIdx: number[];
      metricSet: number[];
      sampleSet: number[];
      stepsPerEpoch: number;
      history: MetricsRecord[];
    },
    out: (s: string) => void,
    err: (s: string) => void,
  ) {
    this.#cfg = run.cfg;
    this.#rt = run.rt;
    this.#ds = run.ds;
    this.#files = run.files;
    this.#model = parts.model;
    this.#state = parts.state;
    this.#trainIdx = parts.trainIdx;
    this.#metricSet = parts.metricSet;
    this.#sampleSet = parts.sampleSet;
    this.#stepsPerEpoch = parts.stepsPerEpoch;
    this.#totalEpochs = run.cfg.pretrainEpochs + run.cfg.epochs;
    this.#history = parts.history;
    this.#lastSavedStep = run.ck ? parts.state.step : -1;
    this.#out = out;
    this.#err = err;
  }

  /**
   * Splits the photos, builds the model (a fresh one seeded with --seed, or the resumed
   * checkpoint's with the options `given` again), prints the run's settings and trims
   * metrics.jsonl to the checkpoint.
   */
  static async start(
    run: OpenedRun,
    given: Partial<TrainConfig>,
    out: (s: string) => void,
    err: (s: string) => void,
  ): Promise<Trainer> {
    const { cfg, ck, ds, files } = run;
    out(ds.summary(cfg.verbose));
    const { train: trainIdx, val: valIdx } = splitTrainVal(ds.count, cfg.seed, cfg.valSplit);
    if (trainIdx.length === 0) {
      throw new UsageError("data: no training images left after the validation split");
    }
    const arch = cfg.generatorConfig;
    if (arch.kind === "resnet-unet" && arch.norm === "batch" && cfg.size === 32 && trainIdx.length < 2) {
      throw new UsageError("data: the ResNet U-Net at --size 32 needs batches of 2 or more training photos");
    }
    const metricSet = valIdx.slice(0, cfg.valImages);
    // Samples come from validation photos (never trained on); a run without a split shows training photos.
    const sampleSet = (valIdx.length ? valIdx : trainIdx).slice(0, 4);
    const stepsPerEpoch = epochPlan(trainIdx, cfg.seed, 0, cfg.batch).batches.length;

    const model = buildModel(cfg, ck, run.init, given);
    // --hint-adapter: how many weights learn, for the log line below (null: all of G's).
    let adapterWeights: number | null = null;
    if (cfg.hintAdapter) {
      const { name, mask } = hintAdapterMask(model.G.config);
      model.freezeGeneratorExcept(model.G.stateDict().get(name)!, mask);
      adapterWeights = mask.reduce((a, b) => a + b, 0);
    }
    const state = initialTrainState(cfg, ck ? (ck.train as Partial<TrainState>) : null);
    if (cfg.emaDecay > 0 && !model.ema) {
      model.enableEma(cfg.emaDecay);
      if (ck) out(`ema: the moving average of G (decay ${cfg.emaDecay}) starts at step ${state.step}`);
    }

    const o = model.options, gc = model.G.config, dc = model.D.config, lr = fmtLr(o.lr);
    const gParams = (model.G.parameterCount() / 1e6).toFixed(2);
    const dParams = (model.D.parameterCount() / 1e6).toFixed(2);
    out(
      `train: data=${cfg.data} out=${files.dir} size=${cfg.size} crops=${cfg.crops} batch=${cfg.batch} ` +
        `epochs=${cfg.epochs} pretrain-epochs=${cfg.pretrainEpochs} seed=${cfg.seed}` +
        (cfg.maxSteps !== null ? ` max-steps=${cfg.maxSteps}` : ""),
    );
    out(
      `model: G ${describeGenerator(gc)} (${gParams}M params); ` +
        `D PatchGAN ndf=${dc.ndf} ${dc.norm} norm (${dParams}M); ` +
        `gan=${o.gan} lambda-l1=${o.lambdaL1} lr=${lr} betas=${o.beta1}/${o.beta2} d-every=${cfg.dEvery}`,
    );
    out(
      `split: ${trainIdx.length} train / ${valIdx.length} val (val metrics on ${metricSet.length}), ` +
        `${stepsPerEpoch} step${stepsPerEpoch === 1 ? "" : "s"} per epoch; device: ${run.rt.adapterName}`,
    );
    if (run.init) {
      const weights = run.init.generatorEma ? "its moving average" : "its weights";
      const widened = takesHints(cfg.generatorConfig) && !takesHints(run.init.generatorConfig)
        ? "; hint input added, its weights at zero"
        : "";
      out(`init: G from ${cfg.init} (${weights}${widened}); D and the optimizers start fresh`);
    }
    if (adapterWeights !== null) {
      out(
        `hint adapter: only the ${adapterWeights} weights that read the hints learn; G runs as colorize runs it`,
      );
    }
    if (ck) {
      const { step, epoch, stepInEpoch } = state;
      out(`resume: ${files.checkpoint} at step ${step} (epoch ${epoch + 1}, step ${stepInEpoch} in it)`);
    }

    const history = await loadMetricsHistory(files.metrics, ck ? state.step : null);
    return new Trainer(
      run,
      { model, state, trainIdx, metricSet, sampleSet, stepsPerEpoch, history },
      out,
      err,
    );
  }

  /**
   * Trains until the last epoch ends, --max-steps is reached or a signal asks to stop, saving
   * checkpoints on the way and one at the end. Returns the exit status: 0, or 130 after a signal.
   */
  async run(): Promise<number> {
    this.#stop = new StopSignals(this.#err);
    this.#clock = { start: performance.now(), base: this.#state.time };
    let interruption: Interruption | null;
    try {
      interruption = await this.#trainEpochs();
    } finally {
      this.#closeBar();
      this.#stop.remove();
    }
    return await this.#finish(interruption);
  }

  /** Trains the remaining epochs; returns what stopped the loop early, null when all are done. */
  async #trainEpochs(): Promise<Interruption | null> {
    const state = this.#state, total = this.#totalEpochs;
    if (state.epoch >= total) {
      this.#out(`train: nothing to do, ${total} epochs already done (raise --epochs to train longer)`);
    }
    while (state.epoch < total) {
      if (this.#reachedMaxSteps()) return "max-steps";
      const interruption = await this.#trainEpoch();
      if (interruption) return interruption;
      await this.#endEpoch();
    }
    return null;
  }

  /**
   * Trains epoch `state.epoch` from its step `state.stepInEpoch` to its end; returns what stopped it
   * early, or null.
   */
  async #trainEpoch(): Promise<Interruption | null> {
    const cfg = this.#cfg, state = this.#state, model = this.#model;
    const e = state.epoch;
    const pretrain = e < cfg.pretrainEpochs;
    // The checkpoint keeps the base rate (model.options.lr); the schedule scales it per epoch.
    const baseLr = model.options.lr;
    model.optG.lr = model.optD.lr = baseLr * lrFactor(e, this.#totalEpochs, cfg.decayEpochs);
    const plan = epochPlan(this.#trainIdx, cfg.seed, e, cfg.batch);
    const steps = plan.batches.length;
    this.#epochMeans.reset();
    const imagesPerStep = Math.min(cfg.batch, this.#trainIdx.length);
    this.#bar = new ProgressBar({
      total: steps * imagesPerStep,
      label: `epoch ${e + 1}/${this.#totalEpochs}${pretrain ? " (L1 pretrain)" : ""}` +
        (model.optG.lr !== baseLr ? ` lr ${fmtLr(model.optG.lr)}` : ""),
      unit: "img",
    });
    this.#bar.count = state.stepInEpoch * imagesPerStep;
    const load = (s: number) => {
      const { indices, flips } = plan.batches[s];
      const dims = indices.map((i) => this.#ds.dims(i));
      return loadPlanes(this.#ds, indices, flips, trainingCrops(dims, indices, cfg.crops, cfg.seed, e));
    };
    let next: Promise<Float32Array> | null = state.stepInEpoch < steps ? load(state.stepInEpoch) : null;
    try {
      while (state.stepInEpoch < steps) {
        if (this.#reachedMaxSteps()) return "max-steps";
        const s = state.stepInEpoch;
        const planes = await next!;
        // Read and crop the next batch while the GPU works on this one.
        next = s + 1 < steps ? load(s + 1) : null;
        await this.#step(planes, pretrain, steps);
        if (this.#stop!.received) return "signal";
        if (cfg.sampleEvery > 0 && state.step % cfg.sampleEvery === 0 && state.stepInEpoch < steps) {
          await this.#save({ evaluate: true });
        }
      }
    } finally {
      // A prefetch still in flight must not reject unobserved.
      next?.catch(() => {});
    }
    await this.#readLosses();
    this.#closeBar();
    return null;
  }

  /**
   * One optimisation step on `planes`, the batch of step `state.stepInEpoch` of an epoch of
   * `steps` steps. Its losses are read back later: every --log-every steps and at the epoch's end.
   */
  async #step(planes: Float32Array, pretrain: boolean, steps: number) {
    const cfg = this.#cfg, state = this.#state, model = this.#model, rt = this.#rt;
    // Dropout masks from (seed, step): the same on a resumed run as on an uninterrupted one.
    manualSeed(mixSeed(cfg.seed, 0xd50, state.step));
    const losses = tidy(() => {
      const b = toBatch(planes, cfg.size, colorSpaceOf(model.G.config));
      // A hint model's hints come from the batch itself, drawn from (seed, step) like the dropout masks.
      const hints = takesHints(model.G.config)
        ? sampleHints(planes, cfg.size, new Rng(mixSeed(cfg.seed, 0x4817, state.step)))
        : undefined;
      const x = generatorInput(model.G.config, b.L, hints);
      const l = pretrain
        ? model.pretrainStep(x, b.ab)
        : model.trainStep(x, b.ab, state.step % cfg.dEvery === 0);
      return { lossD: l.lossD, lossGGan: l.lossGGan, lossL1: l.lossL1 };
    });
    for (const t of Object.values(losses)) if (t) keep(t);
    rt.flush();
    // Let the GPU run at most one step ahead: the CPU records step s+1 while step s runs, yet
    // queued work (and memory) stays bounded and the bar's rate is real GPU throughput, not
    // just recording speed.
    const submitted = rt.device.queue.onSubmittedWorkDone();
    await this.#inFlight;
    this.#inFlight = submitted;
    if (autotuner.pending) {
      // The step met new layer shapes (the first step, the first GAN step, validation): time their
      // kernel variants now, between steps (tune() first waits for the step in flight).
      await autotuner.tune();
      await saveTuneCache();
    }
    this.#pending.push(state.step + 1, losses);
    state.step++;
    state.stepInEpoch++;
    if (this.#pending.length >= cfg.logEvery || state.stepInEpoch === steps) {
      await this.#readLosses();
    }
    this.#bar!.tick(planes.length / (3 * cfg.size * cfg.size), this.#barFields());
  }

  /** Epoch `state.epoch` is complete: the state says "next epoch, step 0"; saves when that is due. */
  async #endEpoch() {
    const cfg = this.#cfg, state = this.#state;
    state.epoch++;
    state.stepInEpoch = 0;
    const due = state.epoch % cfg.saveEpochs === 0 || state.epoch === this.#totalEpochs ||
      this.#reachedMaxSteps() || (cfg.sampleEvery > 0 && state.step % cfg.sampleEvery === 0);
    if (due) await this.#save({ evaluate: true });
  }

  /** Saves what the end of the run needs and prints how it ended; returns the exit status. */
  async #finish(interruption: Interruption | null): Promise<number> {
    const state = this.#state, ckPath = this.#files.checkpoint;
    if (interruption === "signal") {
      await this.#save({ evaluate: false });
      this.#out(
        `train: interrupted at step ${state.step}; checkpoint saved to ${ckPath} (continue with --resume)`,
      );
      return 130;
    }
    if (interruption === "max-steps") {
      if (this.#lastSavedStep !== state.step) await this.#save({ evaluate: true });
      this.#out(
        `train: reached --max-steps ${this.#cfg.maxSteps} at step ${state.step}; checkpoint ${ckPath}`,
      );
      return 0;
    }
    this.#out(
      `train: done, ${state.step} steps in ${formatDuration(this.#trainingTime())}; checkpoint ${ckPath}`,
    );
    return 0;
  }

  /** Whether --max-steps steps are done. */
  #reachedMaxSteps(): boolean {
    return this.#cfg.maxSteps !== null && this.#state.step >= this.#cfg.maxSteps;
  }

  /** Seconds of training, summed over resumed runs. */
  #trainingTime(): number {
    return this.#clock.base + (performance.now() - this.#clock.start) / 1000;
  }

  /** Reads the pending losses back into the means; a non-finite one stops the run. */
  async #readLosses() {
    for (const v of await this.#pending.read()) {
      const bad = nonFiniteLosses(v);
      if (bad.length) {
        throw diverged(
          `non-finite loss at step ${v.step} (${bad.map((k) => `${k}=${v[k]}`).join(", ")})`,
          this.#lastSavedStep,
          this.#model.options.lr,
        );
      }
      this.#windowMeans.add(v);
      this.#epochMeans.add(v);
    }
  }

  /** The epoch's mean losses, as the progress bar shows them. */
  #barFields(): Record<string, number> {
    const m = this.#epochMeans.mean;
    const f: Record<string, number> = {};
    if (m.lossD !== null) f.D = m.lossD;
    if (m.lossGGan !== null) f.G = m.lossGGan;
    if (m.lossL1 !== null) f.L1 = m.lossL1;
    return f;
  }

  /** Finishes the epoch's progress bar, if one is shown. */
  #closeBar() {
    this.#bar?.done(this.#barFields());
    this.#bar = null;
  }

  /** Prints a message on stdout; on a terminal the bar (stderr) is erased first and redrawn after. */
  #log(s: string) {
    if (this.#bar) this.#bar.log(s, this.#out);
    else this.#out(s);
  }

  /**
   * Saves a checkpoint; with `evaluate`, validates first and then writes the metrics line, loss
   * curve, samples and a log line too. Never saves a non-finite model.
   */
  async #save({ evaluate }: { evaluate: boolean }) {
    const state = this.#state, model = this.#model;
    await this.#readLosses();
    if (!(await allFinite([model.G, model.D]))) {
      throw diverged(`non-finite weights at step ${state.step}`, this.#lastSavedStep, model.options.lr);
    }
    const ev = evaluate ? await this.#validate() : null;
    state.time = this.#trainingTime();
    await this.#writeCheckpoint();
    if (ev) await this.#report(ev);
  }

  /**
   * Validates the trained generator and its moving average. The samples show the model colorize
   * would use: the average when there is one.
   */
  async #validate(): Promise<CheckpointEvaluation> {
    const avg = this.#model.ema?.average;
    const { batch } = this.#cfg;
    const trained = await evaluate(
      this.#model.G,
      this.#ds,
      this.#metricSet,
      avg ? [] : this.#sampleSet,
      batch,
    );
    const average = avg ? await evaluate(avg, this.#ds, this.#metricSet, this.#sampleSet, batch) : null;
    return { trained, average };
  }

  /** Replaces checkpoint.safetensors (atomically) with the model, optimizers and train state. */
  async #writeCheckpoint() {
    const model = this.#model;
    const bytes = await encodeCheckpoint({
      G: model.G,
      ema: model.ema ?? undefined,
      D: model.D,
      optG: model.optG,
      optD: model.optD,
      options: { ...model.options, dEvery: this.#cfg.dEvery },
      train: { ...this.#state },
    });
    await atomicWrite(this.#files.checkpoint, bytes);
    this.#lastSavedStep = this.#state.step;
  }

  /**
   * After a validated checkpoint: keeps the epoch's generator (--keep-generators, at epoch ends),
   * appends the metrics line, redraws the loss curve and the samples, and logs the line.
   */
  async #report({ trained, average }: CheckpointEvaluation) {
    const cfg = this.#cfg, state = this.#state, files = this.#files;
    if (cfg.keepGenerators && state.stepInEpoch === 0) await this.#keepGenerator();
    const m = this.#windowMeans.mean;
    this.#windowMeans.reset();
    const rec: MetricsRecord = {
      step: state.step,
      epoch: Number((state.epoch + state.stepInEpoch / Math.max(1, this.#stepsPerEpoch)).toFixed(4)),
      phase: latestPhase(state, cfg.pretrainEpochs),
      ...m,
      valL1: trained.valL1,
      valPsnr: trained.valPsnr,
      valColorfulness: trained.valColorfulness,
      ...(average
        ? {
          emaValL1: average.valL1,
          emaValPsnr: average.valPsnr,
          emaValColorfulness: average.valColorfulness,
        }
        : {}),
      lr: this.#model.optG.lr,
      time: Number(state.time.toFixed(2)),
    };
    await appendLine(files.metrics, JSON.stringify(rec));
    this.#history.push(rec);
    await writeLossCurve(files, this.#history);
    const rows = average?.rows ?? trained.rows;
    if (rows.length) await writeSamples(files, state.step, rows);
    this.#log(checkpointLine(state.step, m, trained, average));
  }

  /** Writes the generator (and its average) of the epoch just ended to generators/. */
  async #keepGenerator() {
    const model = this.#model, files = this.#files;
    const gen = await encodeCheckpoint({
      G: model.G,
      ema: model.ema ?? undefined,
      options: { ...model.options },
      train: { ...this.#state },
    });
    await Deno.mkdir(files.generatorsDir, { recursive: true });
    await atomicWrite(files.generatorAt(this.#state.epoch), gen);
  }
}

/**
 * The model to train: the resumed checkpoint's, with --lr, --lambda-l1 and --gan when given again,
 * or a fresh one initialised from --seed, whose generator then takes the --init file's weights (its
 * moving average when it has one, as colorize uses).
 */
function buildModel(
  cfg: TrainConfig,
  ck: Checkpoint | null,
  init: Checkpoint | null,
  given: Partial<TrainConfig>,
): Pix2Pix {
  const overrides: Record<string, unknown> = {};
  for (const k of ["lr", "lambdaL1", "gan"] as const) if (given[k] !== undefined) overrides[k] = given[k];
  if (ck) return restorePix2Pix(ck, overrides);
  manualSeed(cfg.seed);
  const model = new Pix2Pix(
    init ? cfg.generatorConfig : freshGeneratorConfig(cfg),
    { ndf: cfg.ndf, norm: cfg.dNorm },
    { lr: cfg.lr, lambdaL1: cfg.lambdaL1, gan: cfg.gan },
  );
  if (init) {
    try {
      const weights = init.generatorEma ?? init.generator;
      // --hints-input on an automatic model's file: its weights with zeros for the hint channels.
      model.G.loadStateDict(
        takesHints(model.G.config) && !takesHints(init.generatorConfig)
          ? widenForHints(weights, model.G)
          : weights,
      );
    } catch (e) {
      model.dispose();
      throw new UsageError(`--init ${init.source}: ${(e as Error).message}`);
    }
  }
  return model;
}
