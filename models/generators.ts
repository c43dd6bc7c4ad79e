/**
 * The colorization generators by configuration: the pix2pix U-Net (models/unet.ts) and the ResNet
 * U-Net (models/resnet_unet.ts). Both map L [N, 1, H, W] to tanh ab [N, 2, H, W]. A configuration
 * as saved in a checkpoint's `generator_config` tells them apart by `kind`; configurations written
 * before the ResNet U-Net existed have no `kind` and are U-Nets.
 */

import { Unet, type UnetConfig } from "./unet.ts";
import { ResnetUnet, type ResnetUnetConfig } from "./resnet_unet.ts";
import { initPix2pixWeights } from "./init.ts";

/** The generator architectures. */
export type GeneratorKind = "unet" | "resnet-unet";

/** A pix2pix U-Net configuration, optionally marked with its kind. */
export type UnetGeneratorConfig = Partial<UnetConfig> & { kind?: "unet" };

/** Any generator's configuration; without `kind` it is a U-Net's. */
export type GeneratorConfig = UnetGeneratorConfig | (Partial<ResnetUnetConfig> & { kind: "resnet-unet" });

/** A generator: L in, tanh ab out, with its configuration. */
export type Generator = Unet | ResnetUnet;

/** The architecture a configuration describes (no `kind`: a U-Net, as in older checkpoints). */
export function generatorKind(config: { kind?: unknown }): GeneratorKind {
  const kind = config.kind ?? "unet";
  if (kind !== "unet" && kind !== "resnet-unet") {
    throw new Error(`generator config: kind ${JSON.stringify(kind)} is not "unet" or "resnet-unet"`);
  }
  return kind;
}

/**
 * Builds the generator a configuration describes, with its constructor's initialisation (PyTorch's
 * defaults for the U-Net; He/ICNR for the ResNet U-Net, which is final). A model about to train
 * from scratch then gets {@link initGeneratorWeights}; one about to load weights needs nothing more.
 * Missing fields take each architecture's defaults.
 */
export function buildGeneratorFromConfig(config: GeneratorConfig): Generator {
  if (generatorKind(config) === "resnet-unet") return new ResnetUnet(config as Partial<ResnetUnetConfig>);
  // The U-Net's saved configuration has no kind field, as before.
  const { kind: _, ...unet } = config as UnetGeneratorConfig;
  return new Unet(unet);
}

/**
 * The training initialisation of a freshly built generator: pix2pix's N(0, 0.02) for the U-Net
 * (see models/init.ts); nothing for the ResNet U-Net, whose constructor already applied
 * torchvision's and fastai's initialisation (an N(0, 0.02) pass would undo ICNR and the zero-init
 * residual norm).
 */
export function initGeneratorWeights(G: Generator, gain = 0.02): void {
  if (G instanceof Unet) initPix2pixWeights(G, gain);
}

/** A generator's configuration with its `kind` made explicit. */
export function generatorConfigOf(G: Generator): GeneratorConfig {
  return G instanceof ResnetUnet ? { ...G.config } : { kind: "unet", ...G.config };
}
