/**
 * The pix2pix training step ("Image-to-Image Translation with Conditional
 * Adversarial Networks", Isola et al., CVPR 2017) for colorization, as in
 * "Colorizing black & white images with U-Net and conditional GAN — A Tutorial"
 * (Moein Shariatnia, 2020): the generator maps L to ab; the discriminator
 * judges concat(L, ab). One step updates D on real and (detached) fake pairs,
 * then G with the adversarial loss plus λ·L1.
 * Losses come back as GPU scalars, so a step needs no readback. The generator is any of
 * models/generators.ts (the U-Net by default).
 */

import {
  buildGeneratorFromConfig,
  type Generator,
  type GeneratorConfig,
  generatorConfigOf,
  initGeneratorWeights,
} from "./generators.ts";
import { PatchGan, type PatchGanConfig } from "./patchgan.ts";
import { initPix2pixWeights } from "./init.ts";
import { Adam, EMA } from "../engine/optim.ts";
import { backward } from "../engine/autograd.ts";
import { keep, type Tensor, tensor, tidy } from "../engine/tensor.ts";
import { multiplyInPlace } from "../engine/ops/buffers.ts";
import { concat } from "../engine/ops/shape.ts";
import { add, scale } from "../engine/ops/elementwise.ts";
import { bceWithLogits, hingeLossD, hingeLossG, l1Loss, mseLoss } from "../engine/ops/loss.ts";

/**
 * Adversarial loss: BCE with logits (pix2pix), least squares (LSGAN) or hinge (Lim & Ye 2017, "Geometric
 * GAN").
 */
export type GanMode = "vanilla" | "lsgan" | "hinge";

/** Training hyper-parameters, defaults as in pix2pix and the colorization tutorial. */
export interface Pix2PixOptions {
  /** Adam learning rate of both networks (pix2pix: 2e-4). */
  lr: number;
  /** Adam β1; pix2pix lowers it to 0.5 for GAN stability. */
  beta1: number;
  /** Adam β2. */
  beta2: number;
  /** Weight of the L1 loss against the adversarial loss in G's objective (pix2pix: 100). */
  lambdaL1: number;
  /** Which adversarial loss both networks use. */
  gan: GanMode;
}

/** The pix2pix paper's settings: lr 2e-4, betas (0.5, 0.999), λ 100, vanilla GAN loss. */
export const PIX2PIX_DEFAULTS: Pix2PixOptions = {
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  lambdaL1: 100,
  gan: "vanilla",
};

/** The losses of one step, as GPU scalars owned by the caller (dispose them after reading). */
export interface StepLosses {
  /** Discriminator loss; absent when D was not updated (and in pretraining). */
  lossD?: Tensor;
  /** The generator's adversarial loss (before λ weighting); absent in pretraining. */
  lossGGan?: Tensor;
  /** Mean absolute error between predicted and true ab. */
  lossL1: Tensor;
}

/** Loss pushing logits towards "real" (target 1) or "fake" (target 0). */
export function ganLoss(mode: GanMode, logits: Tensor, real: boolean): Tensor {
  if (mode === "vanilla") return bceWithLogits(logits, real ? 1 : 0);
  if (mode === "lsgan") return mseLoss(logits, real ? 1 : 0);
  // Hinge has no per-side form for D (see hingeLossD); for G it is −mean(logits).
  if (!real) throw new Error("ganLoss: the hinge loss of fake logits is part of hingeLossD");
  return hingeLossG(logits);
}

/** Generator, discriminator and their Adam optimizers. */
export class Pix2Pix {
  /** The generator (L → ab). */
  readonly G: Generator;
  /** The discriminator, fed concat(L, ab). */
  readonly D: PatchGan;
  /** Adam over G's parameters. */
  readonly optG: Adam;
  /** Adam over D's parameters. */
  readonly optD: Adam;
  /** The full training options (defaults filled in). */
  readonly options: Pix2PixOptions;
  /** The moving average of G's weights, updated after every G step once {@link enableEma} is called. */
  ema: EMA<Generator> | null = null;
  /** Set by {@link freezeGeneratorExcept}: the one generator tensor that learns, and which of its entries. */
  #trainable: { param: Tensor; mask: Tensor } | null = null;

  /**
   * Builds G (any kind; a config without `kind` is a U-Net's) and D from partial configurations (D's
   * input channels follow G's), applies the training initialisation (pix2pix's N(0, 0.02) for D and,
   * per {@link initGeneratorWeights}, for G), and makes both optimizers from `options`.
   */
  constructor(
    g: GeneratorConfig = {},
    d: Partial<PatchGanConfig> = {},
    options: Partial<Pix2PixOptions> = {},
  ) {
    this.options = { ...PIX2PIX_DEFAULTS, ...options };
    // The order of the random draws (build G, build D, init G, init D) is the one runs have always had, so
    // a U-Net run with a given seed starts from the same weights as before.
    this.G = buildGeneratorFromConfig(g);
    this.D = new PatchGan({
      inputChannels: this.G.config.inputChannels + this.G.config.outputChannels,
      ...d,
    });
    initGeneratorWeights(this.G);
    initPix2pixWeights(this.D);
    const o = this.options;
    this.optG = new Adam(this.G.parameters(), { lr: o.lr, betas: [o.beta1, o.beta2] });
    this.optD = new Adam(this.D.parameters(), { lr: o.lr, betas: [o.beta1, o.beta2] });
  }

  /**
   * One GAN step on a batch: L [N,1,H,W] in [−1,1] (for a hint model L and the hint map,
   * [N,4,H,W]: models/hints.ts), ab [N,2,H,W] in [−1,1]. D sees the generator's input with ab.
   * With `updateD` false (to update D only every k steps, which practitioners
   * report trying) only G learns.
   */
  trainStep(L: Tensor, ab: Tensor, updateD = true): StepLosses {
    const { G, D, options: o } = this;
    return tidy(() => {
      const fake = G.forward(L);
      const fakePair = concat([L, fake], 1);
      let lossD: Tensor | undefined;
      if (updateD) {
        D.requiresGrad(true);
        this.optD.zeroGrad();
        // The D step treats the generator's output as a constant.
        const fakeLogits = D.forward(fakePair.detach());
        const realLogits = D.forward(concat([L, ab], 1));
        lossD = o.gan === "hinge"
          ? hingeLossD(realLogits, fakeLogits)
          : scale(add(ganLoss(o.gan, fakeLogits, false), ganLoss(o.gan, realLogits, true)), 0.5);
        backward(lossD);
        this.optD.step();
        this.optD.zeroGrad();
      }
      // The G step must not change D: freeze it so no D gradients are even computed.
      D.requiresGrad(false);
      this.optG.zeroGrad();
      const lossGGan = ganLoss(o.gan, D.forward(fakePair), true);
      const lossL1 = l1Loss(fake, ab);
      backward(add(lossGGan, scale(lossL1, o.lambdaL1)));
      this.#stepG();
      this.optG.zeroGrad();
      this.ema?.update();
      D.requiresGrad(true);
      return { lossD: lossD && keep(lossD), lossGGan: keep(lossGGan), lossL1: keep(lossL1) };
    });
  }

  /**
   * Keeps an exponential moving average of G (the model to colorize with) from now on.
   * `average` restores a saved average (a resumed run); without it the average starts at G.
   */
  enableEma(decay: number, average?: Map<string, Float32Array>): Generator {
    if (this.ema) throw new Error("Pix2Pix.enableEma: already enabled");
    const avg = buildGeneratorFromConfig(generatorConfigOf(this.G));
    try {
      if (average) avg.loadStateDict(average);
      this.ema = new EMA(avg, this.G, decay, { copy: !average });
    } catch (e) {
      avg.dispose();
      throw e;
    }
    // Never trained itself: eval mode, so a forward pass uses its averaged running statistics.
    return avg.eval();
  }

  /** L1-only generator step (pretraining, as the colorization tutorial does for its ResNet-18 U-Net). */
  pretrainStep(L: Tensor, ab: Tensor): StepLosses {
    return tidy(() => {
      this.optG.zeroGrad();
      const lossL1 = l1Loss(this.G.forward(L), ab);
      backward(lossL1);
      this.#stepG();
      this.optG.zeroGrad();
      this.ema?.update();
      return { lossL1: keep(lossL1) };
    });
  }

  /**
   * From now on G learns only the entries of `param` (one of its parameters) where `mask` is 1, and
   * runs in eval mode (running statistics, no dropout: as colorize runs it). The rest stays exactly as
   * loaded: no gradient is computed for it, and Adam leaves an entry whose gradient was always zero
   * where it is. This trains a hint adapter (models/hints.ts `hintAdapterMask`).
   */
  freezeGeneratorExcept(param: Tensor, mask: Float32Array): void {
    if (!this.G.parameters().includes(param)) {
      throw new Error("Pix2Pix.freezeGeneratorExcept: not a parameter of the generator");
    }
    if (mask.length !== param.size) {
      throw new Error(`Pix2Pix.freezeGeneratorExcept: mask of ${mask.length} entries for ${param.size}`);
    }
    this.G.eval().requiresGrad(false);
    param.requiresGrad = true;
    this.#trainable?.mask.dispose();
    this.#trainable = { param, mask: keep(tensor(mask, param.shape)) };
  }

  /** Adam's step on G, after masking the gradient of a partly frozen generator. */
  #stepG(): void {
    const t = this.#trainable;
    if (t?.param.grad) multiplyInPlace(t.param.grad, t.mask);
    this.optG.step();
  }

  /** Frees both networks and optimizer state. */
  dispose(): void {
    this.#trainable?.mask.dispose();
    for (const x of [this.G, this.D, this.optG, this.optD]) x.dispose();
    this.ema?.average.dispose();
  }
}
