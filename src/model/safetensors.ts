// Reading and writing the safetensors format.
//
// A file is: an unsigned 64-bit little-endian header length N; N bytes of UTF-8 JSON
//   {"__metadata__"?: {string: string}, <name>: {"dtype": "F32", "shape": [d0, d1, ...],
//    "data_offsets": [begin, end]}, ...}
// (padded with trailing spaces); then the data section. Offsets are byte offsets into the data
// section, which starts at byte 8 + N. Each tensor is stored row-major, little-endian, and its byte
// size is (product of shape) · (bytes per element). Readers here fetch only the header, then only
// the byte range of the tensor asked for, so a large file is never held whole in memory.
// Files are untrusted: the header is checked whole (its length against the file, a JSON object
// with no name twice, known dtypes, shapes whose byte size matches the offsets, offsets inside the
// data section that do not overlap) before any tensor is read, and readWeightF32 refuses a weight
// that is not a float or holds an inf or NaN.
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, firstNonFinite, widenBf16, widenF16 } from './half-floats.js';
import type { ModelSource } from './source.js';

export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './half-floats.js';

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
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await source.read(file, 8, 8 + n));
    json = JSON.parse(text);
  } catch (e) {
    fail(`the ${n}-byte header is not valid UTF-8 JSON (${(e as Error).message}); the file is corrupt or not a safetensors file`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('the header is JSON but not an object of tensors');
  const twice = repeatedTopLevelKey(text!, Object.keys(json as object).length);
  if (twice !== null) fail(`${twice === '__metadata__' ? '__metadata__ is' : `tensor '${twice}' is`} named twice in the header; the file is corrupt`);
  const dataStart = 8 + n;
  const dataBytes = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        // defineProperty, so that a key named __proto__ is kept as data, not taken as the prototype.
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
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

/** `v` as JSON for an error message, cut to its first 100 characters (a corrupt header's value may be huge). */
function quote(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}… (${s.length} characters)` : s;
}

/**
 * The first key that the top-level object of the valid JSON `text` has twice, or null: JSON.parse
 * keeps the last of repeated keys silently, so a header could hide a tensor. One pass over the
 * text tracks the nesting depth and skips strings, taking each string at depth 1 followed by ':'
 * as a key; without repeats it must find JSON.parse's `keyCount` keys (checked, as a self-test).
 */
function repeatedTopLevelKey(text: string, keyCount: number): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) {
      // A string: find its closing quote, skipping escaped characters.
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (/\s/.test(text[k])) k++;
        if (text[k] === ':') {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (seen.has(key)) return key;
          seen.add(key);
        }
      }
      i = j;
    } else if (ch === 0x7b || ch === 0x5b) depth++;
    else if (ch === 0x7d || ch === 0x5d) depth--;
  }
  if (seen.size !== keyCount) throw new Error(`safetensors.ts: the header scan found ${seen.size} keys, JSON.parse ${keyCount}`);
  return null;
}

function parseEntry(name: string, entry: unknown, dataBytes: number, fail: (msg: string) => never): TensorInfo {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('its header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    fail(`unknown dtype ${quote(dtype)}; known dtypes are ${KNOWN_DTYPES.join(', ')}`);
  }
  const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) fail(`shape ${quote(shape)} is not an array of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail(`data_offsets ${quote(offsets)} are not two integers with 0 <= begin <= end`);
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

/** One tensor as float32, converted from F32, F16, BF16, F64, I32, I64, I8, U8 or BOOL (model weights: readWeightF32). */
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

/** The dtypes that a float weight may have in a file. */
export const FLOAT_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16', 'F64'];

/**
 * One model weight as float32: like readTensorF32, but refusing a tensor whose dtype is not a
 * float (FLOAT_DTYPES) and one with an inf or NaN, naming the file, the tensor and its first bad
 * element. The finiteness check is made in the pass that widens F16 / BF16 to f32 (one compare
 * per element, within the noise of that pass, measured); an F32 tensor, which needs no widening,
 * and an F64 one after its narrowing, get one scan (firstNonFinite: +50% on a read from memory,
 * less than the file's read from disk or the network).
 */
export async function readWeightF32(source: ModelSource, header: SafetensorsHeader, name: string): Promise<Float32Array> {
  const where = `${source.description}/${header.file}: tensor '${name}'`;
  const dtype = header.tensors.get(name)?.dtype;
  if (dtype !== undefined && !FLOAT_DTYPES.includes(dtype)) throw new SafetensorsError(`${where} has dtype ${dtype}; a weight must be ${FLOAT_DTYPES.join(', ')}`);
  const { info, bytes: b } = await tensorBytes(source, header, name);
  const n = numelOf(b, info);
  let out: Float32Array;
  let bad: number;
  if (info.dtype === 'F32') {
    out = new Float32Array(b.buffer, b.byteOffset, n);
    bad = firstNonFinite(out);
  } else if (info.dtype === 'F64') {
    out = Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n)); // beyond f32's range is inf here, and refused
    bad = firstNonFinite(out);
  } else {
    out = new Float32Array(n);
    bad = (info.dtype === 'F16' ? widenF16 : widenBf16)(new Uint16Array(b.buffer, b.byteOffset, n), out);
  }
  if (bad >= 0) {
    const at: number[] = [];
    for (let i = info.shape.length - 1, r = bad; i >= 0; i--) {
      at.unshift(r % info.shape[i]);
      r = Math.floor(r / info.shape[i]);
    }
    throw new SafetensorsError(
      `${where} (${info.dtype} [${info.shape.join(', ')}]) has ${out[bad]} at element ${bad} ([${at.join(', ')}]); a weight must be finite: the file is corrupt or was saved from a model that diverged`,
    );
  }
  return out;
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
