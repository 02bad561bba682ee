import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { assertTokenIds, embeddingForward } from '../../src/gpu/kernels/embedding.js';
import { roundToF16 } from '../../src/gpu/f16.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { embeddingForwardRef } from '../ref/embedding.js';

/** Valid ids in [0, V), deterministic. */
function randomIds(n: number, V: number, seed: number): Uint32Array {
  return Uint32Array.from(randomArray(n, seed, 0, 1), (u) => Math.min(V - 1, Math.floor(u * V)));
}

/** Storage of wte and wpe: f32, or f16 (the tables hold f16-rounded values then). */
type Storage = { wte: 'f32' | 'f16'; wpe: 'f32' | 'f16' };

async function run(ids: Uint32Array, B: number, T: number, C: number, V: number, P: number | null, pos0: number, storage: Storage = { wte: 'f32', wpe: 'f32' }, scale?: number) {
  const ctx = await gpu();
  const round = (a: Float32Array, dtype: 'f32' | 'f16') => (dtype === 'f16' ? Float32Array.from(a, roundToF16) : a);
  const wte = round(randomArray(V * C, 17 + V * C, -1, 1), storage.wte);
  const wpe = P === null ? null : round(randomArray(P * C, 23 + P * C, -1, 1), storage.wpe);
  const out = createTensor(ctx, [B, T, C], 'f32');
  const rec = new Recorder(ctx);
  embeddingForward(
    rec,
    out,
    createTensor(ctx, [B, T], 'u32', ids),
    createTensor(ctx, [V, C], storage.wte, wte),
    wpe && createTensor(ctx, [P!, C], storage.wpe, wpe),
    { B, T, C, V, pos0, ...(scale === undefined ? {} : { scale }) },
  );
  rec.submit();
  return { got: await readTensor(ctx, out), wte, wpe };
}

describe('embedding_forward', () => {
  // [B, T, C, V, P (null: no position embeddings), pos0]
  const cases: Array<[number, number, number, number, number | null, number]> = [
    [1, 1, 1, 1, null, 0],
    [1, 1, 5, 9, 4, 3], // T = 1 at the last position
    [2, 5, 7, 11, null, 0],
    [2, 5, 7, 11, 5, 0],
    [2, 5, 7, 11, 16, 9], // pos0 > 0
    [3, 33, 40, 50, 40, 2], // more than one 256-invocation workgroup
  ];
  for (const [B, T, C, V, P, pos0] of cases) {
    it(`matches the CPU reference at B=${B} T=${T} C=${C} V=${V} ${P === null ? 'without positions' : `with positions (P=${P}, pos0=${pos0})`}`, async () => {
      const ids = randomIds(B * T, V, 5 + B * T);
      const { got, wte, wpe } = await run(ids, B, T, C, V, P, pos0);
      // A sum of two f32 values, so the result is exact.
      expectClose(got, embeddingForwardRef(ids, wte, wpe, B, T, C, pos0), 0, 0, 'out');
    });
  }

  // Gemma's √C scale (rounded to f32: 8 exactly for C = 64, inexact for C = 48), f32 and f16 tables.
  for (const [C, storage] of [[64, 'f32'], [48, 'f32'], [41, 'f16']] as const) {
    it(`scales the embeddings by f32(√C) at C=${C} (${storage} table)`, async () => {
      const [B, T, V] = [2, 7, 30];
      const scale = Math.fround(Math.sqrt(C));
      const ids = randomIds(B * T, V, 31 + C);
      const { got, wte } = await run(ids, B, T, C, V, null, 0, { wte: storage, wpe: 'f32' }, scale);
      // One f32 product per element: exact against the reference's rounded product.
      expectClose(got, embeddingForwardRef(ids, wte, null, B, T, C, 0, scale), 0, 0, 'out');
      expect(got.some((x, i) => x !== wte[ids[Math.floor(i / C)] * C + (i % C)])).toBe(true);
    });
  }

  // f16 tables: C odd, so rows start in the middle of a word; pos0 odd; each storage combination.
  const f16Cases: Array<[number, number, number, number, number | null, number, Storage]> = [
    [2, 5, 7, 11, null, 0, { wte: 'f16', wpe: 'f32' }],
    [2, 5, 7, 11, 16, 9, { wte: 'f16', wpe: 'f16' }],
    [1, 3, 5, 9, 6, 1, { wte: 'f32', wpe: 'f16' }],
    [3, 33, 41, 50, 40, 3, { wte: 'f16', wpe: 'f16' }],
  ];
  for (const [B, T, C, V, P, pos0, storage] of f16Cases) {
    it(`reads f16 tables (wte ${storage.wte}${P === null ? '' : `, wpe ${storage.wpe}, P=${P}, pos0=${pos0}`}) at B=${B} T=${T} C=${C} V=${V}`, async () => {
      const ids = randomIds(B * T, V, 9 + B * T);
      const { got, wte, wpe } = await run(ids, B, T, C, V, P, pos0, storage);
      // wte and wpe hold f16-rounded values, which f16 storage keeps exactly: the sum is exact again.
      expectClose(got, embeddingForwardRef(ids, wte, wpe, B, T, C, pos0), 0, 0, 'out');
    });
  }

  it('clamps an id past the vocabulary to the last row instead of reading out of bounds', async () => {
    const [B, T, C, V] = [1, 3, 4, 6];
    const ids = Uint32Array.from([2, V, 0xffffffff]);
    const { got, wte } = await run(ids, B, T, C, V, null, 0);
    expectClose(got, embeddingForwardRef([2, V - 1, V - 1], wte, null, B, T, C, 0), 0, 0, 'out');
  });

  it('rejects position embeddings shorter than pos0 + T and ids that are not u32', async () => {
    const ctx = await gpu();
    const t = (shape: number[], dtype: 'f32' | 'u32' | 'i32' = 'f32') => createTensor(ctx, shape, dtype);
    const rec = new Recorder(ctx);
    const dims = { B: 1, T: 4, C: 2, V: 3, pos0: 5 };
    expect(() => embeddingForward(rec, t([1, 4, 2]), t([1, 4], 'u32'), t([3, 2]), t([8, 2]), dims)).toThrow(
      /wpe has 8 positions, needs pos0 \+ T = 9/,
    );
    expect(() => embeddingForward(rec, t([1, 4, 2]), t([1, 4], 'i32'), t([3, 2]), null, dims)).toThrow(/ids must be u32/);
    expect(() => embeddingForward(rec, t([1, 4, 2]), t([1, 4], 'u32'), t([3, 2], 'i32'), null, dims)).toThrow(
      'embedding_forward: wte must be stored as f32 or f16, not i32',
    );
    expect(() => embeddingForward(rec, t([1, 4, 2], 'i32'), t([1, 4], 'u32'), t([3, 2]), null, dims)).toThrow('embedding_forward: out must be f32, not i32');
    rec.submit();
  });
});

describe('embedding_forward over a vocabulary split into blocks', () => {
  const [B, T, C, V] = [2, 9, 7, 150]; // C odd: f16 rows start mid-word
  const BLOCKS: Array<[number, number]> = [[0, 64], [64, 64], [128, 22]];
  const SENTINEL = 12345;
  /** ids over the whole vocabulary, with the first and last row of every block among them. */
  const ids = (() => {
    const r = randomIds(B * T, V, 77);
    BLOCKS.forEach(([row0, rows], i) => {
      r[2 * i] = row0;
      r[2 * i + 1] = row0 + rows - 1;
    });
    return r;
  })();
  const blockOf = (id: number) => BLOCKS.findIndex(([row0, rows]) => id >= row0 && id < row0 + rows);

  interface Options {
    dtype?: 'f32' | 'f16';
    P?: number; // rows of wpe (GPT-2's positions), or none
    pos0?: number;
    scale?: number;
  }

  /**
   * The unsplit launch, and into a SENTINEL-filled out one launch per block of `which` (default
   * all), each with its rows of wte as a tensor of its own.
   */
  async function runBlocks({ dtype = 'f32', P, pos0 = 0, scale }: Options, which = BLOCKS.map((_, i) => i)) {
    const ctx = await gpu();
    const round = (a: Float32Array) => (dtype === 'f16' ? Float32Array.from(a, roundToF16) : a);
    const wte = round(randomArray(V * C, 41, -1, 1));
    const wpe = P === undefined ? null : randomArray(P * C, 43, -1, 1);
    const idsT = createTensor(ctx, [B, T], 'u32', ids);
    const wpeT = wpe && createTensor(ctx, [P!, C], 'f32', wpe);
    const dims = { B, T, C, V, pos0, ...(scale === undefined ? {} : { scale }) };
    const whole = createTensor(ctx, [B, T, C], 'f32');
    const split = createTensor(ctx, [B, T, C], 'f32', new Float32Array(B * T * C).fill(SENTINEL));
    const rec = new Recorder(ctx);
    embeddingForward(rec, whole, idsT, createTensor(ctx, [V, C], dtype, wte), wpeT, dims);
    for (const i of which) {
      const [row0, rows] = BLOCKS[i];
      const part = createTensor(ctx, [rows, C], dtype, wte.subarray(row0 * C, (row0 + rows) * C));
      embeddingForward(rec, split, idsT, part, wpeT, { ...dims, block: { row0, rows } });
    }
    rec.submit();
    return { whole: await readTensor(ctx, whole), split: await readTensor(ctx, split), wte, wpe };
  }

  const VARIANTS: Array<[string, Options]> = [
    ['f32 table', {}],
    ['f16 table', { dtype: 'f16' }],
    ['GPT-2 positions (P=20, pos0=5)', { P: 20, pos0: 5 }],
    ['f16 table, positions and a scale', { dtype: 'f16', P: 12, pos0: 3, scale: Math.fround(Math.sqrt(C)) }],
    ['scale', { scale: Math.fround(Math.sqrt(C)) }],
  ];
  for (const [what, options] of VARIANTS) {
    it(`one launch per block of 64, 64 and 22 rows gives the unsplit output exactly (${what})`, async () => {
      const { whole, split, wte, wpe } = await runBlocks(options);
      expectClose(whole, embeddingForwardRef(ids, wte, wpe, B, T, C, options.pos0 ?? 0, options.scale), 0, 0, 'unsplit');
      expect(split).toEqual(whole);
    });
  }

  for (const [what, options] of VARIANTS.slice(0, 3)) {
    it(`one block's launch writes only its tokens' rows (${what})`, async () => {
      const { whole, split } = await runBlocks(options, [1]);
      const mine = Array.from(ids, (id) => blockOf(id) === 1);
      expect(mine.some((x) => x) && mine.some((x) => !x), 'tokens of the block and of others').toBe(true);
      for (let bt = 0; bt < B * T; bt++) {
        const [got, want] = [split.subarray(bt * C, (bt + 1) * C), whole.subarray(bt * C, (bt + 1) * C)];
        if (mine[bt]) expect(got, `token ${bt} (id ${ids[bt]})`).toEqual(want);
        else expect(Array.from(got).every((v) => v === SENTINEL), `token ${bt} (id ${ids[bt]}) untouched`).toBe(true);
      }
    });
  }

  it('rejects a block outside the vocabulary and a wte too short for its block, naming the block', async () => {
    const ctx = await gpu();
    const t = (shape: number[], dtype: 'f32' | 'u32' = 'f32') => createTensor(ctx, shape, dtype);
    const rec = new Recorder(ctx);
    const dims = { B: 1, T: 2, C: 3, V: 10, pos0: 0 };
    const launch = (wteRows: number, block: { row0: number; rows: number }) => () =>
      embeddingForward(rec, t([1, 2, 3]), t([1, 2], 'u32'), t([wteRows, 3]), null, { ...dims, block });
    expect(launch(4, { row0: 7, rows: 4 })).toThrow('embedding_forward: the block of rows 7 .. 10 is not within the vocabulary (B=1 T=2 C=3 V=10 pos0=0)');
    expect(launch(4, { row0: -1, rows: 4 })).toThrow(/the block of rows -1 .. 2 is not within the vocabulary/);
    expect(launch(4, { row0: 3, rows: 0 })).toThrow(/the block of rows 3 .. 2 is not within the vocabulary/);
    expect(launch(3, { row0: 6, rows: 4 })).toThrow(/wte has 9 elements, needs 12/);
    expect(launch(4, { row0: 6, rows: 4 })).not.toThrow();
    rec.submit();
  });
});

describe('assertTokenIds', () => {
  it('accepts ids in [0, V)', () => {
    expect(() => assertTokenIds([0, 4, 2], 5)).not.toThrow();
    expect(() => assertTokenIds(new Uint32Array(0), 5)).not.toThrow();
  });
  it('names the first bad id and its index', () => {
    expect(() => assertTokenIds([0, 1, 7, 9], 5)).toThrow('token id 7 at index 2 is outside the vocabulary [0, 5)');
    expect(() => assertTokenIds([3, -1], 5)).toThrow('token id -1 at index 1');
    expect(() => assertTokenIds([1.5], 5)).toThrow('token id 1.5 at index 0');
  });
});
