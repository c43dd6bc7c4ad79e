/**
 * `deno task import IN.safetensors OUT.safetensors [--fp16] [--weights ema|raw] [--size N] [--verify REF [--tolerance T]]`:
 * converts a generator into a colorize model file. IN is a plain PyTorch
 * U-Net state dict (`safetensors.torch.save_file(net_G.state_dict(), …)`,
 * configuration inferred from the shapes) or one of our checkpoints, of any
 * generator kind (then only the generator is kept: this is also how a training
 * checkpoint becomes a small shipped model). --verify runs the imported
 * generator on the input of a reference file made by docs/export_pytorch.py and
 * compares with PyTorch's output.
 */

import { basename, dirname } from "node:path";
import { initGpu } from "../engine/gpu.ts";
import { noGrad } from "../engine/autograd.ts";
import { tensor, tidy } from "../engine/tensor.ts";
import { decodeSafetensors, toFloat32 } from "../engine/safetensors.ts";
import {
  buildGenerator,
  checkpointImageSize,
  decodeCheckpoint,
  encodeCheckpoint,
} from "../models/checkpoint.ts";
import {
  describeGenerator,
  type Generator,
  sizeMultipleOf,
  sizeMultipleReason,
} from "../models/generators.ts";
import { atomicWrite, enterCallerDirectory, fileIdentity, notAFolder } from "./fsutil.ts";
import { errorLine, readCommandLine } from "./args.ts";

const HELP =
  `Usage: deno task import IN.safetensors OUT.safetensors [--fp16] [--weights ema|raw] [--size N] [--verify REF [--tolerance T]]

Converts a generator into a colorize model (see docs/CHECKPOINTS.md).
IN: a PyTorch state dict of the colorization tutorial's Unet ("Colorizing black & white
images with U-Net and conditional GAN") saved with safetensors (names model.model.…,
optionally under module. or net_G.), or a checkpoint of deno task train with any
generator (U-Net, ResNet U-Net or diverse; only the generator is kept). OUT's folder
is created if missing; OUT is written to a temporary file and renamed, so it is
either complete or absent.

Options:
  --fp16           store weights as float16 (half the size; outputs change by ~1e-3)
  --weights W      for a checkpoint trained with --ema-decay: ema (default, the moving
                   average) or raw (the last step's weights)
  --size N         record N as the model's training size (colorize's default --size)
  --verify REF     a reference.safetensors from docs/export_pytorch.py: run the imported
                   generator on its "input" and require max |ours − "output"| <= --tolerance
  --tolerance T    for --verify (default 1e-3)
  -h, --help       this text`;

/** Where the CLI writes its lines. */
export interface ImportIo {
  error(line: string): void;
  info(line: string): void;
}

const enc = new TextEncoder();
const denoIo: ImportIo = {
  error: (l) => Deno.stderr.writeSync(enc.encode(l + "\n")),
  info: (l) => Deno.stdout.writeSync(enc.encode(l + "\n")),
};

/** Max |G(input) − output| over a reference file's tensors `input` [N,1,H,W] and `output` [N,2,H,W]. */
export async function verifyAgainst(G: Generator, refBytes: Uint8Array, source: string): Promise<number> {
  let ref;
  try {
    ref = decodeSafetensors(refBytes);
  } catch (e) {
    throw new Error(`${source}: ${errorLine(e).replace(/^safetensors: /, "")}`);
  }
  const inp = ref.tensors.input, out = ref.tensors.output;
  if (!inp || !out) throw new Error(`${source}: a reference needs tensors "input" and "output"`);
  const y = noGrad(() => tidy(() => G.forward(tensor(toFloat32(inp), inp.shape))));
  const got = await y.data();
  y.dispose();
  const want = toFloat32(out);
  if (got.length !== want.length || y.shape.some((d, i) => d !== out.shape[i])) {
    throw new Error(`${source}: output has shape [${out.shape}], the generator gives [${y.shape}]`);
  }
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return worst;
}

/**
 * Runs the import CLI on `args`; returns the exit code (0 ok, 1 failed verification or I/O, 2 usage or
 * an input that is not a usable checkpoint).
 */
export async function main(args: string[], io: ImportIo = denoIo): Promise<number> {
  const parsed = readCommandLine("import", args, {
    fp16: { type: "boolean" },
    weights: { type: "string" },
    size: { type: "string" },
    verify: { type: "string" },
    tolerance: { type: "string" },
  }, { positionals: true, help: HELP, io });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 2) {
    io.error("import: expected IN.safetensors OUT.safetensors (see --help)");
    return 2;
  }
  const [input, output] = positionals;
  const weights = values.weights ?? "ema";
  if (weights !== "ema" && weights !== "raw") {
    io.error(`import: --weights ${values.weights}: expected ema or raw`);
    return 2;
  }
  const size = values.size === undefined ? undefined : Number(values.size);
  if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
    io.error(`import: --size ${values.size}: expected a positive whole number`);
    return 2;
  }
  const tolerance = values.tolerance === undefined ? 1e-3 : Number(values.tolerance);
  if (!(tolerance >= 0)) {
    io.error(`import: --tolerance ${values.tolerance}: expected a number ≥ 0`);
    return 2;
  }
  if (!/\.safetensors$/i.test(output)) {
    io.error(`import: ${output}: the output must be a .safetensors file`);
    return 2;
  }
  // By identity (device and inode), so a hard link or symbolic link to the input is refused too.
  const inputId = await fileIdentity(input);
  if (inputId !== null && inputId === await fileIdentity(output)) {
    io.error(`import: ${output}: is the input; refusing to overwrite it`);
    return 2;
  }
  const blocked = await notAFolder(dirname(output));
  if (blocked) {
    io.error(`import: ${output}: ${blocked}`);
    return 2;
  }

  let ck;
  try {
    ck = decodeCheckpoint(await Deno.readFile(input), input);
  } catch (e) {
    const m = e instanceof Deno.errors.NotFound ? `${input}: no such file` : errorLine(e);
    io.error(`import: ${m}`);
    // A file that cannot be read is I/O (1); bytes that are not a usable checkpoint are bad input (2).
    return Object.values(Deno.errors).some((c) => e instanceof c) ? 1 : 2;
  }
  const c = ck.generatorConfig;
  const trainedSize = size ?? checkpointImageSize(ck);
  const m = sizeMultipleOf(c);
  if (trainedSize !== undefined && trainedSize % m !== 0) {
    io.error(`import: --size ${trainedSize} is not a multiple of ${m} (${sizeMultipleReason(c)})`);
    return 2;
  }
  try {
    await initGpu();
  } catch (e) {
    io.error(`import: ${errorLine(e)}`);
    return 1;
  }
  let G: Generator;
  try {
    G = buildGenerator(ck, weights);
  } catch (e) {
    io.error(`import: ${errorLine(e)}`);
    return 1;
  }
  try {
    if (values.verify !== undefined) {
      let worst: number;
      try {
        worst = await verifyAgainst(G, await Deno.readFile(values.verify), values.verify);
      } catch (e) {
        const m = e instanceof Deno.errors.NotFound ? `${values.verify}: no such file` : errorLine(e);
        io.error(`import: ${m}`);
        return 1;
      }
      const ok = worst <= tolerance;
      (ok ? io.info : io.error)(
        `import: verify ${values.verify}: max |ours − reference| = ${worst.toExponential(2)} ` +
          `(${ok ? "≤" : ">"} ${tolerance})`,
      );
      if (!ok) return 1;
    }
    const train: Record<string, unknown> = {
      ...ck.train,
      importedFrom: basename(input),
      sourceKind: ck.kind,
    };
    if (ck.generatorEma) train.weights = weights === "ema" ? `ema ${ck.emaDecay}` : "raw";
    if (trainedSize !== undefined) train.size = trainedSize;
    const bytes = await encodeCheckpoint({ G, options: ck.options, train }, { fp16: !!values.fp16 });
    try {
      await Deno.mkdir(dirname(output), { recursive: true });
      await atomicWrite(output, bytes);
    } catch (e) {
      io.error(`import: ${output}: cannot write (${errorLine(e)})`);
      return 1;
    }
    const params = G.parameterCount().toLocaleString("en-US");
    io.info(
      `import: ${input} (${ck.kind}) → ${output}: ${describeGenerator(c)}, ` +
        `${c.inputChannels}→${c.outputChannels} channels, ${params} parameters, ` +
        `${values.fp16 ? "F16" : "F32"}, ${(bytes.length / 1e6).toFixed(1)} MB` +
        (ck.generatorEma ? `, ${weights === "ema" ? `moving-average (${ck.emaDecay})` : "raw"} weights` : ""),
    );
    return 0;
  } finally {
    G.dispose();
  }
}

if (import.meta.main) {
  enterCallerDirectory();
  Deno.exit(await main(Deno.args));
}
