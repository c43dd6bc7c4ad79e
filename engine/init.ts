/**
 * Parameter initialisers. Values are drawn on the CPU from the seeded global
 * generator (engine/random.ts), so two runs after the same `manualSeed` start
 * from identical weights, then uploaded once.
 */

import { runtime } from "./gpu.ts";
import type { Tensor } from "./tensor.ts";
import { globalRng, type Rng } from "./random.ts";

function write(t: Tensor, f: (i: number) => number): Tensor {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = f(i);
  runtime().upload(t.buffer, data);
  return t;
}

/** Fills `t` in place with N(mean, std²) samples. */
export function normal_(t: Tensor, mean = 0, std = 1, rng: Rng = globalRng()): Tensor {
  return write(t, () => mean + std * rng.normal());
}

/** Fills `t` in place with U(lo, hi) samples. */
export function uniform_(t: Tensor, lo = 0, hi = 1, rng: Rng = globalRng()): Tensor {
  return write(t, () => lo + (hi - lo) * rng.next());
}

/** Fills `t` in place with a constant. */
export function constant_(t: Tensor, value: number): Tensor {
  return write(t, () => value);
}

/** Fills `t` in place with zeros. */
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

/** Fills `t` in place with ones. */
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/**
 * Fan-in as PyTorch computes it: `shape[1]` times the receptive field. (For a
 * transposed conv, whose weight is [Cin, Cout, kH, kW], that is Cout·kH·kW; the
 * quirk is kept so default inits match PyTorch's.)
 */
export function fanIn(shape: readonly number[]): number {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return (shape[1] ?? 1) * receptive;
}

/** Fan-out as PyTorch computes it: `shape[0]` times the receptive field. */
export function fanOut(shape: readonly number[]): number {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return (shape[0] ?? 1) * receptive;
}

/**
 * He initialisation (nn.init.kaiming_normal_ for ReLU): N(0, 2 / fan) with the fan-in (the
 * default, as fastai's layers use) or the fan-out (as torchvision's ResNets use).
 */
export function kaimingNormal_(
  t: Tensor,
  opts: { mode?: "fanIn" | "fanOut"; rng?: Rng } = {},
): Tensor {
  const fan = opts.mode === "fanOut" ? fanOut(t.shape) : fanIn(t.shape);
  return normal_(t, 0, Math.sqrt(2 / fan), opts.rng);
}

/**
 * ICNR initialisation of a convolution that feeds a PixelShuffle(scale) ("Checkerboard artifact free
 * sub-pixel convolution", Aitken et al., 2017): a weight [Cout, Cin, kH, kW] with Cout = C·scale²
 * gets C He-normal kernels (fan-in Cin·kH·kW), each repeated for its scale² consecutive output
 * channels. After the shuffle every scale×scale block then starts equal (nearest-neighbour
 * upsampling of one convolution), so the upsampler begins without checkerboard artefacts. A bias, if
 * any, must be equal within each group too (zero, as fastai's PixelShuffle_ICNR has it).
 */
export function icnr_(weight: Tensor, scale = 2, rng: Rng = globalRng()): Tensor {
  const [cout, cin, kh, kw] = weight.shape;
  const r2 = scale * scale;
  if (weight.rank !== 4 || !Number.isInteger(scale) || scale < 1 || cout % r2 !== 0) {
    throw new Error(
      `icnr_: weight [${weight.shape.join(", ")}] must be [C·${r2}, Cin, kH, kW] for scale ${scale}`,
    );
  }
  const per = cin * kh * kw;
  const std = Math.sqrt(2 / per);
  const sub = Float64Array.from({ length: (cout / r2) * per }, () => std * rng.normal());
  return write(weight, (i) => sub[Math.floor(i / per / r2) * per + (i % per)]);
}
