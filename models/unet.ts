/**
 * The pix2pix U-Net generator ("Image-to-Image Translation with Conditional
 * Adversarial Networks", Isola et al., CVPR 2017) as the `Unet`/`UnetBlock` of
 * "Colorizing black & white images with U-Net and conditional GAN — A Tutorial"
 * (Moein Shariatnia, 2020) build it, module for module, so a PyTorch
 * `state_dict` of it loads by name: the outermost block is `model`, each
 * block's layers are `model.model.<i>`, nested blocks at index 1
 * (outermost) or 3 (the others).
 */

import { Module, Sequential } from "../engine/nn/module.ts";
import {
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  InstanceNorm2d,
  LeakyReLU,
  ReLU,
  Tanh,
} from "../engine/nn/layers.ts";
import { concat } from "../engine/ops/shape.ts";
import { fmtShape, type Tensor } from "../engine/tensor.ts";

/** Generator configuration; stored in checkpoints. */
export interface UnetConfig {
  /** Input channels (1: L). */
  inputChannels: number;
  /** Output channels (2: ab). */
  outputChannels: number;
  /** Number of stride-2 downsamplings; the input side must be a multiple of 2^nDown. */
  nDown: number;
  /** Filters of the outermost level (doubling down to 8·ngf). */
  ngf: number;
  /** Normalisation layers. */
  norm: "batch" | "instance";
}

/** The tutorial's configuration for 256×256 (`n_down=8`, `num_filters=64`): 54,409,858 parameters. */
export const UNET_DEFAULTS: UnetConfig = {
  inputChannels: 1,
  outputChannels: 2,
  nDown: 8,
  ngf: 64,
  norm: "batch",
};

function normLayer(norm: UnetConfig["norm"], channels: number): Module {
  // InstanceNorm with affine weights keeps the parameter layout of BatchNorm (minus running stats).
  return norm === "batch" ? new BatchNorm2d(channels) : new InstanceNorm2d(channels, { affine: true });
}

/** One level of the U-Net: down, the inner levels, up, then concat with the input (skip connection). */
export class UnetBlock extends Module {
  /** The outermost block returns its output alone; the others concat it with their input. */
  readonly outermost: boolean;
  /** The block's layers, registered as "model" so state-dict names match PyTorch's. */
  readonly model: Sequential;
  /**
   * `nf`: channels of the block's input and output (before the skip concat), `ni`: channels
   * inside; `opts.submodule` is the next inner level (absent for the innermost block).
   */
  constructor(
    nf: number,
    ni: number,
    opts: {
      submodule?: UnetBlock;
      inputChannels?: number;
      dropout?: boolean;
      innermost?: boolean;
      outermost?: boolean;
      norm?: UnetConfig["norm"];
    } = {},
  ) {
    super();
    const norm = opts.norm ?? "batch";
    this.outermost = !!opts.outermost;
    const inC = opts.inputChannels ?? nf;
    const down4x4 = (i: number, o: number) => new Conv2d(i, o, 4, { stride: 2, padding: 1, bias: false });
    const up4x4 = (i: number, o: number, bias: boolean) =>
      new ConvTranspose2d(i, o, 4, { stride: 2, padding: 1, bias });
    let layers: Module[];
    if (opts.outermost) {
      layers = [down4x4(inC, ni), opts.submodule!, new ReLU(), up4x4(ni * 2, nf, true), new Tanh()];
    } else if (opts.innermost) {
      layers = [new LeakyReLU(0.2), down4x4(inC, ni), new ReLU(), up4x4(ni, nf, false), normLayer(norm, nf)];
    } else {
      layers = [
        new LeakyReLU(0.2),
        down4x4(inC, ni),
        normLayer(norm, ni),
        opts.submodule!,
        new ReLU(),
        up4x4(ni * 2, nf, false),
        normLayer(norm, nf),
      ];
      if (opts.dropout) layers.push(new Dropout(0.5));
    }
    this.model = this.registerModule("model", new Sequential(...layers));
  }

  /** Runs the level; non-outermost blocks double the channels by the skip concat. */
  forward(x: Tensor): Tensor {
    const y = this.model.forward(x);
    return this.outermost ? y : concat([x, y], 1);
  }
}

/** U-Net generator: L channel in, ab channels out (tanh, in [−1, 1]). */
export class Unet extends Module {
  /** The full configuration (defaults filled in), as saved in checkpoints. */
  readonly config: UnetConfig;
  /** The outermost block, registered as "model" so state-dict names match PyTorch's. */
  readonly model: UnetBlock;
  /** Missing fields of `config` come from {@link UNET_DEFAULTS}; nDown must be at least 5. */
  constructor(config: Partial<UnetConfig> = {}) {
    super();
    const c = { ...UNET_DEFAULTS, ...config };
    if (c.nDown < 5) throw new Error(`Unet: nDown must be at least 5 (got ${c.nDown})`);
    this.config = c;
    const f = c.ngf, norm = c.norm;
    let block = new UnetBlock(f * 8, f * 8, { innermost: true, norm });
    for (let i = 0; i < c.nDown - 5; i++) {
      block = new UnetBlock(f * 8, f * 8, { submodule: block, dropout: true, norm });
    }
    let out = f * 8;
    for (let i = 0; i < 3; i++) {
      block = new UnetBlock(out / 2, out, { submodule: block, norm });
      out /= 2;
    }
    this.model = this.registerModule(
      "model",
      new UnetBlock(c.outputChannels, out, {
        inputChannels: c.inputChannels,
        submodule: block,
        outermost: true,
        norm,
      }),
    );
  }

  /** The side length multiple the input must have. */
  get sizeMultiple(): number {
    return 2 ** this.config.nDown;
  }

  /** [N, inputChannels, H, W] → [N, outputChannels, H, W]; H and W must be multiples of {@link Unet.sizeMultiple}. */
  forward(x: Tensor): Tensor {
    const m = this.sizeMultiple;
    const [, ch, h, w] = x.shape;
    if (x.rank !== 4 || ch !== this.config.inputChannels || h % m !== 0 || w % m !== 0) {
      throw new Error(
        `Unet: input ${fmtShape(x.shape)} must be [N, ${this.config.inputChannels}, H, W] with H and W ` +
          `multiples of ${m} (2^nDown, nDown=${this.config.nDown})`,
      );
    }
    return this.model.forward(x);
  }
}
