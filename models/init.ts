/** pix2pix weight initialisation: N(0, 0.02) for convolutions, N(1, 0.02) for norm weights, zero biases. */

import type { Module } from "../engine/nn/module.ts";
import { normal_, zeros_ } from "../engine/init.ts";

/**
 * Initialises every parameter of `model` the way `init_weights(net, 'norm', 0.02)` does in "Colorizing black &
 * white images with U-Net and conditional GAN — A Tutorial" (Moein Shariatnia, 2020).
 */
export function initPix2pixWeights(model: Module, gain = 0.02): void {
  for (const [name, p] of model.namedParameters()) {
    if (name.endsWith(".bias")) zeros_(p);
    // Norm layers have 1-D weights; conv weights are 4-D.
    else if (p.rank === 1) normal_(p, 1, gain);
    else normal_(p, 0, gain);
  }
}
