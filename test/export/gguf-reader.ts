// A minimal GGUF v3 reader written for the tests from the format's description (ggml's
// docs/gguf.md), independent of src/export/gguf: it parses the header, every metadata value
// type, the tensor infos and the alignment, and checks that each tensor's data lies in the file.
export interface ReadKv {
  type: number;
  itemType?: number;
  value: unknown;
}
export interface ReadTensor {
  name: string;
  dims: number[];
  type: number;
  /** Absolute byte offset of the tensor's data in the file. */
  start: number;
}
export interface ReadGguf {
  version: number;
  kvs: Map<string, ReadKv>;
  /** Keys in file order. */
  keys: string[];
  tensors: ReadTensor[];
  alignment: number;
  dataStart: number;
}

const TYPE_BYTES: Record<number, { elems: number; bytes: number }> = { 0: { elems: 1, bytes: 4 }, 1: { elems: 1, bytes: 2 }, 8: { elems: 32, bytes: 34 } };

export function readGguf(file: Uint8Array): ReadGguf {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let at = 0;
  const u32 = () => ((at += 4), view.getUint32(at - 4, true));
  const u64 = () => ((at += 8), Number(view.getBigUint64(at - 8, true)));
  const str = () => {
    const n = u64();
    at += n;
    return new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(at - n, at));
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 0: return ((at += 1), view.getUint8(at - 1));
      case 1: return ((at += 1), view.getInt8(at - 1));
      case 2: return ((at += 2), view.getUint16(at - 2, true));
      case 3: return ((at += 2), view.getInt16(at - 2, true));
      case 4: return u32();
      case 5: return ((at += 4), view.getInt32(at - 4, true));
      case 6: return ((at += 4), view.getFloat32(at - 4, true));
      case 7: {
        const b = view.getUint8(at++);
        if (b > 1) throw new Error(`bool byte ${b} at ${at - 1}`);
        return b === 1;
      }
      case 8: return str();
      case 10: return ((at += 8), view.getBigUint64(at - 8, true));
      case 11: return ((at += 8), view.getBigInt64(at - 8, true));
      case 12: return ((at += 8), view.getFloat64(at - 8, true));
      default: throw new Error(`unknown value type ${type} at ${at}`);
    }
  };
  if (u32() !== 0x46554747) throw new Error('not GGUF: bad magic');
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const kvs = new Map<string, ReadKv>();
  const keys: string[] = [];
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (type === 9) {
      const itemType = u32();
      const n = u64();
      const items: unknown[] = [];
      for (let j = 0; j < n; j++) items.push(value(itemType));
      kvs.set(key, { type, itemType, value: items });
    } else {
      kvs.set(key, { type, value: value(type) });
    }
    keys.push(key);
  }
  const alignment = (kvs.get('general.alignment')?.value as number | undefined) ?? 32;
  const infos: Array<Omit<ReadTensor, 'start'> & { offset: number }> = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nd = u32();
    const dims = Array.from({ length: nd }, u64);
    const type = u32();
    const offset = u64();
    infos.push({ name, dims, type, offset });
  }
  const dataStart = Math.ceil(at / alignment) * alignment;
  for (let p = at; p < dataStart; p++) if (file[p] !== 0) throw new Error(`header padding byte ${p} is not 0`);
  const tensors = infos.map(({ offset, ...t }) => {
    if (offset % alignment !== 0) throw new Error(`tensor ${t.name}: offset ${offset} is not aligned to ${alignment}`);
    const tb = TYPE_BYTES[t.type];
    const bytes = (t.dims.reduce((a, b) => a * b, 1) / tb.elems) * tb.bytes;
    if (dataStart + offset + bytes > file.length) throw new Error(`tensor ${t.name}: data past the end of the file`);
    return { ...t, start: dataStart + offset };
  });
  return { version, kvs, keys, tensors, alignment, dataStart };
}

/** The bytes of one tensor of a read file. */
export function tensorData(file: Uint8Array, g: ReadGguf, name: string): Uint8Array {
  const t = g.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  const tb = TYPE_BYTES[t.type];
  return file.subarray(t.start, t.start + (t.dims.reduce((a, b) => a * b, 1) / tb.elems) * tb.bytes);
}

/** f32 values of an f32 tensor. */
export function f32Of(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.slice().buffer);
}

/** A binary16 value, decoded from its bits (naive). */
export function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}
