/**
 * Layers, named and initialised as in torch.nn: Conv2d, ConvTranspose2d,
 * BatchNorm2d, InstanceNorm2d, Linear, Dropout and the activations.
 */

import { Module } from "./module.ts";
import { Tensor } from "../tensor.ts";
import { fanIn, ones_, uniform_, zeros_ } from "../init.ts";
import { conv2d, convTranspose2d } from "../ops/conv.ts";
import { batchNorm, instanceNorm } from "../ops/norm.ts";
import { dropout } from "../ops/dropout.ts";
import { linear } from "../ops/linear.ts";
import { addScalarInPlace, leakyRelu, relu, sigmoid, tanh } from "../ops/elementwise.ts";

type Pair = number | [number, number];

/** PyTorch's default init for conv and linear layers: U(±1/√fanIn) for weight and bias. */
function defaultInit(weight: Tensor, bias: Tensor | null) {
  const bound = 1 / Math.sqrt(fanIn(weight.shape));
  uniform_(weight, -bound, bound);
  if (bias) uniform_(bias, -bound, bound);
}

/** 2-D convolution; weight [outChannels, inChannels, k, k]. */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  stride: Pair;
  padding: Pair;
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
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}

/** 2-D transposed convolution; weight [inChannels, outChannels, k, k]. */
export class ConvTranspose2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  stride: Pair;
  padding: Pair;
  outputPadding: Pair;
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
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor;
  runningVar: Tensor;
  numBatchesTracked: Tensor;
  eps: number;
  momentum: number;
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
  weight: Tensor | null;
  bias: Tensor | null;
  eps: number;
  constructor(numFeatures: number, opts: { eps?: number; affine?: boolean } = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? false;
    this.weight = affine ? ones_(this.registerParameter("weight", Tensor.empty([numFeatures]))) : null;
    this.bias = affine ? zeros_(this.registerParameter("bias", Tensor.empty([numFeatures]))) : null;
  }
  forward(x: Tensor): Tensor {
    return instanceNorm(x, this.weight, this.bias, { eps: this.eps });
  }
}

/** Fully connected layer: y = x·Wᵀ + b with weight [out, in]. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    this.weight = this.registerParameter("weight", Tensor.empty([outFeatures, inFeatures], "Linear"));
    this.bias = opts.bias === false
      ? null
      : this.registerParameter("bias", Tensor.empty([outFeatures], "Linear"));
    defaultInit(this.weight, this.bias);
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Zeroes elements with probability p while training, scaling the rest by 1/(1−p). */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training });
  }
}

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Leaky ReLU with the given negative slope. */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

/** Hyperbolic tangent. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Logistic sigmoid. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}
