// The GGUF writer, read back by the independent reader of ./gguf-reader.ts: every metadata value
// type, the alignment and its padding, tensor data in f32 / f16 / Q8_0 (against a naive Q8_0
// reference with its half-away-from-zero ties), streaming order, and the errors for bad input.
import { describe, expect, it } from 'vitest';
import { encodeTensor, tensorType } from '../../src/export/gguf/encode.js';
import { collectBytes } from '../../src/export/gguf/export.js';
import { kv, planGguf, writeGguf, type GgufKv, type GgufTensor } from '../../src/export/gguf/writer.js';
import { randomArray } from '../helpers.js';
import { f32Of, halfValue, readGguf, tensorData } from './gguf-reader.js';

const write = async (kvs: GgufKv[], tensors: GgufTensor[]) => {
  const sink = collectBytes();
  const n = await writeGguf(sink, kvs, tensors);
  const bytes = sink.bytes();
  expect(n).toBe(bytes.length);
  return bytes;
};

/** The binary16 bits nearest x (ties to even), by binary search over the positive halves. */
function naiveHalfBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (halfValue(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo < 0x7bff) {
    const below = a - halfValue(lo);
    const above = halfValue(lo + 1) - a;
    if (above < below || (above === below && (lo & 1) === 1)) lo += 1;
  }
  return sign | lo;
}

/** Q8_0 as llama.cpp's quantize_row_q8_0_ref, written plainly: 34-byte blocks. */
function naiveQ8(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const h = naiveHalfBits(d);
    out[b * 34] = h & 0xff;
    out[b * 34 + 1] = h >> 8;
    for (let i = 0; i < 32; i++) {
      const v = Math.fround(x[b * 32 + i] * id);
      const q = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
      out[b * 34 + 2 + i] = q & 0xff;
    }
  }
  return out;
}

describe('GGUF writer', () => {
  it('writes every metadata value type, in order, and reads back the same values', async () => {
    const big = (1n << 60n) + 3n;
    const kvs: GgufKv[] = [
      { key: 'a.u8', type: 'uint8', value: 255 },
      { key: 'a.i8', type: 'int8', value: -128 },
      { key: 'a.u16', type: 'uint16', value: 65535 },
      { key: 'a.i16', type: 'int16', value: -32768 },
      kv.u32('a.u32', 4294967295),
      kv.i32('a.i32', -2147483648),
      kv.f32('a.f32', 0.1),
      kv.bool('a.bool', true),
      kv.str('a.str', 'héllo ▁wörld 🙂'),
      { key: 'a.u64', type: 'uint64', value: big },
      { key: 'a.i64', type: 'int64', value: -big },
      { key: 'a.f64', type: 'float64', value: 0.1 },
      kv.arr('a.strs', 'string', ['', 'x', '▁a b']),
      kv.arr('a.i32s', 'int32', [1, -2, 3]),
      kv.arr('a.f32s', 'float32', [-1000, 0.5]),
      kv.arr('a.bools', 'bool', [false, true]),
      kv.arr('a.empty', 'uint8', []),
    ];
    const g = readGguf(await write(kvs, []));
    expect(g.version).toBe(3);
    expect(g.keys).toEqual(kvs.map((k) => k.key));
    const v = (k: string) => g.kvs.get(k)!.value;
    expect([v('a.u8'), v('a.i8'), v('a.u16'), v('a.i16'), v('a.u32'), v('a.i32')]).toEqual([255, -128, 65535, -32768, 4294967295, -2147483648]);
    expect(v('a.f32')).toBe(Math.fround(0.1));
    expect(v('a.f64')).toBe(0.1);
    expect(v('a.bool')).toBe(true);
    expect(v('a.str')).toBe('héllo ▁wörld 🙂');
    expect(v('a.u64')).toBe(big);
    expect(v('a.i64')).toBe(-big);
    expect(v('a.strs')).toEqual(['', 'x', '▁a b']);
    expect(v('a.i32s')).toEqual([1, -2, 3]);
    expect(v('a.f32s')).toEqual([-1000, 0.5]);
    expect(v('a.bools')).toEqual([false, true]);
    expect(v('a.empty')).toEqual([]);
    // Type codes as gguf.h numbers them.
    expect(['a.u8', 'a.i8', 'a.u16', 'a.i16', 'a.u32', 'a.i32', 'a.f32', 'a.bool', 'a.str', 'a.strs', 'a.u64', 'a.i64', 'a.f64'].map((k) => g.kvs.get(k)!.type)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(g.kvs.get('a.strs')!.itemType).toBe(8);
  });

  it('aligns the data section and every tensor (default 32, general.alignment 64), zero-padded', async () => {
    const t = (name: string, n: number): GgufTensor => ({ name, dims: [n], type: 'f32', data: () => encodeTensor(randomArray(n, n), 'f32', n, name) });
    for (const alignment of [32, 64]) {
      const kvs = alignment === 32 ? [kv.str('general.name', 'x')] : [kv.u32('general.alignment', alignment)];
      const file = await write(kvs, [t('a', 3), t('b', 5), t('c', 1)]);
      const g = readGguf(file);
      expect(g.alignment).toBe(alignment);
      expect(g.dataStart % alignment).toBe(0);
      for (const x of g.tensors) expect((x.start - g.dataStart) % alignment).toBe(0);
      expect(g.tensors.map((x) => x.start - g.dataStart)).toEqual([0, alignment, 2 * alignment]);
      // padding between a (12 bytes) and b is zeros; the file ends right after c.
      expect([...file.subarray(g.dataStart + 12, g.dataStart + alignment)].every((b) => b === 0)).toBe(true);
      expect(file.length).toBe(g.dataStart + 2 * alignment + 4);
      expect([...f32Of(tensorData(file, g, 'b'))]).toEqual([...randomArray(5, 5)]);
    }
  });

  it('writes f32, f16 and Q8_0 tensors as the naive references make them, Q8_0 ties away from zero', async () => {
    const x = randomArray(32 * 6, 7, -3, 3);
    x.fill(0, 64, 96); // an all-zero block: d = 0
    // A block with amax 127 (d = 1): halves round away from zero, where Math.round would not.
    const ties = [127, 2.5, -2.5, 0.5, -0.5, -126.5, 1.49, -1.51];
    ties.forEach((v, i) => (x[96 + i] = v));
    const dims = [64, 3];
    const tensors: GgufTensor[] = (['f32', 'f16', 'q8_0'] as const).map((type) => ({ name: `w.${type}`, dims, type, data: () => encodeTensor(x, type, 64, type) }));
    const file = await write([], tensors);
    const g = readGguf(file);
    expect(g.tensors.map((t) => [t.name, t.dims, t.type])).toEqual([['w.f32', dims, 0], ['w.f16', dims, 1], ['w.q8_0', dims, 8]]);
    expect([...f32Of(tensorData(file, g, 'w.f32'))]).toEqual([...x]);
    const h = tensorData(file, g, 'w.f16');
    const halves = new Uint16Array(h.slice().buffer);
    expect([...halves]).toEqual([...x].map(naiveHalfBits));
    const q = tensorData(file, g, 'w.q8_0');
    expect([...q]).toEqual([...naiveQ8(x)]);
    // The tie block's q bytes: 127, 3, -3, 1, -1, -127, 1, -2.
    expect([...new Int8Array(q.slice(3 * 34 + 2, 3 * 34 + 10).buffer)]).toEqual([127, 3, -3, 1, -1, -127, 1, -2]);
    expect(halfValue(q[3 * 34] | (q[3 * 34 + 1] << 8))).toBe(1);
  });

  it('picks llama.cpp converter types: 1-D f32, Q8_0 rows not a multiple of 32 as f16', () => {
    expect(tensorType('q8_0', [64])).toBe('f32');
    expect(tensorType('f16', [64])).toBe('f32');
    expect(tensorType('q8_0', [64, 4])).toBe('q8_0');
    expect(tensorType('q8_0', [4, 64])).toBe('f16');
    expect(tensorType('f16', [4, 64])).toBe('f16');
  });

  it('streams: the header first, then each tensor produced only when it is written', async () => {
    const events: string[] = [];
    const tensors: GgufTensor[] = ['a', 'b'].map((name) => ({ name, dims: [8], type: 'f32', data: () => (events.push(`make ${name}`), new Uint8Array(32)) }));
    const sink = { write: (b: Uint8Array) => void events.push(`write ${b.length}`) };
    const { header } = planGguf([], tensors);
    await writeGguf(sink, [], tensors);
    expect(events).toEqual([`write ${header.length}`, 'make a', 'write 32', 'make b', 'write 32']);
  });

  it('refuses bad input with the key or tensor named', async () => {
    const t = (over: Partial<GgufTensor>): GgufTensor => ({ name: 't', dims: [4], type: 'f32', data: () => new Uint8Array(16), ...over });
    expect(() => planGguf([kv.str('k', 'a'), kv.str('k', 'b')], [])).toThrow(/key 'k' is given twice/);
    expect(() => planGguf([{ key: 'k8', type: 'uint8', value: 300 }], [])).toThrow(/'k8'.*uint8/);
    expect(() => planGguf([kv.arr('arr', 'int32', [1, 2.5])], [])).toThrow(/'arr\[1\]'/);
    expect(() => planGguf([kv.str('s', 5 as unknown as string)], [])).toThrow(/'s'.*a string/);
    expect(() => planGguf([kv.u32('general.alignment', 48)], [])).toThrow(/power of two/);
    expect(() => planGguf([], [t({}), t({})])).toThrow(/tensor 't' is given twice/);
    expect(() => planGguf([], [t({ dims: [48, 2], type: 'q8_0' })])).toThrow(/'t'.*innermost dimension 48.*32/);
    expect(() => planGguf([], [t({ dims: [0] })])).toThrow(/'t'.*positive/);
    await expect(writeGguf(collectBytes(), [], [t({ data: () => new Uint8Array(15) })])).rejects.toThrow(/'t': produced 15 bytes.*16 bytes/);
    expect(() => encodeTensor(new Float32Array([1, NaN]), 'f32', 2, 'w')).toThrow(/'w': value 1 is NaN/);
    expect(() => encodeTensor(new Float32Array([1e6, 0]), 'f16', 2, 'w')).toThrow(/'w'.*overflows f16/);
  });
});
