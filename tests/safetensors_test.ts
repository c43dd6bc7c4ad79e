/**
 * safetensors: round trips, byte-level examples built by hand, half-precision
 * conversions and every malformed-input error. Code: engine/safetensors.ts.
 * No GPU needed.
 */
import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import {
  decodeSafetensors,
  DTYPE_SIZE,
  encodeSafetensors,
  float16BitsToFloat32,
  float16ToFloat32Array,
  float32ToBfloat16Bits,
  float32ToFloat16Array,
  float32ToFloat16Bits,
  type SafetensorsEntry,
  toFloat32,
} from "../engine/safetensors.ts";
import { errorOf, rng } from "./helpers.ts";

/** A file from a header (object or raw JSON text) and data bytes, with the header padded as given. */
function build(header: unknown, data: ArrayLike<number> = [], pad = true): Uint8Array {
  let json = typeof header === "string" ? header : JSON.stringify(header);
  if (pad) json = json.padEnd(Math.ceil(json.length / 8) * 8, " ");
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

Deno.test("safetensors: hand-built bytes decode to the values written", () => {
  // Header: 92 bytes of JSON padded with 4 spaces to 96. Data: f32 1.0 = 00 00 80 3F,
  // f32 −2.0 = 00 00 00 C0, then f16 0.5 = 0x3800 stored as 00 38.
  const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"b":{"dtype":"F16","shape":[1,1],"data_offsets":[8,10]}}';
  const header = json + " ".repeat((8 - (json.length % 8)) % 8);
  const bytes = new Uint8Array([
    ...[header.length, 0, 0, 0, 0, 0, 0, 0],
    ...[...header].map((c) => c.charCodeAt(0)),
    ...[0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0],
    ...[0x00, 0x38],
  ]);
  const f = decodeSafetensors(bytes);
  assertEquals(f.metadata, { format: "pt" });
  assertEquals(Object.keys(f.tensors).sort(), ["a", "b"]);
  assertEquals(f.tensors.a.dtype, "F32");
  assertEquals(f.tensors.a.shape, [2]);
  assertEquals([...toFloat32(f.tensors.a)], [1, -2]);
  assertEquals(f.tensors.b.shape, [1, 1]);
  assertEquals([...toFloat32(f.tensors.b)], [0.5]);
  // Decoding takes views: no copy of the data section.
  assertEquals(f.tensors.a.data.buffer, bytes.buffer);
});

Deno.test("safetensors: unpadded header as in the reference implementation's tests", () => {
  // 60-byte header (not a multiple of 8; older writers did not pad) and a 2×2 I32 tensor of zeros.
  const json = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
  assertEquals(json.length, 60);
  const f = decodeSafetensors(build(json, new Uint8Array(16), false));
  assertEquals(f.tensors.test.shape, [2, 2]);
  assertEquals([...toFloat32(f.tensors.test)], [0, 0, 0, 0]);
  assertEquals(f.metadata, {});
});

Deno.test("safetensors: round trip of every kind of input, aligned and sorted", () => {
  const w = Float32Array.from(rng(1).uniform(3 * 5 * 2));
  const f64 = Float64Array.from([Math.PI, -1e300, 5e-324]);
  const tensors = {
    "conv.weight": { dtype: "F32" as const, shape: [3, 5, 2], data: w },
    "half": { dtype: "F16" as const, shape: [4], data: Float32Array.from([1, -0.1, 65504, 1e-7]) },
    "brain": { dtype: "BF16" as const, shape: [2], data: Float32Array.from([1, 3.14159]) },
    "double": { dtype: "F64" as const, shape: [3], data: f64 },
    "bn.num_batches_tracked": { dtype: "I64" as const, shape: [], data: BigInt64Array.from([123n]) },
    "ints": { dtype: "I32" as const, shape: [3], data: Int32Array.from([-7, 0, 2147483647]) },
    "raw": { dtype: "U8" as const, shape: [5], data: Uint8Array.from([1, 2, 3, 4, 5]) },
    "empty": { dtype: "F32" as const, shape: [0, 4], data: new Float32Array(0) },
    "a_first_by_name": { dtype: "F16" as const, shape: [1], data: Uint8Array.from([0x00, 0x3c]) },
  };
  const bytes = encodeSafetensors(tensors, { format: "pt", note: "ünïcödé" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0, "header padded to a multiple of 8");
  const f = decodeSafetensors(bytes);
  assertEquals(f.metadata, { format: "pt", note: "ünïcödé" });
  assertEquals(Object.keys(f.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    assertEquals(f.tensors[name].dtype, t.dtype, name);
    assertEquals(f.tensors[name].shape, t.shape, name);
  }
  assertEquals(toFloat32(f.tensors["conv.weight"]), w);
  // F16 rounds: −0.1 → −0.0999755859375, 1e−7 = 1.68·2^−24 → 2·2^−24 (subnormal), 65504 is the largest finite.
  assertEquals([...toFloat32(f.tensors.half)], [1, -0.0999755859375, 65504, 2 * 2 ** -24]);
  // BF16 keeps 8 significant bits: 3.14159 → 3.140625.
  assertEquals([...toFloat32(f.tensors.brain)], [1, 3.140625]);
  assertEquals(new Float64Array(f.tensors.double.data.slice().buffer), f64);
  assertEquals([...toFloat32(f.tensors.double)], [...Float32Array.from(f64)]);
  assertEquals([...toFloat32(f.tensors["bn.num_batches_tracked"])], [123]);
  assertEquals([...toFloat32(f.tensors.ints)], [-7, 0, 2147483648]); // f32 rounding of 2^31 − 1
  assertEquals([...f.tensors.raw.data], [1, 2, 3, 4, 5]);
  assertEquals(toFloat32(f.tensors.empty).length, 0);
  assertEquals([...toFloat32(f.tensors.a_first_by_name)], [1]);
  // Storage order: larger elements first, then by name, so each tensor is aligned to its element size.
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const order = Object.entries(header)
    .filter(([k]) => k !== "__metadata__")
    .sort((a, b) =>
      (a[1] as { data_offsets: number[] }).data_offsets[0] -
      (b[1] as { data_offsets: number[] }).data_offsets[0]
    )
    .map(([k]) => k);
  assertEquals(order, [
    "bn.num_batches_tracked",
    "double",
    "conv.weight",
    "empty",
    "ints",
    "a_first_by_name",
    "brain",
    "half",
    "raw",
  ]);
  for (const e of Object.values(f.tensors)) {
    assertEquals(
      e.data.byteOffset % DTYPE_SIZE[e.dtype],
      0,
      `${e.dtype} tensor at offset ${e.data.byteOffset}`,
    );
  }
  // Encoding is deterministic: the same tensors give the same bytes.
  assertEquals(encodeSafetensors(tensors, { format: "pt", note: "ünïcödé" }), bytes);
});

Deno.test("float16: special values, rounding to nearest even, all 65536 patterns", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // largest finite
    [65519.99, 0x7bff], // below the midpoint to infinity
    [65520, 0x7c00], // the midpoint 65504 + 16 rounds to even: infinity
    [1e6, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -25, 0x0000], // half the smallest subnormal: tie, rounds to even (0)
    [1.5 * 2 ** -25, 0x0001], // above the tie
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2: rounds to even (2)
    [2 ** -26, 0x0000],
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: even (the latter)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
  ];
  for (const [x, bits] of cases) {
    assertEquals(float32ToFloat16Bits(x), bits, `bits of ${x}`);
  }
  assertEquals(Object.is(float16BitsToFloat32(0x8000), -0), true, "-0 decodes to -0");
  assertEquals(float16BitsToFloat32(0x0001), 2 ** -24);
  assertEquals(float16BitsToFloat32(0x7bff), 65504);
  assertEquals(float16BitsToFloat32(0xfc00), -Infinity);
  assertEquals(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN))), true, "NaN stays NaN");
  // Every half value converts back to its own bits (NaNs to some NaN).
  for (let h = 0; h < 65536; h++) {
    const v = float16BitsToFloat32(h);
    if (Number.isNaN(v)) {
      assertEquals(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(v))), true);
    } else if (float32ToFloat16Bits(v) !== h) {
      throw new Error(`pattern ${h.toString(16)} → ${v} → ${float32ToFloat16Bits(v).toString(16)}`);
    }
  }
  // An independent reference: V8's Math.f16round (round to nearest even) on 100k f32 values of all scales.
  const f16round = (Math as unknown as { f16round(x: number): number }).f16round;
  const r = rng(3);
  const xs = new Float32Array(100000);
  for (let i = 0; i < xs.length; i++) xs[i] = (r.next() - 0.5) * 2 ** (Math.floor(r.next() * 60) - 30);
  const back = float16ToFloat32Array(float32ToFloat16Array(xs));
  for (let i = 0; i < xs.length; i++) {
    if (!Object.is(back[i], f16round(xs[i]))) {
      throw new Error(`f16 of ${xs[i]}: got ${back[i]}, Math.f16round says ${f16round(xs[i])}`);
    }
  }
});

Deno.test("bfloat16: rounding to nearest even and specials", () => {
  assertEquals(float32ToBfloat16Bits(1), 0x3f80);
  assertEquals(float32ToBfloat16Bits(-2), 0xc000);
  assertEquals(float32ToBfloat16Bits(Infinity), 0x7f80);
  // 1 + 2^-8 is the tie between 1 and 1 + 2^-7: even (1); 1 + 3·2^-8 ties up to 1 + 2^-6.
  assertEquals(float32ToBfloat16Bits(1 + 2 ** -8), 0x3f80);
  assertEquals(float32ToBfloat16Bits(1 + 3 * 2 ** -8), 0x3f82);
  const nan = float32ToBfloat16Bits(NaN);
  assertEquals((nan & 0x7f80) === 0x7f80 && (nan & 0x7f) !== 0, true, "NaN stays NaN");
});

Deno.test("safetensors: malformed files give errors that say what is wrong", () => {
  const tensor = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
  const cases: [string, Uint8Array, string][] = [
    [
      "too short",
      new Uint8Array(5),
      "safetensors: file of 5 bytes is too short for the 8-byte header length",
    ],
    [
      "header length beyond file",
      (() => {
        const b = build({ t: tensor }, new Uint8Array(8));
        new DataView(b.buffer).setBigUint64(0, 999999n, true);
        return b;
      })(),
      "safetensors: header length 999999 exceeds file size 72",
    ],
    [
      "absurd header length",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
        return b;
      })(),
      "safetensors: header length 18446744073709551615 exceeds file size 16",
    ],
    ["bad JSON", build('{"t": {"dtype": "F32",'), "safetensors: header is not valid JSON"],
    ["JSON array", build("[1, 2]"), "safetensors: header is not a JSON object"],
    ["bad UTF-8", build(new TextDecoder("latin1").decode(new Uint8Array([0x7b, 0xff, 0x7d]))), "not valid"],
    [
      "unknown dtype",
      build({ t: { ...tensor, dtype: "F31" } }, new Uint8Array(8)),
      'tensor "t": unknown dtype "F31"',
    ],
    [
      "bad shape",
      build({ t: { ...tensor, shape: [2, -1] } }, new Uint8Array(8)),
      'tensor "t": invalid shape [2,-1]',
    ],
    [
      "reversed offsets",
      build({ t: { ...tensor, data_offsets: [8, 0] } }, new Uint8Array(8)),
      'tensor "t": invalid data_offsets [8,0]',
    ],
    [
      "truncated data",
      build({ t: tensor }, new Uint8Array(5)),
      'tensor "t": data_offsets [0, 8] go past the end of the 5-byte data section (truncated file?)',
    ],
    [
      "size mismatch",
      build({ t: { ...tensor, shape: [3] } }, new Uint8Array(8)),
      'tensor "t": has 8 bytes but shape [3] of F32 needs 12',
    ],
    [
      "overlap",
      build({ a: tensor, b: { ...tensor, data_offsets: [4, 12] } }, new Uint8Array(12)),
      'tensors "a" and "b" overlap (bytes 0–8 and 4–12)',
    ],
    [
      "metadata not strings",
      build({ __metadata__: { epoch: 3 }, t: tensor }, new Uint8Array(8)),
      '__metadata__ "epoch" is not a string',
    ],
    ["entry not an object", build({ t: 5 }), 'tensor "t": entry is not an object'],
  ];
  for (const [what, bytes, msg] of cases) {
    const err = errorOf(() => decodeSafetensors(bytes));
    if (!err.includes(msg)) throw new Error(`${what}: expected "${msg}" in "${err}"`);
    if (!err.startsWith("safetensors: ")) {
      throw new Error(`${what}: message should start with "safetensors: "`);
    }
  }
  // A real file cut short anywhere is rejected, never read as garbage.
  const good = encodeSafetensors({ w: { dtype: "F32", shape: [4], data: new Float32Array(4) } });
  for (const cut of [4, 8, 20, good.length - 1]) {
    assertThrows(() => decodeSafetensors(good.subarray(0, cut)), /safetensors: /, `cut at ${cut}`);
  }
});

Deno.test("safetensors: encoding errors name the tensor and the problem", () => {
  const cases: [() => unknown, string][] = [
    [
      () => encodeSafetensors({ w: { dtype: "F32", shape: [3], data: new Float32Array(2) } }),
      'safetensors: tensor "w": 2 values given, shape [3] needs 3',
    ],
    [
      () => encodeSafetensors({ w: { dtype: "F32", shape: [3], data: new Uint8Array(4) } }),
      'tensor "w": 4 bytes given, shape [3] of F32 needs 12',
    ],
    [
      () => encodeSafetensors({ w: { dtype: "I64", shape: [1], data: new Float32Array(1) } }),
      'tensor "w": Float32Array cannot be stored as I64',
    ],
    [
      () => encodeSafetensors({ w: { dtype: "F16", shape: [1], data: new Int32Array(1) } }),
      'tensor "w": Int32Array has 4-byte elements, F16 2',
    ],
    [
      () => encodeSafetensors({ __metadata__: { dtype: "U8", shape: [0], data: new Uint8Array(0) } }),
      'invalid tensor name "__metadata__"',
    ],
    [
      () => encodeSafetensors({ w: { dtype: "U8", shape: [1.5], data: new Uint8Array(1) } }),
      'tensor "w": invalid shape [1.5]',
    ],
  ];
  for (const [fn, msg] of cases) {
    const err = errorOf(fn);
    if (!err.includes(msg)) throw new Error(`expected "${msg}" in "${err}"`);
  }
});

Deno.test("toFloat32: integer dtypes and unsupported FP8", () => {
  const entry = (
    dtype: SafetensorsEntry["dtype"],
    bytes: number[],
    shape = [bytes.length],
  ): SafetensorsEntry => ({
    dtype,
    shape,
    data: Uint8Array.from(bytes),
  });
  assertEquals([...toFloat32(entry("I8", [0xff, 0x02]))], [-1, 2]);
  assertEquals([...toFloat32(entry("U16", [0x01, 0x01], [1]))], [257]);
  assertEquals([...toFloat32(entry("I16", [0xfe, 0xff], [1]))], [-2]);
  assertEquals([...toFloat32(entry("I64", [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [1]))], [-1]);
  assertEquals([...toFloat32(entry("BOOL", [1, 0]))], [1, 0]);
  assertThrows(() => toFloat32(entry("F8_E4M3", [0])), /toFloat32: dtype F8_E4M3 is not supported/);
  // Unaligned views (a tensor at an odd offset in the file) still convert.
  const buf = new Uint8Array([9, 0, 0, 0x80, 0x3f]);
  assertEquals([...toFloat32({ dtype: "F32", shape: [1], data: buf.subarray(1) })], [1]);
});
