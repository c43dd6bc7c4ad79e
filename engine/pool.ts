/**
 * A pool of GPU storage buffers. Freed buffers go back into a free list keyed by
 * size class and are handed out again, so a training loop allocates nothing new
 * after its first step.
 *
 * Reusing a buffer right after it is freed is safe even while commands that read
 * it are recorded but not submitted: all work goes through one queue in order.
 */

const USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

/**
 * Rounds a byte count up to a size class: powers of two split into 8 steps (at most 12.5% waste).
 * Classes are multiples of 16 bytes, which kernels that view buffers as array<vec4<f32>> rely on.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 4) * 4);
  if (b <= 256) return Math.ceil(b / 16) * 16;
  const top = 2 ** Math.floor(Math.log2(b));
  const step = top / 8;
  return Math.ceil(b / step) * step;
}

/** Counters that tests and benchmarks read to find leaks and peak memory. */
export interface MemoryInfo {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  /** Bytes in those buffers (size classes, not requested sizes). */
  liveBytes: number;
  /** Buffers waiting in the free lists. */
  pooledBuffers: number;
  /** Bytes in the free lists: memory held for reuse but not in use. */
  pooledBytes: number;
  /** Highest liveBytes seen since the last {@link BufferPool.resetPeak}. */
  peakBytes: number;
  /** Buffers ever created by the pool. */
  created: number;
}

/** Hands out storage buffers by size class and takes them back for reuse (see the module comment). */
export class BufferPool {
  #device: GPUDevice;
  #destroy: (b: GPUBuffer) => void;
  #free = new Map<number, GPUBuffer[]>();
  #live = 0;
  #liveBytes = 0;
  #pooled = 0;
  #pooledBytes = 0;
  #peak = 0;
  #created = 0;

  /** `destroy` is called for buffers the pool drops, so the runtime can defer it past pending submits. */
  constructor(device: GPUDevice, destroy: (b: GPUBuffer) => void) {
    this.#device = device;
    this.#destroy = destroy;
  }

  /** A buffer of at least `bytes` (its size class), reused from the free list when one is there. */
  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.#pooled--;
      this.#pooledBytes -= size;
    } else {
      buffer = this.#device.createBuffer({ size, usage: USAGE });
      this.#created++;
    }
    this.#live++;
    this.#liveBytes += size;
    if (this.#liveBytes > this.#peak) this.#peak = this.#liveBytes;
    return buffer;
  }

  /** Returns a buffer from {@link BufferPool.acquire} to its free list; it must not be used afterwards. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.#live--;
    this.#liveBytes -= size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buffer);
    this.#pooled++;
    this.#pooledBytes += size;
  }

  /** Destroys every pooled (free) buffer, returning their memory to the driver. */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) this.#destroy(b);
    this.#free.clear();
    this.#pooled = 0;
    this.#pooledBytes = 0;
  }

  /** Starts a new peak measurement from the current live bytes (e.g. before a benchmarked step). */
  resetPeak(): void {
    this.#peak = this.#liveBytes;
  }

  /** A snapshot of the pool's counters. */
  info(): MemoryInfo {
    return {
      liveBuffers: this.#live,
      liveBytes: this.#liveBytes,
      pooledBuffers: this.#pooled,
      pooledBytes: this.#pooledBytes,
      peakBytes: this.#peak,
      created: this.#created,
    };
  }
}
