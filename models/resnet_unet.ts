/**
 * The ResNet U-Net generator: the second model of "Colorizing black & white images with U-Net and
 * conditional GAN — A Tutorial" (Moein Shariatnia, 2020), which builds fastai's DynamicUnet on a
 * ResNet-18 body. The encoder is torchvision's resnet18 / resnet34 without its pooling head and
 * classifier ("Deep Residual Learning for Image Recognition", He et al., 2016), with torchvision's
 * state-dict names under `encoder.` (conv1, bn1, layer1.0.conv1, …, layer4.1.bn2,
 * layer2.0.downsample.0/1), so a torchvision state dict loads into `encoder` (for 3 input channels;
 * the colorizer's stem takes 1). No ImageNet weights are at hand here, so it trains from scratch with
 * torchvision's initialisation.
 *
 * The decoder follows fastai's DynamicUnet: a BN-ReLU and two 3×3 convolutions at the bottom, then
 * per skip a block that upsamples by a 1×1 convolution + ReLU + PixelShuffle(2) with ICNR init (no
 * checkerboard at the start), concatenates the batch-normalised skip, applies ReLU and two 3×3
 * conv-ReLU-BN layers; a last PixelShuffle to full size, the input concatenated back, a residual
 * block and a 1×1 convolution to the output channels. Where fastai ends with a BN'd 1×1 conv and no
 * activation, this one has a biased 1×1 conv and tanh: our generators output ab in [−1, 1] (the
 * contract of models/unet.ts), and a BN on the output would pin each batch's colour statistics.
 */

import { Module, Sequential } from "../engine/nn/module.ts";
import { BatchNorm2d, Conv2d, InstanceNorm2d, MaxPool2d, PixelShuffle, ReLU } from "../engine/nn/layers.ts";
import { icnr_, kaimingNormal_, zeros_ } from "../engine/init.ts";
import { add, addScaled, relu, tanh } from "../engine/ops/elementwise.ts";
import { matmul } from "../engine/ops/matmul.ts";
import { softmax } from "../engine/ops/softmax.ts";
import { concat, reshape } from "../engine/ops/shape.ts";
import { fmtShape, Tensor } from "../engine/tensor.ts";
import { addNormShapes } from "./state_shapes.ts";

/** Generator configuration; stored in checkpoints (the `kind` tells it from a {@link UnetConfig}). */
export interface ResnetUnetConfig {
  /** Marks the configuration of this generator in a checkpoint's `generator_config`. */
  kind: "resnet-unet";
  /** The encoder: torchvision's resnet18 (BasicBlocks 2-2-2-2) or resnet34 (3-4-6-3). */
  encoder: "resnet18" | "resnet34";
  /** Input channels (1: L). torchvision's stem takes 3. */
  inputChannels: number;
  /** Output channels (2: ab). */
  outputChannels: number;
  /**
   * A SAGAN self-attention layer ({@link SelfAttention}) at the lowest resolution: on the encoder's
   * last feature map (layer4's, 1/32 size), before the bottom convolutions and the first decoder block.
   */
  attention: boolean;
  /** Normalisation layers: BatchNorm as in torchvision and fastai, or affine InstanceNorm. */
  norm: "batch" | "instance";
}

/** Defaults: ResNet-18, L in, ab out, no attention, BatchNorm (the colorization tutorial's model). */
export const RESNET_UNET_DEFAULTS: ResnetUnetConfig = {
  kind: "resnet-unet",
  encoder: "resnet18",
  inputChannels: 1,
  outputChannels: 2,
  attention: false,
  norm: "batch",
};

/** BasicBlocks per stage of each encoder, as torchvision defines them. */
export const RESNET_LAYERS: Record<ResnetUnetConfig["encoder"], readonly number[]> = {
  resnet18: [2, 2, 2, 2],
  resnet34: [3, 4, 6, 3],
};

/** Channels of the encoder's features the decoder joins: the stem, then layer1 … layer4 (both encoders). */
export const RESNET_FEATURE_CHANNELS: readonly number[] = [64, 64, 128, 256, 512];

type Norm = ResnetUnetConfig["norm"];

function normLayer(norm: Norm, channels: number): BatchNorm2d | InstanceNorm2d {
  // Affine InstanceNorm keeps BatchNorm's parameter names (weight, bias), without running statistics.
  return norm === "batch" ? new BatchNorm2d(channels) : new InstanceNorm2d(channels, { affine: true });
}

/** A convolution without bias (a norm follows) with He init by fan-out, as torchvision's ResNet. */
function resnetConv(cin: number, cout: number, k: number, stride = 1): Conv2d {
  const conv = new Conv2d(cin, cout, k, { stride, padding: (k - 1) / 2, bias: false });
  kaimingNormal_(conv.weight, { mode: "fanOut" });
  return conv;
}

/** torchvision's BasicBlock: conv3×3-BN-ReLU-conv3×3-BN plus the (projected) input, then ReLU. */
export class BasicBlock extends Module {
  /** 3×3, carries the block's stride. */
  readonly conv1: Conv2d;
  /** Norm after conv1. */
  readonly bn1: Module;
  /** 3×3, stride 1. */
  readonly conv2: Conv2d;
  /** Norm after conv2. */
  readonly bn2: Module;
  /** 1×1 strided conv + norm projecting the input when the shape changes ("downsample.0/1"), else null. */
  readonly downsample: Sequential | null;
  /** `inplanes` → `planes` channels; stride 2 halves the spatial size. */
  constructor(inplanes: number, planes: number, stride: number, norm: ResnetUnetConfig["norm"]) {
    super();
    this.conv1 = this.registerModule("conv1", resnetConv(inplanes, planes, 3, stride));
    this.bn1 = this.registerModule("bn1", normLayer(norm, planes));
    this.conv2 = this.registerModule("conv2", resnetConv(planes, planes, 3));
    this.bn2 = this.registerModule("bn2", normLayer(norm, planes));
    this.downsample = stride !== 1 || inplanes !== planes
      ? this.registerModule(
        "downsample",
        new Sequential(resnetConv(inplanes, planes, 1, stride), normLayer(norm, planes)),
      )
      : null;
  }
  /** relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
  forward(x: Tensor): Tensor {
    const y = this.bn2.forward(this.conv2.forward(relu(this.bn1.forward(this.conv1.forward(x)))));
    return relu(add(y, this.downsample ? this.downsample.forward(x) : x));
  }
}

/**
 * torchvision's resnet18/34 feature layers (everything before avgpool and fc), named as torchvision
 * names them: conv1 (7×7, stride 2), bn1, relu, maxpool (3×3, stride 2), layer1 … layer4.
 */
export class ResnetEncoder extends Module {
  /** The 7×7 stride-2 stem convolution. */
  readonly conv1: Conv2d;
  /** The stem's norm. */
  readonly bn1: Module;
  /** 3×3 stride-2 max pooling after the stem. */
  readonly maxpool: MaxPool2d;
  /** The four stages (64, 128, 256, 512 channels; stages 2–4 start with stride 2). */
  readonly layers: Sequential[];
  /** Channels of the outputs of {@link ResnetEncoder.features}, in order. */
  readonly featureChannels: readonly number[] = RESNET_FEATURE_CHANNELS;
  /** `encoder` picks the block counts; the stem reads `inputChannels`. */
  constructor(encoder: ResnetUnetConfig["encoder"], inputChannels: number, norm: ResnetUnetConfig["norm"]) {
    super();
    const counts = RESNET_LAYERS[encoder];
    if (!counts) throw new Error(`ResnetEncoder: unknown encoder ${JSON.stringify(encoder)}`);
    this.conv1 = this.registerModule("conv1", resnetConv(inputChannels, 64, 7, 2));
    this.bn1 = this.registerModule("bn1", normLayer(norm, 64));
    this.registerModule("relu", new ReLU());
    this.maxpool = this.registerModule("maxpool", new MaxPool2d(3, { stride: 2, padding: 1 }));
    let inplanes = 64;
    this.layers = counts.map((n, i) => {
      const planes = 64 * 2 ** i;
      const blocks = Array.from({ length: n }, (_, b) => {
        const block = new BasicBlock(inplanes, planes, b === 0 && i > 0 ? 2 : 1, norm);
        inplanes = planes;
        return block;
      });
      return this.registerModule(`layer${i + 1}`, new Sequential(...blocks));
    });
  }
  /**
   * The activations the decoder joins: the stem after ReLU (1/2 size), then layer1 (1/4), layer2
   * (1/8), layer3 (1/16) and layer4 (1/32).
   */
  features(x: Tensor): Tensor[] {
    const stem = relu(this.bn1.forward(this.conv1.forward(x)));
    const out = [stem];
    let y = this.maxpool.forward(stem);
    for (const layer of this.layers) {
      y = layer.forward(y);
      out.push(y);
    }
    return out;
  }
  /** layer4's output [N, 512, H/32, W/32]. */
  forward(x: Tensor): Tensor {
    return this.features(x).at(-1)!;
  }
}

/**
 * fastai's conv_layer: 3×3 conv (no bias), ReLU, norm, named "0", "1", "2"; He init by fan-in.
 * `zeroNorm` starts the norm's scale at 0 (fastai's BatchZero), so a residual branch starts as 0.
 */
function convLayer(ni: number, nf: number, norm: Norm, zeroNorm = false): Sequential {
  const conv = new Conv2d(ni, nf, 3, { padding: 1, bias: false });
  kaimingNormal_(conv.weight);
  const n = normLayer(norm, nf);
  if (zeroNorm) zeros_(n.weight!);
  return new Sequential(conv, new ReLU(), n);
}

/**
 * fastai's PixelShuffle_ICNR without weight normalisation and blur: a 1×1 conv to nf·scale²
 * channels with ICNR init and zero bias, ReLU, PixelShuffle(scale): [N, ni, H, W] → [N, nf, H·s, W·s].
 */
export class PixelShuffleICNR extends Module {
  /** The 1×1 convolution, ICNR-initialised. */
  readonly conv: Conv2d;
  /** The sub-pixel rearrangement. */
  readonly shuf: PixelShuffle;
  /** `ni` → `nf` channels, each side × `scale`. */
  constructor(ni: number, nf: number, scale = 2) {
    super();
    this.conv = this.registerModule("conv", new Conv2d(ni, nf * scale * scale, 1));
    icnr_(this.conv.weight, scale);
    // Equal biases within each scale² group keep the blocks flat; fastai zeroes them.
    zeros_(this.conv.bias!);
    this.shuf = this.registerModule("shuf", new PixelShuffle(scale));
  }
  /** shuffle(relu(conv(x))); ReLU commutes with the shuffle, which only moves values. */
  forward(x: Tensor): Tensor {
    return this.shuf.forward(relu(this.conv.forward(x)));
  }
}

/**
 * fastai's UnetBlock: upsample the lower feature ×2 to half its channels, concatenate the normalised
 * skip, ReLU, then two conv layers (keeping the channel count, or halving it in the last block).
 */
export class UnetDecoderBlock extends Module {
  /** Upsampler of the lower feature. */
  readonly shuf: PixelShuffleICNR;
  /** Norm of the skip connection. */
  readonly bn: Module;
  /** First conv layer (concat channels → nf). */
  readonly conv1: Sequential;
  /** Second conv layer (nf → nf). */
  readonly conv2: Sequential;
  /** Channels out. */
  readonly outChannels: number;
  /** `upIn`: channels of the lower feature; `skipIn`: of the skip; `finalDiv`: halve at the end. */
  constructor(upIn: number, skipIn: number, finalDiv: boolean, norm: ResnetUnetConfig["norm"]) {
    super();
    this.shuf = this.registerModule("shuf", new PixelShuffleICNR(upIn, upIn / 2));
    this.bn = this.registerModule("bn", normLayer(norm, skipIn));
    const ni = upIn / 2 + skipIn;
    const nf = finalDiv ? ni : ni / 2;
    this.conv1 = this.registerModule("conv1", convLayer(ni, nf, norm));
    this.conv2 = this.registerModule("conv2", convLayer(nf, nf, norm));
    this.outChannels = nf;
  }
  /** The block's output from the lower feature `up` and the encoder's `skip` (twice its size). */
  join(up: Tensor, skip: Tensor): Tensor {
    const cat = relu(concat([this.shuf.forward(up), this.bn.forward(skip)], 1));
    return this.conv2.forward(this.conv1.forward(cat));
  }
  /** A decoder block needs its skip too: call {@link UnetDecoderBlock.join}. */
  forward(x: Tensor): Tensor {
    throw new Error(`UnetDecoderBlock: forward(${fmtShape(x.shape)}) needs the skip; call join(up, skip)`);
  }
}

/** fastai's res_block: x + convLayer(convLayer(x)), the second norm starting at zero. */
export class ResBlock extends Module {
  /** The two conv layers ("layers.0", "layers.1"). */
  readonly layers: Sequential;
  /** `nf` channels in and out. */
  constructor(nf: number, norm: ResnetUnetConfig["norm"]) {
    super();
    this.layers = this.registerModule(
      "layers",
      new Sequential(convLayer(nf, nf, norm), convLayer(nf, nf, norm, true)),
    );
  }
  /** x + F(x). */
  forward(x: Tensor): Tensor {
    return add(x, this.layers.forward(x));
  }
}

/**
 * SAGAN's self-attention layer ("Self-Attention Generative Adversarial Networks", Zhang et al. 2019)
 * as fastai's `SelfAttention` (the one DynamicUnet inserts), except that its query, key and value
 * are plain 1×1 Conv2d layers where fastai uses spectral-normalised conv1d: this generator trains
 * with a plain GAN loss and no spectral norm anywhere else. For x [N, C, H, W] and P = H·W positions:
 * f = query(x), g = key(x) (C/8 channels each), h = value(x) (C channels), all without bias;
 * β_{j,i} = softmax over i of f_iᵀ g_j (how much output position j attends to position i);
 * o_j = Σ_i β_{j,i} h_i; y = x + γ·o. γ starts at 0, so the layer starts as the identity and the
 * network learns how much attention to mix in. State-dict names: gamma [1], query.weight,
 * key.weight, value.weight.
 */
export class SelfAttention extends Module {
  /** f: C → C/8 channels, 1×1, no bias. */
  readonly query: Conv2d;
  /** g: C → C/8 channels, 1×1, no bias. */
  readonly key: Conv2d;
  /** h: C → C channels, 1×1, no bias. */
  readonly value: Conv2d;
  /** The learnable gate γ [1] on the attention output; starts at 0. */
  gamma: Tensor;
  /** `channels` in and out; at least 8 (the query and key have channels/8, rounded down, as fastai). */
  constructor(channels: number) {
    super();
    if (!Number.isInteger(channels) || channels < 8) {
      throw new Error(`SelfAttention: channels must be an integer ≥ 8, got ${channels}`);
    }
    this.gamma = this.registerParameter("gamma", Tensor.empty([1], "SelfAttention"));
    zeros_(this.gamma);
    const conv = (cout: number) => {
      const c = new Conv2d(channels, cout, 1, { bias: false });
      // fastai initialises these convolutions with kaiming_normal_ (fan-in).
      kaimingNormal_(c.weight);
      return c;
    };
    const qk = Math.floor(channels / 8);
    this.query = this.registerModule("query", conv(qk));
    this.key = this.registerModule("key", conv(qk));
    this.value = this.registerModule("value", conv(channels));
  }
  /** x + γ·o, same shape as x [N, C, H, W]. */
  forward(x: Tensor): Tensor {
    const channels = this.value.weight.shape[0];
    if (x.rank !== 4 || x.shape[1] !== channels) {
      throw new Error(`SelfAttention: input ${fmtShape(x.shape)} must be [N, ${channels}, H, W]`);
    }
    const [n, c, h, w] = x.shape;
    const positions = h * w;
    const qk = this.query.weight.shape[0];
    const f = reshape(this.query.forward(x), [n, qk, positions]);
    const g = reshape(this.key.forward(x), [n, qk, positions]);
    const v = reshape(this.value.forward(x), [n, c, positions]);
    // gᵀf is [N, P_j, P_i] with entry (j, i) = g_jᵀ f_i: the transpose of fastai's fᵀg, so that the
    // softmax over i (fastai's dim 1) runs over the last axis.
    const beta = softmax(matmul(g, f, { transA: true }));
    // o[:, j] = Σ_i h[:, i] β_{j,i}: h·βᵀ.
    const o = matmul(v, beta, { transB: true });
    return addScaled(x, reshape(o, x.shape), this.gamma);
  }
}

/** ResNet-encoder U-Net generator: L channel in, ab channels out (tanh, in [−1, 1]). */
export class ResnetUnet extends Module {
  /** The full configuration (defaults filled in), as saved in checkpoints. */
  readonly config: ResnetUnetConfig;
  /** torchvision's resnet18/34 feature layers ("encoder.conv1.weight", "encoder.layer1.0.conv1.weight", …). */
  readonly encoder: ResnetEncoder;
  /** Self-attention over layer4's output ("attention.gamma", …) when `config.attention`, else null. */
  readonly attention: SelfAttention | null;
  /** Norm of layer4's output, before ReLU and the middle convolutions. */
  readonly bn: Module;
  /** Two 3×3 conv layers at 1/32 size (512 → 1024 → 512 channels). */
  readonly middle: Sequential;
  /** Decoder blocks from 1/32 to 1/2 size, joining layer3, layer2, layer1 and the stem. */
  readonly decoder: UnetDecoderBlock[];
  /** Last ×2 upsampling to the input size. */
  readonly shuf: PixelShuffleICNR;
  /** Residual block over the upsampled features concatenated with the input. */
  readonly res: ResBlock;
  /** 1×1 convolution to the output channels (then tanh). */
  readonly head: Conv2d;

  /** Missing fields of `config` come from {@link RESNET_UNET_DEFAULTS}. */
  constructor(config: Partial<ResnetUnetConfig> = {}) {
    super();
    const c = { ...RESNET_UNET_DEFAULTS, ...config };
    checkResnetUnetConfig(c);
    this.config = c;
    const norm = c.norm;
    this.encoder = this.registerModule("encoder", new ResnetEncoder(c.encoder, c.inputChannels, norm));
    const ch = this.encoder.featureChannels;
    const bottom = ch[ch.length - 1];
    // At 1/32 size attention is cheapest (P = (H/32)² positions, a P×P map per image) and relates
    // the most distant regions; fastai's DynamicUnet puts its layer in a decoder block instead.
    this.attention = c.attention ? this.registerModule("attention", new SelfAttention(bottom)) : null;
    this.bn = this.registerModule("bn", normLayer(norm, bottom));
    this.middle = this.registerModule(
      "middle",
      new Sequential(convLayer(bottom, bottom * 2, norm), convLayer(bottom * 2, bottom, norm)),
    );
    let up = bottom;
    const blocks: UnetDecoderBlock[] = [];
    for (let i = ch.length - 2; i >= 0; i--) {
      const block = new UnetDecoderBlock(up, ch[i], i !== 0, norm);
      blocks.push(block);
      up = block.outChannels;
    }
    // Registered as "decoder.0" … "decoder.3"; only used as a container, joined block by block.
    this.registerModule("decoder", new Sequential(...blocks));
    this.decoder = blocks;
    this.shuf = this.registerModule("shuf", new PixelShuffleICNR(up, up));
    const ni = up + c.inputChannels;
    this.res = this.registerModule("res", new ResBlock(ni, norm));
    this.head = this.registerModule("head", new Conv2d(ni, c.outputChannels, 1));
  }

  /** The side length multiple the input must have (the encoder halves the size 5 times). */
  get sizeMultiple(): number {
    return 32;
  }

  /** [N, inputChannels, H, W] → [N, outputChannels, H, W]; H and W must be multiples of 32. */
  forward(x: Tensor): Tensor {
    const m = this.sizeMultiple;
    const [, ch, h, w] = x.shape;
    if (x.rank !== 4 || ch !== this.config.inputChannels || h % m !== 0 || w % m !== 0) {
      throw new Error(
        `ResnetUnet: input ${
          fmtShape(x.shape)
        } must be [N, ${this.config.inputChannels}, H, W] with H and W ` +
          `multiples of ${m}`,
      );
    }
    const feats = this.encoder.features(x);
    const last = feats[feats.length - 1];
    let y = this.middle.forward(relu(this.bn.forward(this.attention ? this.attention.forward(last) : last)));
    this.decoder.forEach((block, i) => y = block.join(y, feats[feats.length - 2 - i]));
    y = concat([this.shuf.forward(y), x], 1);
    return tanh(this.head.forward(this.res.forward(y)));
  }
}

/**
 * Throws a one-line error naming the field unless `c` is a complete, valid {@link ResnetUnetConfig}
 * (for configurations read from checkpoints).
 */
export function checkResnetUnetConfig(c: ResnetUnetConfig): void {
  const problem = (field: string, want: string) =>
    new Error(
      `ResnetUnet: config.${field} is ${
        JSON.stringify((c as unknown as Record<string, unknown>)[field])
      }, ${want}`,
    );
  if (c.kind !== "resnet-unet") throw problem("kind", `not "resnet-unet"`);
  // Own keys only: "toString" is `in` every object.
  if (typeof c.encoder !== "string" || !Object.hasOwn(RESNET_LAYERS, c.encoder)) {
    throw problem("encoder", `not one of ${Object.keys(RESNET_LAYERS).join(", ")}`);
  }
  for (const k of ["inputChannels", "outputChannels"] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw problem(k, "not a positive integer");
  }
  if (c.norm !== "batch" && c.norm !== "instance") throw problem("norm", `not "batch" or "instance"`);
  if (typeof c.attention !== "boolean") throw problem("attention", "not true or false");
}

/**
 * Names and shapes of a {@link ResnetUnet}'s state dict for `c`, in state-dict order, computed without
 * building it (no GPU needed to validate a checkpoint). It walks the same structure as the constructors
 * above; tests compare the two.
 */
export function resnetUnetTensorShapes(c: ResnetUnetConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const norm = (p: string, ch: number) => addNormShapes(out, p, ch, c.norm);
  // fastai's conv_layer: "0" the 3×3 convolution, "2" its norm.
  const convLayer = (p: string, ni: number, nf: number) => {
    out.set(`${p}.0.weight`, [nf, ni, 3, 3]);
    norm(`${p}.2`, nf);
  };
  const shuffle = (p: string, ni: number, nf: number) => {
    out.set(`${p}.conv.weight`, [nf * 4, ni, 1, 1]);
    out.set(`${p}.conv.bias`, [nf * 4]);
  };
  out.set("encoder.conv1.weight", [64, c.inputChannels, 7, 7]);
  norm("encoder.bn1", 64);
  let inplanes = 64;
  RESNET_LAYERS[c.encoder].forEach((n, i) => {
    const planes = 64 * 2 ** i;
    for (let b = 0; b < n; b++) {
      const p = `encoder.layer${i + 1}.${b}`;
      const stride = b === 0 && i > 0 ? 2 : 1;
      out.set(`${p}.conv1.weight`, [planes, inplanes, 3, 3]);
      norm(`${p}.bn1`, planes);
      out.set(`${p}.conv2.weight`, [planes, planes, 3, 3]);
      norm(`${p}.bn2`, planes);
      if (stride !== 1 || inplanes !== planes) {
        out.set(`${p}.downsample.0.weight`, [planes, inplanes, 1, 1]);
        norm(`${p}.downsample.1`, planes);
      }
      inplanes = planes;
    }
  });
  const ch = RESNET_FEATURE_CHANNELS;
  const bottom = ch[ch.length - 1];
  if (c.attention) {
    // SelfAttention's own parameter first, then its children, as stateDict orders them.
    out.set("attention.gamma", [1]);
    for (const [name, cout] of [["query", bottom / 8], ["key", bottom / 8], ["value", bottom]] as const) {
      out.set(`attention.${name}.weight`, [cout, bottom, 1, 1]);
    }
  }
  norm("bn", bottom);
  convLayer("middle.0", bottom, bottom * 2);
  convLayer("middle.1", bottom * 2, bottom);
  let up = bottom;
  for (let i = ch.length - 2, j = 0; i >= 0; i--, j++) {
    const p = `decoder.${j}`;
    shuffle(`${p}.shuf`, up, up / 2);
    norm(`${p}.bn`, ch[i]);
    const ni = up / 2 + ch[i];
    const nf = i !== 0 ? ni : ni / 2;
    convLayer(`${p}.conv1`, ni, nf);
    convLayer(`${p}.conv2`, nf, nf);
    up = nf;
  }
  shuffle("shuf", up, up);
  const ni = up + c.inputChannels;
  convLayer("res.layers.0", ni, ni);
  convLayer("res.layers.1", ni, ni);
  out.set("head.weight", [c.outputChannels, ni, 1, 1]);
  out.set("head.bias", [c.outputChannels]);
  return out;
}
