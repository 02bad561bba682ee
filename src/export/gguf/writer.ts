// A GGUF v3 writer that streams: the header (metadata key/values and tensor infos) is computed
// from the tensors' shapes and types before any tensor data exists, then each tensor's bytes are
// produced, written to the sink and dropped, so a model never sits whole in memory.
//
// The file, all little-endian (ggml's gguf.cpp):
//   u32 magic "GGUF", u32 version 3, u64 tensor count, u64 key/value count;
//   each key/value: string key, u32 value type, the value (a string is u64 byte length + UTF-8
//   bytes; an array is u32 item type, u64 count, the items);
//   each tensor info: string name, u32 dimension count, u64 per dimension (innermost first, ggml's
//   ne), u32 ggml type, u64 offset of its data from the start of the data section;
//   zero bytes up to a multiple of the alignment (general.alignment, default 32); the data section:
//   each tensor's bytes at its offset, every offset a multiple of the alignment (zero padding).
// Browser-safe: the sink is any object with write(bytes) (a FileSystemWritableFileStream is one).
import { GGML_TYPE, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPE, GGUF_VERSION, tensorByteSize, type GgmlTypeName, type GgufScalarType } from './format.js';

export type GgufScalar = number | bigint | boolean | string;

/** One metadata key/value: a scalar of `type`, or an array of `itemType` items. */
export type GgufKv = { key: string; type: GgufScalarType; value: GgufScalar } | { key: string; type: 'array'; itemType: GgufScalarType; value: ArrayLike<GgufScalar> };

/** Builders of the key/values this exporter writes, for readable call sites. */
export const kv = {
  str: (key: string, value: string): GgufKv => ({ key, type: 'string', value }),
  u32: (key: string, value: number): GgufKv => ({ key, type: 'uint32', value }),
  i32: (key: string, value: number): GgufKv => ({ key, type: 'int32', value }),
  f32: (key: string, value: number): GgufKv => ({ key, type: 'float32', value }),
  bool: (key: string, value: boolean): GgufKv => ({ key, type: 'bool', value }),
  arr: (key: string, itemType: GgufScalarType, value: ArrayLike<GgufScalar>): GgufKv => ({ key, type: 'array', itemType, value }),
};

export interface GgufTensor {
  name: string;
  /** Dimensions innermost first (ggml's ne): a row-major [rows, cols] matrix is [cols, rows]. */
  dims: number[];
  type: GgmlTypeName;
  /** The tensor's bytes in `type`, exactly its size; called once, when the tensor is written. */
  data: () => Promise<Uint8Array> | Uint8Array;
}

/** Where the file's bytes go, in order. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void> | void;
}

const UTF8 = new TextEncoder();

/** A growing little-endian byte buffer for the header. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private ensure(n: number) {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) { this.ensure(1); this.view.setUint8(this.length, v); this.length += 1; }
  i8(v: number) { this.ensure(1); this.view.setInt8(this.length, v); this.length += 1; }
  u16(v: number) { this.ensure(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number) { this.ensure(2); this.view.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number) { this.ensure(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number) { this.ensure(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number) { this.ensure(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number) { this.ensure(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: number | bigint) { this.ensure(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v: number | bigint) { this.ensure(8); this.view.setBigInt64(this.length, BigInt(v), true); this.length += 8; }
  raw(b: Uint8Array) { this.ensure(b.length); this.buf.set(b, this.length); this.length += b.length; }
  string(s: string) {
    // UTF-8 is at most 3 bytes per UTF-16 unit: encode in place after room for the u64 length.
    this.ensure(8 + 3 * s.length);
    const { written } = UTF8.encodeInto(s, this.buf.subarray(this.length + 8));
    this.view.setBigUint64(this.length, BigInt(written), true);
    this.length += 8 + written;
  }
  bytes(): Uint8Array { return this.buf.slice(0, this.length); }
}

const INT_RANGE: Partial<Record<GgufScalarType, [number, number]>> = {
  uint8: [0, 0xff], int8: [-0x80, 0x7f], uint16: [0, 0xffff], int16: [-0x8000, 0x7fff], uint32: [0, 0xffffffff], int32: [-0x80000000, 0x7fffffff],
};

/** Appends one value of `type`; a value that does not fit the type is an error naming `where`. */
function writeScalar(out: Bytes, type: GgufScalarType, v: GgufScalar, where: string): void {
  const bad = (what: string) => new Error(`GGUF metadata '${where}': ${JSON.stringify(typeof v === 'bigint' ? v.toString() : v)} is not ${what}`);
  if (type === 'string') {
    if (typeof v !== 'string') throw bad('a string');
    return out.string(v);
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') throw bad('a boolean');
    return out.u8(v ? 1 : 0);
  }
  if (type === 'uint64' || type === 'int64') {
    if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) throw bad(`an integer for ${type}`);
    const b = BigInt(v);
    if (type === 'uint64' ? b < 0n || b >= 1n << 64n : b < -(1n << 63n) || b >= 1n << 63n) throw bad(`in ${type}'s range`);
    return type === 'uint64' ? out.u64(b) : out.i64(b);
  }
  if (typeof v !== 'number') throw bad(`a number for ${type}`);
  if (type === 'float32') return out.f32(v);
  if (type === 'float64') return out.f64(v);
  const [lo, hi] = INT_RANGE[type]!;
  if (!Number.isInteger(v) || v < lo || v > hi) throw bad(`an integer in ${type}'s range [${lo}, ${hi}]`);
  ({ uint8: () => out.u8(v), int8: () => out.i8(v), uint16: () => out.u16(v), int16: () => out.i16(v), uint32: () => out.u32(v), int32: () => out.i32(v) })[type as 'uint8']();
}

const padTo = (n: number, alignment: number) => Math.ceil(n / alignment) * alignment;

/** The planned layout: the header bytes (padded to the alignment) and each tensor's size and offset. */
export interface GgufLayout {
  header: Uint8Array;
  tensors: Array<{ tensor: GgufTensor; bytes: number; offset: number }>;
  /** The whole file's size in bytes. */
  fileBytes: number;
}

/**
 * The header of a file with these key/values and tensors, and where each tensor's data goes.
 * A general.alignment key/value (uint32, a power of two) sets the alignment; default 32.
 */
export function planGguf(kvs: GgufKv[], tensors: GgufTensor[]): GgufLayout {
  const keys = new Set<string>();
  for (const { key } of kvs) {
    if (keys.has(key)) throw new Error(`GGUF metadata: key '${key}' is given twice`);
    keys.add(key);
  }
  const alignKv = kvs.find((k) => k.key === 'general.alignment');
  const alignment = alignKv ? Number(alignKv.value) : GGUF_DEFAULT_ALIGNMENT;
  if (alignKv && (alignKv.type !== 'uint32' || !Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0)) {
    throw new Error(`GGUF metadata 'general.alignment' must be a uint32 power of two, got ${alignKv.type} ${String(alignKv.value)}`);
  }
  const out = new Bytes();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(kvs.length);
  for (const k of kvs) {
    out.string(k.key);
    out.u32(GGUF_VALUE_TYPE[k.type]);
    if (k.type === 'array') {
      out.u32(GGUF_VALUE_TYPE[k.itemType]);
      out.u64(k.value.length);
      for (let i = 0; i < k.value.length; i++) writeScalar(out, k.itemType, k.value[i], `${k.key}[${i}]`);
    } else {
      writeScalar(out, k.type, k.value, k.key);
    }
  }
  const names = new Set<string>();
  let offset = 0;
  const placed: GgufLayout['tensors'] = [];
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`GGUF tensor '${t.name}' is given twice`);
    names.add(t.name);
    if (t.dims.length < 1 || t.dims.length > 4 || !t.dims.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new Error(`GGUF tensor '${t.name}': dimensions [${t.dims.join(', ')}] must be 1 to 4 positive integers`);
    }
    if (!(t.type in GGML_TYPE)) throw new Error(`GGUF tensor '${t.name}': unknown type '${String(t.type)}'`);
    if (t.dims[0] % GGML_TYPE[t.type].blockElements !== 0) {
      throw new Error(`GGUF tensor '${t.name}': its innermost dimension ${t.dims[0]} is not a multiple of ${t.type}'s block of ${GGML_TYPE[t.type].blockElements}`);
    }
    const bytes = tensorByteSize(t.type, t.dims.reduce((a, b) => a * b, 1), t.name);
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(GGML_TYPE[t.type].code);
    out.u64(offset);
    placed.push({ tensor: t, bytes, offset });
    offset = padTo(offset + bytes, alignment);
  }
  const headerBytes = padTo(out.length, alignment);
  const header = new Uint8Array(headerBytes);
  header.set(out.bytes());
  const last = placed.at(-1);
  return { header, tensors: placed, fileBytes: headerBytes + (last ? last.offset + last.bytes : 0) };
}

/**
 * Writes the GGUF file of these key/values and tensors to `sink`: the header, then each tensor's
 * data as its data() produces it, padded to the alignment (no padding after the last). Returns the
 * bytes written. A tensor whose data() gives the wrong number of bytes is an error naming it.
 */
export async function writeGguf(sink: ByteSink, kvs: GgufKv[], tensors: GgufTensor[], onTensor?: (name: string, done: number, total: number) => void): Promise<number> {
  const layout = planGguf(kvs, tensors);
  await sink.write(layout.header);
  let written = layout.header.length;
  const dataStart = layout.header.length;
  for (let i = 0; i < layout.tensors.length; i++) {
    const { tensor, bytes, offset } = layout.tensors[i];
    if (written < dataStart + offset) {
      await sink.write(new Uint8Array(dataStart + offset - written));
      written = dataStart + offset;
    }
    const data = await tensor.data();
    if (data.length !== bytes) throw new Error(`GGUF tensor '${tensor.name}': produced ${data.length} bytes, but ${tensor.type} [${tensor.dims.join(', ')}] is ${bytes} bytes`);
    await sink.write(data);
    written += data.length;
    onTensor?.(tensor.name, i + 1, layout.tensors.length);
  }
  return written;
}
