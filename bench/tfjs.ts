/**
 * The TensorFlow.js WebGPU side of the benchmark: the same kernel rows and the same pix2pix
 * model written in tfjs-core ops, timed by the same harness on the same adapter.
 *
 * Dev-only: the engine never imports this file. TF.js is NHWC with filters [kH, kW, in, out],
 * so shapes are transposed from ours but every row does the same arithmetic.
 */

import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";

/**
 * tfjs-core's main (CommonJS) entry registers no gradients; the tfjs umbrella package does it by
 * importing dist/register_all_gradients.js, an ES module whose extension-less imports Deno refuses.
 * esbuild (`deno bundle`) resolves them, so that module is bundled once into
 * bench/node_modules/.cache and loaded from there. Its gradients land in TF.js's global registry and use the global engine, so
 * they serve the tensors of the CommonJS copy (tfjs makes `instanceof Tensor` duck-typed for this).
 */
async function registerGradients(): Promise<void> {
  // node_modules/.cache is the usual home of tool caches; git, deno fmt and deno lint all skip it.
  const dir = new URL("./node_modules/.cache/tfjs/", import.meta.url);
  const file = new URL(`tfjs_gradients_${tf.version_core}.js`, dir);
  try {
    await Deno.stat(file);
  } catch {
    await Deno.mkdir(dir, { recursive: true });
    const entry = new URL("entry.ts", dir);
    await Deno.writeTextFile(
      entry,
      `import "npm:@tensorflow/tfjs-core@${tf.version_core}/dist/register_all_gradients.js";\n`,
    );
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", entry.pathname, "-o", file.pathname],
        stdout: "inherit",
        stderr: "inherit",
      }).output();
    } catch (e) {
      if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) throw e;
      throw new Error(
        "tfjs: bundling TF.js's gradients (once) runs `deno bundle`: pass --allow-run, or --no-tfjs",
      );
    }
    if (!out.success) throw new Error("tfjs: bundling tfjs-core's gradients with `deno bundle` failed");
  }
  await import(file.href);
}
import type { Case, Engine } from "./harness.ts";
import type { ModelConfig } from "./pix2pix.ts";
import { describe } from "./pix2pix.ts";

/** The parts of TF.js's WebGPUBackend that a wait for the GPU needs (not in its public types). */
interface WebGpuBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  adapterInfo?: { vendor?: string; architecture?: string };
}

/** Selects the WebGPU backend (it requests its own adapter and device) and wraps it for the harness. */
export async function initTfjs(): Promise<{ engine: Engine; adapter: string }> {
  await registerGradients();
  if (!(await tf.setBackend("webgpu"))) throw new Error("tfjs: the webgpu backend failed to initialise");
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackend;
  // TF.js keeps only vendor and architecture of the adapter it requested (same options as ours).
  const info = backend.adapterInfo;
  const engine: Engine = {
    name: "tfjs",
    async scope(fn) {
      // startScope/endScope are what tf.tidy uses; unlike tf.tidy they allow an await in between.
      tf.engine().startScope();
      try {
        await fn();
      } finally {
        tf.engine().endScope();
      }
    },
    async sync() {
      // TF.js batches dispatches in its own encoder (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE); submit the rest.
      // As its own readbacks do: close the open compute pass, then submit (an empty encoder is fine).
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
      await backend.device.queue.onSubmittedWorkDone();
    },
    device: backend.device,
  };
  const id = [info?.vendor, info?.architecture].filter((s) => s).join(" ") || "unknown";
  return { engine, adapter: `vendor ${id} (it requests the adapter with the same options as ours)` };
}

type Explicit = [[number, number], [number, number], [number, number], [number, number]];
/** Padding 1 on H and W (NHWC), as our convs. */
const PAD1: Explicit = [[0, 0], [1, 1], [1, 1], [0, 0]];
type Pad = Explicit | "valid";

function rand(shape: number[]): tf.Tensor {
  return tf.randomUniform(shape, -1, 1);
}

/** dL/dfilter of a conv: TF.js's Conv2DBackpropFilter kernel (it has no public op). */
function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], stride: number, pad: Pad) {
  return tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
    strides: [stride, stride],
    pad,
    dataFormat: "NHWC",
    dimRoundingMode: undefined,
    filterShape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** 1024×1024 matmul, as our matmul row. */
export function tfMatmulCase(m: number, k: number, n: number): Case {
  return {
    op: "matmul",
    shape: `${m}×${k} · ${k}×${n}`,
    flops: 2 * m * n * k,
    setup() {
      const a = rand([m, k]), b = rand([k, n]);
      return { run: () => void tf.matMul(a, b), dispose: () => tf.dispose([a, b]) };
    },
  };
}

/**
 * The three passes of a 4×4 stride-2 padding-1 conv or transposed conv, each one kernel, as
 * TF.js's gradient definitions call them: conv dx = Conv2DBackpropInput, conv dw =
 * Conv2DBackpropFilter; transposed conv fwd = Conv2DBackpropInput, dx = Conv2D,
 * dw = Conv2DBackpropFilter with the roles of x and dy swapped.
 */
export function tfConvCases(
  kind: "conv2d" | "convTranspose2d",
  { cin, cout, hw }: { cin: number; cout: number; hw: number },
): Case[] {
  const k = 4, n = 1;
  const down = kind === "conv2d";
  const ohw = down ? hw / 2 : hw * 2;
  const small = down ? ohw : hw;
  const flops = 2 * n * cin * cout * small * small * k * k;
  const shape = `${cin}→${cout} ${hw}²→${ohw}²`;
  // Both as the conv that maps the big image to the small one: filter [k, k, bigC, smallC].
  const bigC = down ? cin : cout, smallC = down ? cout : cin;
  const bigHw = down ? hw : ohw;
  const wShape = [k, k, bigC, smallC];
  const bigShape: [number, number, number, number] = [n, bigHw, bigHw, bigC];
  const conv = (big: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(big, w, 2, PAD1);
  const convT = (sm: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2dTranspose(sm, w, bigShape, 2, PAD1);
  const pass = (
    label: string,
    fn: (big: tf.Tensor4D, sm: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor,
  ): Case => ({
    op: `${kind} ${label}`,
    shape,
    flops,
    setup() {
      const big = rand(bigShape) as tf.Tensor4D;
      const sm = rand([n, small, small, smallC]) as tf.Tensor4D;
      const w = rand(wShape) as tf.Tensor4D;
      return { run: () => void fn(big, sm, w), dispose: () => tf.dispose([big, sm, w]) };
    },
  });
  const filterGrad = (big: tf.Tensor4D, sm: tf.Tensor4D) => conv2dFilterGrad(big, sm, wShape, 2, PAD1);
  // conv: x = big, y = small. transposed conv: x = small, y = big.
  return down
    ? [
      pass("fwd", (big, _sm, w) => conv(big, w)),
      pass("dx", (_big, sm, w) => convT(sm, w)),
      pass("dw", filterGrad),
    ]
    : [
      pass("fwd", (_big, sm, w) => convT(sm, w)),
      pass("dx", (big, _sm, w) => conv(big, w)),
      pass("dw", filterGrad),
    ];
}

/** Training-mode batch norm as TF.js models write it: moments over N, H, W, then tf.batchNorm. */
function batchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5) as tf.Tensor4D;
}

/** Batch norm forward, and forward + backward (TF.js cannot run the gradient of a composite alone). */
export function tfBatchNormCases(shape: number[]): Case[] {
  const [n, c, h, w] = shape;
  const label = `[${shape.join(", ")}]`;
  const make = () => ({
    x: rand([n, h, w, c]) as tf.Tensor4D,
    g: rand([c]) as tf.Tensor1D,
    b: rand([c]) as tf.Tensor1D,
    dy: rand([n, h, w, c]) as tf.Tensor4D,
  });
  return [
    {
      op: "batchNorm fwd",
      shape: label,
      setup() {
        const { x, g, b, dy } = make();
        return { run: () => void batchNormTrain(x, g, b), dispose: () => tf.dispose([x, g, b, dy]) };
      },
    },
    {
      op: "batchNorm fwd+bwd",
      shape: label,
      setup() {
        const { x, g, b, dy } = make();
        const grads = tf.grads((xx, gg, bb) =>
          batchNormTrain(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D)
        );
        return { run: () => void grads([x, g, b], dy), dispose: () => tf.dispose([x, g, b, dy]) };
      },
    },
  ];
}

// ---------------------------------------------------------------------------
// pix2pix in tfjs-core ops: the same U-Net and PatchGAN as models/unet.ts and models/patchgan.ts.

type Forward = (x: tf.Tensor4D, training: boolean) => tf.Tensor4D;

/** Holds a network's variables, created like our initialisation (N(0, 0.02) weights, BN γ=1, β=0). */
class Net {
  vars: tf.Variable[] = [];
  weight(shape: number[]): tf.Variable {
    const v = tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.02)));
    this.vars.push(v);
    return v;
  }
  constant(shape: number[], value: number): tf.Variable {
    const v = tf.tidy(() => tf.variable(tf.fill(shape, value)));
    this.vars.push(v);
    return v;
  }
  conv(cin: number, cout: number, stride: number, bias: boolean): Forward {
    const w = this.weight([4, 4, cin, cout]) as tf.Variable<tf.Rank.R4>;
    const b = bias ? this.constant([cout], 0) : null;
    return (x) => {
      const y = tf.conv2d(x, w, stride, PAD1);
      return b ? tf.add(y, b) : y;
    };
  }
  convT(cin: number, cout: number, bias: boolean): Forward {
    const w = this.weight([4, 4, cout, cin]) as tf.Variable<tf.Rank.R4>;
    const b = bias ? this.constant([cout], 0) : null;
    return (x) => {
      const [n, h, wd] = x.shape;
      const y = tf.conv2dTranspose(x, w, [n, 2 * h, 2 * wd, cout], 2, PAD1);
      return b ? tf.add(y, b) : y;
    };
  }
  /** Training: batch statistics (as ours). Eval: fixed statistics (ours uses running ones; same cost). */
  batchNorm(c: number): Forward {
    const gamma = this.constant([c], 1) as tf.Variable<tf.Rank.R1>;
    const beta = this.constant([c], 0) as tf.Variable<tf.Rank.R1>;
    const mean = tf.zeros([c]) as tf.Tensor1D, variance = tf.ones([c]) as tf.Tensor1D;
    return (x, training) =>
      training
        ? batchNormTrain(x, gamma, beta)
        : tf.batchNorm(x, mean, variance, beta, gamma, 1e-5) as tf.Tensor4D;
  }
}

/** U-Net levels from the outside in, as models/unet.ts builds them. */
function unet(net: Net, c: ModelConfig): Forward {
  const f = c.ngf;
  const seq = (...fs: Forward[]): Forward => (x, t) => fs.reduce((y, fn) => fn(y, t), x);
  const leaky: Forward = (x) => tf.leakyRelu(x, 0.2);
  const relu: Forward = (x) => tf.relu(x);
  const skip = (inner: Forward): Forward => (x, t) => tf.concat([x, inner(x, t)], 3);
  let block = skip(
    seq(leaky, net.conv(8 * f, 8 * f, 2, false), relu, net.convT(8 * f, 8 * f, false), net.batchNorm(8 * f)),
  );
  for (let i = 0; i < c.nDown - 5; i++) {
    const drop: Forward = (x, t) => (t ? tf.dropout(x, 0.5) as tf.Tensor4D : x);
    block = skip(seq(
      leaky,
      net.conv(8 * f, 8 * f, 2, false),
      net.batchNorm(8 * f),
      block,
      relu,
      net.convT(16 * f, 8 * f, false),
      net.batchNorm(8 * f),
      drop,
    ));
  }
  let out = 8 * f;
  for (let i = 0; i < 3; i++) {
    const nf = out / 2;
    block = skip(seq(
      leaky,
      net.conv(nf, out, 2, false),
      net.batchNorm(out),
      block,
      relu,
      net.convT(2 * out, nf, false),
      net.batchNorm(nf),
    ));
    out = nf;
  }
  return seq(net.conv(1, out, 2, false), block, relu, net.convT(2 * out, 2, true), (x) => tf.tanh(x));
}

/** PatchGAN as models/patchgan.ts: C64-C128-C256-C512(stride 1)-C1 for nDown 3. */
function patchGan(net: Net, c: ModelConfig, nDown = 3): Forward {
  const layers: Forward[] = [net.conv(3, c.ndf, 2, true), (x) => tf.leakyRelu(x, 0.2)];
  for (let i = 0; i < nDown; i++) {
    const ci = c.ndf * 2 ** i, co = 2 * ci;
    layers.push(
      net.conv(ci, co, i === nDown - 1 ? 1 : 2, false),
      net.batchNorm(co),
      (x) => tf.leakyRelu(x, 0.2),
    );
  }
  layers.push(net.conv(c.ndf * 2 ** nDown, 1, 1, true));
  return (x, t) => layers.reduce((y, fn) => fn(y, t), x);
}

function buildModel(c: ModelConfig) {
  const gNet = new Net(), dNet = new Net();
  const G = unet(gNet, c), D = patchGan(dNet, c);
  const L = rand([c.batch, c.size, c.size, 1]) as tf.Tensor4D;
  const ab = rand([c.batch, c.size, c.size, 2]) as tf.Tensor4D;
  const optG = tf.train.adam(2e-4, 0.5, 0.999, 1e-8), optD = tf.train.adam(2e-4, 0.5, 0.999, 1e-8);
  const dispose = () => {
    tf.dispose([L, ab, ...gNet.vars, ...dNet.vars]);
    optG.dispose();
    optD.dispose();
  };
  return { G, D, gNet, dNet, L, ab, optG, optD, dispose };
}

/**
 * One pix2pix step with the same FLOPs as ours: G forward once (inside the G step's tape), D on
 * (L, fake) and (L, ab) for the D step, D on (L, fake) for the G step, both backwards, two Adam
 * updates. Order differs (TF.js has no tape that outlives one optimizer call, so G is stepped
 * first and D then learns from that step's fake, as TensorFlow's own pix2pix tutorial does).
 */
export function tfTrainStepCase(c: ModelConfig): Case {
  return {
    op: "pix2pix train step",
    shape: describe(c),
    images: c.batch,
    setup() {
      const { G, D, gNet, dNet, L, ab, optG, optD, dispose } = buildModel(c);
      const bce = (logits: tf.Tensor, real: boolean) =>
        tf.losses.sigmoidCrossEntropy(real ? tf.onesLike(logits) : tf.zerosLike(logits), logits);
      return {
        async run() {
          let fake: tf.Tensor4D | null = null;
          const lossG = optG.minimize(
            () => {
              const f = G(L, true);
              fake = tf.keep(f);
              const gan = bce(D(tf.concat([L, f], 3), true), true);
              return tf.add(gan, tf.mul(100, tf.mean(tf.abs(tf.sub(f, ab))))) as tf.Scalar;
            },
            true,
            gNet.vars,
          )!;
          const constFake = fake!;
          const lossD = optD.minimize(
            () => {
              const lf = bce(D(tf.concat([L, constFake], 3), true), false);
              const lr = bce(D(tf.concat([L, ab], 3), true), true);
              return tf.mul(0.5, tf.add(lf, lr)) as tf.Scalar;
            },
            true,
            dNet.vars,
          )!;
          await lossG.data();
          await lossD.data();
          tf.dispose([lossG, lossD, constFake]);
        },
        dispose,
      };
    },
  };
}

/** Generator inference with fixed batch-norm statistics and no dropout, up to reading the ab image. */
export function tfInferenceCase(c: ModelConfig): Case {
  return {
    op: "generator inference",
    shape: describe(c),
    images: c.batch,
    setup() {
      const { G, L, dispose } = buildModel(c);
      return {
        async run() {
          await G(L, false).data();
        },
        dispose,
      };
    },
  };
}

/** TF.js's own peak tensor bytes over one training step (tf.profile), after the timed runs. */
export async function tfStepPeakBytes(c: ModelConfig): Promise<number> {
  const step = tfTrainStepCase(c).setup();
  try {
    await step.run(); // warm-up: Adam creates its moment variables on the first step
    const info = await tf.profile(async () => {
      await step.run();
    });
    return info.peakBytes;
  } finally {
    step.dispose();
  }
}

/** The TF.js version the rows were measured with. */
export const tfVersion: string = tf.version_core;
