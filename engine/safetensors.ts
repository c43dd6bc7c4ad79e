/**
 * The safetensors format (as written by Hugging Face's `safetensors` library),
 * on bytes in memory so that it works the same in Deno and in a browser:
 *
 *   [u64 little-endian N][N bytes of JSON header, space-padded][data section]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]}
 * (offsets relative to the data section) and may hold "__metadata__", a map of
 * strings. Also here: float16 / bfloat16 conversions for half-precision checkpoints.
 */

/** Element types of the format. */
export type Dtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL"
  | "F8_E4M3"
  | "F8_E5M2";

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** Typed arrays accepted as tensor data when encoding. */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** A tensor to encode. A Uint8Array is taken as the raw little-endian bytes; a Float32Array or
 * Float64Array is converted to a float dtype (F64, F32, F16, BF16); any other array must have
 * the dtype's element size and is stored as is. */
export interface SafetensorsInput {
  /** The dtype written to the header (and, for float arrays, converted to). */
  dtype: Dtype;
  /** Dimensions; their product must match the element count of `data`. */
  shape: readonly number[];
  /** The values, or raw little-endian bytes as a Uint8Array. */
  data: TensorData;
}

/** A decoded tensor: `data` is a view of the file's bytes (no copy), little-endian. */
export interface SafetensorsEntry {
  /** The stored element type; {@link toFloat32} converts the float ones. */
  dtype: Dtype;
  /** Dimensions as stored in the header. */
  shape: number[];
  /** The tensor's raw bytes (not necessarily aligned for a typed-array view). */
  data: Uint8Array;
}

/** A decoded file. */
export interface SafetensorsFile {
  /** Every tensor by name. */
  tensors: Record<string, SafetensorsEntry>;
  /** The header's `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
}

/** Headers larger than this are refused, as by the reference implementation (guards against garbage). */
export const MAX_HEADER = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(msg: string): never {
  throw new Error(`safetensors: ${msg}`);
}

function isDtype(v: unknown): v is Dtype {
  return typeof v === "string" && Object.hasOwn(DTYPE_SIZE, v);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Reverses the bytes of each element in place (only needed on big-endian hosts). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function toBytes(name: string, t: SafetensorsInput): Uint8Array {
  const size = DTYPE_SIZE[t.dtype];
  const n = numel(t.shape);
  const { data } = t;
  if (data instanceof Uint8Array) {
    if (data.length !== n * size) {
      fail(
        `tensor "${name}": ${data.length} bytes given, shape ${fmt(t.shape)} of ${t.dtype} needs ${n * size}`,
      );
    }
    return data;
  }
  if (data.length !== n) {
    fail(`tensor "${name}": ${data.length} values given, shape ${fmt(t.shape)} needs ${n}`);
  }
  let out: Uint8Array;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    switch (t.dtype) {
      case "F32":
        out = new Uint8Array(Float32Array.from(data).buffer);
        break;
      case "F64":
        out = new Uint8Array(Float64Array.from(data).buffer);
        break;
      case "F16":
        out = new Uint8Array(float32ToFloat16Array(data).buffer);
        break;
      case "BF16":
        out = new Uint8Array(float32ToBfloat16Array(data).buffer);
        break;
      default:
        fail(`tensor "${name}": ${data.constructor.name} cannot be stored as ${t.dtype}`);
    }
  } else {
    if (data.BYTES_PER_ELEMENT !== size) {
      fail(
        `tensor "${name}": ${data.constructor.name} has ${data.BYTES_PER_ELEMENT}-byte elements, ${t.dtype} ${size}`,
      );
    }
    out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (LITTLE_ENDIAN) return out;
    out = out.slice();
  }
  if (!LITTLE_ENDIAN) swapBytes(out, size);
  return out;
}

/**
 * Serialises tensors and optional string metadata. Tensors are stored by
 * decreasing element size, then by name, so every tensor's data starts at an
 * offset that is a multiple of its element size (the data section itself starts
 * 8-byte aligned): a reader can then view it as a typed array without copying.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = Object.entries(tensors).map(([name, t]) => {
    if (name === "" || name === "__metadata__") fail(`invalid tensor name "${name}"`);
    if (!isDtype(t.dtype)) fail(`tensor "${name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`tensor "${name}": invalid shape ${JSON.stringify(t.shape)}`);
    }
    return { name, dtype: t.dtype, shape: [...t.shape], bytes: toBytes(name, t) };
  });
  entries.sort((a, b) =>
    DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") fail(`metadata "${k}" is ${typeof v}, not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const e of entries) {
    out.set(e.bytes, pos);
    pos += e.bytes.length;
  }
  return out;
}

/**
 * Parses and validates a safetensors file. Errors say what is wrong with the
 * bytes (truncated file, header length beyond the file, bad JSON, unknown dtype,
 * offsets out of range or overlapping, size not matching shape × dtype).
 */
export function decodeSafetensors(input: Uint8Array | ArrayBuffer): SafetensorsFile {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < 8) fail(`file of ${bytes.length} bytes is too short for the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) fail(`header length ${n64} exceeds file size ${bytes.length}`);
  const n = Number(n64);
  if (n > MAX_HEADER) fail(`header length ${n} is over the ${MAX_HEADER}-byte limit`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const tensors: Record<string, SafetensorsEntry> = {};
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail("__metadata__ is not an object of strings");
      }
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string") fail(`__metadata__ "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof value !== "object" || value === null) fail(`tensor "${name}": entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`tensor "${name}": invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      offsets.some((o) => !Number.isSafeInteger(o) || o < 0) || offsets[0] > offsets[1]
    ) {
      fail(`tensor "${name}": invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > data.length) {
      fail(
        `tensor "${name}": data_offsets [${begin}, ${end}] go past the end of the ` +
          `${data.length}-byte data section (truncated file?)`,
      );
    }
    const need = numel(shape) * DTYPE_SIZE[dtype];
    if (end - begin !== need) {
      fail(`tensor "${name}": has ${end - begin} bytes but shape ${fmt(shape)} of ${dtype} needs ${need}`);
    }
    tensors[name] = { dtype, shape: [...shape], data: data.subarray(begin, end) };
    if (end > begin) ranges.push({ name, begin, end });
  }
  ranges.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const p = ranges[i - 1], c = ranges[i];
    if (c.begin < p.end) {
      fail(`tensors "${p.name}" and "${c.name}" overlap (bytes ${p.begin}–${p.end} and ${c.begin}–${c.end})`);
    }
  }
  return { tensors, metadata };
}

/** A copy of the entry's bytes in a fresh, aligned buffer, in host byte order. */
function aligned(entry: SafetensorsEntry): ArrayBuffer {
  const copy = entry.data.slice();
  if (!LITTLE_ENDIAN) swapBytes(copy, DTYPE_SIZE[entry.dtype]);
  return copy.buffer;
}

/**
 * The values of a decoded tensor as float32, from F32, F16, BF16, F64 and the
 * integer types (I64 counters such as BatchNorm's num_batches_tracked become
 * floats, exact below 2^24). FP8 is not supported.
 */
export function toFloat32(entry: SafetensorsEntry): Float32Array {
  const buf = aligned(entry);
  switch (entry.dtype) {
    case "F32":
      return new Float32Array(buf);
    case "F64":
      return Float32Array.from(new Float64Array(buf));
    case "F16":
      return float16ToFloat32Array(new Uint16Array(buf));
    case "BF16": {
      const h = new Uint16Array(buf);
      const bits = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case "I64":
      return Float32Array.from(new BigInt64Array(buf), Number);
    case "U64":
      return Float32Array.from(new BigUint64Array(buf), Number);
    case "I32":
      return Float32Array.from(new Int32Array(buf));
    case "U32":
      return Float32Array.from(new Uint32Array(buf));
    case "I16":
      return Float32Array.from(new Int16Array(buf));
    case "U16":
      return Float32Array.from(new Uint16Array(buf));
    case "I8":
      return Float32Array.from(new Int8Array(buf));
    case "U8":
    case "BOOL":
      return Float32Array.from(new Uint8Array(buf));
    default:
      throw new Error(`toFloat32: dtype ${entry.dtype} is not supported`);
  }
}

// ---------------------------------------------------------------------------
// Half precision.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a number, rounded to nearest, ties to even; overflow gives ±inf, NaN stays NaN. */
export function float32ToFloat16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal in f16 (or zero): shift the full significand, then round on the dropped bits.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent, up to inf.
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** The value of IEEE binary16 bits. */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let f16Table: Float32Array | null = null;

/** Converts binary16 bits to float32 (a 256 KiB lookup table, built on first use, makes this fast). */
export function float16ToFloat32Array(src: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = float16BitsToFloat32(h);
  }
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16Table[src[i]];
  return out;
}

/** Converts values to binary16 bits with round-to-nearest-even. */
export function float32ToFloat16Array(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = float32ToFloat16Bits(src[i]);
  return out;
}

/** bfloat16 bits of a number (the top half of its float32 bits, rounded to nearest even). */
export function float32ToBfloat16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Converts values to bfloat16 bits with round-to-nearest-even. */
export function float32ToBfloat16Array(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = float32ToBfloat16Bits(src[i]);
  return out;
}
