// Chunked causal-LM cross-entropy: forward (losses, lse), in-place backward, and the mean-loss
// reduction, against the f64 CPU reference, whose backward is first checked by finite differences.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import {
  crossentropyBackward,
  crossentropyForward,
  crossentropyForwardKernel,
  crossentropyForwardPerRowKernel,
  lossMean,
  shiftedTargets,
} from '../../src/gpu/kernels/crossentropy.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { readSafetensorsHeader, readTensorF32, readTensorI32 } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { expectClose, gpu, NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';
import { crossEntropyBackwardRef, crossEntropyRef } from '../ref/crossentropy.js';

/** Labels [B, T] in [0, V), with -100 where ignore(b, t) says so. */
function makeLabels(B: number, T: number, V: number, seed: number, ignore: (b: number, t: number) => boolean): Int32Array {
  const u = randomArray(B * T, seed, 0, 1);
  const labels = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) labels[b * T + t] = ignore(b, t) ? -100 : Math.floor(u[b * T + t] * V);
  return labels;
}

describe('crossentropy references and targets (CPU)', () => {
  it('the backward reference matches central finite differences of the forward (f64)', () => {
    const [B, T, V] = [2, 4, 5];
    const logits = Float64Array.from(randomArray(B * T * V, 11, -3, 3));
    const labels = makeLabels(B, T, V, 12, (b, t) => b === 1 && t === 2);
    const d = crossEntropyBackwardRef(logits, labels, B, T, V);
    const h = 1e-5;
    for (let i = 0; i < logits.length; i++) {
      const x = logits[i];
      logits[i] = x + h;
      const up = crossEntropyRef(logits, labels, B, T, V).mean;
      logits[i] = x - h;
      const down = crossEntropyRef(logits, labels, B, T, V).mean;
      logits[i] = x;
      expect(Math.abs((up - down) / (2 * h) - d[i]), `element ${i}`).toBeLessThan(1e-8);
    }
  });

  it('shiftedTargets shifts left by one, ignores -100 and the last position, and counts', () => {
    const labels = Int32Array.from([-100, 5, 6, -100, /* row 1 */ 7, -100, 8, 9]);
    const { targets, count } = shiftedTargets(labels, 2, 4);
    expect(Array.from(targets)).toEqual([5, 6, -1, -1, -1, 8, 9, -1]);
    expect(count).toBe(4);
    expect(() => shiftedTargets(Int32Array.from([0, -3]), 1, 2)).toThrow(/label -3/);
    expect(() => shiftedTargets(Int32Array.from([0, 10]), 1, 2, 10)).toThrow(/below V=10/);
  });
});

interface Case {
  B: number;
  T: number;
  V: number;
  row0: number;
  rows: number;
  lo: number;
  hi: number;
  what: string;
}

// V below, at and above the 256-wide workgroup and not a multiple of it, up to Qwen's vocabulary;
// a single row; a chunk that starts inside the batch; a row whose target is ignored; logits of ±80.
const cases: Case[] = [
  { B: 1, T: 3, V: 7, row0: 0, rows: 3, lo: -3, hi: 3, what: 'V below the workgroup' },
  { B: 2, T: 5, V: 300, row0: 0, rows: 10, lo: -3, hi: 3, what: 'the whole batch' },
  { B: 2, T: 6, V: 1000, row0: 4, rows: 5, lo: -5, hi: 5, what: 'a chunk with row0 > 0' },
  { B: 1, T: 4, V: 1000, row0: 1, rows: 1, lo: -5, hi: 5, what: 'rows = 1' },
  { B: 2, T: 4, V: 1000, row0: 2, rows: 4, lo: -80, hi: 80, what: 'logits of ±80' },
  { B: 1, T: 3, V: 151936, row0: 0, rows: 2, lo: -10, hi: 10, what: "Qwen's vocabulary" },
];

describe('crossentropy_forward / crossentropy_backward', () => {
  // Both forward variants: a workgroup per row (main) and the barrier-free per_row.
  for (const kernel of [crossentropyForwardKernel, crossentropyForwardPerRowKernel])
  for (const c of cases) {
    const { B, T, V, row0, rows } = c;
    it(`${kernel.entryPoint ?? 'main'} ${c.what}: B=${B} T=${T} V=${V} rows ${row0}..${row0 + rows - 1}`, async () => {
      const ctx = await gpu();
      const logitsAll = randomArray(B * T * V, 3 + V + row0, c.lo, c.hi);
      // Ignore position (0, 1) (so row 0 is not counted) and, in longer rows, (b, 3).
      const labels = makeLabels(B, T, V, 5 + V, (b, t) => (b === 0 && t === 1) || t === 3);
      const ref = crossEntropyRef(logitsAll, labels, B, T, V);
      const dref = crossEntropyBackwardRef(logitsAll, labels, B, T, V);
      const { targets, count } = shiftedTargets(labels, B, T, V);
      expect(count).toBe(ref.count);

      const chunk = createTensor(ctx, [rows, V], 'f32', logitsAll.subarray(row0 * V, (row0 + rows) * V));
      const losses = createTensor(ctx, [B * T], 'f32');
      const lse = createTensor(ctx, [B * T], 'f32');
      const tgt = createTensor(ctx, [B * T], 'i32', targets);
      const rec = new Recorder(ctx);
      rec.run(kernel, { rows, V, row0 }, [losses, lse, chunk, tgt]);
      crossentropyBackward(rec, chunk, lse, tgt, { rows, V, row0, dscale: 1 / count });
      rec.submit();

      const atol = 1e-5 * Math.max(1, c.hi);
      expectClose(await readTensor(ctx, losses, row0, rows), ref.losses.subarray(row0, row0 + rows), atol, 1e-5, 'losses');
      expectClose(await readTensor(ctx, lse, row0, rows), ref.lse.subarray(row0, row0 + rows), atol, 1e-6, 'lse');
      const want = dref.subarray(row0 * V, (row0 + rows) * V);
      const got = await readTensor(ctx, chunk);
      expectClose(got, want, 1e-10, 1e-4 * Math.max(1, c.hi / 10), 'dlogits');
      // Rows whose target is ignored get exactly zero.
      for (let r = row0; r < row0 + rows; r++) {
        if (targets[r] >= 0) continue;
        for (let v = 0; v < V; v++) expect(got[(r - row0) * V + v]).toBe(0);
      }
    });
  }

  it('chunked losses over the whole batch reduce to the reference mean loss, and the chunked backward matches', async () => {
    const ctx = await gpu();
    const [B, T, V, chunkRows] = [3, 7, 300, 4];
    const logitsAll = randomArray(B * T * V, 99, -4, 4);
    const labels = makeLabels(B, T, V, 98, (b, t) => t < b + 1 || (b === 2 && t === 6));
    const ref = crossEntropyRef(logitsAll, labels, B, T, V);
    const dref = crossEntropyBackwardRef(logitsAll, labels, B, T, V);
    const { targets, count } = shiftedTargets(labels, B, T, V);

    const losses = createTensor(ctx, [B * T], 'f32');
    const lse = createTensor(ctx, [B * T], 'f32');
    const loss = createTensor(ctx, [1], 'f32');
    const tgt = createTensor(ctx, [B * T], 'i32', targets);
    const rec = new Recorder(ctx);
    const chunks: Array<{ row0: number; rows: number; t: ReturnType<typeof createTensor> }> = [];
    for (let row0 = 0; row0 < B * T; row0 += chunkRows) {
      const rows = Math.min(chunkRows, B * T - row0);
      const t = createTensor(ctx, [rows, V], 'f32', logitsAll.subarray(row0 * V, (row0 + rows) * V));
      crossentropyForward(rec, losses, lse, t, tgt, { rows, V, row0 });
      crossentropyBackward(rec, t, lse, tgt, { rows, V, row0, dscale: 1 / count });
      chunks.push({ row0, rows, t });
    }
    lossMean(rec, loss, losses, { n: B * T, scale: 1 / count });
    rec.submit();

    const [mean] = await readTensor(ctx, loss);
    expect(Math.abs(mean - ref.mean)).toBeLessThanOrEqual(1e-5 * ref.mean);
    for (const { row0, rows, t } of chunks) {
      expectClose(await readTensor(ctx, t), dref.subarray(row0 * V, (row0 + rows) * V), 1e-10, 1e-4, `dlogits rows ${row0}..`);
    }
  });
});

// Every case of ../shared/golden and ../shared/golden-arch.
const goldenCases = SHARED_DIR
  ? ['golden', 'golden-arch'].flatMap((d) => readdirSync(join(SHARED_DIR!, d)).filter((c) => existsSync(join(SHARED_DIR!, d, c, 'expected.safetensors'))).map((c) => join(d, c)))
  : [];

describe.skipIf(!SHARED_DIR)(`loss of logits.lora vs PyTorch's loss.trajectory[0]${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  for (const name of goldenCases) {
    it(`${name}: chunked mean loss within 1e-5 relative`, async () => {
      const ctx = await gpu();
      const src = folderSource(join(SHARED_DIR!, name));
      const header = await readSafetensorsHeader(src, 'expected.safetensors');
      const labels = await readTensorI32(src, header, 'labels');
      const logitsAll = await readTensorF32(src, header, 'logits.lora');
      const [want] = await readTensorF32(src, header, 'loss.trajectory');
      const [B, T, V] = header.tensors.get('logits.lora')!.shape;
      const { targets, count } = shiftedTargets(labels, B, T, V);

      const losses = createTensor(ctx, [B * T], 'f32');
      const lse = createTensor(ctx, [B * T], 'f32');
      const loss = createTensor(ctx, [1], 'f32');
      const tgt = createTensor(ctx, [B * T], 'i32', targets);
      const rec = new Recorder(ctx);
      const chunkRows = 5;
      for (let row0 = 0; row0 < B * T; row0 += chunkRows) {
        const rows = Math.min(chunkRows, B * T - row0);
        const t = createTensor(ctx, [rows, V], 'f32', logitsAll.subarray(row0 * V, (row0 + rows) * V));
        crossentropyForward(rec, losses, lse, t, tgt, { rows, V, row0 });
      }
      lossMean(rec, loss, losses, { n: B * T, scale: 1 / count });
      rec.submit();
      const [got] = await readTensor(ctx, loss);
      console.log(`${name}: loss ${got} vs PyTorch ${want} (${count} positions)`);
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-5 * Math.abs(want));
    });
  }
});
