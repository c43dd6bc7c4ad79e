/**
 * Autotuning: choosing, per adapter, op and shape, among kernels that compute the same thing
 * (register-tiled or shared-memory tiled matmul and convolutions) by timing them once.
 *
 * Which kernel is fastest depends on the adapter: on lavapipe (a CPU) workgroup barriers are
 * expensive and the register-tiled kernels win; on real GPUs shared-memory tiling usually does.
 * So nothing is assumed: with tuning on, the first time an op meets a shape it runs its default
 * kernel and queues the shape; {@link Autotuner.tune} (awaited by the caller at a safe point,
 * between steps) then times every candidate on inputs of that shape and records the fastest. Later
 * calls of that shape use the recorded choice: one map lookup, no timing.
 *
 * Why not time on first use? An op is called while a step is being recorded: its dispatch must be
 * recorded then, in order, and the GPU has not run anything yet, so there is nothing to time
 * until the step is submitted. Deciding at a safe point keeps every step exactly as it would be
 * without tuning (the default kernel, recorded in place), and the timings free of other work:
 * `tune` first waits for all submitted work, then times each candidate in its own submits.
 *
 * Tuning is off by default, and then every op picks exactly the kernel it always did. Choices are
 * keyed by the adapter's description and {@link ENGINE_VERSION} (a new version may change the
 * kernels), serialisable with {@link Autotuner.toJSON} and {@link Autotuner.load}; the CLI keeps
 * them in a small JSON file (cli/tune_cache.ts). Web APIs only: the same code tunes in a browser.
 */

import { runtime } from "./gpu.ts";

/** The engine's version (deno.json's `version`); part of every tuning key, since versions change kernels. */
export const ENGINE_VERSION = "0.1.0";

/**
 * Inputs of one op and shape, made by the op when {@link Autotuner.tune} times its candidates:
 * the op's own buffers are not kept (they may be gone by then), so the bench allocates its own.
 */
export interface TuneBench {
  /** Records one launch of the named candidate (no submit); throws if it cannot run this shape. */
  run(candidate: string): void;
  /** Frees the bench's buffers. */
  dispose(): void;
}

/** One decision: the op, its shape key, the candidate chosen and what each candidate took. */
export interface TuneResult {
  /** The op's tuning name, e.g. `matmul`, `conv`, `convTranspose`. */
  op: string;
  /** The op's shape key (sizes and flags that select the kernels), e.g. `64x128x32 tA bias`. */
  shape: string;
  /** The chosen candidate's name. */
  choice: string;
  /**
   * Milliseconds per launch (best timed batch) by candidate; null where a candidate failed to run.
   */
  ms: Record<string, number | null>;
}

/** The stored form of a decision (a {@link TuneResult} without the key). */
export interface AutotuneEntry {
  /** The chosen candidate's name. */
  choice: string;
  /** Milliseconds per launch by candidate, as measured (null: failed to run). */
  ms: Record<string, number | null>;
}

/** Decisions as JSON: adapter description → engine version → `"op shape"` → entry. */
export interface AutotuneCache {
  /** Format of this object; 1. */
  format: 1;
  /** The decisions, by adapter description, then {@link ENGINE_VERSION}, then op and shape. */
  adapters: { [adapter: string]: { [version: string]: { [key: string]: AutotuneEntry } } };
}

/** How {@link Autotuner.tune} times candidates. */
export interface TuneOptions {
  /** Timed batches per candidate (after one untimed warm-up launch); the best batch counts. */
  batches: number;
  /** Stop timing a candidate after this many milliseconds (at least one batch is timed). */
  budgetMs: number;
  /** How long a timed batch of launches should last (judged by the default candidate). */
  batchMs: number;
  /**
   * A candidate replaces the default only if it is faster by more than this fraction, so noise
   * never swaps in a kernel that is not really faster.
   */
  margin: number;
}

interface Pending {
  op: string;
  shape: string;
  candidates: readonly string[];
  bench: () => TuneBench;
  table: Map<string, AutotuneEntry>;
}

/** Chooses among an op's candidate kernels per adapter and shape; see the file comment. */
export class Autotuner {
  /**
   * Whether ops consult the tuner: use recorded choices and queue unknown shapes for {@link tune}.
   * Off by default: every op then runs its default kernel, exactly as without a tuner.
   */
  enabled = false;
  /** How candidates are timed. */
  readonly options: TuneOptions = { batches: 3, budgetMs: 1000, batchMs: 50, margin: 0.05 };
  /** Candidate launches timed so far (tests check that a cached choice times nothing). */
  timedLaunches = 0;
  /** Calls answered from a recorded choice. */
  hits = 0;
  /** adapter + "\n" + version → ("op shape" → entry). */
  #tables = new Map<string, Map<string, AutotuneEntry>>();
  #pending = new Map<string, Pending>();

  #table(adapter: string, version = ENGINE_VERSION): Map<string, AutotuneEntry> {
    const id = `${adapter}\n${version}`;
    let t = this.#tables.get(id);
    if (!t) this.#tables.set(id, t = new Map());
    return t;
  }

  /**
   * For ops: the candidate to run for `op` at `shape` on this adapter. `candidates[0]` is the
   * default, returned (and the shape queued for {@link tune}, with `bench` to make its inputs)
   * until a choice is recorded. Call only when {@link enabled}.
   */
  choose<C extends string>(op: string, shape: string, candidates: readonly C[], bench: () => TuneBench): C {
    const key = `${op} ${shape}`;
    const table = this.#table(runtime().adapterName);
    const choice = table.get(key)?.choice as C | undefined;
    if (choice !== undefined && candidates.includes(choice)) {
      this.hits++;
      return choice;
    }
    if (!this.#pending.has(key)) this.#pending.set(key, { op, shape, candidates, bench, table });
    return candidates[0];
  }

  /** Number of op shapes met since the last {@link tune} that have no recorded choice yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Times the candidates of every queued shape and records the fastest. Waits for all submitted
   * work first and submits its own launches, so call it between steps (awaited, recording nothing
   * meanwhile). Each candidate gets an untimed warm-up launch (pipeline compilation), then up to
   * {@link TuneOptions.batches} timed batches, each submitted alone and timed until the GPU
   * reports it done (`onSubmittedWorkDone`); the best batch counts. A batch holds as many launches
   * as make the default's last {@link TuneOptions.batchMs} (at most 64), the same number for every
   * candidate, so that each carries the same share of the submit overhead (~10 ms per submit on
   * lavapipe). Timing stops early for a candidate 3× slower than the best so far. A candidate that
   * raises a WebGPU error (say, it needs more workgroup memory than the adapter has) or cannot run
   * the shape is left out. Needs as much free GPU memory again as the largest queued op's inputs
   * and output.
   */
  async tune(): Promise<TuneResult[]> {
    const rt = runtime();
    const results: TuneResult[] = [];
    await rt.sync();
    for (const [key, job] of [...this.#pending]) {
      this.#pending.delete(key);
      const ms: Record<string, number | null> = {};
      const bench = job.bench();
      let per = 0;
      try {
        for (const name of job.candidates) {
          const best = Math.min(...Object.values(ms).map((v) => v ?? Infinity));
          [ms[name], per] = await this.#time(bench, name, best, per);
        }
      } finally {
        bench.dispose();
      }
      const def = job.candidates[0];
      let choice = def;
      for (const name of job.candidates.slice(1)) {
        const t = ms[name], tc = ms[choice], td = ms[def];
        if (t !== null && (tc === null || t < tc) && (td === null || t < td * (1 - this.options.margin))) {
          choice = name;
        }
      }
      job.table.set(key, { choice, ms });
      results.push({ op: job.op, shape: job.shape, choice, ms });
    }
    await rt.sync();
    return results;
  }

  /**
   * Milliseconds per launch of `name` (best batch), or null if it raised an error, and the
   * launches per batch: `per`, or when `per` is 0 (the first candidate) as many as make a batch
   * last {@link TuneOptions.batchMs} judging by its first batch of one launch.
   */
  async #time(
    bench: TuneBench,
    name: string,
    bestSoFar: number,
    per: number,
  ): Promise<[number | null, number]> {
    const rt = runtime();
    const device = rt.device;
    device.pushErrorScope("validation");
    device.pushErrorScope("internal");
    let failed = false;
    try {
      bench.run(name);
    } catch {
      failed = true;
    }
    // The warm-up is never timed: it includes compiling the pipeline, which can take seconds on a
    // software adapter (SwiftShader: up to ~20 s for the 64-wide shared-memory conv kernels) and
    // happens once, while the launch itself may be fast.
    await rt.sync();
    const errors = [await device.popErrorScope(), await device.popErrorScope()];
    if (failed || errors.some((e) => e !== null)) return [null, per];
    let best = Infinity, spent = 0;
    for (let i = 0; i < this.options.batches; i++) {
      const n = per || 1;
      const t0 = performance.now();
      for (let j = 0; j < n; j++) bench.run(name);
      await rt.sync();
      const dt = performance.now() - t0;
      this.timedLaunches += n;
      spent += dt;
      best = Math.min(best, dt / n);
      per ||= Math.max(1, Math.min(64, Math.ceil(this.options.batchMs / Math.max(dt, 0.01))));
      // Clearly slower than a candidate already timed, or out of time: more batches change nothing.
      if (spent >= this.options.budgetMs || best > 3 * bestSoFar) break;
    }
    return [best, per || 1];
  }

  /** The recorded choice for `op` at `shape` on this adapter and engine version, if any. */
  choice(op: string, shape: string): string | undefined {
    return this.#table(runtime().adapterName).get(`${op} ${shape}`)?.choice;
  }

  /**
   * Records a choice by hand for this adapter (to pin a candidate, or in tests); `ms` is left
   * empty. The op uses it if it is one of its candidates.
   */
  set(op: string, shape: string, choice: string): void {
    const key = `${op} ${shape}`;
    this.#table(runtime().adapterName).set(key, { choice, ms: {} });
    this.#pending.delete(key);
  }

  /** Every recorded decision, of every adapter and version loaded or tuned, as JSON. */
  toJSON(): AutotuneCache {
    const adapters: AutotuneCache["adapters"] = {};
    for (const [id, table] of this.#tables) {
      if (table.size === 0) continue;
      const [adapter, version] = id.split("\n");
      const entries = ((adapters[adapter] ??= {})[version] ??= {});
      for (const [key, e] of table) entries[key] = { choice: e.choice, ms: { ...e.ms } };
    }
    return { format: 1, adapters };
  }

  /**
   * Adds the decisions of `cache` (from {@link toJSON}, maybe of other adapters and versions; only
   * this adapter's and this version's are used) to the recorded ones, replacing equal keys.
   * Malformed parts are skipped: this is a cache, and a skipped entry is only tuned again.
   * Returns the number of entries taken.
   */
  load(cache: unknown): number {
    let n = 0;
    const obj = (v: unknown): v is Record<string, unknown> =>
      typeof v === "object" && v !== null && !Array.isArray(v);
    if (!obj(cache) || cache.format !== 1 || !obj(cache.adapters)) return 0;
    for (const [adapter, versions] of Object.entries(cache.adapters)) {
      if (!obj(versions)) continue;
      for (const [version, entries] of Object.entries(versions)) {
        if (!obj(entries)) continue;
        const table = this.#table(adapter, version);
        for (const [key, e] of Object.entries(entries)) {
          if (!obj(e) || typeof e.choice !== "string") continue;
          const ms: Record<string, number | null> = {};
          if (obj(e.ms)) {
            for (const [c, t] of Object.entries(e.ms)) if (typeof t === "number" || t === null) ms[c] = t;
          }
          table.set(key, { choice: e.choice, ms });
          n++;
        }
      }
    }
    return n;
  }

  /** Forgets every decision and queued shape (counters too). */
  clear(): void {
    this.#tables.clear();
    this.#pending.clear();
    this.timedLaunches = 0;
    this.hits = 0;
  }
}

/** The tuner the ops consult (one per engine, like the runtime). */
export const autotuner: Autotuner = new Autotuner();

/**
 * Turns tuning on, runs `warmUp` (say one training step or one forward pass: the ops queue their
 * shapes and run their default kernels) and times the queued shapes' candidates. Afterwards the
 * ops use the choices; returns the decisions made.
 */
export async function autotune(warmUp: () => unknown): Promise<TuneResult[]> {
  autotuner.enabled = true;
  await warmUp();
  return await autotuner.tune();
}
