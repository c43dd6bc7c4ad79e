/**
 * The colorization generators by configuration: the pix2pix U-Net (models/unet.ts), the ResNet U-Net
 * (models/resnet_unet.ts) and the diverse-colorization generator (models/diverse.ts). All map L
 * [N, 1, H, W] to tanh ab [N, 2, H, W]. A configuration as saved in a checkpoint's `generator_config`
 * tells them apart by `kind`; configurations written before the ResNet U-Net existed have no `kind` and
 * are U-Nets (U-Nets are still saved without it, so older programs keep reading them).
 */

import { Unet, type UnetConfig } from "./unet.ts";
import { ResnetUnet, type ResnetUnetConfig } from "./resnet_unet.ts";
import { type DiverseConfig, DiverseGenerator } from "./diverse.ts";
import { initPix2pixWeights } from "./init.ts";
import type { ColorSpace } from "../engine/color.ts";

/** The generator architectures. */
export type GeneratorKind = "unet" | "resnet-unet" | "diverse";

/** The kinds, in the order messages list them. */
export const GENERATOR_KINDS: readonly GeneratorKind[] = ["unet", "resnet-unet", "diverse"];

/** A pix2pix U-Net configuration, optionally marked with its kind. */
export type UnetGeneratorConfig = Partial<UnetConfig> & { kind?: "unet" };

/**
 * Any generator's configuration, as {@link buildGeneratorFromConfig} takes it: missing fields take
 * the architecture's defaults; without `kind` it is a U-Net's.
 */
export type GeneratorConfig =
  | UnetGeneratorConfig
  | (Partial<ResnetUnetConfig> & { kind: "resnet-unet" })
  | (Partial<DiverseConfig> & { kind: "diverse" });

/**
 * A complete configuration, as a built generator holds it and a checkpoint stores it: a
 * {@link UnetConfig} (no `kind`), a {@link ResnetUnetConfig} or a {@link DiverseConfig}. Narrow it by
 * `kind` (undefined for the U-Net).
 */
export type FullGeneratorConfig = (UnetConfig & { kind?: "unet" }) | ResnetUnetConfig | DiverseConfig;

/**
 * A generator: L [N, inputChannels, H, W] in, tanh ab [N, outputChannels, H, W] out, with H and W
 * multiples of its `sizeMultiple` (2^nDown for the U-Net, 32 for the ResNet U-Net, 1 for the diverse
 * generator). All are modules (state dict, eval/train, dispose) with their complete `config`. The
 * diverse generator's `forward(L)` draws a fresh noise map from the global generator; pass a seed as
 * its second argument for a reproducible colouring.
 */
export type Generator = Unet | ResnetUnet | DiverseGenerator;

/** The architecture a configuration describes (no `kind`: a U-Net, as in older checkpoints). */
export function generatorKind(config: { kind?: unknown }): GeneratorKind {
  const kind = config.kind ?? "unet";
  if (!GENERATOR_KINDS.includes(kind as GeneratorKind)) {
    throw new Error(
      `generator config: kind ${JSON.stringify(kind)} is not one of ${
        GENERATOR_KINDS.map((k) => JSON.stringify(k)).join(", ")
      }`,
    );
  }
  return kind as GeneratorKind;
}

/**
 * Builds the generator a configuration describes, with its constructor's initialisation (PyTorch's
 * defaults for the U-Net and the diverse generator; He/ICNR for the ResNet U-Net, which is final). A
 * model about to train from scratch then gets {@link initGeneratorWeights}; one about to load weights
 * needs nothing more. Missing fields take each architecture's defaults.
 */
export function buildGeneratorFromConfig(config: GeneratorConfig): Generator {
  const kind = generatorKind(config);
  if (kind === "resnet-unet") return new ResnetUnet(config as Partial<ResnetUnetConfig>);
  if (kind === "diverse") return new DiverseGenerator(config as Partial<DiverseConfig>);
  // The U-Net's saved configuration has no kind field, as before.
  const { kind: _, ...unet } = config as UnetGeneratorConfig;
  return new Unet(unet);
}

/**
 * The training initialisation of a freshly built generator: pix2pix's N(0, 0.02) for the U-Net (see
 * models/init.ts) and for the diverse generator (the authors' released code draws its convolutions
 * from N(0, 0.02) truncated at 2σ, zero biases, norm scales at 1: the same start up to those tails and
 * pix2pix's 0.02 spread of the scales); nothing for the ResNet U-Net, whose constructor already applied
 * torchvision's and fastai's initialisation (an N(0, 0.02) pass would undo ICNR and the zero-init
 * residual norm).
 */
export function initGeneratorWeights(G: Generator, gain = 0.02): void {
  if (!(G instanceof ResnetUnet)) initPix2pixWeights(G, gain);
}

/** A generator's configuration with its `kind` made explicit. */
export function generatorConfigOf(G: Generator): GeneratorConfig {
  return G instanceof Unet ? { kind: "unet", ...G.config } : { ...G.config };
}

/** The side length multiple a generator of `config` needs (its `sizeMultiple`), without building it. */
export function sizeMultipleOf(config: FullGeneratorConfig): number {
  if (config.kind === "resnet-unet") return 32;
  if (config.kind === "diverse") return 1;
  return 2 ** config.nDown;
}

/** Why sizes are multiples of {@link sizeMultipleOf}, for messages: "2^nDown, nDown=8", …. */
export function sizeMultipleReason(config: FullGeneratorConfig): string {
  if (config.kind === "resnet-unet") return "its ResNet encoder halves the size 5 times";
  if (config.kind === "diverse") return "any size";
  return `2^nDown, nDown=${config.nDown}`;
}

/**
 * Channels of the noise a generator of `config` takes (0: deterministic, one colouring per image), as
 * models/diverse.ts's `noiseChannels` says of a built model.
 */
export function noiseChannelsOf(config: FullGeneratorConfig): number {
  return config.kind === "diverse" ? config.noiseChannels : 0;
}

/**
 * The colour space a generator of `config` works in: the one place that decides it. A diverse
 * generator's `colorSpace` ("lab" when absent, as in configurations saved before YUV models); every
 * other kind colours in Lab. Training targets, validation and colorizing all follow it.
 */
export function colorSpaceOf(config: GeneratorConfig | FullGeneratorConfig): ColorSpace {
  return config.kind === "diverse" ? config.colorSpace ?? "lab" : "lab";
}

/** The architecture in a few words, for messages: "U-Net with nDown=8, ngf=64, batch norm", …. */
export function describeGenerator(config: FullGeneratorConfig): string {
  if (config.kind === "resnet-unet") {
    return `ResNet U-Net (${config.encoder}, ${config.norm} norm${
      config.attention ? ", self-attention" : ""
    })`;
  }
  if (config.kind === "diverse") {
    const noise = `${config.noiseChannels} noise channel${config.noiseChannels === 1 ? "" : "s"}`;
    // Lab models are described as before the colour space could be chosen.
    const space = colorSpaceOf(config) === "yuv" ? ", YUV colour" : "";
    return `diverse generator with ${config.layers} layers, ${config.filters} filters, ${noise}, ` +
      `${config.norm} norm${space}`;
  }
  return `U-Net with nDown=${config.nDown}, ngf=${config.ngf}, ${config.norm} norm`;
}
