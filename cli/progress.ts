/**
 * A dependency-free progress bar. On a terminal it redraws one line in place
 * (`\r`); anywhere else (CI logs, pipes, files) it prints a plain line every
 * few seconds or every 10% so logs stay readable instead of filling with
 * carriage returns. Throughput and ETA come from an exponential moving
 * average, so one slow step (a checkpoint, a shader compile) does not swing
 * the estimate for long.
 */

/** Where the bar writes: Deno.stdout / Deno.stderr fit, as does a test double. */
export interface ProgressStream {
  writeSync(p: Uint8Array): number;
  isTerminal?(): boolean;
}

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  /** Units (e.g. images) that make 100%. */
  total: number;
  /** Text in front of the bar, e.g. "epoch 2/10". */
  label?: string;
  /** Defaults to Deno.stderr, keeping stdout for results. */
  stream?: ProgressStream;
  /** Unit name for the rate, e.g. "img" gives "3.2 img/s". */
  unit?: string;
  /** Forces terminal (true) or plain-line (false) output; detected from the stream by default. */
  tty?: boolean;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
  /** Bar cells. */
  width?: number;
  /** Plain mode: seconds between lines (besides the 10% milestones). */
  plainInterval?: number;
  /** EMA weight of the newest sample, in (0, 1]: higher reacts faster, lower is steadier. */
  smoothing?: number;
}

/**
 * Formats seconds compactly: "45s", "1m27s", "2h05m", "3d04h"; "?" when unknown
 * (NaN, infinite or negative), which is what an ETA is before any progress.
 */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (t < 3600) return `${Math.floor(t / 60)}m${pad(t % 60)}s`;
  if (t < 86400) return `${Math.floor(t / 3600)}h${pad(Math.floor((t % 3600) / 60))}m`;
  return `${Math.floor(t / 86400)}d${pad(Math.floor((t % 86400) / 3600))}h`;
}

/**
 * Formats a metric with three significant digits ("0.613", "3.20", "142"),
 * switching to exponent notation outside [1e-3, 1e4) so tiny and huge losses
 * stay short; NaN and ±Infinity print as such (that is what a diverged run must show).
 */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(3);
}

/** Throughput as "3.2 img/s", or "12.5 s/img" when one unit takes longer than a second. */
export function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return `? ${unit}/s`;
  if (perSecond >= 1) return `${perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1)} ${unit}/s`;
  const s = 1 / perSecond;
  return `${s >= 100 ? s.toFixed(0) : s.toFixed(1)} s/${unit}`;
}

/** A progress bar; see the module comment for terminal vs plain output. */
export class ProgressBar {
  readonly total: number;
  readonly label: string;
  readonly unit: string;
  readonly tty: boolean;
  /** Units done so far. */
  count = 0;
  #stream: ProgressStream;
  #now: () => number;
  #width: number;
  #plainInterval: number;
  #alpha: number;
  #start: number;
  #lastT: number;
  #pendingN = 0;
  #emaDt = NaN;
  #emaDn = NaN;
  #fields: Record<string, string | number> = {};
  #lastDraw = -Infinity;
  #lastPlain: number;
  #lastPrintedCount = -1;
  #nextMilestone = 0.1;
  #finished = false;
  #enc = new TextEncoder();

  constructor(opts: ProgressOptions) {
    this.total = Math.max(0, opts.total);
    this.label = opts.label ?? "";
    this.unit = opts.unit ?? "it";
    this.#stream = opts.stream ?? Deno.stderr;
    this.tty = opts.tty ?? (this.#stream.isTerminal?.() ?? false);
    this.#now = opts.now ?? (() => performance.now());
    this.#width = opts.width ?? 20;
    this.#plainInterval = (opts.plainInterval ?? 5) * 1000;
    this.#alpha = opts.smoothing ?? 0.3;
    this.#start = this.#lastT = this.#lastPlain = this.#now();
  }

  /** Units per second (EMA), NaN before the clock has advanced. */
  get rate(): number {
    return this.#emaDn / this.#emaDt * 1000;
  }

  /** Estimated seconds to completion, NaN while the rate is unknown. */
  get eta(): number {
    const r = this.rate;
    return r > 0 ? Math.max(0, this.total - this.count) / r : NaN;
  }

  /** Seconds since the bar was created. */
  get elapsed(): number {
    return (this.#now() - this.#start) / 1000;
  }

  /** Records `n` more units (and replaces the shown fields, e.g. running losses), then redraws if due. */
  tick(n = 1, fields?: Record<string, string | number>): void {
    if (this.#finished) return;
    this.count += n;
    if (fields) this.#fields = { ...fields };
    const t = this.#now();
    this.#pendingN += n;
    const dt = t - this.#lastT;
    // Several ticks within one clock reading: fold them into the next sample instead of dividing by 0.
    if (dt > 0) {
      const a = this.#alpha;
      if (Number.isNaN(this.#emaDt)) {
        this.#emaDt = dt;
        this.#emaDn = this.#pendingN;
      } else {
        this.#emaDt = a * dt + (1 - a) * this.#emaDt;
        this.#emaDn = a * this.#pendingN + (1 - a) * this.#emaDn;
      }
      this.#pendingN = 0;
      this.#lastT = t;
    }
    if (this.tty) {
      // Redrawing more than ~10 times a second only costs terminal time.
      if (t - this.#lastDraw >= 100 || this.count >= this.total) {
        this.#write(`\r${this.render()}\x1b[K`);
        this.#lastDraw = t;
      }
    } else {
      const frac = this.total > 0 ? this.count / this.total : 0;
      // 100% is left to done(), which prints the final line with the total time.
      if (frac < 1 && (frac >= this.#nextMilestone || t - this.#lastPlain >= this.#plainInterval)) {
        while (this.#nextMilestone <= frac) this.#nextMilestone += 0.1;
        this.#printPlain(t);
      }
    }
  }

  /**
   * Prints a message on its own line without breaking the bar: on a terminal the
   * half-drawn bar is erased, the line printed, and the bar redrawn below it.
   * `write` prints the line elsewhere (e.g. on stdout) instead of on the bar's stream.
   */
  log(line: string, write?: (line: string) => void): void {
    const live = this.tty && !this.#finished;
    if (live) this.#write("\r\x1b[K");
    if (write) write(line);
    else this.#write(line + "\n");
    if (live && this.count > 0) this.#write(this.render());
  }

  /** Finishes the bar: a final line with the elapsed time instead of the ETA. */
  done(fields?: Record<string, string | number>): void {
    if (this.#finished) return;
    this.#finished = true;
    if (fields) this.#fields = { ...fields };
    const line = this.render(true);
    if (this.tty) this.#write(`\r${line}\x1b[K\n`);
    else this.#write(line + "\n");
  }

  /** The current line (no control characters). `final` shows the elapsed time instead of the ETA. */
  render(final = false): string {
    const frac = this.total > 0 ? Math.min(1, this.count / this.total) : 1;
    const filled = Math.round(frac * this.#width);
    const bar = "#".repeat(filled) + ".".repeat(this.#width - filled);
    const parts = [
      `${this.label ? this.label + " " : ""}[${bar}] ${this.count}/${this.total}`,
      formatRate(final ? this.count / Math.max(this.elapsed, 1e-9) : this.rate, this.unit),
      final ? `in ${formatDuration(this.elapsed)}` : `ETA ${formatDuration(this.eta)}`,
    ];
    for (const [k, v] of Object.entries(this.#fields)) {
      parts.push(`${k} ${typeof v === "number" ? formatNumber(v) : v}`);
    }
    return parts.join("  ");
  }

  #printPlain(t: number) {
    if (this.count === this.#lastPrintedCount) return;
    this.#write(this.render() + "\n");
    this.#lastPlain = t;
    this.#lastPrintedCount = this.count;
  }

  #write(s: string) {
    const bytes = this.#enc.encode(s);
    let off = 0;
    while (off < bytes.length) off += this.#stream.writeSync(bytes.subarray(off));
  }
}
