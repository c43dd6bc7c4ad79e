/**
 * The 70×70 PatchGAN discriminator of pix2pix ("Image-to-Image Translation
 * with Conditional Adversarial Networks", Isola et al., CVPR 2017), as the
 * `PatchDiscriminator` of "Colorizing black & white images with U-Net and
 * conditional GAN — A Tutorial" (Moein Shariatnia, 2020) builds it: it scores overlapping patches of
 * concat(L, ab) as real or fake, one logit each. Layer names match that PyTorch
 * module (`model.<i>.<j>`).
 */

import { Module, Sequential } from "../engine/nn/module.ts";
import { BatchNorm2d, Conv2d, InstanceNorm2d, LeakyReLU } from "../engine/nn/layers.ts";
import { fmtShape, type Tensor } from "../engine/tensor.ts";

/** Discriminator configuration; stored in checkpoints. */
export interface PatchGanConfig {
  /** Input channels: L + ab = 3. */
  inputChannels: number;
  /** Filters of the first layer. */
  ndf: number;
  /** Number of downsampling layers after the first (the last of them has stride 1). */
  nDown: number;
  /** Normalisation layers: BatchNorm2d as in pix2pix, or affine InstanceNorm2d for batch size 1. */
  norm: "batch" | "instance";
}

/** The tutorial's configuration: 2,765,633 parameters, 30×30 logits for 256×256 input. */
export const PATCHGAN_DEFAULTS: PatchGanConfig = { inputChannels: 3, ndf: 64, nDown: 3, norm: "batch" };

/** PatchGAN discriminator returning [N, 1, h, w] logits. */
export class PatchGan extends Module {
  /** The full configuration (defaults filled in), as saved in checkpoints. */
  readonly config: PatchGanConfig;
  /** The layer stack, registered as "model" so state-dict names match PyTorch's. */
  readonly model: Sequential;
  /** Missing fields of `config` come from {@link PATCHGAN_DEFAULTS}. */
  constructor(config: Partial<PatchGanConfig> = {}) {
    super();
    const c = { ...PATCHGAN_DEFAULTS, ...config };
    this.config = c;
    const block = (ni: number, nf: number, stride: number, norm: boolean, act: boolean) => {
      const layers: Module[] = [new Conv2d(ni, nf, 4, { stride, padding: 1, bias: !norm })];
      if (norm) {
        layers.push(c.norm === "batch" ? new BatchNorm2d(nf) : new InstanceNorm2d(nf, { affine: true }));
      }
      if (act) layers.push(new LeakyReLU(0.2));
      return new Sequential(...layers);
    };
    const blocks = [block(c.inputChannels, c.ndf, 2, false, true)];
    for (let i = 0; i < c.nDown; i++) {
      blocks.push(block(c.ndf * 2 ** i, c.ndf * 2 ** (i + 1), i === c.nDown - 1 ? 1 : 2, true, true));
    }
    blocks.push(block(c.ndf * 2 ** c.nDown, 1, 1, false, false));
    this.model = this.registerModule("model", new Sequential(...blocks));
  }

  /** [N, inputChannels, H, W] → [N, 1, h, w] patch logits; throws on a wrong input shape. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.config.inputChannels) {
      throw new Error(`PatchGan: input ${fmtShape(x.shape)} must be [N, ${this.config.inputChannels}, H, W]`);
    }
    return this.model.forward(x);
  }
}
