// Final logit softcapping (Gemma): softcap_forward in place against the CPU reference at ragged
// sizes and extreme logits; then the loss through it: crossentropy_forward of the capped logits and
// crossentropy_backward with its softcap, which takes the gradient on to the raw logits, against
// the references composed (whose gradient is checked by finite differences first).
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import { crossentropyBackward, crossentropyForward, shiftedTargets } from '../../src/gpu/kernels/crossentropy.js';
import { softcapForward } from '../../src/gpu/kernels/softcap.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
import { expectClose, gpu, randomArray } from '../helpers.js';
import { crossEntropyBackwardRef, crossEntropyRef } from '../ref/crossentropy.js';
import { softcapBackwardRef, softcapRef } from '../ref/softcap.js';

async function runSoftcap(x: Float32Array, cap: number): Promise<Float32Array> {
  const ctx = await gpu();
  const t = createTensor(ctx, [x.length], 'f32', x);
  const rec = new Recorder(ctx);
  softcapForward(rec, t, { n: x.length, cap });
  rec.submit();
  const got = await readTensor(ctx, t);
  t.destroy();
  return got;
}

describe('softcap_forward', () => {
  // One element, around one 256-wide workgroup, a ragged last workgroup; Gemma 2's caps 30 and 50.
  for (const [n, cap] of [[1, 30], [255, 30], [256, 50], [257, 2.5], [1000, 30]] as const) {
    it(`matches the CPU reference at n=${n} cap=${cap}`, async () => {
      const x = randomArray(n, 3 + n, -4 * cap, 4 * cap);
      expectClose(await runSoftcap(x, cap), softcapRef(x, cap), 1e-5 * cap, 1e-5, 'capped');
    });
  }

  it('stays finite and within (−cap, cap] for extreme logits', async () => {
    const x = new Float32Array([0, -0, 1e-30, -1e-30, 29.9, -29.9, 3000, -3000, 1e30, -1e30, 3e38, -3e38]);
    const got = await runSoftcap(x, 30);
    for (let i = 0; i < x.length; i++) expect(Math.abs(got[i]), `x = ${x[i]}`).toBeLessThanOrEqual(30);
    expectClose(got, softcapRef(x, 30), 1e-5, 1e-5, 'capped');
  });
});

describe('cross-entropy of softcapped logits', () => {
  it('the composed reference gradient matches finite differences of the composed loss (f64)', () => {
    const [B, T, V, cap] = [1, 3, 6, 2];
    const raw = Float64Array.from(randomArray(B * T * V, 61, -6, 6));
    const labels = Int32Array.from([-100, 2, 5]);
    const loss = (x: Float64Array) => crossEntropyRef(softcapRef(x, cap), labels, B, T, V).mean;
    const d = softcapBackwardRef(crossEntropyBackwardRef(softcapRef(raw, cap), labels, B, T, V), raw, cap);
    const h = 1e-5;
    for (let i = 0; i < raw.length; i++) {
      const x = raw[i];
      raw[i] = x + h;
      const up = loss(raw);
      raw[i] = x - h;
      const down = loss(raw);
      raw[i] = x;
      expect(Math.abs((up - down) / (2 * h) - d[i]), `element ${i}`).toBeLessThan(1e-8);
    }
  });

  // V below and above the 256-wide workgroup; a chunk that starts inside the batch; logits past the cap.
  for (const [B, T, V, row0, rows, cap] of [[1, 4, 7, 0, 4, 3], [2, 5, 300, 3, 6, 30], [1, 3, 1000, 1, 2, 10]] as const) {
    it(`gives the loss and raw-logit gradient of the references at B=${B} T=${T} V=${V} rows ${row0}.. cap=${cap}`, async () => {
      const ctx = await gpu();
      const raw = randomArray(B * T * V, 7 + V, -3 * cap, 3 * cap);
      const labels = Int32Array.from({ length: B * T }, (_, i) => (i % T === 1 ? -100 : (i * 31) % V));
      const capped = softcapRef(raw, cap);
      const ref = crossEntropyRef(capped, labels, B, T, V);
      const dref = softcapBackwardRef(crossEntropyBackwardRef(capped, labels, B, T, V), raw, cap);
      const { targets, count } = shiftedTargets(labels, B, T, V);
      const chunk = createTensor(ctx, [rows, V], 'f32', raw.subarray(row0 * V, (row0 + rows) * V));
      const losses = createTensor(ctx, [B * T], 'f32');
      const lse = createTensor(ctx, [B * T], 'f32');
      const tgt = createTensor(ctx, [B * T], 'i32', targets);
      const rec = new Recorder(ctx);
      softcapForward(rec, chunk, { n: rows * V, cap });
      crossentropyForward(rec, losses, lse, chunk, tgt, { rows, V, row0 });
      crossentropyBackward(rec, chunk, lse, tgt, { rows, V, row0, dscale: 1 / count, softcap: cap });
      rec.submit();
      expectClose(await readTensor(ctx, losses, row0, rows), ref.losses.subarray(row0, row0 + rows), 1e-5 * cap, 1e-5, 'losses');
      expectClose(await readTensor(ctx, chunk), dref.subarray(row0 * V, (row0 + rows) * V), 1e-9, 1e-4, 'd raw logits');
      for (const t of [chunk, losses, lse, tgt]) t.destroy();
    });
  }
});
