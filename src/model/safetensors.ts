// Reading and writing the safetensors format.
//
// A file is: an unsigned 64-bit little-endian header length N; N bytes of UTF-8 JSON
//   {"__metadata__"?: {string: string}, <name>: {"dtype": "F32", "shape": [d0, d1, ...],
//    "data_offsets": [begin, end]}, ...}
// (padded with trailing spaces); then the data section. Offsets are byte offsets into the data
// section, which starts at byte 8 + N. Each tensor is stored row-major, little-endian, and its byte
// size is (product of shape) · (bytes per element). Readers here fetch only the header, then only
// the byte range of the tensor asked for, so a large file is never held whole in memory.
import type { ModelSource } from './source.js';

/** Bytes per element of every dtype that readSafetensorsHeader accepts. */
const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I8: 1, U8: 1, BOOL: 1 } as const;
export type Dtype = keyof typeof DTYPE_BYTES;
export const KNOWN_DTYPES = Object.keys(DTYPE_BYTES) as Dtype[];

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Byte offsets [begin, end) relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** Absolute byte offset of the data section: 8 + header length. */
  dataStart: number;
  fileSize: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Headers above this size are refused: real ones are kilobytes to a few megabytes. */
const MAX_HEADER_BYTES = 100_000_000;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('safetensors.ts assumes a little-endian host, as WebGPU does');
}

/** Read and validate the header of a safetensors file; throws SafetensorsError naming the file. */
export async function readSafetensorsHeader(source: ModelSource, file: string): Promise<SafetensorsHeader> {
  const where = `${source.description}/${file}`;
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${where}: ${msg}`);
  };
  const fileSize = await source.size(file);
  if (fileSize < 8) fail(`the file has ${fileSize} bytes, fewer than the 8-byte header length; it is not a safetensors file`);
  const lenBytes = await source.read(file, 0, 8);
  const lenView = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  // The high 32 bits of the u64 must be zero for any header below MAX_HEADER_BYTES.
  const n = lenView.getUint32(4, true) * 2 ** 32 + lenView.getUint32(0, true);
  if (n > MAX_HEADER_BYTES) fail(`the header length field says ${n} bytes, which is absurd (limit ${MAX_HEADER_BYTES}); it is not a safetensors file or it is corrupt`);
  if (8 + n > fileSize) fail(`the header length field says ${n} bytes, but the file has only ${fileSize - 8} bytes after it; the file is truncated or not a safetensors file`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await source.read(file, 8, 8 + n)));
  } catch (e) {
    fail(`the ${n}-byte header is not valid UTF-8 JSON (${(e as Error).message}); the file is corrupt or not a safetensors file`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('the header is JSON but not an object of tensors');
  const dataStart = 8 + n;
  const dataBytes = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    tensors.set(name, parseEntry(name, entry, dataBytes, (m) => fail(`tensor '${name}': ${m}`)));
  }
  // Tensors with bytes may not share any: sort by begin and compare neighbours.
  const sized = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sized.length; i++) {
    const [a, b] = [sized[i - 1], sized[i]];
    if (b.begin < a.end) fail(`tensors '${a.name}' [${a.begin}, ${a.end}) and '${b.name}' [${b.begin}, ${b.end}) overlap; the header is corrupt`);
  }
  return { file, dataStart, fileSize, metadata, tensors };
}

function parseEntry(name: string, entry: unknown, dataBytes: number, fail: (msg: string) => never): TensorInfo {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('its header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
    fail(`unknown dtype ${JSON.stringify(dtype)}; known dtypes are ${KNOWN_DTYPES.join(', ')}`);
  }
  const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) fail(`shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail(`data_offsets ${JSON.stringify(offsets)} are not two integers with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as number[];
  if (end > dataBytes) {
    fail(`data_offsets [${begin}, ${end}] points past the end of the file: the data section has ${dataBytes} bytes; the file is truncated or corrupt`);
  }
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = numel * DTYPE_BYTES[dtype as Dtype];
  if (end - begin !== bytes) {
    fail(`data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${bytes}`);
  }
  return { name, dtype: dtype as Dtype, shape: shape as number[], begin, end };
}

/** The raw bytes of one tensor, copied so that typed-array views on them are aligned. */
async function tensorBytes(source: ModelSource, header: SafetensorsHeader, name: string): Promise<{ info: TensorInfo; bytes: Uint8Array }> {
  const info = header.tensors.get(name);
  const where = `${source.description}/${header.file}`;
  if (!info) throw new SafetensorsError(`${where}: there is no tensor '${name}'`);
  let bytes = await source.read(header.file, header.dataStart + info.begin, header.dataStart + info.end);
  if (bytes.length !== info.end - info.begin) {
    throw new SafetensorsError(`${where}: tensor '${name}': read ${bytes.length} bytes, expected ${info.end - info.begin}; the file is truncated or changed`);
  }
  // Own the buffer exactly: views need aligned offsets, and callers may hand data.buffer on.
  if (bytes.byteOffset !== 0 || bytes.buffer.byteLength !== bytes.length) bytes = bytes.slice();
  return { info, bytes };
}

const numelOf = (b: Uint8Array, info: TensorInfo) => b.length / DTYPE_BYTES[info.dtype];

/** One tensor as float32, converted from F32, F16, BF16, F64, I32, I64, I8, U8 or BOOL. */
export async function readTensorF32(source: ModelSource, header: SafetensorsHeader, name: string): Promise<Float32Array> {
  const { info, bytes: b } = await tensorBytes(source, header, name);
  const n = numelOf(b, info);
  switch (info.dtype) {
    case 'F32':
      return new Float32Array(b.buffer, b.byteOffset, n);
    case 'F16':
      return f16ToF32(new Uint16Array(b.buffer, b.byteOffset, n));
    case 'BF16':
      return bf16ToF32(new Uint16Array(b.buffer, b.byteOffset, n));
    case 'F64':
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n));
    case 'I32':
      return Float32Array.from(new Int32Array(b.buffer, b.byteOffset, n));
    case 'I64':
      return Float32Array.from(new BigInt64Array(b.buffer, b.byteOffset, n), Number);
    case 'I8':
      return Float32Array.from(new Int8Array(b.buffer, b.byteOffset, n));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(b);
  }
}

/** One integer tensor (I32, I64, I8, U8, BOOL) as int32; I64 values outside int32 are an error. */
export async function readTensorI32(source: ModelSource, header: SafetensorsHeader, name: string): Promise<Int32Array> {
  const { info, bytes: b } = await tensorBytes(source, header, name);
  const n = numelOf(b, info);
  switch (info.dtype) {
    case 'I32':
      return new Int32Array(b.buffer, b.byteOffset, n);
    case 'I64': {
      const wide = new BigInt64Array(b.buffer, b.byteOffset, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (wide[i] < -2147483648n || wide[i] > 2147483647n) {
          throw new SafetensorsError(`${source.description}/${header.file}: tensor '${name}': element ${i} = ${wide[i]} does not fit in int32`);
        }
        out[i] = Number(wide[i]);
      }
      return out;
    }
    case 'I8':
      return Int32Array.from(new Int8Array(b.buffer, b.byteOffset, n));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(b);
    default:
      throw new SafetensorsError(`${source.description}/${header.file}: tensor '${name}' has dtype ${info.dtype}, not an integer dtype`);
  }
}

// IEEE half: sign 1 bit, exponent 5 bits (bias 15), mantissa 10 bits. Normal values are
// (-1)^s · 2^(e-15) · (1 + m/1024); e = 0 gives subnormals (-1)^s · 2^-14 · m/1024; e = 31 gives
// inf (m = 0) or NaN. float32 has bias 127 and 23 mantissa bits, so a normal half maps to
// exponent e + 112 and mantissa m << 13.
export function f16ToF32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < h.length; i++) {
    const x = h[i];
    const sign = (x & 0x8000) << 16;
    const e = (x >> 10) & 0x1f;
    const m = x & 0x3ff;
    if (e === 0) out[i] = (sign ? -m : m) * 2 ** -24; // zero and subnormals, exactly; -0 for sign with m = 0
    else if (e === 31) bits[i] = sign | 0x7f800000 | (m << 13);
    else bits[i] = sign | ((e + 112) << 23) | (m << 13);
  }
  return out;
}

/** bfloat16 is the top 16 bits of a float32, so widening is exact. */
export function bf16ToF32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16;
  return out;
}

/**
 * float32 → half bits with round-to-nearest-even, as numpy's astype(float16) does: values from
 * 65520 up overflow to inf, those below 2^-25 (and 2^-25 itself, a tie to even) become ±0.
 */
export function f32ToF16(f: Float32Array): Uint16Array {
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = bits[i];
    const sign = (x >>> 16) & 0x8000;
    const e = ((x >>> 23) & 0xff) - 127; // unbiased exponent
    const m = x & 0x7fffff;
    let h: number;
    if (e === 128) h = m === 0 ? 0x7c00 : 0x7c00 | (m >>> 13 || 1); // inf; NaN keeps its top payload bits
    else if (e > 15) h = 0x7c00;
    else if (e >= -14) {
      // Normal half: drop 13 mantissa bits, rounding; a carry into the exponent is correct (up to inf).
      h = ((e + 15) << 10) | (m >>> 13);
      const rest = m & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
    } else if (e >= -25) {
      // Subnormal half in units of 2^-24: the value is (m | 2^23) · 2^(e-23) = (m | 2^23) · 2^(e+1) units.
      const full = m | 0x800000;
      const shift = -e - 1; // 14 .. 24
      h = full >>> shift;
      const rest = full & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rest > halfway || (rest === halfway && h & 1)) h++;
    } else h = 0;
    out[i] = sign | h;
  }
  return out;
}

/**
 * float32 → bfloat16 bits with round-to-nearest-even, as torch's .to(torch.bfloat16) does: the top
 * 16 bits of the float32 after adding 0x7fff plus the lowest kept bit (values past bfloat16's
 * largest finite one round to ±inf); every NaN becomes 0x7fc0, as torch's.
 */
export function f32ToBf16(f: Float32Array): Uint16Array {
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = bits[i];
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = 0x7fc0;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16; // a carry into the exponent is right, up to inf
  }
  return out;
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'I32';
  shape: number[];
  /** Float32Array for F32, F16 and BF16 (converted when written), Int32Array for I32. */
  data: Float32Array | Int32Array;
}

/** The order of the Rust safetensors library's Dtype enum, whose writer sorts by it (descending). */
const WRITE_RANK = { F16: 0, BF16: 1, I32: 2, F32: 3 } as const;
const WRITE_BYTES = { F16: 2, BF16: 2, I32: 4, F32: 4 } as const;

/** Compare strings by Unicode code point, which is the UTF-8 byte order that Rust's str::cmp uses. */
function compareCodePoints(a: string, b: string): number {
  const [x, y] = [Array.from(a), Array.from(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * Serialize tensors to safetensors bytes, byte-identical to the reference writer (the Rust library
 * behind safetensors.torch/numpy.save_file): tensors sorted by dtype (F32, then I32, BF16, F16: the
 * library's dtype order, descending, which also keeps every tensor aligned to its element size),
 * then by name; compact JSON with "__metadata__" first when given; the header padded with spaces
 * to a multiple of 8 bytes; data packed back to back with no gaps.
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const seen = new Set<string>();
  for (const t of tensors) {
    const what = `writeSafetensors: tensor '${t.name}'`;
    if (t.name === '__metadata__' || seen.has(t.name)) throw new SafetensorsError(`${what}: the name is reserved or repeated`);
    seen.add(t.name);
    if (!(t.dtype in WRITE_RANK)) throw new SafetensorsError(`${what}: dtype ${t.dtype} cannot be written (F32, F16, BF16, I32 can)`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`${what}: bad shape [${t.shape}]`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel) throw new SafetensorsError(`${what}: shape [${t.shape}] has ${numel} elements, data has ${t.data.length}`);
    const wantInt = t.dtype === 'I32';
    if (wantInt !== t.data instanceof Int32Array || (!wantInt && !(t.data instanceof Float32Array))) {
      throw new SafetensorsError(`${what}: ${t.dtype} data must be a ${wantInt ? 'Int32Array' : 'Float32Array'}`);
    }
  }
  const sorted = [...tensors].sort((a, b) => WRITE_RANK[b.dtype] - WRITE_RANK[a.dtype] || compareCodePoints(a.name, b.name));
  const entries: string[] = metadata ? [`"__metadata__":${JSON.stringify(metadata)}`] : [];
  let offset = 0;
  const placed = sorted.map((t) => {
    const begin = offset;
    offset += t.data.length * WRITE_BYTES[t.dtype];
    entries.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${begin},${offset}]}`);
    return { t, begin };
  });
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  const dataStart = 8 + headerLen; // a multiple of 8, so each tensor below is aligned to its element size
  for (const { t, begin } of placed) {
    const at = dataStart + begin;
    if (t.dtype === 'F16') new Uint16Array(out.buffer, at, t.data.length).set(f32ToF16(t.data as Float32Array));
    else if (t.dtype === 'BF16') new Uint16Array(out.buffer, at, t.data.length).set(f32ToBf16(t.data as Float32Array));
    else if (t.dtype === 'I32') new Int32Array(out.buffer, at, t.data.length).set(t.data);
    else new Float32Array(out.buffer, at, t.data.length).set(t.data);
  }
  return out;
}
