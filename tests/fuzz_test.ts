/**
 * Seeded, bounded fuzzing of everything that reads files a user hands over: the image decoders
 * (`decodeImage` for JPEG and PNG, and WebP through it and through the corpus builder's
 * `decodeAny`) and the checkpoint loader (`decodeSafetensors`, `decodeCheckpoint`). Valid files
 * made here are mutated (bit flips, truncation, inserted, overwritten, deleted or repeated bytes,
 * and declared sizes near 2^16, 2^31, 2^32, 2^53 and 2^64: a safetensors header length, shapes
 * and offsets, PNG IHDR and JPEG frame dimensions, WebP canvas sizes); every case must end in a
 * valid result or an Error whose message is one line naming the input, never a RangeError
 * ("Array buffer allocation failed"), TypeError, WebAssembly trap or other exception type.
 *
 * The cases run in a child process (this file as the main module) so that each one's time is
 * bounded and a crash is caught: a case that gives no answer within CASE_LIMIT_MS (a hang, not a
 * slow case: correct cases take milliseconds) or ends the process fails with its seed and number. The same SEED gives the same cases on every run;
 * FUZZ_SEED=n (and FUZZ_CASES=n) explores others.
 */

import { crc32 } from "node:zlib";
import { decodeImage, encodeImage, type RgbaImage } from "../cli/image.ts";
import { decodeAny } from "../cli/corpus/decode.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput } from "../engine/safetensors.ts";
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  decodeCheckpoint,
  unetTensorShapes,
} from "../models/checkpoint.ts";
import type { UnetConfig } from "../models/unet.ts";
import { Rng } from "../engine/random.ts";

const SEED = 20_250_601;
const CASES = 400;
/** No correct case comes near this; only a hang does. */
const CASE_LIMIT_MS = 10_000;

// ---------------------------------------------------------------------------
// Valid inputs.

function gradient(width: number, height: number): RgbaImage {
  const rgba = new Uint8Array(4 * width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      rgba.set([30 * x, 40 * y, 200 - 20 * x, 255 - 10 * y], 4 * (y * width + x));
    }
  }
  return { width, height, rgba };
}

/** A JPEG with an APP1 Exif segment (orientation 6), so the EXIF reader is fuzzed too. */
function jpegWithExif(jpeg: Uint8Array): Uint8Array {
  // "Exif\0\0", then a little-endian TIFF header and one IFD entry: tag 0x0112 (orientation), SHORT, 1, 6.
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
  const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const len = payload.length + 2;
  return Uint8Array.from([0xff, 0xd8, 0xff, 0xe1, len >> 8, len & 0xff, ...payload, ...jpeg.subarray(2)]);
}

const base64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** An 8×6 gradient with alpha as WebP: lossless (VP8L), and lossy with an alpha chunk (VP8X, ALPH, VP8). */
const WEBP_LOSSLESS = base64("UklGRi4AAABXRUJQVlA4TCIAAAAvB0ABEJmM6H9sChHR/4CQgDDH/42SBeNxZPaxnwDAWm8A");
const WEBP_LOSSY = base64(
  "UklGRogAAABXRUJQVlA4WAoAAAAQAAAABwAABQAAQUxQSB4AAAABL3D7/4iIAAbZRjqFUziFV3iF+buMIqL/Ges8XwBWUDggRAAAADAC" +
    "AJ0BKggABgACADQlsAJ0cgD7AAJg7XZoAP729NIrftxmV5tc/r/78Hyr+XRxA3+X+vRqT/VH/Tc8+jb/GekAAAAA",
);

const TINY: UnetConfig = { inputChannels: 1, outputChannels: 2, nDown: 5, ngf: 1, norm: "batch" };

/** A checkpoint of a one-filter U-Net, as train writes it (F32 or F16), built without a GPU. */
function checkpointBytes(dtype: "F32" | "F16"): Uint8Array {
  const tensors: Record<string, SafetensorsInput> = {};
  let k = 0;
  for (const [name, shape] of unetTensorShapes(TINY)) {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors[`generator.${name}`] = name.endsWith("num_batches_tracked")
      ? { dtype: "I64", shape, data: BigInt64Array.of(3n) }
      : {
        dtype,
        shape,
        data: Float32Array.from({ length: n }, () => Math.sin(++k) * 0.1 + (/var$/.test(name) ? 1 : 0)),
      };
  }
  return encodeSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    generator_config: JSON.stringify(TINY),
    train_state: JSON.stringify({ size: 32 }),
  });
}

/** A plain safetensors file with one tensor of several dtypes (not a checkpoint). */
function plainSafetensors(): Uint8Array {
  return encodeSafetensors({
    a: { dtype: "F64", shape: [2, 3], data: Float64Array.of(1, 2, 3, 4, 5, 6) },
    b: { dtype: "BF16", shape: [4], data: Float32Array.of(1, -2, 0.5, 8) },
    c: { dtype: "U8", shape: [3], data: Uint8Array.of(1, 2, 3) },
    d: { dtype: "I32", shape: [0, 5], data: new Int32Array(0) },
  }, { note: "fuzz" });
}

type Kind = "jpeg" | "png" | "webp" | "safetensors";
interface Seed {
  kind: Kind;
  label: string;
  bytes: Uint8Array;
}

function seeds(): Seed[] {
  const img = gradient(13, 9);
  const jpeg = encodeImage(img, "jpeg");
  return [
    { kind: "jpeg", label: "jpeg", bytes: jpeg },
    { kind: "jpeg", label: "jpeg+exif", bytes: jpegWithExif(jpeg) },
    { kind: "png", label: "png", bytes: encodeImage(img, "png") },
    { kind: "webp", label: "webp lossless", bytes: WEBP_LOSSLESS },
    { kind: "webp", label: "webp lossy+alpha", bytes: WEBP_LOSSY },
    { kind: "safetensors", label: "checkpoint f32", bytes: checkpointBytes("F32") },
    { kind: "safetensors", label: "checkpoint f16", bytes: checkpointBytes("F16") },
    { kind: "safetensors", label: "safetensors", bytes: plainSafetensors() },
  ];
}

// ---------------------------------------------------------------------------
// Mutations. Each returns the new bytes and what it did (printed with a failure).

/** Declared sizes that break naive arithmetic: around 2^16, 2^31, 2^32, 2^53 and 2^64. */
const HUGE = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32, 2 ** 53 - 1, 2 ** 53];

const pick = <T>(r: Rng, a: readonly T[]): T => a[Math.floor(r.next() * a.length)];
const int = (r: Rng, n: number) => Math.floor(r.next() * n);

function randomBytes(r: Rng, n: number): number[] {
  return Array.from({ length: n }, () => int(r, 256));
}

function generic(r: Rng, b: Uint8Array): [Uint8Array, string] {
  const out = b.slice();
  switch (int(r, 6)) {
    case 0: {
      const flips = 1 + int(r, 8);
      for (let i = 0; i < flips; i++) out[int(r, out.length)] ^= 1 << int(r, 8);
      return [out, `${flips} bit flips`];
    }
    case 1: {
      const at = int(r, b.length);
      return [b.slice(0, at), `truncated to ${at} bytes`];
    }
    case 2: {
      const at = int(r, b.length + 1), add = randomBytes(r, 1 + int(r, 16));
      return [
        Uint8Array.from([...b.subarray(0, at), ...add, ...b.subarray(at)]),
        `${add.length} bytes inserted at ${at}`,
      ];
    }
    case 3: {
      const at = int(r, b.length), n = Math.min(1 + int(r, 32), b.length - at);
      out.set(randomBytes(r, n), at);
      return [out, `${n} bytes overwritten at ${at}`];
    }
    case 4: {
      const at = int(r, b.length), n = 1 + int(r, 64);
      return [Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + n)]), `${n} bytes deleted at ${at}`];
    }
    default: {
      const at = int(r, b.length), n = 1 + int(r, 64), times = 1 + int(r, 50);
      const run = b.subarray(at, at + n);
      const rep = new Uint8Array(run.length * times);
      for (let i = 0; i < times; i++) rep.set(run, i * run.length);
      return [
        Uint8Array.from([...b.subarray(0, at), ...rep, ...b.subarray(at)]),
        `${run.length} bytes at ${at} ×${times}`,
      ];
    }
  }
}

/** A PNG with its IHDR width or height replaced (and the CRC fixed, so the change gets past the CRC check). */
function pngSize(r: Rng, b: Uint8Array): [Uint8Array, string] {
  const out = b.slice();
  const view = new DataView(out.buffer);
  const field = pick(r, ["width", "height", "both"] as const);
  const v = pick(r, HUGE.filter((h) => h <= 0xffffffff));
  if (field !== "height") view.setUint32(16, v);
  if (field !== "width") view.setUint32(20, field === "both" ? pick(r, [1, 0x4000, 0x7fffffff]) : v);
  view.setUint32(29, crc32(out.subarray(12, 29)));
  return [out, `IHDR ${view.getUint32(16)}×${view.getUint32(20)}`];
}

/** A JPEG with its frame size (SOF0, 16 bits each) replaced. */
function jpegSize(r: Rng, b: Uint8Array): [Uint8Array, string] {
  const out = b.slice();
  let sof = -1;
  for (let i = 2; i + 9 < out.length; i++) if (out[i] === 0xff && out[i + 1] === 0xc0) sof = i;
  const w = pick(r, [0, 1, 0xffff, 0x8000, 15000]), h = pick(r, [0, 1, 0xffff, 0x8000, 15000]);
  new DataView(out.buffer).setUint16(sof + 5, h);
  new DataView(out.buffer).setUint16(sof + 7, w);
  return [out, `SOF0 ${w}×${h}`];
}

/** A WebP with its RIFF size, VP8L 14-bit sizes or VP8X 24-bit canvas size replaced. */
function webpSize(r: Rng, b: Uint8Array): [Uint8Array, string] {
  const out = b.slice();
  const view = new DataView(out.buffer);
  const chunk = String.fromCharCode(...out.subarray(12, 16));
  if (r.next() < 0.3) {
    const v = pick(r, HUGE.filter((h) => h <= 0xffffffff));
    view.setUint32(4, v, true);
    return [out, `RIFF size ${v}`];
  }
  if (chunk === "VP8L") {
    // 14 bits of width − 1 and 14 of height − 1 after the 0x2f signature at byte 20.
    const w = pick(r, [1, 0x4000, 0x2000]), h = pick(r, [1, 0x4000, 0x2000]);
    const bits = view.getUint32(21, true) & 0xf0000000;
    view.setUint32(21, bits | ((h - 1) << 14) | (w - 1), true);
    return [out, `VP8L ${w}×${h}`];
  }
  // VP8X: canvas width − 1 and height − 1 in 24 bits each at bytes 24 and 27.
  const w = pick(r, [1, 0x1000000, 0x4000, 0x800000]), h = pick(r, [1, 0x1000000, 0x4000, 0x800000]);
  for (const [at, v] of [[24, w - 1], [27, h - 1]]) {
    out.set([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff], at);
  }
  return [out, `VP8X canvas ${w}×${h}`];
}

/** A safetensors file with its header length, or a shape or offsets in its header, replaced. */
function safetensorsSize(r: Rng, b: Uint8Array): [Uint8Array, string] {
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  if (r.next() < 0.4) {
    const out = b.slice();
    const v = pick(r, [
      ...HUGE.map(BigInt),
      2n ** 64n - 1n,
      BigInt(b.length - 8),
      BigInt(b.length - 7),
      BigInt(n + 1),
      BigInt(n - 1),
      100_000_001n,
    ]);
    new DataView(out.buffer).setBigUint64(0, v, true);
    return [out, `header length ${v}`];
  }
  // Rewrite the header with a generator_config field, or one tensor's shape or data_offsets, changed;
  // the data stay as they were.
  const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n)));
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const name = pick(r, names);
  const entry = header[name];
  const v = pick(r, [...HUGE, -1, 1.5, 1e308, "7", null]);
  let what: string;
  const meta = header.__metadata__;
  if (meta?.generator_config && r.next() < 0.3) {
    const config = JSON.parse(meta.generator_config);
    const field = pick(r, ["nDown", "ngf", "inputChannels", "outputChannels", "norm"]);
    config[field] = pick(r, [...HUGE, 6, 17, 100_000, -1, 1.5, "batch", null]);
    meta.generator_config = JSON.stringify(config);
    what = `generator_config ${meta.generator_config}`;
  } else if (r.next() < 0.5) {
    const shape = entry.shape.length ? entry.shape : [1];
    shape[int(r, shape.length)] = v;
    if (r.next() < 0.3) shape.push(pick(r, HUGE));
    entry.shape = shape;
    what = `shape of ${name} = ${JSON.stringify(shape)}`;
  } else {
    entry.data_offsets[int(r, 2)] = v;
    what = `data_offsets of ${name} = ${JSON.stringify(entry.data_offsets)}`;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + (b.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(b.subarray(8 + n), 8 + json.length);
  return [out, what];
}

const SIZE_MUTATION: Record<Kind, (r: Rng, b: Uint8Array) => [Uint8Array, string]> = {
  jpeg: jpegSize,
  png: pngSize,
  webp: webpSize,
  safetensors: safetensorsSize,
};

/** Case `i` of `seed`: the same bytes on every run. */
function makeCase(all: Seed[], seed: number, i: number): { s: Seed; bytes: Uint8Array; what: string } {
  const r = new Rng(seed ^ Math.imul(i + 1, 0x9e3779b1));
  const s = all[i % all.length];
  let [bytes, what] = r.next() < 0.35 ? SIZE_MUTATION[s.kind](r, s.bytes) : generic(r, s.bytes);
  // Now and then a second mutation on top of the first.
  if (r.next() < 0.2 && bytes.length > 0) {
    const [more, how] = generic(r, bytes);
    bytes = more;
    what += `, then ${how}`;
  }
  return { s, bytes, what };
}

// ---------------------------------------------------------------------------
// Running one case.

/** Built-in error types that mean a decoder bug leaked out (not a one-line refusal of the bytes). */
const LEAKS = [
  RangeError,
  TypeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
  WebAssembly.RuntimeError,
  WebAssembly.CompileError,
  WebAssembly.LinkError,
];

/** What went wrong with a case's outcome, or null when it is a valid result or a proper error. */
function judge(name: string, outcome: { value?: unknown; error?: unknown }): string | null {
  if ("error" in outcome) {
    const e = outcome.error;
    if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
    const leak = LEAKS.find((T) => e instanceof T);
    if (leak) return `${e.name} leaked: ${e.message.split("\n")[0]}`;
    if (e.message.includes("\n")) {
      return `message of ${e.message.split("\n").length} lines: ${JSON.stringify(e.message)}`;
    }
    if (!e.message.startsWith(`${name}: `) && !e.message.startsWith("safetensors: ")) {
      return `message does not name the input: ${e.message}`;
    }
    return null;
  }
  const v = outcome.value as { width?: number; height?: number; rgba?: Uint8Array } | undefined;
  if (v && typeof v.width === "number") {
    if (!(v.width > 0 && v.height! > 0) || v.rgba?.length !== 4 * v.width * v.height!) {
      return `invalid image: ${v.width}×${v.height} with ${v.rgba?.length} bytes`;
    }
  }
  return null;
}

/** Every decoder the kind goes through, each with its own outcome. */
async function runCase(kind: Kind, bytes: Uint8Array): Promise<string[]> {
  const name = "case.bin";
  const targets: [string, () => unknown][] = kind === "safetensors"
    ? [["decodeSafetensors", () => decodeSafetensors(bytes)], [
      "decodeCheckpoint",
      () => decodeCheckpoint(bytes, name),
    ]]
    : [["decodeImage", () => decodeImage(bytes, name)]];
  if (kind === "webp") targets.push(["decodeAny", () => decodeAny(bytes, name)]);
  const problems: string[] = [];
  for (const [target, f] of targets) {
    let outcome: { value?: unknown; error?: unknown };
    try {
      outcome = { value: await f() };
    } catch (error) {
      outcome = { error };
    }
    const p = judge(name, outcome);
    if (p) problems.push(`${target}: ${p}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// A child process runs the cases and reports each on a line of its own; the test bounds each case's
// time and sees a crash (a fatal out-of-memory, say) as a failure of the case that was running.

type Report =
  | { type: "start"; i: number; what: string }
  | { type: "done"; i: number; problems: string[] }
  | { type: "end" };

/** Marks the report lines among anything else a decoder might print. */
const MARK = "FUZZ ";

if (import.meta.main) {
  const [seed, from, to] = Deno.args.map(Number);
  const enc = new TextEncoder();
  const post = (m: Report) => Deno.stdout.writeSync(enc.encode(MARK + JSON.stringify(m) + "\n"));
  const all = seeds();
  for (let i = from; i < to; i++) {
    const { s, bytes, what } = makeCase(all, seed, i);
    post({ type: "start", i, what: `${s.label}: ${what}` });
    post({ type: "done", i, problems: await runCase(s.kind, bytes) });
  }
  post({ type: "end" });
}

/**
 * Runs cases `from`…`to − 1` of `seed` in a child process, adding a line to `failures` per failed
 * case; returns the case after the one that hung or crashed the process (the rest still need a
 * run), or `to` when the child got through.
 */
async function runChild(seed: number, from: number, to: number, failures: string[]): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    // Type-checked already, as part of this test.
    args: [
      "run",
      "--no-check",
      "--allow-read",
      "--allow-env",
      new URL(import.meta.url).pathname,
      `${seed}`,
      `${from}`,
      `${to}`,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let current = { i: from - 1, what: "(starting)" };
  const at = () => `seed ${seed} case ${current.i} (${current.what})`;
  let ended = false, timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, CASE_LIMIT_MS);
  };
  arm();
  let buffered = "";
  try {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (buffered + chunk).split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith(MARK)) continue;
        const m: Report = JSON.parse(line.slice(MARK.length));
        if (m.type === "start") {
          current = m;
          arm();
        } else if (m.type === "done") {
          for (const p of m.problems) failures.push(`${at()}: ${p}`);
        } else ended = true;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  const status = await child.status;
  if (ended && status.success) return to;
  if (timedOut) failures.push(`${at()}: no result within ${CASE_LIMIT_MS} ms`);
  else {
    // The last lines of its stderr, without the "Stack backtrace" that Deno adds on a crash.
    const last = (await stderr).split("\n")
      .filter((l) => l.trim() && !/^\s*(Stack backtrace:|\d+: <unknown>)/.test(l))
      .slice(-3).join(" | ");
    failures.push(`${at()}: the process ended (exit code ${status.code}, signal ${status.signal}): ${last}`);
  }
  // A crash before the first case would crash every rerun too.
  return current.i < from ? to : current.i + 1;
}

Deno.test("fuzz: mutated JPEG, PNG, WebP and safetensors files give a result or a one-line error, never a leak or a hang", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? SEED);
  const cases = Number(Deno.env.get("FUZZ_CASES") ?? CASES);
  const failures: string[] = [];
  for (let next = 0; next < cases;) next = await runChild(seed, next, cases, failures);
  console.log(`fuzz: seed ${seed}, ${cases} cases, ${failures.length} failed`);
  if (failures.length) throw new Error(`${failures.length} fuzz cases failed:\n${failures.join("\n")}`);
});

Deno.test("fuzz finding: a WebP chunk whose name holds a line break is named on one line (seed 7, case 388)", async () => {
  const bytes = WEBP_LOSSY.slice();
  // The chunk after VP8X (ALPH, at byte 30) renamed "\nxy1" and given a length past the RIFF data.
  bytes.set([0x0a, 0x78, 0x79, 0x31, 0xff, 0xff, 0xff, 0x7f], 30);
  for (const decode of [decodeImage, decodeAny]) {
    let message = "";
    try {
      await decode(bytes, "case.webp");
    } catch (e) {
      message = (e as Error).message;
    }
    if (!message.startsWith("case.webp: ") || message.includes("\n")) {
      throw new Error(`${decode.name}: not a one-line error: ${JSON.stringify(message)}`);
    }
  }
});
