/**
 * Layers, named and initialised as in torch.nn: Conv2d, ConvTranspose2d,
 * BatchNorm2d, InstanceNorm2d, Linear, Dropout, MaxPool2d, PixelShuffle and the activations.
 */

import { Module } from "./module.ts";
import { Tensor } from "../tensor.ts";
import { fanIn, ones_, uniform_, zeros_ } from "../init.ts";
import { conv2d, convTranspose2d } from "../ops/conv.ts";
import { batchNorm, instanceNorm } from "../ops/norm.ts";
import { dropout } from "../ops/dropout.ts";
import { linear } from "../ops/matmul.ts";
import { leakyRelu, relu, sigmoid, tanh } from "../ops/elementwise.ts";
import { addScalarInPlace } from "../ops/buffers.ts";
import { maxPool2d, type MaxPool2dOptions } from "../ops/pool.ts";
import { pixelShuffle } from "../ops/shape.ts";

import type { Pair } from "../ops/conv.ts";

/** PyTorch's default init for conv and linear layers: U(±1/√fanIn) for weight and bias. */
function defaultInit(weight: Tensor, bias: Tensor | null) {
  const bound = 1 / Math.sqrt(fanIn(weight.shape));
  uniform_(weight, -bound, bound);
  if (bias) uniform_(bias, -bound, bound);
}

/** 2-D convolution; weight [outChannels, inChannels, k, k]. */
export class Conv2d extends Module {
  /** Learnable kernel [outChannels, inChannels, k, k], registered as "weight". */
  weight: Tensor;
  /** Learnable per-output-channel bias, or null when made with `bias: false` (e.g. before a norm layer). */
  bias: Tensor | null;
  /** Kernel step, as in `Conv2dOptions` of conv2d. */
  stride: Pair;
  /** Zero padding on each side, as in `Conv2dOptions` of conv2d. */
  padding: Pair;
  /** Square `kernelSize` kernel; weight and bias get PyTorch's default uniform init. */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    opts: { stride?: Pair; padding?: Pair; bias?: boolean } = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.weight = this.registerParameter(
      "weight",
      Tensor.empty([outChannels, inChannels, kernelSize, kernelSize], "Conv2d"),
    );
    this.bias = opts.bias === false
      ? null
      : this.registerParameter("bias", Tensor.empty([outChannels], "Conv2d"));
    defaultInit(this.weight, this.bias);
  }
  /** [N, inChannels, H, W] → [N, outChannels, H', W']. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}

/** 2-D transposed convolution; weight [inChannels, outChannels, k, k]. */
export class ConvTranspose2d extends Module {
  /** Learnable kernel [inChannels, outChannels, k, k] (PyTorch's transposed layout), registered as "weight". */
  weight: Tensor;
  /** Learnable per-output-channel bias, or null when made with `bias: false`. */
  bias: Tensor | null;
  /** Upsampling factor: the stride of the convolution this one transposes. */
  stride: Pair;
  /** Padding of the convolution this one transposes; it trims the output. */
  padding: Pair;
  /** Extra output rows/columns on the bottom/right, to pick among sizes a stride allows; < stride. */
  outputPadding: Pair;
  /** Square `kernelSize` kernel; weight and bias get PyTorch's default uniform init. */
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    opts: { stride?: Pair; padding?: Pair; outputPadding?: Pair; bias?: boolean } = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.outputPadding = opts.outputPadding ?? 0;
    this.weight = this.registerParameter(
      "weight",
      Tensor.empty([inChannels, outChannels, kernelSize, kernelSize], "ConvTranspose2d"),
    );
    this.bias = opts.bias === false
      ? null
      : this.registerParameter("bias", Tensor.empty([outChannels], "ConvTranspose2d"));
    defaultInit(this.weight, this.bias);
  }
  /** [N, inChannels, H, W] → [N, outChannels, H', W'] (H' = (H−1)·stride − 2·padding + k + outputPadding). */
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
    });
  }
}

/** Batch normalisation over N, H, W per channel, with running statistics for evaluation. */
export class BatchNorm2d extends Module {
  /** Learnable per-channel scale γ (init 1), or null when `affine: false`. */
  weight: Tensor | null;
  /** Learnable per-channel shift β (init 0), or null when `affine: false`. */
  bias: Tensor | null;
  /** Running mean used in eval mode, updated while training (buffer "running_mean"). */
  runningMean: Tensor;
  /** Running unbiased variance used in eval mode (buffer "running_var"). */
  runningVar: Tensor;
  /** Training steps seen, kept only so PyTorch state dicts round-trip. */
  numBatchesTracked: Tensor;
  /** Added to the variance before the square root, for stability. */
  eps: number;
  /** Weight of the new batch statistics in the running averages (PyTorch convention). */
  momentum: number;
  /** Defaults as in PyTorch: eps 1e-5, momentum 0.1, affine. */
  constructor(numFeatures: number, opts: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    const affine = opts.affine ?? true;
    this.weight = affine ? ones_(this.registerParameter("weight", Tensor.empty([numFeatures]))) : null;
    this.bias = affine ? zeros_(this.registerParameter("bias", Tensor.empty([numFeatures]))) : null;
    this.runningMean = zeros_(this.registerBuffer("running_mean", Tensor.empty([numFeatures])));
    this.runningVar = ones_(this.registerBuffer("running_var", Tensor.empty([numFeatures])));
    // PyTorch keeps this int64 counter in the state dict; it is stored here as one f32.
    this.numBatchesTracked = zeros_(this.registerBuffer("num_batches_tracked", Tensor.empty([])));
  }
  /** Normalises with batch statistics while training (updating the running ones), else with running ones. */
  forward(x: Tensor): Tensor {
    if (this.training) addScalarInPlace(this.numBatchesTracked, 1);
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }
}

/** Instance normalisation per sample and channel (no running statistics, affine off by default as in PyTorch). */
export class InstanceNorm2d extends Module {
  /** Learnable per-channel scale (init 1), or null unless made with `affine: true`. */
  weight: Tensor | null;
  /** Learnable per-channel shift (init 0), or null unless made with `affine: true`. */
  bias: Tensor | null;
  /** Added to the variance before the square root, for stability. */
  eps: number;
  /** Defaults as in PyTorch: eps 1e-5, affine off. */
  constructor(numFeatures: number, opts: { eps?: number; affine?: boolean } = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? false;
    this.weight = affine ? ones_(this.registerParameter("weight", Tensor.empty([numFeatures]))) : null;
    this.bias = affine ? zeros_(this.registerParameter("bias", Tensor.empty([numFeatures]))) : null;
  }
  /** Normalises each [H, W] plane by its own statistics, in training and eval alike. */
  forward(x: Tensor): Tensor {
    return instanceNorm(x, this.weight, this.bias, { eps: this.eps });
  }
}

/** Fully connected layer: y = x·Wᵀ + b with weight [out, in]. */
export class Linear extends Module {
  /** Learnable matrix [outFeatures, inFeatures], registered as "weight". */
  weight: Tensor;
  /** Learnable bias [outFeatures], or null when made with `bias: false`. */
  bias: Tensor | null;
  /** Weight and bias get PyTorch's default uniform init. */
  constructor(inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    this.weight = this.registerParameter("weight", Tensor.empty([outFeatures, inFeatures], "Linear"));
    this.bias = opts.bias === false
      ? null
      : this.registerParameter("bias", Tensor.empty([outFeatures], "Linear"));
    defaultInit(this.weight, this.bias);
  }
  /** [N, inFeatures] → [N, outFeatures]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Zeroes elements with probability p while training, scaling the rest by 1/(1−p). */
export class Dropout extends Module {
  /** `p` is the probability of zeroing each element. */
  constructor(readonly p = 0.5) {
    super();
  }
  /** Identity in eval mode; random masks are seeded from `nextSeed`, so runs are reproducible. */
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training });
  }
}

/** max(x, 0). */
export class ReLU extends Module {
  /** Elementwise; same shape out. */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Leaky ReLU with the given negative slope. */
export class LeakyReLU extends Module {
  /** `negativeSlope` multiplies negative inputs (PyTorch default 0.01; pix2pix uses 0.2). */
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  /** Elementwise; same shape out. */
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

/** Hyperbolic tangent. */
export class Tanh extends Module {
  /** Elementwise, into (−1, 1); same shape out. */
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Logistic sigmoid. */
export class Sigmoid extends Module {
  /** Elementwise, into (0, 1); same shape out. */
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** 2-D max pooling (nn.MaxPool2d; dilation 1, floor mode); no parameters. */
export class MaxPool2d extends Module {
  /** Window size. */
  readonly kernelSize: Pair;
  /** Step between windows (the kernel size unless given) and −∞ padding, as in `MaxPool2dOptions`. */
  readonly opts: MaxPool2dOptions;
  /** As nn.MaxPool2d(kernelSize, stride = kernelSize, padding = 0); the ResNet stem uses (3, 2, 1). */
  constructor(kernelSize: Pair, opts: MaxPool2dOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.opts = { ...opts };
  }
  /** [N, C, H, W] → [N, C, Ho, Wo]. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.opts);
  }
}

/** Sub-pixel upsampling (nn.PixelShuffle): [N, C·r², H, W] → [N, C, H·r, W·r]; no parameters. */
export class PixelShuffle extends Module {
  /** `upscaleFactor` is r. */
  constructor(readonly upscaleFactor: number) {
    super();
  }
  /** Moves each group of r² channels into an r×r block of pixels. */
  forward(x: Tensor): Tensor {
    return pixelShuffle(x, this.upscaleFactor);
  }
}
