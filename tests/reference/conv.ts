/**
 * Float64 reference implementations of conv2d and conv_transpose2d (PyTorch
 * semantics), written as plainly as possible so they are easy to trust: the
 * convolution gathers, the transposed convolution scatters (the definition,
 * independent of the GPU kernel's gather formulation).
 */

/** Options shared by the references: per-axis stride, padding and output padding. */
export interface RefConvOptions {
  stride?: [number, number];
  padding?: [number, number];
  outputPadding?: [number, number];
}

/** Output shape of conv2d for x [N,Cin,H,W] and weight [Cout,Cin,kH,kW]. */
export function conv2dShape(xs: readonly number[], ws: readonly number[], o: RefConvOptions = {}): number[] {
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  return [
    xs[0],
    ws[0],
    Math.floor((xs[2] + 2 * ph - ws[2]) / sh) + 1,
    Math.floor((xs[3] + 2 * pw - ws[3]) / sw) + 1,
  ];
}

/** Output shape of conv_transpose2d for x [N,Cin,H,W] and weight [Cin,Cout,kH,kW]. */
export function convTranspose2dShape(
  xs: readonly number[],
  ws: readonly number[],
  o: RefConvOptions = {},
): number[] {
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  const [oph, opw] = o.outputPadding ?? [0, 0];
  return [
    xs[0],
    ws[1],
    (xs[2] - 1) * sh - 2 * ph + ws[2] + oph,
    (xs[3] - 1) * sw - 2 * pw + ws[3] + opw,
  ];
}

/** y[n,co,oh,ow] = b[co] + Σ x[n,ci,oh·sh−ph+kh, ow·sw−pw+kw]·w[co,ci,kh,kw] (zero padding). */
export function conv2dRef(
  x: Float64Array,
  xs: readonly number[],
  w: Float64Array,
  ws: readonly number[],
  b: Float64Array | null,
  o: RefConvOptions = {},
): Float64Array {
  const [n, cin, h, wd] = xs;
  const [cout, , kh, kw] = ws;
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  const [, , oh, ow] = conv2dShape(xs, ws, o);
  const y = new Float64Array(n * cout * oh * ow);
  for (let in_ = 0; in_ < n; in_++) {
    for (let co = 0; co < cout; co++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let s = b ? b[co] : 0;
          for (let ci = 0; ci < cin; ci++) {
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh - ph + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw - pw + kx;
                if (ix < 0 || ix >= wd) continue;
                s += x[((in_ * cin + ci) * h + iy) * wd + ix] * w[((co * cin + ci) * kh + ky) * kw + kx];
              }
            }
          }
          y[((in_ * cout + co) * oh + oy) * ow + ox] = s;
        }
      }
    }
  }
  return y;
}

/**
 * conv_transpose2d by its definition: every input pixel scatters x·w[ci,co] onto
 * output pixel (iy·sh − ph + kh, ix·sw − pw + kw) when that pixel exists.
 */
export function convTranspose2dRef(
  x: Float64Array,
  xs: readonly number[],
  w: Float64Array,
  ws: readonly number[],
  b: Float64Array | null,
  o: RefConvOptions = {},
): Float64Array {
  const [n, cin, h, wd] = xs;
  const [, cout, kh, kw] = ws;
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  const [, , oh, ow] = convTranspose2dShape(xs, ws, o);
  const y = new Float64Array(n * cout * oh * ow);
  for (let in_ = 0; in_ < n; in_++) {
    for (let co = 0; co < cout; co++) {
      if (b) y.fill(b[co], (in_ * cout + co) * oh * ow, (in_ * cout + co + 1) * oh * ow);
    }
    for (let ci = 0; ci < cin; ci++) {
      for (let iy = 0; iy < h; iy++) {
        for (let ix = 0; ix < wd; ix++) {
          const v = x[((in_ * cin + ci) * h + iy) * wd + ix];
          for (let co = 0; co < cout; co++) {
            for (let ky = 0; ky < kh; ky++) {
              const oy = iy * sh - ph + ky;
              if (oy < 0 || oy >= oh) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ox = ix * sw - pw + kx;
                if (ox < 0 || ox >= ow) continue;
                y[((in_ * cout + co) * oh + oy) * ow + ox] += v * w[((ci * cout + co) * kh + ky) * kw + kx];
              }
            }
          }
        }
      }
    }
  }
  return y;
}

/**
 * Weight gradient of L = Σ conv2d(x, w)·r with respect to w [Cout,Cin,kH,kW], straight from the
 * definition: dw[co,ci,kh,kw] = Σ r[n,co,oh,ow]·x[n,ci,oh·sh−ph+kh, ow·sw−pw+kw].
 */
export function conv2dWeightGradRef(
  x: Float64Array,
  xs: readonly number[],
  r: Float64Array,
  ws: readonly number[],
  o: RefConvOptions = {},
): Float64Array {
  const [n, cin, h, wd] = xs;
  const [cout, , kh, kw] = ws;
  const [, , oh, ow] = conv2dShape(xs, ws, o);
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  const dw = new Float64Array(ws[0] * ws[1] * ws[2] * ws[3]);
  for (let b = 0; b < n; b++) {
    for (let co = 0; co < cout; co++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            let s = 0;
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * sh - ph + ky;
              if (iy < 0 || iy >= h) continue;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * sw - pw + kx;
                if (ix < 0 || ix >= wd) continue;
                s += r[((b * cout + co) * oh + oy) * ow + ox] * x[((b * cin + ci) * h + iy) * wd + ix];
              }
            }
            dw[((co * cin + ci) * kh + ky) * kw + kx] += s;
          }
        }
      }
    }
  }
  return dw;
}
