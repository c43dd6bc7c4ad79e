/**
 * How every compute kernel is defined: a name, its storage bindings, its named uniform fields and
 * a WGSL body, all for one *variant* (whatever the body's generator is specialised on: a tile size,
 * an expression, whether a bias is bound). From that one definition come
 *  - the WGSL preamble (the `@binding` declarations and `struct P`, so they cannot drift from the
 *    buffers and numbers a launcher passes),
 *  - the uniform packing, by field name (a missing or unknown field is an error, not a shifted value),
 *  - the pipeline cache key: the kernel's name plus the whole variant, so no field of a variant can
 *    be forgotten in the key.
 *
 * Generated sources are memoised per name + variant, so a training step never rebuilds a string.
 * This file only builds text; the runtime (engine/gpu.ts) compiles and dispatches. The idea follows
 * TensorFlow.js's WebGPU programs, each of which owns its shader key and uniforms.
 */

/** The scalar types a uniform field may have. */
export type UniformType = "u32" | "i32" | "f32";

/** One storage buffer of a kernel, bound in declaration order. */
export interface StorageBinding {
  /** The WGSL variable name; launchers pass buffers under this name. */
  name: string;
  /** Element type of the `array<…>` (default `f32`). */
  type: string;
  /** Whether the kernel writes it (`read_write`) or only reads it (`read`). */
  write: boolean;
}

/** A read-only storage binding `name: array<type>`. */
export function read(name: string, type = "f32"): StorageBinding {
  return { name, type, write: false };
}

/** A writable storage binding `name: array<type>`. */
export function write(name: string, type = "f32"): StorageBinding {
  return { name, type, write: true };
}

/**
 * What a variant may be made of: JSON-like values (strings, numbers, booleans, arrays and plain
 * objects of them), since the whole variant becomes part of the cache key (see {@link variantKey}).
 * Interfaces are welcome, which is why this is not a recursive index-signature type.
 */
export type VariantValue = unknown;

/** What {@link defineKernel} takes. `V` is the variant; `U` names the uniform fields. */
export interface KernelSpec<V extends VariantValue, U extends string> {
  /** Unique among all kernels; the first half of every cache key. */
  name: string;
  /** Storage bindings in binding order; the uniform block `p` is bound after them. */
  bindings: readonly StorageBinding[] | ((variant: V) => readonly StorageBinding[]);
  /** Uniform fields of `struct P` in order, read in WGSL as `p.NAME`; padded to 16 bytes here. */
  uniforms: { readonly [name in U]: UniformType };
  /** The WGSL after the preamble: helpers and `fn main`, the entry point. */
  body: (variant: V) => string;
}

/** A compiled-once program: the full WGSL and the bindings of one variant. */
export interface KernelProgram {
  /** Pipeline cache key: `name` and the variant. */
  key: string;
  /** Complete WGSL source. */
  wgsl: string;
  /** Storage binding names in binding order. */
  bindings: readonly string[];
}

/** Bytes of one uniform field; WGSL uniform structs are sized in multiples of 16 bytes. */
const FIELD = 4;

const names = new Set<string>();

/** A kernel definition: see the file comment. Made by {@link defineKernel}. */
export class Kernel<V extends VariantValue = undefined, U extends string = string> {
  /** The kernel's unique name. */
  readonly name: string;
  readonly #spec: KernelSpec<V, U>;
  readonly #fields: readonly [U, UniformType][];
  readonly #programs = new Map<string, KernelProgram>();

  /** Use {@link defineKernel}. */
  constructor(spec: KernelSpec<V, U>) {
    if (names.has(spec.name)) throw new Error(`defineKernel: a kernel named "${spec.name}" already exists`);
    names.add(spec.name);
    this.name = spec.name;
    this.#spec = spec;
    this.#fields = Object.entries(spec.uniforms) as [U, UniformType][];
    // The runtime gives each dispatch a 256-byte uniform slot (minUniformBufferOffsetAlignment).
    if (this.#fields.length > 64) throw new Error(`defineKernel ${spec.name}: more than 64 uniform fields`);
  }

  /** The program of `variant`, generated the first time that variant is seen. */
  program(variant: V): KernelProgram {
    const vk = variantKey(variant);
    let p = this.#programs.get(vk);
    if (!p) {
      const b = this.#spec.bindings;
      const bindings = typeof b === "function" ? b(variant) : b;
      p = {
        key: vk === "" ? this.name : `${this.name}|${vk}`,
        wgsl: this.#preamble(bindings) + this.#spec.body(variant),
        bindings: bindings.map((s) => s.name),
      };
      this.#programs.set(vk, p);
    }
    return p;
  }

  /** Whether the kernel has a uniform block. */
  get hasUniforms(): boolean {
    return this.#fields.length > 0;
  }

  /** Packs `values` by field name into `view` (at least {@link uniformBytes} long). */
  packUniforms(values: { readonly [name in U]: number }, view: DataView, offset: number): void {
    const given = Object.keys(values).length;
    if (given !== this.#fields.length) {
      const unknown = Object.keys(values).filter((k) => !(k in this.#spec.uniforms));
      const missing = this.#fields.map(([f]) => f).filter((f) => !(f in values));
      throw new Error(
        `kernel ${this.name}: uniforms ${unknown.length ? `unknown: ${unknown.join(", ")}` : ""}${
          missing.length ? ` missing: ${missing.join(", ")}` : ""
        }`,
      );
    }
    let o = offset;
    for (const [field, type] of this.#fields) {
      const v = values[field];
      if (v === undefined) throw new Error(`kernel ${this.name}: uniform ${field} missing`);
      if (type === "f32") view.setFloat32(o, v, true);
      else if (type === "u32") view.setUint32(o, v, true);
      else view.setInt32(o, v, true);
      o += FIELD;
    }
  }

  /** Size of the uniform block in bytes (a multiple of 16). */
  get uniformBytes(): number {
    return Math.ceil(this.#fields.length / 4) * 16;
  }

  #preamble(bindings: readonly StorageBinding[]): string {
    const lines = bindings.map((s, k) =>
      `@group(0) @binding(${k}) var<storage, ${s.write ? "read_write" : "read"}> ${s.name}: array<${s.type}>;`
    );
    if (this.#fields.length > 0) {
      const fields = this.#fields.map(([f, t]) => `${f}: ${t}`);
      for (let k = 0; fields.length % 4 !== 0; k++) fields.push(`pad${k}_: u32`);
      lines.push(`struct P { ${fields.join(", ")} }`);
      lines.push(`@group(0) @binding(${bindings.length}) var<uniform> p: P;`);
    }
    return lines.join("\n") + "\n";
  }
}

/** Defines a kernel; see the file comment. Names must be unique. */
export function defineKernel<V extends VariantValue = undefined, U extends string = never>(
  spec: KernelSpec<V, U>,
): Kernel<V, U> {
  return new Kernel(spec);
}

/** A deterministic text for a variant: object keys sorted, so equal variants give equal keys. */
export function variantKey(v: VariantValue): string {
  if (v === undefined) return "";
  if (v === null || typeof v !== "object") {
    if (typeof v === "function" || typeof v === "symbol") {
      throw new Error("variantKey: not a JSON-like value");
    }
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(variantKey).join(",")}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  return `{${keys.map((k) => `${k}:${variantKey(o[k])}`).join(",")}}`;
}
