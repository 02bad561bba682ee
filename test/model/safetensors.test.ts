import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  f32ToF16,
  readSafetensorsHeader,
  readTensorF32,
  readTensorI32,
  SafetensorsError,
  writeSafetensors,
  type TensorToWrite,
} from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { memorySource, type ModelSource } from '../../src/model/source.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

if (!SHARED_DIR) console.warn(`skipping the fixture tests of safetensors.test.ts: ${NO_SHARED_REASON}`);

/** A safetensors file from a header (object or raw text) and a data section. */
function rawFile(header: object | string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const one = (bytes: Uint8Array) => memorySource({ 'x.safetensors': bytes }, 'mem');

/** Expect reading the header of `bytes` to fail with a SafetensorsError whose message has every part. */
async function expectHeaderError(bytes: Uint8Array, ...parts: string[]) {
  const err = await readSafetensorsHeader(one(bytes), 'x.safetensors').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SafetensorsError);
  for (const p of [' mem/x.safetensors', ...parts]) expect(` ${(err as Error).message}`).toContain(p);
}

/** Every tensor of a file, as writeSafetensors takes them (F32 and I32 files only). */
async function allTensors(source: ModelSource, file: string): Promise<TensorToWrite[]> {
  const header = await readSafetensorsHeader(source, file);
  const out: TensorToWrite[] = [];
  for (const [name, info] of header.tensors) {
    const dtype = info.dtype as 'F32' | 'I32';
    const data = dtype === 'I32' ? await readTensorI32(source, header, name) : await readTensorF32(source, header, name);
    out.push({ name, dtype, shape: info.shape, data });
  }
  return out.reverse(); // the writer must sort them itself
}

describe('safetensors writing and reading', () => {
  it('round-trips F32, I32 and F16 exactly, sorted by dtype then name, with a padded header', async () => {
    const f32 = new Float32Array([1.5, -0, Infinity, -Infinity, NaN, 1e-45, 3.4028234663852886e38, -7.25]);
    const i32 = new Int32Array([0, -1, 2147483647, -2147483648, 100, -100]);
    const f16 = new Float32Array([1, -2, 0.333251953125, 65504, -0, 2 ** -24, 6.097555160522461e-5]);
    const bytes = writeSafetensors(
      [
        { name: 'b.half', dtype: 'F16', shape: [7], data: f16 },
        { name: 'z.ints', dtype: 'I32', shape: [2, 3], data: i32 },
        { name: 'a.ints', dtype: 'I32', shape: [1], data: new Int32Array([5]) },
        { name: 'y.floats', dtype: 'F32', shape: [2, 2, 2], data: f32 },
        { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      ],
      { format: 'pt', note: 'ü "quoted"' },
    );
    const src = one(bytes);
    const h = await readSafetensorsHeader(src, 'x.safetensors');
    expect(h.dataStart % 8).toBe(0);
    expect(h.metadata).toEqual({ format: 'pt', note: 'ü "quoted"' });
    expect([...h.tensors.keys()]).toEqual(['empty', 'y.floats', 'a.ints', 'z.ints', 'b.half']);
    for (const t of h.tensors.values()) expect(t.begin % (t.dtype === 'F16' ? 2 : 4)).toBe(0);
    const got = await readTensorF32(src, h, 'y.floats');
    expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(f32.buffer)); // bit-exact, NaN and -0 included
    expect(await readTensorI32(src, h, 'z.ints')).toEqual(i32);
    expect(Array.from(await readTensorF32(src, h, 'b.half'))).toEqual(Array.from(f16));
    expect(Object.is((await readTensorF32(src, h, 'b.half'))[4], -0)).toBe(true);
    expect(h.tensors.get('y.floats')!.shape).toEqual([2, 2, 2]);
    expect((await readTensorF32(src, h, 'empty')).length).toBe(0);
  });

  it('reads tensors at unaligned offsets from a source that returns views', async () => {
    // A 3-byte header that is not padded puts the data section at byte 11.
    const values = new Float32Array([1.25, -3, 7]);
    const header = `{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}`;
    const file = rawFile(header, new Uint8Array(values.buffer));
    const big = new Uint8Array(file.length + 1);
    big.set(file, 1);
    const views: ModelSource = {
      description: 'views',
      exists: async () => true,
      size: async () => file.length,
      read: async (_f, start = 0, end = file.length) => big.subarray(1 + start, 1 + end),
    };
    const h = await readSafetensorsHeader(views, 'x.safetensors');
    expect(h.dataStart % 4).not.toBe(0);
    expect(await readTensorF32(views, h, 't')).toEqual(values);
  });

  it('converts F16 and BF16 bit patterns exactly: subnormals, infinities, signed zeros, NaN', async () => {
    const f16 = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x3555, 0x7bff, 0x7c00, 0xfc00, 0x7e00];
    const f16Want = [0, -0, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 1, -2, 0.333251953125, 65504, Infinity, -Infinity, NaN];
    const bf16 = [0x0000, 0x8000, 0x0001, 0x3f80, 0xc040, 0x3eaa, 0x7f7f, 0x7f80, 0xff80, 0x7fc0];
    const bf16Want = [0, -0, 2 ** -133, 1, -3, 0.33203125, 3.3895313892515355e38, Infinity, -Infinity, NaN];
    const data = new Uint8Array(new Uint16Array([...f16, ...bf16]).buffer);
    const src = one(
      rawFile(
        {
          h: { dtype: 'F16', shape: [f16.length], data_offsets: [0, 2 * f16.length] },
          b: { dtype: 'BF16', shape: [bf16.length], data_offsets: [2 * f16.length, data.length] },
        },
        data,
      ),
    );
    const h = await readSafetensorsHeader(src, 'x.safetensors');
    const same = (got: Float32Array, want: number[]) => want.forEach((w, i) => expect(Object.is(got[i], w), `element ${i}: ${got[i]} vs ${w}`).toBe(true));
    same(await readTensorF32(src, h, 'h'), f16Want);
    same(await readTensorF32(src, h, 'b'), bf16Want);
  });

  it('converts float32 to F16 with round-to-nearest-even', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // a tie between 1 and 1 + 2^-10: to the even one
      [1 + 3 * 2 ** -11, 0x3c02], // a tie between 1 + 2^-10 and 1 + 2^-9: to the even one
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00], // the tie above the largest half rounds up to inf
      [-1e9, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // a tie between 0 and the smallest subnormal
      [2 ** -25 + 2 ** -40, 0x0001],
      [3 * 2 ** -25, 0x0002], // a tie between subnormals 1 and 2
      [2 ** -14 - 2 ** -25, 0x0400], // the largest subnormal's tie rounds up into the normals
      [-0, 0x8000],
      [1e-10, 0x0000],
      [NaN, 0x7e00],
      [-Infinity, 0xfc00],
    ];
    const got = f32ToF16(new Float32Array(cases.map((c) => c[0])));
    cases.forEach(([x, want], i) => expect(got[i].toString(16), `f16(${x})`).toBe(want.toString(16)));
  });

  it('converts I64 to int32 and refuses values that do not fit', async () => {
    const ok = new BigInt64Array([0n, -5n, 2147483647n]);
    const src = one(
      rawFile(
        {
          a: { dtype: 'I64', shape: [3], data_offsets: [0, 24] },
          b: { dtype: 'I64', shape: [1], data_offsets: [24, 32] },
        },
        new Uint8Array(new BigInt64Array([...ok, 2n ** 40n]).buffer),
      ),
    );
    const h = await readSafetensorsHeader(src, 'x.safetensors');
    expect(Array.from(await readTensorI32(src, h, 'a'))).toEqual([0, -5, 2147483647]);
    expect(Array.from(await readTensorF32(src, h, 'a'))).toEqual([0, -5, 2147483648]);
    await expect(readTensorI32(src, h, 'b')).rejects.toThrow(/mem\/x\.safetensors: tensor 'b'.*does not fit in int32/);
  });
});

describe.skipIf(!SHARED_DIR)('safetensors against the fixture files', () => {
  const models = join(SHARED_DIR ?? '', 'models');

  it('reads the stories260K header', async () => {
    const h = await readSafetensorsHeader(folderSource(join(models, 'stories260K')), 'model.safetensors');
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.dataStart).toBe(8 + 4856);
    expect(h.tensors.size).toBe(47);
    expect(h.tensors.get('model.layers.0.self_attn.k_proj.weight')).toMatchObject({ dtype: 'F32', shape: [32, 64], begin: 263680, end: 271872 });
  });

  it('rewrites stories260K byte for byte (metadata {format: pt})', async () => {
    const src = folderSource(join(models, 'stories260K'));
    const original = readFileSync(join(models, 'stories260K', 'model.safetensors'));
    const bytes = writeSafetensors(await allTensors(src, 'model.safetensors'), { format: 'pt' });
    expect(bytes.length).toBe(original.length);
    expect(Buffer.from(bytes).equals(original)).toBe(true);
  });

  it.each(['stories260K-all-linear/expected.safetensors', 'qwen3-all-linear/adapter_model.safetensors'])(
    'rewrites golden/%s byte for byte (F32 before I32 shows the dtype-first order)',
    async (path) => {
      const src = folderSource(join(SHARED_DIR ?? '', 'golden'));
      const header = await readSafetensorsHeader(src, path);
      const bytes = writeSafetensors(await allTensors(src, path), Object.keys(header.metadata).length ? header.metadata : undefined);
      expect(Buffer.from(bytes).equals(readFileSync(join(SHARED_DIR ?? '', 'golden', path)))).toBe(true);
    },
  );
});

describe('safetensors errors name the file and the tensor', () => {
  const t = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

  it('a file shorter than 8 bytes', () => expectHeaderError(new Uint8Array(5), 'fewer than the 8-byte'));
  it('a header length beyond the file', async () => {
    const bytes = rawFile({ a: t('F32', [1], [0, 4]) }, new Uint8Array(4));
    await expectHeaderError(bytes.slice(0, 30), 'header length field says', 'truncated');
  });
  it('an absurd header length', async () => {
    const bytes = rawFile({});
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
    await expectHeaderError(bytes, 'absurd');
  });
  it('a header that is not JSON', () => expectHeaderError(rawFile('{"a": {"dtype": "F3'), 'not valid UTF-8 JSON'));
  it('a header that is not UTF-8', () => expectHeaderError(rawFile(new TextDecoder('latin1').decode(new Uint8Array([0x7b, 0xff, 0x7d]))), 'not valid UTF-8 JSON'));
  it('a header that is JSON but not an object', () => expectHeaderError(rawFile('[1, 2]'), 'not an object'));
  it('an unknown dtype', () => expectHeaderError(rawFile({ 'w.x': t('F8_E4M3', [4], [0, 4]) }, new Uint8Array(4)), "tensor 'w.x'", 'F8_E4M3', 'known dtypes are', 'BF16'));
  it('a bad shape', () => expectHeaderError(rawFile({ w: t('F32', [2, -1], [0, 0]) }), "tensor 'w'", 'non-negative integers'));
  it('bad data_offsets', () => expectHeaderError(rawFile({ w: t('F32', [1], [8, 4]) }, new Uint8Array(8)), "tensor 'w'", 'begin <= end'));
  it('data_offsets past the end of the file', () =>
    expectHeaderError(rawFile({ w: t('F32', [4], [0, 16]) }, new Uint8Array(12)), "tensor 'w'", 'points past the end of the file: the data section has 12 bytes'));
  it('a byte size that does not match shape and dtype', () =>
    expectHeaderError(rawFile({ w: t('F32', [2, 3], [0, 20]) }, new Uint8Array(24)), "tensor 'w'", 'span 20 bytes', 'needs 24'));
  it('overlapping tensors', () =>
    expectHeaderError(rawFile({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, new Uint8Array(12)), "'a'", "'b'", 'overlap'));
  it('metadata that is not strings', () => expectHeaderError(rawFile({ __metadata__: { n: 1 } }), '__metadata__.n'));
  it('reading a float tensor as int32', async () => {
    const src = one(rawFile({ w: t('F32', [1], [0, 4]) }, new Uint8Array(4)));
    await expect(readTensorI32(src, await readSafetensorsHeader(src, 'x.safetensors'), 'w')).rejects.toThrow(/mem\/x\.safetensors: tensor 'w' has dtype F32/);
  });

  it.skipIf(!SHARED_DIR)('a real file cut short', async () => {
    const whole = readFileSync(join(SHARED_DIR ?? '', 'models', 'stories260K', 'model.safetensors'));
    const cut = new Uint8Array(whole.subarray(0, 500_000));
    await expectHeaderError(cut, 'points past the end of the file', 'truncated or corrupt', "tensor 'model.layers.");
  });

  it.skipIf(!SHARED_DIR)('never fails with anything but a SafetensorsError on corrupted headers', async () => {
    const whole = readFileSync(join(SHARED_DIR ?? '', 'models', 'stories260K', 'model.safetensors'));
    const small = new Uint8Array(whole.subarray(0, 8 + 4856 + 4096));
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let trial = 0; trial < 300; trial++) {
      const bytes = small.slice();
      for (let k = 0; k < 1 + rand(4); k++) bytes[rand(8 + 4856)] = rand(256);
      const err = await readSafetensorsHeader(one(bytes), 'x.safetensors').then(() => null, (e: unknown) => e);
      if (err !== null) expect(err, String(err)).toBeInstanceOf(SafetensorsError);
    }
  });
});
