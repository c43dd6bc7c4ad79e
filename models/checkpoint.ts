/**
 * Checkpoints: a pix2pix model (generator, optionally discriminator and both
 * Adam states) in one safetensors file, bytes in and bytes out so that it works
 * in Deno and in a browser. The generator is any kind of models/generators.ts,
 * told apart by `kind` in its saved configuration (none: the U-Net). Tensor
 * names are PyTorch state-dict names under a prefix: for the U-Net those of the
 * modules of the tutorial "Colorizing black & white images with U-Net and
 * conditional GAN" (`Unet`/`UnetBlock`, `MainModel`), so it converts to and
 * from PyTorch by renaming only; a plain PyTorch U-Net state dict (as written
 * by `safetensors.torch.save_file(net_G.state_dict(), …)`) loads too, its
 * configuration inferred from the tensor shapes. Layout: docs/CHECKPOINTS.md.
 */

import type { UnetConfig } from "./unet.ts";
import {
  buildGeneratorFromConfig,
  describeGenerator,
  type FullGeneratorConfig,
  type Generator,
  GENERATOR_KINDS,
} from "./generators.ts";
import { checkResnetUnetConfig, type ResnetUnetConfig, resnetUnetTensorShapes } from "./resnet_unet.ts";
import { checkDiverseConfig, type DiverseConfig, diverseTensorShapes } from "./diverse.ts";
import type { PatchGan, PatchGanConfig } from "./patchgan.ts";
import { Pix2Pix, PIX2PIX_DEFAULTS, type Pix2PixOptions } from "./pix2pix.ts";
import type { Adam, EMA } from "../engine/optim.ts";
import type { Module } from "../engine/nn/module.ts";
import { fmtShape, type Tensor } from "../engine/tensor.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  MAX_HEADER,
  type SafetensorsEntry,
  type SafetensorsInput,
  toFloat32,
} from "../engine/safetensors.ts";
import { addNormShapes } from "./state_shapes.ts";

/** The `format` metadata value that marks our checkpoints. */
export const CHECKPOINT_FORMAT = "pix2pix-colorize";
/** The layout version written; readers refuse versions they do not know. */
export const CHECKPOINT_VERSION = "1";

/** One Adam state by parameter name (the names of the module's state dict). */
export interface OptimizerCheckpoint {
  /** Steps taken, which sets Adam's bias correction on resume. */
  step: number;
  /** First moments by parameter name. */
  expAvg: Map<string, Float32Array>;
  /** Second moments by parameter name. */
  expAvgSq: Map<string, Float32Array>;
}

/** A decoded checkpoint; tensors are float32 on the CPU, keyed by state-dict name without prefix. */
export interface Checkpoint {
  /** The file name (or other label) used in error messages. */
  source: string;
  /** Our format, or a plain PyTorch generator state dict whose configuration was inferred. */
  kind: "pix2pix-colorize" | "pytorch-state-dict";
  /**
   * The generator's configuration, saved or inferred from the tensor shapes: a U-Net's (no `kind`, as
   * in every file written before the other kinds), a ResNet U-Net's or a diverse generator's.
   */
  generatorConfig: FullGeneratorConfig;
  /** The generator's state dict (parameters and BatchNorm buffers). */
  generator: Map<string, Float32Array>;
  /** The dtype the generator's weights were stored in (F16 for a half-precision export). */
  generatorDtype: string;
  /** The moving average of the generator's weights (same names and config), when training kept one. */
  generatorEma?: Map<string, Float32Array>;
  /** The decay of that average. */
  emaDecay?: number;
  /** The discriminator's configuration; absent in a shipped (generator-only) model. */
  discriminatorConfig?: PatchGanConfig;
  /** The discriminator's state dict; present exactly when `discriminatorConfig` is. */
  discriminator?: Map<string, Float32Array>;
  /** The generator's Adam state, when saved for resuming training. */
  optimizerG?: OptimizerCheckpoint;
  /** The discriminator's Adam state, when saved for resuming training. */
  optimizerD?: OptimizerCheckpoint;
  /** Training options as saved (JSON), e.g. {lr, beta1, beta2, lambdaL1, gan, size}. */
  options: Record<string, unknown>;
  /** Training progress as saved (JSON), e.g. {epoch, step, size}. */
  train: Record<string, unknown>;
  /** All metadata strings of the file. */
  metadata: Record<string, string>;
}

/** What {@link encodeCheckpoint} saves; leave out D and the optimizers for a shipped model. */
export interface CheckpointParts {
  /** The generator (any kind): always saved, with its configuration. */
  G: Generator;
  /**
   * The moving average of the generator's weights (train --ema-decay), saved as `generator_ema.<name>`
   * with metadata `ema_decay`; inference then uses it (see {@link buildGenerator}).
   */
  ema?: EMA<Generator>;
  /** The discriminator, to resume GAN training. */
  D?: PatchGan;
  /** The generator's optimizer, saved by G's parameter names. */
  optG?: Adam;
  /** The discriminator's optimizer; requires `D`. */
  optD?: Adam;
  /** Training options, saved as JSON metadata ("options"). */
  options?: object;
  /** Training progress (epoch, step, …), saved as JSON metadata ("train_state"). */
  train?: object;
}

// ---------------------------------------------------------------------------
// Encoding.

function isCounter(name: string): boolean {
  return name.endsWith("num_batches_tracked");
}

async function moduleTensors(
  out: Record<string, SafetensorsInput>,
  prefix: string,
  m: Module,
  fp16: boolean,
): Promise<void> {
  const buffers = new Set(m.namedBuffers().map(([, t]) => t));
  const entries = [...m.stateDict()];
  const values = await Promise.all(entries.map(([, t]) => t.data()));
  entries.forEach(([name, t], i) => {
    const v = values[i];
    if (isCounter(name)) {
      // PyTorch keeps this counter as a 0-d int64; storing it the same way lets torch load it unchanged.
      out[prefix + name] = {
        dtype: "I64",
        shape: t.shape,
        data: BigInt64Array.from(v, (x) => BigInt(Math.round(x))),
      };
    } else {
      // Running statistics stay F32 in half-precision files: small variances lose digits in f16, and
      // they are a tiny fraction of the bytes.
      const half = fp16 && !buffers.has(t);
      out[prefix + name] = { dtype: half ? "F16" : "F32", shape: t.shape, data: v };
    }
  });
}

async function optimizerTensors(
  out: Record<string, SafetensorsInput>,
  prefix: string,
  opt: Adam,
  owner: Module,
  ownerName: string,
): Promise<number> {
  const names = new Map<Tensor, string>(owner.namedParameters().map(([n, p]) => [p, n]));
  const state = opt.state();
  const all = [...state.expAvg, ...state.expAvgSq];
  const values = await Promise.all(all.map((t) => t.data()));
  opt.params.forEach((p, i) => {
    const name = names.get(p);
    if (name === undefined) {
      throw new Error(
        `encodeCheckpoint: ${prefix} has a parameter ${p} that is not one of the ${ownerName}'s`,
      );
    }
    out[`${prefix}.exp_avg.${name}`] = { dtype: "F32", shape: p.shape, data: values[i] };
    out[`${prefix}.exp_avg_sq.${name}`] = { dtype: "F32", shape: p.shape, data: values[all.length / 2 + i] };
  });
  return state.step;
}

/**
 * Serialises a model to safetensors bytes: tensors `generator.<name>`,
 * `generator_ema.<name>` (with an EMA), `discriminator.<name>`, `optimizer_G.exp_avg.<G parameter name>`,
 * `optimizer_G.exp_avg_sq.<…>` (likewise optimizer_D), and string metadata
 * (format, version, generator_config, discriminator_config, options,
 * train_state, optimizer_G_step, optimizer_D_step, ema_decay, dtype). With `fp16` the
 * weights are stored as F16 (running statistics, counters and optimizer state
 * are not). Reads the tensors back from the GPU, hence async.
 */
export async function encodeCheckpoint(
  parts: CheckpointParts,
  opts: { fp16?: boolean } = {},
): Promise<Uint8Array> {
  const fp16 = !!opts.fp16;
  const tensors: Record<string, SafetensorsInput> = {};
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    generator_config: JSON.stringify(parts.G.config),
    options: JSON.stringify(parts.options ?? {}),
    train_state: JSON.stringify(parts.train ?? {}),
    dtype: fp16 ? "F16" : "F32",
  };
  await moduleTensors(tensors, "generator.", parts.G, fp16);
  if (parts.ema) {
    if (parts.ema.source !== parts.G) throw new Error("encodeCheckpoint: ema is not an average of G");
    metadata.ema_decay = String(parts.ema.decay);
    await moduleTensors(tensors, "generator_ema.", parts.ema.average, fp16);
  }
  if (parts.D) {
    metadata.discriminator_config = JSON.stringify(parts.D.config);
    await moduleTensors(tensors, "discriminator.", parts.D, fp16);
  }
  if (parts.optG) {
    metadata.optimizer_G_step = String(
      await optimizerTensors(tensors, "optimizer_G", parts.optG, parts.G, "generator"),
    );
  }
  if (parts.optD) {
    if (!parts.D) throw new Error("encodeCheckpoint: optD given without D");
    metadata.optimizer_D_step = String(
      await optimizerTensors(tensors, "optimizer_D", parts.optD, parts.D, "discriminator"),
    );
  }
  return encodeSafetensors(tensors, metadata);
}

// ---------------------------------------------------------------------------
// The generator's tensor layout, computed without building it (no GPU needed to validate a file).

/**
 * Names and shapes of the state dict of the generator `c` describes, in state-dict order, without
 * building it: {@link unetTensorShapes}, models/resnet_unet.ts's `resnetUnetTensorShapes` or
 * models/diverse.ts's `diverseTensorShapes`.
 */
export function generatorTensorShapes(c: FullGeneratorConfig): Map<string, number[]> {
  if (c.kind === "resnet-unet") return resnetUnetTensorShapes(c);
  if (c.kind === "diverse") return diverseTensorShapes(c);
  return unetTensorShapes(c);
}

/**
 * Names and shapes of a {@link Unet}'s state dict for `c`, in state-dict order
 * — the same names the PyTorch `Unet` of the colorization tutorial ("Colorizing
 * black & white images with U-Net and conditional GAN") has. Used to validate files and to
 * infer configurations before any GPU work.
 */
export function unetTensorShapes(c: UnetConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const norm = (p: string, ch: number) => addNormShapes(out, p, ch, c.norm);
  const f = c.ngf;
  // Blocks from the outside in: [nf, ni, kind]; the outermost reads inputChannels and writes outputChannels.
  const blocks: [number, number][] = [[f, 2 * f], [2 * f, 4 * f], [4 * f, 8 * f]];
  for (let i = 0; i < c.nDown - 5; i++) blocks.push([8 * f, 8 * f]);
  const walk = (depth: number, p: string) => {
    if (depth === blocks.length) {
      // Innermost: LeakyReLU, down conv, ReLU, up conv (no bias), norm.
      out.set(`${p}.1.weight`, [8 * f, 8 * f, 4, 4]);
      out.set(`${p}.3.weight`, [8 * f, 8 * f, 4, 4]);
      norm(`${p}.4`, 8 * f);
      return;
    }
    const [nf, ni] = blocks[depth];
    // Middle: LeakyReLU, down conv, norm, submodule, ReLU, up conv (no bias), norm [, Dropout].
    out.set(`${p}.1.weight`, [ni, nf, 4, 4]);
    norm(`${p}.2`, ni);
    walk(depth + 1, `${p}.3.model`);
    out.set(`${p}.5.weight`, [2 * ni, nf, 4, 4]);
    norm(`${p}.6`, nf);
  };
  // Outermost: down conv, submodule, ReLU, up conv (with bias), Tanh.
  out.set("model.model.0.weight", [f, c.inputChannels, 4, 4]);
  walk(0, "model.model.1.model");
  out.set("model.model.3.weight", [2 * f, c.outputChannels, 4, 4]);
  out.set("model.model.3.bias", [c.outputChannels]);
  return out;
}

// ---------------------------------------------------------------------------
// Decoding.

/** Infers the generator configuration of a PyTorch state dict (names without prefix) from its shapes. */
export function inferUnetConfig(shapes: Map<string, readonly number[]>, source = "state dict"): UnetConfig {
  const first = shapes.get("model.model.0.weight");
  const last = shapes.get("model.model.3.weight");
  if (!first || first.length !== 4 || !last || last.length !== 4) {
    throw new Error(
      `${source}: not a pix2pix-colorize checkpoint (no generator tensors: model.model.0.weight and ` +
        `model.model.3.weight of a U-Net are missing)`,
    );
  }
  let nDown = 1;
  let p = "model.model.1.model.";
  while (shapes.has(`${p}1.weight`)) {
    nDown++;
    if (!shapes.has(`${p}3.model.1.weight`)) break;
    p += "3.model.";
  }
  const batch = [...shapes.keys()].some((k) => k.endsWith(".running_mean"));
  return {
    inputChannels: first[1],
    outputChannels: last[1],
    nDown,
    ngf: first[0],
    norm: batch ? "batch" : "instance",
  };
}

/**
 * A tensor's values as float32, refusing NaN and ±∞: a model holding them would colour every photo
 * with garbage (or resume training from it) rather than fail. One pass
 * over the converted values; F16 NaN (e.g. 0xFFFF) and F64 values beyond float32 arrive here as
 * NaN and ±∞. `what` names the tensor, e.g. "generator tensor model.model.0.weight".
 */
function finiteFloat32(e: SafetensorsEntry, source: string, what: string): Float32Array {
  let v: Float32Array;
  try {
    v = toFloat32(e);
  } catch (err) {
    throw new Error(`${source}: ${what}: ${(err as Error).message}`);
  }
  // x − x is 0 for every finite x and NaN for NaN and ±∞.
  for (let i = 0; i < v.length; i++) {
    if (v[i] - v[i] !== 0) throw new Error(`${source}: ${what} holds NaN or infinite values`);
  }
  return v;
}

/** The most downsamplings a loaded generator may have (input sides are multiples of 2^nDown). */
const MAX_N_DOWN = 16;

/**
 * Checks a generator's tensors against the layout of `config`; returns them as float32, in state-dict
 * order.
 */
function generatorTensors(
  entries: Map<string, SafetensorsEntry>,
  config: FullGeneratorConfig,
  source: string,
): Map<string, Float32Array> {
  if (config.kind === undefined || config.kind === "unet") {
    if (!Number.isInteger(config.nDown) || config.nDown < 5) {
      throw new Error(`${source}: generator has ${config.nDown} downsamplings; the U-Net needs at least 5`);
    }
    // Its input sides are multiples of 2^nDown: beyond 2^16 no photo fits, and walking a config's claimed
    // levels (one nested name each) must not be a way to exhaust the stack or memory.
    if (config.nDown > MAX_N_DOWN) {
      throw new Error(
        `${source}: generator has ${config.nDown} downsamplings; the U-Net takes 5 to ${MAX_N_DOWN} ` +
          `(its input sides are multiples of 2^nDown)`,
      );
    }
  } else if (config.kind === "diverse" && config.layers > entries.size) {
    // Every layer has a weight tensor: a config claiming more layers than the file has tensors is wrong,
    // and listing a billion layers must not be a way to exhaust memory.
    throw new Error(
      `${source}: generator_config claims ${config.layers} layers; the file has ${entries.size} generator tensors`,
    );
  }
  const expected = generatorTensorShapes(config);
  const out = new Map<string, Float32Array>();
  const describe = describeGenerator(config);
  for (const [name, shape] of expected) {
    const e = entries.get(name);
    if (!e) {
      // Checkpoints from PyTorch before 0.4.1 have no BatchNorm counter; it only matters for momentum=None.
      if (isCounter(name)) {
        out.set(name, new Float32Array(1));
        continue;
      }
      throw new Error(`${source}: generator tensor ${name} ${fmtShape(shape)} is missing (${describe})`);
    }
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${source}: generator tensor ${name} has shape ${fmtShape(e.shape)}, the ${describe} needs ${
          fmtShape(shape)
        }`,
      );
    }
    out.set(name, finiteFloat32(e, source, `generator tensor ${name}`));
  }
  const extra = [...entries.keys()].filter((k) => !expected.has(k));
  if (extra.length) {
    throw new Error(
      `${source}: unexpected generator tensors ${extra.slice(0, 3).join(", ")}` +
        `${extra.length > 3 ? ` (and ${extra.length - 3} more)` : ""} for a ${describe}`,
    );
  }
  return out;
}

function withPrefix(
  tensors: Record<string, SafetensorsEntry>,
  prefix: string,
): Map<string, SafetensorsEntry> {
  const out = new Map<string, SafetensorsEntry>();
  for (const [k, v] of Object.entries(tensors)) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

function parseJson(
  source: string,
  key: string,
  text: string | undefined,
): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${source}: metadata ${key} is not valid JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error(`${source}: metadata ${key} is not a JSON object`);
  }
  return v as Record<string, unknown>;
}

/**
 * A saved `generator_config`, checked for its kind: the complete configuration with only the
 * architecture's keys. Errors name the file and the field (or the kind's own check).
 */
function parseGeneratorConfig(source: string, raw: Record<string, unknown>): FullGeneratorConfig {
  const kind = raw.kind ?? "unet";
  if (kind === "unet") return parseUnetConfig(source, raw);
  // The architecture's own check (the constructor's), with the file named.
  const checked = <C>(c: C, check: (c: C) => void): C => {
    try {
      check(c);
    } catch (e) {
      throw new Error(`${source}: generator_config: ${(e as Error).message}`);
    }
    return c;
  };
  if (kind === "resnet-unet") {
    const { encoder, inputChannels, outputChannels, attention, norm } = raw as unknown as ResnetUnetConfig;
    return checked({ kind, encoder, inputChannels, outputChannels, attention, norm }, checkResnetUnetConfig);
  }
  if (kind === "diverse") {
    const { inputChannels, outputChannels, layers, filters, noiseChannels, norm } =
      raw as unknown as DiverseConfig;
    // Saved before the colour space could be chosen: Lab, the only one then.
    const colorSpace = raw.colorSpace === undefined ? "lab" : raw.colorSpace as DiverseConfig["colorSpace"];
    return checked(
      { kind, inputChannels, outputChannels, layers, filters, noiseChannels, norm, colorSpace },
      checkDiverseConfig,
    );
  }
  throw new Error(
    `${source}: generator_config.kind is ${JSON.stringify(kind)}, not one of ${
      GENERATOR_KINDS.map((k) => JSON.stringify(k)).join(", ")
    }`,
  );
}

function parseUnetConfig(source: string, raw: Record<string, unknown>): UnetConfig {
  const c = raw as Partial<UnetConfig>;
  const ints = ["inputChannels", "outputChannels", "nDown", "ngf"] as const;
  for (const k of ints) {
    if (!Number.isInteger(c[k]) || (c[k] as number) <= 0) {
      throw new Error(`${source}: generator_config.${k} is ${JSON.stringify(c[k])}, not a positive integer`);
    }
  }
  if (c.norm !== "batch" && c.norm !== "instance") {
    throw new Error(
      `${source}: generator_config.norm is ${JSON.stringify(c.norm)}, not "batch" or "instance"`,
    );
  }
  return {
    inputChannels: c.inputChannels!,
    outputChannels: c.outputChannels!,
    nDown: c.nDown!,
    ngf: c.ngf!,
    norm: c.norm,
  };
}

function decodeOptimizer(
  source: string,
  tensors: Record<string, SafetensorsEntry>,
  prefix: string,
  stepText: string,
  params: Map<string, readonly number[]>,
): OptimizerCheckpoint {
  const step = Number(stepText);
  if (!Number.isInteger(step) || step < 0) throw new Error(`${source}: ${prefix}_step is "${stepText}"`);
  const expAvg = new Map<string, Float32Array>(), expAvgSq = new Map<string, Float32Array>();
  for (const [name, shape] of params) {
    for (const [kind, map] of [["exp_avg", expAvg], ["exp_avg_sq", expAvgSq]] as const) {
      const key = `${prefix}.${kind}.${name}`;
      const e = tensors[key];
      if (!e) throw new Error(`${source}: optimizer tensor ${key} is missing`);
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${source}: ${key} has shape ${fmtShape(e.shape)}, its parameter ${fmtShape(shape)}`);
      }
      map.set(name, finiteFloat32(e, source, `optimizer tensor ${key}`));
    }
  }
  return { step, expAvg, expAvgSq };
}

/**
 * Name prefixes under which PyTorch code commonly saves a bare generator: DataParallel's `module.`, and
 * `net_G.` of the colorization tutorial's `MainModel`.
 */
const TORCH_PREFIXES = ["", "module.", "net_G.", "net_G.module."];

/**
 * Parses and validates checkpoint bytes. Accepts our format and plain PyTorch
 * generator state dicts (whose configuration is inferred from the shapes).
 * Every error is one line starting with `source`: "truncated", "not a
 * safetensors file", "not a pix2pix-colorize checkpoint (…)", a missing or
 * misshapen tensor by name.
 */
export function decodeCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  if (bytes.length === 0) throw new Error(`${source}: empty file, not a pix2pix-colorize checkpoint`);
  const notSafetensors = () =>
    new Error(`${source}: not a safetensors file, so not a pix2pix-colorize checkpoint`);
  // The header length as far as the file has it (missing high bytes as 0, the least it could be): past the
  // format's limit, the bytes are something else (JSON, text) rather than a cut safetensors file.
  const lengthBytes = new Uint8Array(8);
  lengthBytes.set(bytes.subarray(0, 8));
  const headerLen = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER)) throw notSafetensors();
  if (bytes.length < 9) throw new Error(`${source}: truncated (${bytes.length} bytes)`);
  // Every safetensors header is a JSON object; anything else (an image, a .pth zip) is the wrong kind of file.
  if (bytes[8] !== 0x7b) throw notSafetensors();
  if (headerLen > BigInt(bytes.length - 8)) {
    throw new Error(
      `${source}: truncated (the header alone needs ${headerLen + 8n} bytes, the file has ${bytes.length})`,
    );
  }
  let file;
  try {
    file = decodeSafetensors(bytes);
  } catch (e) {
    const m = (e as Error).message.replace(/^safetensors: /, "");
    if (/past the end/.test(m)) {
      throw new Error(`${source}: truncated (${m.replace(/ \(truncated file\?\)$/, "")})`);
    }
    throw new Error(`${source}: not a valid safetensors file (${m})`);
  }
  const { tensors, metadata } = file;
  const format = metadata.format;
  if (format === CHECKPOINT_FORMAT) {
    if (metadata.version !== CHECKPOINT_VERSION) {
      throw new Error(
        `${source}: pix2pix-colorize checkpoint version ${metadata.version ?? "(none)"} is not supported ` +
          `(this program reads version ${CHECKPOINT_VERSION})`,
      );
    }
    const gEntries = withPrefix(tensors, "generator.");
    if (gEntries.size === 0) {
      throw new Error(`${source}: not a pix2pix-colorize checkpoint (no generator tensors)`);
    }
    const rawConfig = parseJson(source, "generator_config", metadata.generator_config);
    const generatorConfig = rawConfig
      ? parseGeneratorConfig(source, rawConfig)
      : inferUnetConfig(new Map([...gEntries].map(([k, e]) => [k, e.shape])), source);
    const generator = generatorTensors(gEntries, generatorConfig, source);
    // The first tensor of every layout is a convolution's weight, stored in the file's weight dtype.
    const firstG = gEntries.get(generator.keys().next().value!);
    const ck: Checkpoint = {
      source,
      kind: "pix2pix-colorize",
      generatorConfig,
      generator,
      generatorDtype: firstG?.dtype ?? "F32",
      options: parseJson(source, "options", metadata.options) ?? {},
      train: parseJson(source, "train_state", metadata.train_state) ?? {},
      metadata,
    };
    const emaEntries = withPrefix(tensors, "generator_ema.");
    if (emaEntries.size > 0) {
      const decay = Number(metadata.ema_decay);
      if (!(decay >= 0 && decay < 1)) {
        throw new Error(
          `${source}: generator_ema tensors with ema_decay "${metadata.ema_decay}" (need [0, 1))`,
        );
      }
      ck.generatorEma = generatorTensors(emaEntries, generatorConfig, `${source} (generator_ema)`);
      ck.emaDecay = decay;
    }
    const dEntries = withPrefix(tensors, "discriminator.");
    if (dEntries.size > 0) {
      const dc = parseJson(source, "discriminator_config", metadata.discriminator_config);
      if (!dc) throw new Error(`${source}: discriminator tensors without discriminator_config metadata`);
      ck.discriminatorConfig = dc as unknown as PatchGanConfig;
      ck.discriminator = new Map(
        [...dEntries].map(([k, e]) => [k, finiteFloat32(e, source, `discriminator tensor ${k}`)]),
      );
    }
    // Parameter names are the state-dict names minus the buffers (BatchNorm statistics).
    const paramShapes = (m: Map<string, SafetensorsEntry>) =>
      new Map(
        [...m].filter(([k]) => !/\.(running_mean|running_var|num_batches_tracked)$/.test(k)).map(([k, e]) => [
          k,
          e.shape,
        ]),
      );
    if (metadata.optimizer_G_step !== undefined) {
      ck.optimizerG = decodeOptimizer(
        source,
        tensors,
        "optimizer_G",
        metadata.optimizer_G_step,
        paramShapes(gEntries),
      );
    }
    if (metadata.optimizer_D_step !== undefined) {
      if (!ck.discriminator) throw new Error(`${source}: optimizer_D state without discriminator tensors`);
      ck.optimizerD = decodeOptimizer(
        source,
        tensors,
        "optimizer_D",
        metadata.optimizer_D_step,
        paramShapes(dEntries),
      );
    }
    return ck;
  }

  // Otherwise a plain PyTorch generator state dict (libraries may tag it format "pt"), possibly under a
  // wrapper's prefix.
  const prefix = TORCH_PREFIXES.find((p) => Object.hasOwn(tensors, `${p}model.model.0.weight`));
  if (
    prefix === undefined && format === undefined && Object.hasOwn(tensors, "generator.model.model.0.weight")
  ) {
    // Our layout with the header's metadata lost (e.g. rewritten by a tool that drops __metadata__).
    const lacks = Object.keys(metadata).length === 0
      ? "the header has no __metadata__"
      : `__metadata__ has no "format"`;
    throw new Error(
      `${source}: generator.* tensors without the metadata that names their format and configuration ` +
        `(${lacks}; deno task train writes format "${CHECKPOINT_FORMAT}" and generator_config)`,
    );
  }
  if (prefix === undefined) {
    throw new Error(
      `${source}: not a pix2pix-colorize checkpoint (no generator tensors${
        format === undefined ? "" : `; format "${format}"`
      })`,
    );
  }
  let gEntries = withPrefix(tensors, prefix);
  if (prefix === "net_G." || prefix === "net_G.module.") {
    // A whole MainModel state dict: keep the generator, ignore net_D.
    gEntries = new Map([...gEntries].filter(([k]) => k.startsWith("model.")));
  }
  const generatorConfig = inferUnetConfig(new Map([...gEntries].map(([k, e]) => [k, e.shape])), source);
  return {
    source,
    kind: "pytorch-state-dict",
    generatorConfig,
    generator: generatorTensors(gEntries, generatorConfig, source),
    generatorDtype: gEntries.get("model.model.0.weight")!.dtype,
    options: {},
    train: {},
    metadata,
  };
}

// ---------------------------------------------------------------------------
// Building models.

/**
 * The generator of a checkpoint (any kind) with its weights, in eval mode (ready to colorize). A
 * checkpoint trained with a moving average gives the average unless `weights` is "raw" (the last step's).
 */
export function buildGenerator(ck: Checkpoint, weights: "ema" | "raw" = "ema"): Generator {
  const G = buildGeneratorFromConfig(ck.generatorConfig);
  try {
    G.loadStateDict(weights === "ema" && ck.generatorEma ? ck.generatorEma : ck.generator);
  } catch (e) {
    G.dispose();
    throw new Error(`${ck.source}: ${(e as Error).message}`);
  }
  return G.eval();
}

/** The Pix2Pix hyper-parameters among saved options (other keys, like batch size, are the trainer's). */
function pix2pixOptions(saved: Record<string, unknown>): Partial<Pix2PixOptions> {
  const out: Record<string, unknown> = {};
  for (const [k, def] of Object.entries(PIX2PIX_DEFAULTS)) {
    if (k in saved && typeof saved[k] === typeof def) out[k] = saved[k];
  }
  return out as Partial<Pix2PixOptions>;
}

/**
 * Rebuilds a Pix2Pix for `--resume`: configs, weights, and both optimizers with
 * their step counts and moments. `options` override the saved hyper-parameters
 * (e.g. a new learning rate). Parts the checkpoint lacks (a generator-only or
 * PyTorch file: no D, no optimizer state) start fresh, as in a new run; check
 * `ck.discriminator` / `ck.optimizerG` to tell.
 */
export function restorePix2Pix(ck: Checkpoint, options: Partial<Pix2PixOptions> = {}): Pix2Pix {
  const p = new Pix2Pix(ck.generatorConfig, ck.discriminatorConfig ?? {}, {
    ...pix2pixOptions(ck.options),
    ...options,
  });
  try {
    p.G.loadStateDict(ck.generator);
    if (ck.discriminator) p.D.loadStateDict(ck.discriminator);
    const load = (opt: Adam, owner: Module, s: OptimizerCheckpoint | undefined) => {
      if (!s) return;
      const names = owner.namedParameters().map(([n]) => n);
      opt.loadState({
        step: s.step,
        expAvg: names.map((n) => s.expAvg.get(n)!),
        expAvgSq: names.map((n) => s.expAvgSq.get(n)!),
      });
    };
    load(p.optG, p.G, ck.optimizerG);
    load(p.optD, p.D, ck.optimizerD);
    if (ck.generatorEma) p.enableEma(ck.emaDecay!, ck.generatorEma);
  } catch (e) {
    p.dispose();
    throw new Error(`${ck.source}: ${(e as Error).message}`);
  }
  return p;
}

/**
 * The image size the model was trained at, when the checkpoint records it
 * (train_state or options: `size`, `imageSize` or `image_size`; or metadata
 * `image_size`), so colorize can use the same resolution by default.
 */
export function checkpointImageSize(ck: Checkpoint): number | undefined {
  const candidates = [
    ck.train.size,
    ck.train.imageSize,
    ck.train.image_size,
    ck.options.size,
    ck.options.imageSize,
    ck.options.image_size,
    ck.metadata.image_size === undefined ? undefined : Number(ck.metadata.image_size),
  ];
  for (const v of candidates) if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  return undefined;
}
