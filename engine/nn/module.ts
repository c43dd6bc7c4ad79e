/**
 * A small module system shaped like PyTorch's nn.Module: parameters, buffers
 * and children registered by name, so `namedParameters()` and `stateDict()`
 * produce the dotted names a PyTorch `state_dict` has.
 */

import { keep, type Tensor } from "../tensor.ts";
import { assign } from "../ops/buffers.ts";
import { runtime } from "../gpu.ts";
import { fmtShape } from "../tensor.ts";

/** Base class of all layers and models. Subclasses register parts in their constructor and implement `forward`. */
export abstract class Module {
  /** Training mode (batch statistics, dropout on) or evaluation mode. */
  training = true;
  #params = new Map<string, Tensor>();
  #buffers = new Map<string, Tensor>();
  #children = new Map<string, Module>();

  /** Computes the module's output. */
  abstract forward(x: Tensor): Tensor;

  /** Registers a trainable tensor; it is kept out of `tidy` scopes and requires grad. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.#params.set(name, keep(t));
    return t;
  }

  /** Registers a non-trainable state tensor (running statistics) that belongs in the state dict. */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, keep(t));
    return t;
  }

  /** Registers a child module under `name` (a number for Sequential-style lists). */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Direct children with their names. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** Parameters with dotted names, in registration order (own first, then children's). */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.#params) out.push([prefix + n, p]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** All parameters, in the order of {@link namedParameters}. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Buffers (running statistics) with dotted names. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this.#buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /**
   * Parameters and buffers by dotted name, ordered as PyTorch's state_dict:
   * per module its parameters, then its buffers, then its children.
   */
  stateDict(prefix = ""): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, p] of this.#params) out.set(prefix + n, p);
    for (const [n, b] of this.#buffers) out.set(prefix + n, b);
    for (const [n, c] of this.#children) for (const [k, v] of c.stateDict(`${prefix}${n}.`)) out.set(k, v);
    return out;
  }

  /**
   * Copies values into the module's tensors by name. Every tensor of the module
   * must be present with the right size unless `strict` is false; unknown names
   * are an error too when strict.
   */
  loadStateDict(values: Map<string, Float32Array> | Record<string, Float32Array>, strict = true): void {
    const src = values instanceof Map ? values : new Map(Object.entries(values));
    const own = this.stateDict();
    const rt = runtime();
    for (const [name, t] of own) {
      const v = src.get(name);
      if (!v) {
        if (strict) throw new Error(`loadStateDict: missing tensor "${name}" ${fmtShape(t.shape)}`);
        continue;
      }
      if (v.length !== t.size) {
        throw new Error(
          `loadStateDict: "${name}" has ${v.length} values, the module expects ${
            fmtShape(t.shape)
          } (${t.size})`,
        );
      }
      rt.upload(t.buffer, v);
    }
    if (strict) {
      const extra = [...src.keys()].filter((k) => !own.has(k));
      if (extra.length) throw new Error(`loadStateDict: unexpected tensors ${extra.slice(0, 5).join(", ")}`);
    }
  }

  /** Copies every parameter and buffer from a module of the same structure. */
  copyFrom(other: Module): void {
    const theirs = other.stateDict();
    for (const [name, t] of this.stateDict()) {
      const s = theirs.get(name);
      if (!s) throw new Error(`copyFrom: other module has no "${name}"`);
      assign(t, s);
    }
  }

  /** Sets training mode here and in all children. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.#children.values()) c.train(mode);
    return this;
  }

  /** Sets evaluation mode (running statistics, no dropout). */
  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes (true) every parameter: frozen ones get no gradient. */
  requiresGrad(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Number of trainable values. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}

/** Runs children in order; they are named "0", "1", … as in torch.nn.Sequential. */
export class Sequential extends Module {
  /** The children in call order (also registered as submodules "0", "1", …). */
  readonly layers: Module[];
  /** Registers each layer under its index, so state-dict names match PyTorch's. */
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  /** Feeds `x` through every layer in turn. */
  forward(x: Tensor): Tensor {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}
