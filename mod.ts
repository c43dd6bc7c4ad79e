/**
 * A WebGPU deep-learning engine with hand-written WGSL kernels and reverse-mode
 * autodiff, plus the pix2pix colorization models built on it. Web APIs only:
 * the same module runs in Deno and in a browser, imported from a URL.
 *
 * ```ts
 * import { Adam, backward, Conv2d, initGpu, l1Loss, tensor, tidy } from "./mod.ts";
 * await initGpu();
 * const conv = new Conv2d(1, 2, 3, { padding: 1 });
 * const opt = new Adam(conv.parameters(), { lr: 1e-2 });
 * const x = tensor(new Float32Array(64), [1, 1, 8, 8]);
 * const y = tensor(new Float32Array(128), [1, 2, 8, 8]);
 * const loss = tidy(() => {
 *   const l = l1Loss(conv.forward(x), y);
 *   backward(l);
 *   opt.step();
 *   opt.zeroGrad();
 *   return l;
 * });
 * console.log(await loss.item());
 * ```
 *
 * @module
 */

// Runtime and tensors
export { grid, grid1d, initGpu, NoGpuError, Runtime, runtime } from "./engine/gpu.ts";
export type { LaunchArgs } from "./engine/gpu.ts";
export { autotune, Autotuner, autotuner, ENGINE_VERSION } from "./engine/autotune.ts";
export type { AutotuneCache, AutotuneEntry, TuneBench, TuneOptions, TuneResult } from "./engine/autotune.ts";
export { defineKernel, Kernel, read, variantKey, write } from "./shaders/kernel.ts";
export type {
  KernelProgram,
  KernelSpec,
  StorageBinding,
  UniformType,
  VariantValue,
} from "./shaders/kernel.ts";
export type { BufferPool, MemoryInfo } from "./engine/pool.ts";
export { fmtShape, keep, liveTensorCount, Tensor, tensor, tidy, tidyAsync } from "./engine/tensor.ts";
export type { GradNode, Kept, Storage } from "./engine/tensor.ts";
export { backward, isGradEnabled, noGrad, record } from "./engine/autograd.ts";
export { globalRng, manualSeed, nextSeed, Rng, shuffle } from "./engine/random.ts";
export {
  constant_,
  fanIn,
  fanOut,
  icnr_,
  kaimingNormal_,
  normal_,
  ones_,
  uniform_,
  zeros_,
} from "./engine/init.ts";

// Ops (torch.nn.functional style)
export {
  add,
  addScalar,
  addScaled,
  leakyRelu,
  mul,
  relu,
  scale,
  sigmoid,
  sub,
  tanh,
} from "./engine/ops/elementwise.ts";
export { accumulate, assign, copy, fill, ones, zeros } from "./engine/ops/buffers.ts";
export { conv2d, convTranspose2d } from "./engine/ops/conv.ts";
export type { Conv2dOptions, ConvTranspose2dOptions, Pair } from "./engine/ops/conv.ts";
export { batchNorm, instanceNorm } from "./engine/ops/norm.ts";
export { dropout } from "./engine/ops/dropout.ts";
export { maxPool2d } from "./engine/ops/pool.ts";
export type { MaxPool2dOptions } from "./engine/ops/pool.ts";
export { concat, pad, pixelShuffle, pixelUnshuffle, reshape, slice, split } from "./engine/ops/shape.ts";
export type { PadMode } from "./engine/ops/shape.ts";
export { mean, sum, sumChannels } from "./engine/ops/reduce.ts";
export { softmax } from "./engine/ops/softmax.ts";
export { linear, matmul } from "./engine/ops/matmul.ts";
export type { MatmulTransposes } from "./engine/ops/matmul.ts";
export { bceWithLogits, hingeLossD, hingeLossG, l1Loss, mseLoss } from "./engine/ops/loss.ts";

// Modules and optimizer
export { Module, Sequential } from "./engine/nn/module.ts";
export {
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  InstanceNorm2d,
  LeakyReLU,
  Linear,
  MaxPool2d,
  PixelShuffle,
  ReLU,
  Sigmoid,
  Tanh,
} from "./engine/nn/layers.ts";
export { Adam, EMA } from "./engine/optim.ts";
export type { AdamOptions, AdamState } from "./engine/optim.ts";

// Color and files
export {
  COLOR_SPACES,
  labToModel,
  labToRgb,
  labToRgbCpu,
  MODEL_UV_SCALE,
  modelToLab,
  modelToRgb,
  modelToRgbCpu,
  rgbToLab,
  rgbToLabCpu,
  rgbToModel,
  rgbToModelCpu,
  rgbToYuv,
  rgbToYuvCpu,
  yuvToRgb,
  yuvToRgbCpu,
  yuvToRgbInGamut,
  yuvToRgbInGamutCpu,
} from "./engine/color.ts";
export type { ColorSpace } from "./engine/color.ts";
export { decodeSafetensors, encodeSafetensors, toFloat32 } from "./engine/safetensors.ts";
export type {
  Dtype,
  SafetensorsEntry,
  SafetensorsFile,
  SafetensorsInput,
  TensorData,
} from "./engine/safetensors.ts";

// Colorization models
export { Unet, UNET_DEFAULTS, UnetBlock } from "./models/unet.ts";
export type { UnetConfig } from "./models/unet.ts";
// Cao et al. 2017's full-resolution generator with noise in every layer: several colourings per image.
export {
  checkDiverseConfig,
  DIVERSE_DEFAULTS,
  DiverseGenerator,
  diverseTensorShapes,
  noiseChannels,
} from "./models/diverse.ts";
export type { DiverseConfig } from "./models/diverse.ts";
export {
  BasicBlock,
  checkResnetUnetConfig,
  PixelShuffleICNR,
  ResBlock,
  RESNET_FEATURE_CHANNELS,
  RESNET_LAYERS,
  RESNET_UNET_DEFAULTS,
  ResnetEncoder,
  ResnetUnet,
  resnetUnetTensorShapes,
  SelfAttention,
  UnetDecoderBlock,
} from "./models/resnet_unet.ts";
export type { ResnetUnetConfig } from "./models/resnet_unet.ts";
export {
  buildGeneratorFromConfig,
  colorSpaceOf,
  describeGenerator,
  GENERATOR_KINDS,
  generatorConfigOf,
  generatorKind,
  initGeneratorWeights,
  noiseChannelsOf,
  sizeMultipleOf,
  sizeMultipleReason,
} from "./models/generators.ts";
export type {
  FullGeneratorConfig,
  Generator,
  GeneratorConfig,
  GeneratorKind,
  UnetGeneratorConfig,
} from "./models/generators.ts";
export { PatchGan, PATCHGAN_DEFAULTS } from "./models/patchgan.ts";
export type { PatchGanConfig } from "./models/patchgan.ts";
export { initPix2pixWeights } from "./models/init.ts";
export { ganLoss, Pix2Pix, PIX2PIX_DEFAULTS } from "./models/pix2pix.ts";
export type { GanMode, Pix2PixOptions, StepLosses } from "./models/pix2pix.ts";
export {
  buildGenerator,
  decodeCheckpoint,
  encodeCheckpoint,
  generatorTensorShapes,
  restorePix2Pix,
} from "./models/checkpoint.ts";
export type { Checkpoint, CheckpointParts, OptimizerCheckpoint } from "./models/checkpoint.ts";
export { colorizeLab, colorizeRgba } from "./models/colorize.ts";
export type { ColorizeOptions, RgbaImage } from "./models/colorize.ts";
// User colour hints (Zhang et al. 2017, "Real-Time User-Guided Image Colorization with Learned Deep Priors").
export {
  colorAb,
  HINT_PATCH,
  hintFromSpec,
  parseHexColor,
  parseHints,
  takesHints,
  toHexColor,
} from "./models/hints.ts";
export type { Hint, HintSpec } from "./models/hints.ts";
