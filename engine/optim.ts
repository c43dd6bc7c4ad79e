/**
 * Optimizers and weight averaging. Adam runs as one fused WGSL kernel per
 * parameter tensor (ADAM in shaders/adam.ts), the moving average as one in-place lerp
 * per tensor (the elementwise map kernel); CPU references and tests are in tests/optim_test.ts.
 */

import { grid1d, runtime } from "./gpu.ts";
import { fmtShape, keep, type Tensor } from "./tensor.ts";
import { assign, lerpInPlace, zeros } from "./ops/buffers.ts";
import type { Module } from "./nn/module.ts";
import { ADAM } from "../shaders/adam.ts";

/** Adam's hyper-parameters, named as in torch.optim.Adam. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator so tiny second moments do not blow up the step (default 1e-8). */
  eps?: number;
  /** L2 penalty added to the gradient, as torch.optim.Adam's weight_decay (default 0). */
  weightDecay?: number;
}

/** Adam's state for checkpoints: the step count and both moments per parameter. */
export interface AdamState {
  /** Steps taken, which sets the bias correction. */
  step: number;
  /** First-moment estimates, one per parameter in {@link Adam.params} order. */
  expAvg: Tensor[];
  /** Second-moment estimates, one per parameter in {@link Adam.params} order. */
  expAvgSq: Tensor[];
}

/** Adam (Kingma & Ba) with PyTorch's bias correction and L2 weight decay. */
export class Adam {
  /** The tensors updated in place; their order is the order of the saved state. */
  readonly params: Tensor[];
  /** Learning rate; may be changed between steps (schedules). */
  lr: number;
  /** Decay rate of the first-moment average. */
  beta1: number;
  /** Decay rate of the second-moment average. */
  beta2: number;
  /** Denominator guard, see {@link AdamOptions.eps}. */
  eps: number;
  /** L2 penalty, see {@link AdamOptions.weightDecay}. */
  weightDecay: number;
  /** Number of steps taken (PyTorch keeps one per parameter; they are always equal here). */
  stepCount = 0;
  #m: Tensor[];
  #v: Tensor[];

  /** Allocates zeroed moment tensors for every parameter (kept out of `tidy` scopes). */
  constructor(params: Iterable<Tensor>, opts: AdamOptions = {}) {
    this.params = [...params];
    this.lr = opts.lr ?? 1e-3;
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.#m = this.params.map((p) => keep(zeros(p.shape)));
    this.#v = this.params.map((p) => keep(zeros(p.shape)));
  }

  /** Updates every parameter that has a gradient, in place; all kernels go into the current submit. */
  step(): void {
    this.stepCount++;
    const t = this.stepCount;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const rt = runtime();
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      rt.dispatch(ADAM, undefined, {
        buffers: { grad: p.grad.buffer, param: p.buffer, m: this.#m[i].buffer, v: this.#v[i].buffer },
        uniforms: {
          n: p.size,
          lr: this.lr,
          beta1: this.beta1,
          beta2: this.beta2,
          eps: this.eps,
          weightDecay: this.weightDecay,
          biasCorrection1: bc1,
          sqrtBiasCorrection2: Math.sqrt(bc2),
        },
        workgroups: grid1d(p.size),
      });
    });
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The optimizer's tensors, shared (not copied): read them to save a checkpoint. */
  state(): AdamState {
    return { step: this.stepCount, expAvg: this.#m, expAvgSq: this.#v };
  }

  /** Restores a saved state: moments are copied from CPU arrays in parameter order. */
  loadState(state: { step: number; expAvg: Float32Array[]; expAvgSq: Float32Array[] }): void {
    if (state.expAvg.length !== this.params.length || state.expAvgSq.length !== this.params.length) {
      throw new Error(
        `Adam.loadState: state has ${state.expAvg.length} moments for ${this.params.length} parameters`,
      );
    }
    const rt = runtime();
    this.params.forEach((p, i) => {
      for (const [name, src] of [["exp_avg", state.expAvg[i]], ["exp_avg_sq", state.expAvgSq[i]]] as const) {
        if (src.length !== p.size) {
          throw new Error(
            `Adam.loadState: ${name} of parameter ${i} has ${src.length} values, parameter ${
              fmtShape(p.shape)
            } has ${p.size}`,
          );
        }
      }
      rt.upload(this.#m[i].buffer, state.expAvg[i]);
      rt.upload(this.#v[i].buffer, state.expAvgSq[i]);
    });
    this.stepCount = state.step;
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t.dispose();
  }
}

/**
 * An exponential moving average of a module's weights (PyTorch's
 * `AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)`):
 * after each {@link EMA.update}, every parameter and BatchNorm running statistic of
 * `average` is `decay·average + (1 − decay)·source`; counters are copied. GAN
 * generators swing from step to step; the average is the steadier model to use.
 */
export class EMA<M extends Module = Module> {
  /** The module holding the average (same structure as `source`); use it for inference. */
  readonly average: M;
  /** The module being trained. */
  readonly source: Module;
  /** Weight of the old average at each update, in [0, 1). */
  readonly decay: number;
  #pairs: [avg: Tensor, src: Tensor, counter: boolean][];

  /** Starts the average at the source's current weights unless `average` already holds one (a resume). */
  constructor(average: M, source: Module, decay: number, opts: { copy?: boolean } = {}) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`EMA: decay must be in [0, 1), got ${decay}`);
    this.average = average, this.source = source, this.decay = decay;
    const theirs = source.stateDict();
    this.#pairs = [...average.stateDict()].map(([name, a]) => {
      const s = theirs.get(name);
      if (!s || s.size !== a.size) {
        throw new Error(`EMA: source module has no "${name}" ${fmtShape(a.shape)}`);
      }
      return [a, s, name.endsWith("num_batches_tracked")];
    });
    if (opts.copy ?? true) average.copyFrom(source);
  }

  /** Moves the average one step towards the source; the kernels go into the current submit. */
  update(): void {
    for (const [a, s, counter] of this.#pairs) {
      if (counter) assign(a, s);
      else lerpInPlace(a, s, 1 - this.decay);
    }
  }
}
