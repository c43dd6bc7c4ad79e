/**
 * f32 tensors in GPU storage buffers, NCHW, with the bookkeeping autodiff needs:
 * which op made a tensor, from which inputs, and how to send gradients back.
 */

import { runtime } from "./gpu.ts";

/** How an op sends the gradient of its output back to its inputs. */
export interface GradNode {
  /** Name of the op that made the output, for error messages and graph dumps. */
  op: string;
  /** The op's tensor inputs, in the order `backward` returns their gradients. */
  inputs: Tensor[];
  /** Returns one gradient per input (null where not needed); `needs[i]` says whether input i wants one. */
  backward(grad: Tensor, needs: boolean[]): (Tensor | null)[];
}

/** A GPU buffer shared by a tensor and its views (reshape, detach), freed when the last one is disposed. */
export class Storage {
  /** The pooled buffer; null once the last reference has been released. */
  buffer: GPUBuffer | null;
  /** Tensors (the original and its views) still sharing this buffer. */
  refs = 1;
  /** Takes ownership of a buffer acquired from the runtime's pool, with one reference. */
  constructor(buffer: GPUBuffer) {
    this.buffer = buffer;
  }
  /** Drops one reference; the last one returns the buffer to the pool for reuse. */
  release(): void {
    if (--this.refs === 0 && this.buffer) {
      runtime().pool.release(this.buffer);
      this.buffer = null;
    }
  }
}

let liveTensors = 0;
/** Number of tensors created and not yet disposed. */
export function liveTensorCount(): number {
  return liveTensors;
}

/** Formats a shape the way error messages show it: [2, 3, 8, 8]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function checkShape(shape: readonly number[], where: string) {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${where}: invalid shape ${fmtShape(shape)}`);
    }
  }
}

/** An f32 tensor living in a GPU buffer. */
export class Tensor {
  /** Dimensions, NCHW for images; frozen so views can share it safely. */
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
  /** Whether gradients flow to this tensor. Set to false on a parameter to freeze it. */
  requiresGrad = false;
  /** Gradient accumulated by {@link backward} on leaf tensors (parameters). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it is part of a graph. */
  node: GradNode | null = null;
  #storage: Storage | null;

  /** Wraps a buffer; use {@link Tensor.empty}, {@link tensor} or an op instead. */
  constructor(shape: readonly number[], storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.size = shape.reduce((a, b) => a * b, 1);
    this.#storage = storage;
    liveTensors++;
    track(this);
  }

  /** An uninitialised tensor with a pooled buffer. */
  static empty(shape: readonly number[], op = "empty"): Tensor {
    checkShape(shape, op);
    const size = shape.reduce((a, b) => a * b, 1);
    const rt = runtime();
    const bytes = size * 4;
    if (bytes > rt.maxBindingBytes) {
      throw new Error(
        `${op}: tensor of shape ${fmtShape(shape)} needs ${bytes} bytes, more than this adapter's ` +
          `maxStorageBufferBindingSize (${rt.maxBindingBytes}); use a smaller batch or image`,
      );
    }
    return new Tensor(shape, new Storage(rt.pool.acquire(bytes)));
  }

  /** The GPU buffer; throws if the tensor was disposed. */
  get buffer(): GPUBuffer {
    const b = this.#storage?.buffer;
    if (!b) throw new Error(`use of a disposed tensor of shape ${fmtShape(this.shape)}`);
    return b;
  }

  /** Whether {@link Tensor.dispose} has run; a disposed tensor can no longer be read or used by ops. */
  get disposed(): boolean {
    return this.#storage === null;
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** A tensor sharing this one's buffer with another shape (no copy, no graph). */
  view(shape: readonly number[]): Tensor {
    const s = this.#storage;
    if (!s?.buffer) throw new Error(`use of a disposed tensor of shape ${fmtShape(this.shape)}`);
    s.refs++;
    return new Tensor(shape, s);
  }

  /** A tensor sharing this buffer that gradients do not flow through. */
  detach(): Tensor {
    return this.view(this.shape);
  }

  /** Frees the buffer (back to the pool). Safe to call twice. */
  dispose(): void {
    if (!this.#storage) return;
    this.#storage.release();
    this.#storage = null;
    liveTensors--;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Copies the values back to the CPU (submits pending GPU work). */
  async data(): Promise<Float32Array> {
    const out = await runtime().read(this.buffer, this.size * 4);
    return out.length === this.size ? out : out.subarray(0, this.size);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor has shape ${fmtShape(this.shape)}, not one element`);
    return (await this.data())[0];
  }

  /** A short description (shape and grad flag) for logs; never reads the GPU. */
  toString(): string {
    return `Tensor${fmtShape(this.shape)}${this.requiresGrad ? " requiresGrad" : ""}`;
  }
}

/** Creates a tensor from values (copied to the GPU in order with pending work). */
export function tensor(data: ArrayLike<number>, shape?: readonly number[]): Tensor {
  const shp = shape ?? [data.length];
  const size = shp.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new Error(`tensor: ${data.length} values do not fill shape ${fmtShape(shp)}`);
  }
  const t = Tensor.empty(shp, "tensor");
  runtime().upload(t.buffer, data instanceof Float32Array ? data : Float32Array.from(data));
  return t;
}

// ---------------------------------------------------------------------------
// Scopes: free every intermediate tensor created inside, like tf.tidy.

const scopes: Set<Tensor>[] = [];

function track(t: Tensor) {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes tensors from the enclosing scopes so that {@link tidy} does not free them. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/**
 * What {@link tidy} may return: tensors, possibly nested in arrays and plain
 * objects, or plain values. Tensors found in the result survive the scope.
 */
export type Kept =
  | Tensor
  | Kept[]
  | { [k: string]: Kept }
  | number
  | string
  | boolean
  | null
  | undefined
  | void;

function collect(value: unknown, out: Set<Tensor>) {
  if (value instanceof Tensor) out.add(value);
  else if (Array.isArray(value)) { for (const v of value) collect(v, out); }
  else if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out);
  }
}

function closeScope(scope: Set<Tensor>, result: unknown) {
  const returned = new Set<Tensor>();
  collect(result, returned);
  scopes.pop();
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns
 * (in an array or plain object too) and those passed to {@link keep}.
 */
export function tidy<T extends Kept>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(scope, undefined);
    throw e;
  }
  closeScope(scope, result);
  return result;
}

/** Async form of {@link tidy}: the scope stays open across awaits, so do not interleave two. */
export async function tidyAsync<T extends Kept>(fn: () => Promise<T>): Promise<T> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    closeScope(scope, undefined);
    throw e;
  }
  closeScope(scope, result);
  return result;
}
