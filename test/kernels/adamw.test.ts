// The optimizer kernels: the global gradient norm (grad_norm) and the AdamW step (adamw), against
// CPU references that follow PyTorch's float32 operations, and one step against PyTorch itself.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/kernel.js';
import {
  adamwStep,
  gradNorm,
  gradNormFinishKernel,
  gradNormFlatPartialKernel,
  gradNormPartialKernel,
  gradNormScratchSize,
  gradNormSerialFinishKernel,
} from '../../src/gpu/kernels/adamw.js';
import { createTensor, readTensor, writeTensor } from '../../src/gpu/tensor.js';
import { readSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { expectClose, gpu, NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';
import { adamwStepRef, gradNormRef, type AdamwRefOptions } from '../ref/adamw.js';

describe('grad_norm', () => {
  // One element; fewer than one workgroup; not a multiple of it; more elements than the 1024
  // first-pass workgroups cover in one sweep (1024·256 = 262144), so each invocation loops.
  for (const n of [1, 100, 1000, 300001]) {
    it(`matches sqrt(Σ g²) at n=${n}`, async () => {
      const ctx = await gpu();
      const g = randomArray(n, 17 + n, -2, 2);
      const norm = createTensor(ctx, [1], 'f32');
      const scratch = createTensor(ctx, [gradNormScratchSize(n)], 'f32');
      const rec = new Recorder(ctx);
      gradNorm(rec, norm, scratch, createTensor(ctx, [n], 'f32', g), { n });
      rec.submit();
      const [got] = await readTensor(ctx, norm);
      const want = gradNormRef(g);
      expect(Math.abs(got - want)).toBeLessThanOrEqual(2e-6 * want);
    });
    // Both variants explicitly, whichever one the launcher picks on this device.
    for (const [partial, finish] of [
      [gradNormPartialKernel, gradNormFinishKernel],
      [gradNormFlatPartialKernel, gradNormSerialFinishKernel],
    ]) {
      it(`${partial.entryPoint} + ${finish.entryPoint} match sqrt(Σ g²) at n=${n}`, async () => {
        const ctx = await gpu();
        const g = randomArray(n, 19 + n, -2, 2);
        const norm = createTensor(ctx, [1], 'f32');
        const partials = gradNormScratchSize(n);
        const scratch = createTensor(ctx, [partials], 'f32');
        const grads = createTensor(ctx, [n], 'f32', g);
        const rec = new Recorder(ctx);
        rec.run(partial, { n, partials }, [norm, scratch, grads]);
        rec.run(finish, { n, partials }, [norm, scratch, grads]);
        rec.submit();
        const [got] = await readTensor(ctx, norm);
        const want = gradNormRef(g);
        expect(Math.abs(got - want)).toBeLessThanOrEqual(2e-6 * want);
      });
    }
  }
});

interface Config {
  what: string;
  n: number;
  weightDecay: number;
  maxGradNorm: number | null;
  clips?: boolean; // the norm exceeds maxGradNorm at every step
  beta1?: number;
  gradScale?: number;
}

// Gradients are U(-1, 1)·gradScale, so their norm is about gradScale·sqrt(n/3): clipping at 0.5
// is active, at 1e6 inactive. beta1 = 0.3 takes the other branch of torch's lerp (weight >= 0.5).
const configs: Config[] = [
  { what: 'weight decay, no clipping', n: 1000, weightDecay: 0.01, maxGradNorm: null },
  { what: 'no weight decay, no clipping', n: 1000, weightDecay: 0, maxGradNorm: null },
  { what: 'clipping active', n: 1000, weightDecay: 0.1, maxGradNorm: 0.5, clips: true },
  { what: 'clipping inactive', n: 1000, weightDecay: 0.01, maxGradNorm: 1e6, clips: false },
  { what: 'n = 1, clipping active', n: 1, weightDecay: 0.01, maxGradNorm: 0.1, clips: true },
  { what: 'n = 257, beta1 = 0.3', n: 257, weightDecay: 0.01, maxGradNorm: null, beta1: 0.3 },
  { what: 'tiny gradients (eps matters)', n: 300, weightDecay: 0.01, maxGradNorm: null, gradScale: 1e-8 },
];

describe('adamw', () => {
  for (const c of configs) {
    it(`${c.what}: n=${c.n}, steps 1..5 with a changing lr match the reference`, async () => {
      const ctx = await gpu();
      const { n } = c;
      const p = randomArray(n, 23 + n, -1, 1);
      const m = new Float32Array(n);
      const v = new Float32Array(n);
      const params = createTensor(ctx, [n], 'f32', p);
      const mt = createTensor(ctx, [n], 'f32');
      const vt = createTensor(ctx, [n], 'f32');
      const grads = createTensor(ctx, [n], 'f32');
      const norm = createTensor(ctx, [1], 'f32');
      const scratch = createTensor(ctx, [gradNormScratchSize(n)], 'f32');
      for (let step = 1; step <= 5; step++) {
        const g = randomArray(n, 1000 * step + n, -1, 1).map((x) => x * (c.gradScale ?? 1));
        const opts: AdamwRefOptions = {
          lr: 1e-2 * (1 - 0.1 * step),
          beta1: c.beta1 ?? 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: c.weightDecay,
          step,
          maxGradNorm: c.maxGradNorm,
        };
        if (c.maxGradNorm !== null) expect(gradNormRef(g) > c.maxGradNorm, 'clipping active').toBe(c.clips);
        const rec = new Recorder(ctx);
        writeTensor(ctx, grads, g);
        if (c.maxGradNorm !== null) gradNorm(rec, norm, scratch, grads, { n });
        adamwStep(rec, params, grads, mt, vt, norm, { n, ...opts });
        rec.submit();
        adamwStepRef(p, g, m, v, opts);
        expectClose(await readTensor(ctx, params), p, 1e-8, 1e-6, `params after step ${step}`);
      }
      const gradScale = c.gradScale ?? 1;
      expectClose(await readTensor(ctx, mt), m, 1e-8 * gradScale, 1e-5, 'm');
      expectClose(await readTensor(ctx, vt), v, 1e-12 * gradScale ** 2, 1e-5, 'v');
    });
  }

  it('rejects a step of 0 (steps count from 1)', async () => {
    const ctx = await gpu();
    const t = createTensor(ctx, [4], 'f32');
    const rec = new Recorder(ctx);
    const dims = { n: 4, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 0, maxGradNorm: null };
    expect(() => adamwStep(rec, t, t, t, t, t, dims)).toThrow(/step 0/);
  });
});

const goldenDir = SHARED_DIR ? join(SHARED_DIR, 'golden') : '';
const goldenCases = SHARED_DIR ? readdirSync(goldenDir).filter((d) => existsSync(join(goldenDir, d, 'case.json'))) : [];

// The golden data hold the start point, the gradients and the parameters after one torch step, so
// step 1 is checked against PyTorch itself. The kernel reproduces about 95% of the elements bit
// for bit (and the CPU reference all of the kernel's); an offline float32 replay showed that every
// other element is reproduced once sqrt(v) may differ by one ulp, so the difference lies in
// PyTorch's CPU sqrt, not in the order of operations.
describe.skipIf(!SHARED_DIR)(`one AdamW step vs PyTorch's after1${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  for (const name of goldenCases) {
    it(`${name}: every adapter tensor, flattened into one buffer`, async () => {
      const ctx = await gpu();
      const caseJson = JSON.parse(readFileSync(join(goldenDir, name, 'case.json'), 'utf8'));
      const src = folderSource(join(goldenDir, name));
      const adapter = await readSafetensorsHeader(src, 'adapter_model.safetensors');
      const expected = await readSafetensorsHeader(src, 'expected.safetensors');
      const keys = [...adapter.tensors.keys()].sort();
      const parts = { p: [] as Float32Array[], g: [] as Float32Array[], want: [] as Float32Array[] };
      for (const k of keys) {
        parts.p.push(await readTensorF32(src, adapter, k));
        parts.g.push(await readTensorF32(src, expected, `grad.${k}`));
        parts.want.push(await readTensorF32(src, expected, `after1.${k}`));
      }
      const flat = (xs: Float32Array[]) => {
        const out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
        let o = 0;
        for (const x of xs) out.set(x, (o += x.length) - x.length);
        return out;
      };
      const [p, g, want] = [flat(parts.p), flat(parts.g), flat(parts.want)];
      const n = p.length;
      const o = caseJson.optimizer;
      const params = createTensor(ctx, [n], 'f32', p);
      const zeros = () => createTensor(ctx, [n], 'f32');
      const rec = new Recorder(ctx);
      const dims = { n, lr: o.lr, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weight_decay, step: 1, maxGradNorm: null };
      adamwStep(rec, params, createTensor(ctx, [n], 'f32', g), zeros(), zeros(), createTensor(ctx, [1], 'f32'), dims);
      rec.submit();
      const got = await readTensor(ctx, params);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-3));
      console.log(`${name}: ${n} parameters, worst relative difference to PyTorch ${worst.toExponential(2)}`);
      expectClose(got, want, 1e-8, 1e-6, 'after1');
    });
  }
});
