/**
 * The generator of "Unsupervised Diverse Colorization via Generative Adversarial
 * Networks" (Cao, Zhou, Zhang and Yu, 2017; arXiv 1702.06674). Unlike the U-Net it
 * never down-samples: every convolution has stride 1 and "same" padding, so the
 * spatial detail of the gray image is never squeezed through a bottleneck, and any
 * H×W works. Two things are re-injected into every layer by concatenation along
 * the channels: the luminance (so later layers keep seeing the structure they are
 * colouring) and a noise map (so the noise is not washed out by the first layers
 * and different draws give different colourings of one image).
 *
 * The network itself is colour-space agnostic: 1 luminance channel in, 2 chroma
 * channels out in [−1, 1] (tanh). The paper colours in YUV (Y → UV); pix2pix and our
 * other generators in Lab (L → ab). The configuration's `colorSpace` records which
 * one a model was trained in, so training, validation and colorizing convert to and
 * from the same units (models/generators.ts `colorSpaceOf`).
 */

import { Module } from "../engine/nn/module.ts";
import { BatchNorm2d, Conv2d, InstanceNorm2d } from "../engine/nn/layers.ts";
import { relu, tanh } from "../engine/ops/elementwise.ts";
import { concat } from "../engine/ops/shape.ts";
import { fmtShape, Tensor } from "../engine/tensor.ts";
import { uniform_ } from "../engine/init.ts";
import { globalRng, Rng } from "../engine/random.ts";
import { COLOR_SPACES, type ColorSpace } from "../engine/color.ts";

/** Configuration of a {@link DiverseGenerator}; stored in checkpoints as JSON (the `kind` tells it from the others). */
export interface DiverseConfig {
  /** Marks the configuration of this generator in a checkpoint's `generator_config`. */
  kind: "diverse";
  /** Input channels (1: the luminance, L or Y). */
  inputChannels: number;
  /** Output channels (2: the chroma, ab or UV), through tanh into [−1, 1]. */
  outputChannels: number;
  /** Number of convolutions, the output one included (at least 2). */
  layers: number;
  /**
   * Base width f: the first hidden layer has 2f filters, the last hidden one f/2
   * (rounded down), those between f; with 6 layers and f = 64 that is the paper's
   * 128, 64, 64, 64, 32.
   */
  filters: number;
  /**
   * Channels of the noise map concatenated into every layer; 0 makes the model
   * deterministic (one colouring per image).
   */
  noiseChannels: number;
  /** Normalisation after each hidden convolution. */
  norm: "batch" | "instance";
  /**
   * The colour space of its input and output: "lab" (L → ab, as the other generators) or "yuv"
   * (Y → UV, as the paper). Absent (configurations written before this field existed): "lab". Read
   * it through models/generators.ts `colorSpaceOf`.
   */
  colorSpace?: ColorSpace;
}

/**
 * The paper's generator: 6 stride-1 convolutions of 128, 64, 64, 64, 32 and 2
 * filters (layers 6, filters 64), batch norm and ReLU after each hidden one, tanh
 * at the end. The paper projects a 100-d noise vector through a fully connected
 * layer into one image-sized plane, which ties the model to one input size; here
 * that plane is drawn directly per pixel (noiseChannels 1), so the model stays
 * fully convolutional. 486,950 parameters.
 */
export const DIVERSE_DEFAULTS: DiverseConfig = {
  kind: "diverse",
  inputChannels: 1,
  outputChannels: 2,
  layers: 6,
  filters: 64,
  noiseChannels: 1,
  norm: "batch",
  colorSpace: "lab",
};

/**
 * Kernel sizes as in the authors' released implementation: a 7×7 first layer for a
 * wide first look at the gray image, 5×5 for the rest. With 6 layers the receptive
 * field is 7 + 5·4 = 27 pixels: colour decisions are local, the paper's trade for
 * keeping full resolution.
 */
const FIRST_KERNEL = 7;
const KERNEL = 5;

/** Width of each hidden convolution (see {@link DiverseConfig.filters}). */
function hiddenWidths(c: DiverseConfig): number[] {
  const hidden = c.layers - 1;
  return Array.from({ length: hidden }, (_, i) => {
    if (i === 0) return 2 * c.filters;
    if (i === hidden - 1) return Math.max(1, Math.floor(c.filters / 2));
    return c.filters;
  });
}

/**
 * Throws a one-line error naming the field unless `c` is a complete, valid {@link DiverseConfig}
 * (also for configurations read from checkpoints).
 */
export function checkDiverseConfig(c: DiverseConfig): void {
  if (c.kind !== "diverse") {
    throw new Error(`DiverseGenerator: kind must be "diverse" (got ${JSON.stringify(c.kind)})`);
  }
  const positive = (name: keyof DiverseConfig, min: number) => {
    const v = c[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      throw new Error(`DiverseGenerator: ${name} must be an integer ≥ ${min} (got ${v})`);
    }
  };
  positive("inputChannels", 1);
  positive("outputChannels", 1);
  positive("layers", 2);
  positive("filters", 1);
  positive("noiseChannels", 0);
  if (c.norm !== "batch" && c.norm !== "instance") {
    throw new Error(`DiverseGenerator: norm must be "batch" or "instance" (got ${c.norm})`);
  }
  if (c.colorSpace !== undefined && !COLOR_SPACES.includes(c.colorSpace)) {
    throw new Error(
      `DiverseGenerator: colorSpace must be ${COLOR_SPACES.map((s) => JSON.stringify(s)).join(" or ")} ` +
        `(got ${JSON.stringify(c.colorSpace)})`,
    );
  }
  // Colour hints (models/hints.ts) are Lab ab values; a YUV model takes the luma alone.
  if (c.colorSpace === "yuv" && c.inputChannels !== 1) {
    throw new Error(
      `DiverseGenerator: a "yuv" model takes 1 input channel (Y; colour hints are Lab-only), got ${c.inputChannels}`,
    );
  }
}

/**
 * Diverse-colorization generator: luminance [N, inputChannels, H, W] (plus a noise
 * map) → chroma [N, outputChannels, H, W] in [−1, 1], for any H and W. Parameters
 * are named as a PyTorch module with attributes `conv1` … `conv<layers>` and
 * `norm1` … `norm<layers−1>` would name them (`conv1.weight`, `norm1.running_mean`,
 * …). Layer i (i ≥ 2) sees concat(L, noise, h_{i−1}); layer 1 sees concat(L, noise).
 */
export class DiverseGenerator extends Module {
  /** The full configuration (defaults filled in), as saved in checkpoints. */
  readonly config: DiverseConfig;
  /** The convolutions in call order (registered as "conv1", "conv2", …). */
  readonly convs: Conv2d[];
  /** The normalisation after each hidden convolution (registered as "norm1", "norm2", …). */
  readonly norms: Module[];

  /** Missing fields of `config` come from {@link DIVERSE_DEFAULTS}; invalid values throw. */
  constructor(config: Partial<DiverseConfig> = {}) {
    super();
    const c = { ...DIVERSE_DEFAULTS, ...config };
    checkDiverseConfig(c);
    this.config = c;
    const side = c.inputChannels + c.noiseChannels;
    const widths = hiddenWidths(c);
    this.convs = [];
    this.norms = [];
    let prev = 0;
    widths.forEach((w, i) => {
      const k = i === 0 ? FIRST_KERNEL : KERNEL;
      // No bias: the normalisation right after subtracts it away.
      const conv = new Conv2d(side + prev, w, k, { padding: (k - 1) / 2, bias: false });
      this.convs.push(this.registerModule(`conv${i + 1}`, conv));
      // InstanceNorm with affine weights keeps BatchNorm's parameter layout (minus running statistics).
      const norm = c.norm === "batch" ? new BatchNorm2d(w) : new InstanceNorm2d(w, { affine: true });
      this.norms.push(this.registerModule(`norm${i + 1}`, norm));
      prev = w;
    });
    const out = new Conv2d(side + prev, c.outputChannels, KERNEL, { padding: (KERNEL - 1) / 2 });
    this.convs.push(this.registerModule(`conv${c.layers}`, out));
  }

  /** The side length multiple the input must have: 1, any H×W works (nothing is down-sampled). */
  get sizeMultiple(): number {
    return 1;
  }

  /**
   * A noise map for `x` ([N, ·, H, W]): [N, noiseChannels, H, W], uniform in
   * [−1, 1) as the paper samples z. Drawn on the CPU and uploaded, like the
   * initialisers: from a fresh {@link Rng} when `seed` is given (the same seed gives
   * the same map, so one sample of `--samples N` can be reproduced alone), else from
   * the global generator (reproducible after `manualSeed`). Null when the model
   * takes no noise.
   */
  sampleNoise(x: Tensor, seed?: number): Tensor | null {
    const nc = this.config.noiseChannels;
    if (nc === 0) return null;
    const [n, , h, w] = x.shape;
    const rng = seed === undefined ? globalRng() : new Rng(seed);
    return uniform_(Tensor.empty([n, nc, h, w], "DiverseGenerator.noise"), -1, 1, rng);
  }

  /**
   * [N, inputChannels, H, W] → [N, outputChannels, H, W] in [−1, 1]. `noise` is a
   * map of shape [N, noiseChannels, H, W], or a seed for {@link sampleNoise}; when
   * absent a fresh map is drawn from the global generator, so every call colours
   * differently. A model with noiseChannels 0 ignores seeds and rejects noise maps.
   */
  forward(x: Tensor, noise?: Tensor | number): Tensor {
    const c = this.config;
    if (x.rank !== 4 || x.shape[1] !== c.inputChannels) {
      throw new Error(`DiverseGenerator: input ${fmtShape(x.shape)} must be [N, ${c.inputChannels}, H, W]`);
    }
    let z: Tensor | null;
    if (noise instanceof Tensor) {
      const [n, , h, w] = x.shape;
      const want = [n, c.noiseChannels, h, w];
      if (c.noiseChannels === 0) {
        throw new Error("DiverseGenerator: this model takes no noise (noiseChannels 0)");
      }
      if (noise.rank !== 4 || noise.shape.some((d, i) => d !== want[i])) {
        throw new Error(`DiverseGenerator: noise ${fmtShape(noise.shape)} must be ${fmtShape(want)}`);
      }
      z = noise;
    } else {
      z = this.sampleNoise(x, noise);
    }
    // The side input joined to every layer, concatenated once.
    const side = z ? concat([x, z], 1) : x;
    let h = side;
    for (let i = 0; i < this.norms.length; i++) {
      h = relu(this.norms[i].forward(this.convs[i].forward(h)));
      h = concat([side, h], 1);
    }
    return tanh(this.convs[this.norms.length].forward(h));
  }
}

/**
 * Names and shapes of a {@link DiverseGenerator}'s state dict for `c`, in state-dict order, computed
 * without building it (no GPU needed to validate a checkpoint). The constructor is the definition;
 * tests compare the two.
 */
export function diverseTensorShapes(c: DiverseConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const side = c.inputChannels + c.noiseChannels;
  let prev = 0;
  hiddenWidths(c).forEach((w, i) => {
    const k = i === 0 ? FIRST_KERNEL : KERNEL;
    out.set(`conv${i + 1}.weight`, [w, side + prev, k, k]);
    const p = `norm${i + 1}`;
    out.set(`${p}.weight`, [w]);
    out.set(`${p}.bias`, [w]);
    if (c.norm === "batch") {
      out.set(`${p}.running_mean`, [w]);
      out.set(`${p}.running_var`, [w]);
      out.set(`${p}.num_batches_tracked`, []);
    }
    prev = w;
  });
  out.set(`conv${c.layers}.weight`, [c.outputChannels, side + prev, KERNEL, KERNEL]);
  out.set(`conv${c.layers}.bias`, [c.outputChannels]);
  return out;
}

/**
 * Channels of the noise a generator takes: its `noiseChannels` for a
 * {@link DiverseGenerator}, 0 for any other module. 0 means the model is
 * deterministic and gives one colouring per image, however many samples are asked for.
 */
export function noiseChannels(generator: Module): number {
  return generator instanceof DiverseGenerator ? generator.config.noiseChannels : 0;
}
