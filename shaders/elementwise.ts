/**
 * WGSL for elementwise maps: `out[i] = EXPR(in0[i], in1[i], …, a, b)`.
 * One kernel covers activations, arithmetic and their backward passes; each
 * distinct expression is one variant and so one cached pipeline.
 */

import { flatMain } from "./common.ts";
import { defineKernel, read, write } from "./kernel.ts";

/** What a map kernel is specialised on. */
export interface MapVariant {
  /** Number of read-only inputs `in0…`. */
  inputs: number;
  /** WGSL f32 expression of `x0…`, the scalars `a`, `b` and, with `inPlace`, the old output `o`. */
  expr: string;
  /** `out` is also read (as `o`), for accumulation. */
  inPlace: boolean;
}

/**
 * `inputs` read-only arrays `in0…`, one output `out`, and uniforms `n` (element count) and the
 * scalars `a`, `b`.
 */
export const MAP = defineKernel({
  name: "map",
  bindings: (v: MapVariant) => [
    ...Array.from({ length: v.inputs }, (_, k) => read(`in${k}`)),
    write("out"),
  ],
  uniforms: { n: "u32", a: "f32", b: "f32" },
  body: (v) => /* wgsl */ `
${flatMain("i", "p.n")}
  let a = p.a; let b = p.b;
  ${Array.from({ length: v.inputs }, (_, k) => `let x${k} = in${k}[i];`).join(" ")}
  ${v.inPlace ? "let o = out[i];" : ""}
  out[i] = ${v.expr};
}`,
});

/** Forward expressions of the activations, in terms of `x0` and the scalar `a`. */
export const ACTIVATIONS = {
  relu: "max(x0, 0.0)",
  leakyRelu: "select(a * x0, x0, x0 > 0.0)",
  // tanh(x) = 1 - 2/(exp(2x)+1) overflows gracefully to ±1 for large |x|, unlike some built-in tanh lowerings.
  // NaN stays NaN (as in Math.tanh and PyTorch): clamp would make it ±1, a broken generator's output passing
  // for colour. The NaN test reads the bits, since WGSL compilers may assume x == x for floats.
  tanh:
    "select(1.0 - 2.0 / (exp(2.0 * clamp(x0, -40.0, 40.0)) + 1.0), x0, (bitcast<u32>(x0) & 0x7fffffffu) > 0x7f800000u)",
  sigmoid: "1.0 / (1.0 + exp(-clamp(x0, -80.0, 80.0)))",
} as const;

/** Backward expressions: `x0` is the upstream gradient, `x1` the op's input or output as noted. */
export const ACTIVATION_GRADS = {
  relu: "select(0.0, x0, x1 > 0.0)", // x1 = input
  leakyRelu: "select(a * x0, x0, x1 > 0.0)", // x1 = input
  tanh: "x0 * (1.0 - x1 * x1)", // x1 = output
  sigmoid: "x0 * x1 * (1.0 - x1)", // x1 = output
} as const;
