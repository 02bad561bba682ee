import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import {
  matmulForward,
  matmulReg4x4ForwardKernel,
  matmulReg4x4ScalarForwardKernel,
  matmulTile64ForwardKernel,
} from '../../src/gpu/kernels/matmul/forward.js';
import { TILE64, tile64Grid } from '../../src/gpu/kernels/matmul/tiles.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { matmulForwardRef } from '../ref/matmul.js';

// matmul_tile64_forward's tiles are 64 × 64 outputs and 32 along K; matmul_reg4x4_scalar_forward's
// blocks are 4 × 4. The shapes cover a single row, sizes below, at and above one tile that are not multiples
// of it, K = 1, K not a multiple of 32, and one shape larger than a tile in every dimension.
// Both kernels are checked at every shape (on GPUs the launcher picks the scalar one for M ≤ 8 only),
// and matmul_reg4x4_forward (4 × 4 blocks, vec4 loads along K) at every shape whose K is a multiple of
// 4, plus REGTILE_SHAPES: M and N not multiples of 4, K = 4, and the training step's shapes.
const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [5, 7, 3],
  [1, 300, 64],
  [70, 130, 33],
  [3, 65, 1],
  [64, 64, 32],
  [130, 70, 100],
];
const REGTILE_SHAPES: Array<[number, number, number]> = [
  [1, 1, 4],
  [5, 7, 4],
  [63, 17, 172],
  [64, 512, 64],
  [66, 16, 172],
];
const SENTINEL = 12345;
const PAD = 80; // elements past M·N in out, which must stay untouched

describe('matmul forward kernels', () => {
  const cases: Array<[typeof matmulTile64ForwardKernel, [number, number, number]]> = [
    ...[matmulTile64ForwardKernel, matmulReg4x4ScalarForwardKernel].flatMap((k) => SHAPES.map((s) => [k, s] as [typeof k, typeof s])),
    ...[...SHAPES, ...REGTILE_SHAPES].filter(([, , K]) => K % 4 === 0).map((s) => [matmulReg4x4ForwardKernel, s] as [typeof matmulTile64ForwardKernel, typeof s]),
  ];
  for (const [kernel, [M, N, K]] of cases) {
    for (const withBias of [false, true]) {
      it(`${kernel.name} matches the CPU reference at M=${M} N=${N} K=${K} ${withBias ? 'with' : 'without'} bias`, async () => {
        const ctx = await gpu();
        const x = randomArray(M * K, 3 + M * K, -1, 1);
        const w = randomArray(N * K, 11 + N * K, -1, 1);
        const b = withBias ? randomArray(N, 5 + N, -1, 1) : null;
        const out = createTensor(ctx, [M * N + PAD], 'f32', new Float32Array(M * N + PAD).fill(SENTINEL));
        const rec = new Recorder(ctx);
        const weight = createTensor(ctx, [N, K], 'f32', w);
        const bias = b ? createTensor(ctx, [N], 'f32', b) : weight;
        const inp = createTensor(ctx, [M, K], 'f32', x);
        // The fused-update slots (u, loraB) get inp, unread.
        const spec = kernel.formats.f32;
        rec.run(spec, { M, N, K, hasBias: !!b }, [out, inp, weight, bias, inp, inp].slice(0, spec.bindings.length));
        rec.submit();
        const got = await readTensor(ctx, out);
        expectClose(got.subarray(0, M * N), matmulForwardRef(x, w, b, M, N, K), 2e-6 * K + 1e-6, 1e-4, 'out');
        expect(Array.from(got.subarray(M * N)).every((v) => v === SENTINEL), 'elements past M·N untouched').toBe(true);
      });
    }
  }

  it('rejects tensors smaller than the dimensions', async () => {
    const ctx = await gpu();
    const t = (n: number) => createTensor(ctx, [n], 'f32');
    const rec = new Recorder(ctx);
    expect(() => matmulForward(rec, t(5), t(6), t(9), null, { M: 2, N: 3, K: 3 })).toThrow(/out has 5 elements, needs 6/);
    expect(() => matmulForward(rec, t(6), t(5), t(9), null, { M: 2, N: 3, K: 3 })).toThrow(/inp has 5 elements, needs 6/);
    expect(() => matmulForward(rec, t(6), t(6), t(8), null, { M: 2, N: 3, K: 3 })).toThrow(/weight has 8 elements, needs 9/);
    expect(() => matmulForward(rec, t(6), t(6), t(9), t(2), { M: 2, N: 3, K: 3 })).toThrow(/bias has 2 elements, needs 3/);
    rec.submit();
  });

  it('covers every tile within the 65535-workgroups-per-dimension limit', () => {
    for (const [M, N] of [[1, 151936], [65536, 151936], [65535 * 64, 10], [65535 * 64 + 1, 10], [70000 * 64, 1]]) {
      const [x, y, z] = tile64Grid(M, N);
      const rowTiles = Math.ceil(M / TILE64);
      expect(x).toBe(Math.ceil(N / TILE64));
      for (const g of [x, y, z]) expect(g).toBeLessThanOrEqual(65535);
      expect(y * z).toBeGreaterThanOrEqual(rowTiles);
      expect(y * (z - 1)).toBeLessThan(rowTiles); // no whole z-slice of empty workgroups
    }
    expect(matmulTile64ForwardKernel.formats.f32.constants?.({ M: 1, N: 1, K: 1, hasBias: true })).toEqual({ HAS_BIAS: 1, HAS_LORA: 0 });
  });
});
