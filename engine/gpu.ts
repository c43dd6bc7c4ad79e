/**
 * The GPU runtime: one device, a pipeline cache, and a command recorder that
 * batches every dispatch of a step into as few submits as possible.
 *
 * Only Web APIs are used here (navigator.gpu), so the same file runs in Deno
 * and in a browser.
 */

import { BufferPool } from "./pool.ts";
import { WG } from "../shaders/common.ts";
import type { Kernel, VariantValue } from "../shaders/kernel.ts";

/** Thrown when WebGPU or a usable adapter is missing. */
export class NoGpuError extends Error {
  /** `detail` says what was missing; the message adds how to install a software adapter. */
  constructor(detail: string) {
    super(
      `No WebGPU adapter: ${detail}. On Debian/Ubuntu install a software Vulkan adapter ` +
        `with "apt-get install -y mesa-vulkan-drivers" (Deno), or use a browser with WebGPU enabled.`,
    );
    this.name = "NoGpuError";
  }
}

/** Bytes reserved per dispatch in the uniform arena (minUniformBufferOffsetAlignment). */
const UNIFORM_SLOT = 256;
/** Dispatches recorded before an automatic submit; bounds memory held by pending work. */
const SLOTS_PER_SUBMIT = 1024;

/** What a launcher passes to {@link Runtime.dispatch} besides the kernel and its variant. */
export interface LaunchArgs<U extends string> {
  /** Storage buffers by binding name; an entry the variant does not bind must be left undefined. */
  buffers: { readonly [name: string]: GPUBuffer | undefined };
  /** The kernel's uniform fields by name. */
  uniforms: { readonly [name in U]: number };
  /** Workgroup counts [x, y?, z?]. */
  workgroups: readonly [number, number?, number?];
}

/**
 * GPU time of one kernel's dispatches while profiling; see {@link Runtime.startProfile}. (Spelled out
 * in stopProfile's signature, so mod.ts need not export it.)
 */
export interface KernelTime {
  /** The kernel's name (`defineKernel`'s `name`), or its pipeline key when grouped by variant. */
  name: string;
  /** Dispatches recorded while profiling. */
  dispatches: number;
  /** Sum of their GPU durations in milliseconds (a timestamp before and after each dispatch). */
  ms: number;
}

/** Timestamp pairs per query set; WebGPU allows at most 4096 queries in one set. */
const PROFILE_PAIRS = 2048;

/**
 * The opt-in profiler's state: a query set written around each dispatch, and the names of the
 * dispatches since the last submit, whose timestamps are read back after it.
 */
class Profiler {
  readonly querySet: GPUQuerySet;
  readonly resolve: GPUBuffer;
  /** Kernel name and pipeline key of each dispatch recorded since the last submit. */
  names: [string, string][] = [];
  readonly reads: Promise<void>[] = [];
  /** Nanoseconds and dispatches per kernel name, and per pipeline key. */
  readonly byName = new Map<string, { dispatches: number; ns: number }>();
  readonly byKey = new Map<string, { dispatches: number; ns: number }>();

  /** Whether the query set is used up, so the next dispatch must go in a new submit. */
  get full(): boolean {
    return this.names.length >= PROFILE_PAIRS;
  }

  constructor(readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: "timestamp", count: 2 * PROFILE_PAIRS });
    this.resolve = device.createBuffer({
      size: 16 * PROFILE_PAIRS,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Records the resolve of this submit's timestamps into a buffer to read after the submit. */
  resolveInto(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.names.length;
    if (n === 0) return null;
    const names = this.names;
    this.names = [];
    const bytes = 16 * n;
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolve, 0);
    encoder.copyBufferToBuffer(this.resolve, 0, staging, 0, bytes);
    return () => {
      this.reads.push(
        staging.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigUint64Array(staging.getMappedRange());
          for (let i = 0; i < n; i++) {
            // Timestamps are nanoseconds; a pair the implementation could not order reads as 0.
            const ns = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
            for (const [map, k] of [[this.byName, names[i][0]], [this.byKey, names[i][1]]] as const) {
              const e = map.get(k) ?? { dispatches: 0, ns: 0 };
              e.dispatches++;
              e.ns += ns;
              map.set(k, e);
            }
          }
          staging.unmap();
          staging.destroy();
        }),
      );
    };
  }

  destroy() {
    this.querySet.destroy();
    this.resolve.destroy();
  }
}

/** Workgroups for `threads` flat invocations as a 2-D grid within maxComputeWorkgroupsPerDimension. */
export function grid1d(threads: number): [number, number] {
  return grid(Math.ceil(threads / WG));
}

/** Splits `count` workgroups into a 2-D grid that respects maxComputeWorkgroupsPerDimension. */
export function grid(count: number): [number, number] {
  const max = 65535;
  if (count <= max) return [Math.max(1, count), 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}

/** The device with everything that is shared per device: pipelines, buffer pool, pending commands. */
export class Runtime {
  /** The WebGPU device every tensor and pipeline belongs to. */
  readonly device: GPUDevice;
  /** Human-readable adapter description, for logs and benchmark reports. */
  readonly adapterName: string;
  /** Where tensor buffers come from and go back to; also the source of memory statistics. */
  readonly pool: BufferPool;
  /** The adapter's maxStorageBufferBindingSize: no tensor may be larger than this many bytes. */
  readonly maxBindingBytes: number;
  #pipelines = new Map<string, GPUComputePipeline>();
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #uniformCpu = new Uint8Array(UNIFORM_SLOT * SLOTS_PER_SUBMIT);
  #uniformView = new DataView(this.#uniformCpu.buffer);
  #uniformGpu: GPUBuffer;
  #slots = 0;
  #afterSubmit: GPUBuffer[] = [];
  /** Number of queue submits so far (for tests and benchmarks). */
  submits = 0;
  /** Number of dispatches recorded so far. */
  dispatches = 0;
  /** Set while {@link startProfile} is timing dispatches; null otherwise (one test per dispatch). */
  #profiler: Profiler | null = null;

  /** Wraps a device; normally made once by {@link initGpu} rather than directly. */
  constructor(device: GPUDevice, adapterName: string) {
    this.device = device;
    this.adapterName = adapterName;
    this.maxBindingBytes = device.limits.maxStorageBufferBindingSize;
    this.pool = new BufferPool(device, (b) => this.destroyAfterSubmit(b));
    this.#uniformGpu = device.createBuffer({
      size: this.#uniformCpu.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /** The compiled pipeline for `key`, compiling `wgsl` (layout "auto") the first time it is seen. */
  pipeline(key: string, wgsl: string): GPUComputePipeline {
    let p = this.#pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: wgsl });
      p = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.#pipelines.set(key, p);
    }
    return p;
  }

  /** Number of compiled pipelines (each shader variant is compiled once). */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  #encoderNow(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    return this.#encoder;
  }

  #endPass() {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  /**
   * Records one dispatch of `kernel`'s `variant`; nothing is submitted until {@link flush} or a
   * readback. Buffers are bound by name in the kernel's binding order, uniforms packed by name.
   */
  dispatch<V extends VariantValue, U extends string>(
    kernel: Kernel<V, U>,
    variant: V,
    args: LaunchArgs<U>,
  ): void {
    if (this.#slots >= SLOTS_PER_SUBMIT || (this.#profiler && this.#profiler.full)) this.flush();
    const program = kernel.program(variant);
    const pipeline = this.pipeline(program.key, program.wgsl);
    const entries: GPUBindGroupEntry[] = program.bindings.map((name, binding) => {
      const buffer = args.buffers[name];
      if (!buffer) throw new Error(`kernel ${kernel.name}: no buffer given for binding "${name}"`);
      return { binding, resource: { buffer } };
    });
    let given = 0;
    for (const k in args.buffers) if (args.buffers[k]) given++;
    if (given !== entries.length) {
      const extra = Object.keys(args.buffers).filter((k) => args.buffers[k] && !program.bindings.includes(k));
      throw new Error(`kernel ${kernel.name}: buffers given that it does not bind: ${extra.join(", ")}`);
    }
    if (kernel.hasUniforms) {
      const offset = this.#slots++ * UNIFORM_SLOT;
      kernel.packUniforms(args.uniforms, this.#uniformView, offset);
      entries.push({
        binding: entries.length,
        resource: { buffer: this.#uniformGpu, offset, size: kernel.uniformBytes },
      });
    }
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries,
    });
    const [x, y = 1, z = 1] = args.workgroups;
    if (this.#profiler) {
      this.#profiledDispatch(this.#profiler, kernel.name, program.key, pipeline, bindGroup, x, y, z);
      return;
    }
    if (!this.#pass) this.#pass = this.#encoderNow().beginComputePass();
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, bindGroup);
    this.#pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
  }

  /** A dispatch alone in a compute pass whose start and end write timestamps. */
  #profiledDispatch(
    prof: Profiler,
    name: string,
    key: string,
    pipeline: GPUComputePipeline,
    bindGroup: GPUBindGroup,
    x: number,
    y: number,
    z: number,
  ) {
    const i = prof.names.length;
    prof.names.push([name, key]);
    this.#endPass();
    const pass = this.#encoderNow().beginComputePass({
      timestampWrites: {
        querySet: prof.querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.dispatches++;
  }

  /**
   * Starts timing every dispatch on the GPU, for finding where a step's time goes (the benchmark's
   * `--profile`). Each dispatch then runs in a compute pass of its own with a timestamp at its start
   * and end, which costs a little time per dispatch; nothing else changes. Needs a device with the
   * "timestamp-query" feature: `initGpu({ timestampQuery: true })`. Off by default.
   */
  startProfile(): void {
    if (this.#profiler) throw new Error("startProfile: already profiling");
    if (!this.device.features.has("timestamp-query")) {
      throw new Error(
        'startProfile: the device lacks the "timestamp-query" feature (request it with ' +
          "initGpu({ timestampQuery: true }); the adapter must offer it)",
      );
    }
    this.flush();
    this.#profiler = new Profiler(this.device);
  }

  /**
   * Stops timing, waits for the GPU, and returns the GPU time per kernel name and per pipeline key
   * (a kernel's variant), largest first.
   */
  async stopProfile(): Promise<{
    kernels: { name: string; dispatches: number; ms: number }[];
    variants: { name: string; dispatches: number; ms: number }[];
  }> {
    const prof = this.#profiler;
    if (!prof) throw new Error("stopProfile: not profiling");
    this.flush();
    this.#profiler = null;
    await Promise.all(prof.reads);
    prof.destroy();
    const list = (map: Map<string, { dispatches: number; ns: number }>) =>
      [...map].map(([name, e]) => ({ name, dispatches: e.dispatches, ms: e.ns / 1e6 }))
        .sort((a, b) => b.ms - a.ms);
    return { kernels: list(prof.byName), variants: list(prof.byKey) };
  }

  /** Records a buffer-to-buffer copy in order with the dispatches around it. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number) {
    this.#endPass();
    this.#encoderNow().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Uploads data into `dst` in order with pending work (a staging buffer, not queue.writeBuffer,
   * because writeBuffer would overtake dispatches that are recorded but not yet submitted). */
  upload(dst: GPUBuffer, data: Float32Array, dstOffset = 0) {
    const bytes = Math.ceil(data.byteLength / 4) * 4;
    if (bytes === 0) return;
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    new Float32Array(staging.getMappedRange()).set(data);
    staging.unmap();
    this.copy(staging, 0, dst, dstOffset, bytes);
    this.#afterSubmit.push(staging);
  }

  /** A buffer that may still be used by recorded commands is destroyed only after they are submitted. */
  destroyAfterSubmit(buffer: GPUBuffer) {
    if (this.#encoder) this.#afterSubmit.push(buffer);
    else buffer.destroy();
  }

  /** Submits everything recorded so far in one command buffer. */
  flush(): void {
    this.#endPass();
    if (this.#encoder) {
      const readTimes = this.#profiler?.resolveInto(this.#encoder);
      if (this.#slots > 0) {
        this.device.queue.writeBuffer(
          this.#uniformGpu,
          0,
          this.#uniformCpu,
          0,
          this.#slots * UNIFORM_SLOT,
        );
      }
      this.device.queue.submit([this.#encoder.finish()]);
      this.submits++;
      this.#encoder = null;
      this.#slots = 0;
      readTimes?.();
    }
    for (const b of this.#afterSubmit) b.destroy();
    this.#afterSubmit = [];
  }

  /** Copies `bytes` of `src` back to the CPU; submits pending work first. */
  async read(src: GPUBuffer, bytes: number, srcOffset = 0): Promise<Float32Array> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      size: Math.max(4, size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    if (size > 0) this.copy(src, srcOffset, staging, 0, size);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0, size));
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Resolves when all submitted work has finished on the GPU. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }
}

let current: Runtime | null = null;
let pending: Promise<Runtime> | null = null;

/**
 * Returns the shared runtime, requesting an adapter and device on first use.
 * Throws {@link NoGpuError} with installation advice when WebGPU is unavailable.
 */
export function initGpu(
  options: {
    powerPreference?: GPUPowerPreference;
    /** Request "timestamp-query" when the adapter offers it, for {@link Runtime.startProfile}. */
    timestampQuery?: boolean;
  } = {},
): Promise<Runtime> {
  if (current) return Promise.resolve(current);
  if (!pending) {
    pending = (async () => {
      const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
      if (!gpu) throw new NoGpuError("navigator.gpu is undefined");
      const adapter = await gpu.requestAdapter({
        powerPreference: options.powerPreference ?? "high-performance",
      });
      if (!adapter) throw new NoGpuError("navigator.gpu.requestAdapter() returned null");
      const limits = adapter.limits;
      const timestamps = options.timestampQuery && adapter.features.has("timestamp-query");
      const device = await adapter.requestDevice({
        ...(timestamps ? { requiredFeatures: ["timestamp-query" as GPUFeatureName] } : {}),
        requiredLimits: {
          maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
          maxBufferSize: limits.maxBufferSize,
          maxStorageBuffersPerShaderStage: Math.min(8, limits.maxStorageBuffersPerShaderStage),
          maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
          maxComputeInvocationsPerWorkgroup: Math.min(
            256,
            limits.maxComputeInvocationsPerWorkgroup,
          ),
        },
      });
      device.addEventListener("uncapturederror", (e) => {
        // Ops validate shapes before dispatch, so reaching this is an engine bug: make it loud.
        console.error("WebGPU error:", (e as GPUUncapturedErrorEvent).error.message);
      });
      const info = adapter.info;
      const name = info?.description || info?.device || info?.vendor || "unknown adapter";
      current = new Runtime(device, name);
      return current;
    })();
    pending.catch(() => (pending = null));
  }
  return pending;
}

/** The runtime after {@link initGpu} has resolved; throws if it has not been called. */
export function runtime(): Runtime {
  if (!current) {
    throw new Error("GPU not initialised: call and await initGpu() before creating tensors");
  }
  return current;
}
