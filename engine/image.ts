/**
 * 8-bit RGBA images and the resampling weights every resize in the project uses: the CLI's
 * training crops (cli/image.ts, resizeRgba) and the colorizer's model input and output
 * (models/colorize.ts, on the GPU). One weight function for both means training and
 * inference resample a photo the same way and cannot drift apart.
 *
 * Web APIs only, so the browser page uses the same code.
 */

/** An 8-bit RGBA image, row-major, 4 bytes a pixel (what the CLI decodes and encodes). */
export interface RgbaImage {
  /** Pixels per row. */
  width: number;
  /** Number of rows. */
  height: number;
  /** width·height·4 bytes, R, G, B, A per pixel (alpha is passed through by colorization). */
  rgba: Uint8Array;
}

/**
 * Resampling weights of one axis in compressed rows: output i reads source
 * indices `index[starts[i]..starts[i+1])` with the matching `weight`s (summing to 1).
 */
export interface AxisWeights {
  /** outLen + 1 offsets into `index` and `weight`. */
  starts: Int32Array;
  /** Source index of each tap. */
  index: Int32Array;
  /** Weight of each tap (float64: the CLI's resize uses them at full precision). */
  weight: Float64Array;
}

/**
 * Weights taking a virtual axis of `virtLen` samples to `outLen` samples, where
 * output i covers the virtual interval [(i + offset)·scale, (i + 1 + offset)·scale).
 * When an output pixel covers more than one source pixel (shrinking) the weights
 * average the covered area exactly (fractional edges pro rata: "area" resize,
 * which does not alias); otherwise they interpolate linearly between pixel
 * centres (half-pixel convention, clamped at the edges, like PyTorch's bilinear
 * with align_corners=False). At scale 1 both rules give the single weight 1.
 * `toSrc` maps a virtual index to the real array index (padding).
 *
 * A plain resize from `src` to `dst` samples is `axisWeights(dst, src, src / dst)`.
 */
export function axisWeights(
  outLen: number,
  virtLen: number,
  scale: number,
  offset = 0,
  toSrc: (v: number) => number = (v) => v,
): AxisWeights {
  const starts = new Int32Array(outLen + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < outLen; i++) {
    starts[i] = index.length;
    if (scale > 1) {
      const a = (i + offset) * scale, b = (i + 1 + offset) * scale;
      const first = index.length;
      for (let k = Math.max(0, Math.floor(a)); k < Math.min(Math.ceil(b), virtLen); k++) {
        const cover = Math.min(b, k + 1) - Math.max(a, k);
        // Slivers left by rounding at interval ends carry no weight.
        if (cover > 1e-12) {
          index.push(toSrc(k));
          weight.push(cover / scale);
        }
      }
      if (index.length === first) {
        // Only reachable through rounding at the very end of the axis.
        index.push(toSrc(Math.min(virtLen - 1, Math.max(0, Math.floor(a)))));
        weight.push(1);
      }
    } else {
      const c = Math.min(Math.max((i + offset + 0.5) * scale - 0.5, 0), virtLen - 1);
      const k0 = Math.floor(c), f = c - k0;
      index.push(toSrc(k0));
      weight.push(1 - f);
      // f > 0 implies c < virtLen − 1, so k0 + 1 is inside the axis.
      if (f > 0) {
        index.push(toSrc(k0 + 1));
        weight.push(f);
      }
    }
  }
  starts[outLen] = index.length;
  return { starts, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

/** Where one axis's table lies in a {@link packAxisWeights} buffer (element offsets). */
export interface AxisTable {
  /** Offset of `starts` (outLen + 1 entries). */
  starts: number;
  /** Offset of `index` (one u32 a tap). */
  index: number;
  /** Offset of the weights (one f32 a tap, stored as its bits). */
  weight: number;
}

/**
 * Several axes' weights in one u32 array, for GPU kernels that read them through a single
 * binding (so a resampling costs one small upload whatever the number of axes). Weights are
 * rounded to f32, the precision the kernels compute in.
 */
export function packAxisWeights(axes: readonly AxisWeights[]): { data: Uint32Array; tables: AxisTable[] } {
  const total = axes.reduce((n, a) => n + a.starts.length + 2 * a.index.length, 0);
  const data = new Uint32Array(total);
  const bits = new Float32Array(data.buffer);
  const tables: AxisTable[] = [];
  let o = 0;
  for (const a of axes) {
    const table = { starts: o, index: o + a.starts.length, weight: o + a.starts.length + a.index.length };
    data.set(a.starts, table.starts);
    data.set(a.index, table.index);
    bits.set(a.weight, table.weight);
    tables.push(table);
    o = table.weight + a.weight.length;
  }
  return { data, tables };
}
