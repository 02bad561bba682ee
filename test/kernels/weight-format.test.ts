// The weight-format readers (shaders/weights/, src/gpu/kernels/weight-format.ts), each composed
// into a small probe kernel that copies what the reader returns: weight_at(i) for every element
// (the scalar view) and weight4_at(i) for every group of four (the vec4 view). f32 must come back
// bit for bit; f16 as the f16 rounding of the values (element 2w in the low half of word w, an odd
// count leaving the last word half used); nf4 and q8, uploaded as quantizeNf4 / quantizeQ8's words,
// as dequantizeNf4 / dequantizeQ8 give them on the CPU, bit for bit (zero blocks, a short last
// NF4 block, f16-subnormal Q8 scales and a view starting at a later block among them). Then every
// matmul kernel that reads a frozen weight has one module per format with that format's reader in
// it, and each module builds on this device; and the nf4 and q8 tensors' own rules (packed words in,
// packed words out, the refusals).
import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../src/gpu/f16.js';
import { dequantizeNf4, quantizeNf4 } from '../../src/gpu/quant/nf4.js';
import { dequantizeQ8, quantizeQ8 } from '../../src/gpu/quant/q8.js';
import { composedKernel, Recorder, u32, type KernelSpec } from '../../src/gpu/kernel.js';
import { matmulReg4x4BackwardKernel, matmulReg4x4ScalarBackwardKernel, matmulTile64BackwardKernel } from '../../src/gpu/kernels/matmul/backward.js';
import { matmulReg4x4ForwardKernel, matmulReg4x4ScalarForwardKernel, matmulTile64ForwardKernel } from '../../src/gpu/kernels/matmul/forward.js';
import { matmulTile128BackwardKernel, matmulTile128ForwardKernel } from '../../src/gpu/kernels/matmul/tile128.js';
import { WEIGHT_FORMATS, WEIGHT_READERS, weightFormat, weightIsF16, weightKernel, type WeightFormat, type WeightView } from '../../src/gpu/kernels/weight-format.js';
import { createTensor, readTensor, storageBytes, writeTensor, type Tensor } from '../../src/gpu/tensor.js';
import { gpu, randomArray } from '../helpers.js';

const ctx = await gpu();

/** out[i] = weight_at(i) (scalar) or out[4i .. 4i + 3] = weight4_at(i) (vec4), for n elements. */
const probeCode = (view: WeightView) => `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
const WEIGHT_BINDING: u32 = 1u;
struct Params { n: u32 }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  ${view === 'scalar' ? 'if (i < params.n) { out[i] = weight_at(i); }' : 'if (4u * i < params.n) { let v = weight4_at(i); for (var e = 0u; e < 4u; e++) { out[4u * i + e] = v[e]; } }'}
}
`;

const probe = (view: WeightView, perWorkgroup: number) =>
  weightKernel<{ n: number }>(view, (reader) =>
    composedKernel('weight_probe.wgsl', { name: 'weight_probe', code: probeCode(view), bindings: ['read_write', 'read'], params: (d) => [u32(d.n)], dispatch: (d) => [Math.ceil(d.n / perWorkgroup)] }, reader),
  );
const probes = { scalar: probe('scalar', 64), vec4: probe('vec4', 256) };

/** What the weight reader of each view returns for `weight`, n elements (from its start). */
async function readThrough(view: WeightView, weight: Tensor, n: number): Promise<Float32Array> {
  const out = createTensor(ctx, [n], 'f32');
  const rec = new Recorder(ctx);
  rec.run(probes[view].formats[weightFormat('weight_probe', weight)], { n }, [out, weight]);
  rec.submit();
  const got = await readTensor(ctx, out);
  out.destroy();
  return got;
}

/** `values` stored as `format` (rows of `row` elements, q8's blocks), and what a reader must return for them. */
function stored(format: WeightFormat, values: Float32Array, row: number): { data: ArrayLike<number>; want: Float32Array } {
  if (format === 'f16') return { data: values, want: Float32Array.from(values, roundToF16) };
  if (format === 'nf4') {
    const data = quantizeNf4(values);
    return { data, want: dequantizeNf4(data, values.length) };
  }
  if (format === 'q8') {
    const data = quantizeQ8(values, row);
    return { data, want: dequantizeQ8(data, values.length) };
  }
  return { data: values, want: values };
}

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/**
 * n values of many magnitudes for the quantized formats: blocks of 32 scaled from 1e-4 to 1e2
 * (q8 scales below f16's smallest normal among them), every fifth block all zero, every seventh
 * holding negative zeros and tiny values, and outliers.
 */
function quantValues(n: number, seed: number): Float32Array {
  const w = randomArray(n, seed, -1, 1);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / 32);
    w[i] *= b % 5 === 4 ? 0 : 10 ** ((b % 7) - 4);
    if (b % 7 === 6 && i % 3 === 0) w[i] = i % 2 ? -0 : -1e-30;
  }
  for (let i = 11; i < n; i += 53) w[i] *= 30;
  return w;
}

describe('weight readers', () => {
  for (const format of WEIGHT_FORMATS) {
    for (const view of ['scalar', 'vec4'] as const) {
      const quantized = format === 'nf4' || format === 'q8';
      // [elements, row]: q8 takes whole rows of a multiple of 32; nf4's last block may be short.
      const lengths = format === 'q8' ? [[32, 32], [96, 32], [640, 128]] : view === 'scalar' ? [[1, 1], [7, 7], [300, 30], ...(quantized ? [[640, 64]] : [])] : [[4, 4], [8, 8], [300, 60], ...(quantized ? [[640, 64]] : [])];
      for (const [n, row] of lengths) {
        it(`${format}, ${view} view, ${n} elements`, async () => {
          const values = quantized ? quantValues(n, 17 + n) : randomArray(n, 17 + n, -3, 3);
          const { data, want } = stored(format, values, row);
          const weight = createTensor(ctx, [n / row, row], format, data);
          const got = await readThrough(view, weight, n);
          weight.destroy();
          if (quantized) expect(bitsOf(got)).toEqual(bitsOf(want));
          else expect(Array.from(got)).toEqual(Array.from(want));
        });
      }
    }
  }

  for (const format of ['nf4', 'q8'] as const) {
    it(`${format}: a view that starts at a later block (at a 256-byte offset) reads that block on`, async () => {
      const blocks = 64; // 64 blocks of 9 words: 2304 bytes, a multiple of 256
      const block = format === 'nf4' ? 64 : 32;
      const n = (blocks + 4) * block;
      const values = quantValues(n, 5);
      const { data, want } = stored(format, values, block);
      const whole = createTensor(ctx, [n / block, block], format, data);
      const view = whole.view(blocks * block, [4, block]);
      expect(view.byteOffset).toBe(2304);
      for (const v of ['scalar', 'vec4'] as const) expect(bitsOf(await readThrough(v, view, 4 * block)), v).toEqual(bitsOf(want.subarray(blocks * block)));
      whole.destroy();
    });
  }
});

describe('the matmul kernels that read a frozen weight', () => {
  const kernels = [
    matmulTile128ForwardKernel,
    matmulTile64ForwardKernel,
    matmulReg4x4ForwardKernel,
    matmulReg4x4ScalarForwardKernel,
    matmulTile128BackwardKernel,
    matmulTile64BackwardKernel,
    matmulReg4x4BackwardKernel,
    matmulReg4x4ScalarBackwardKernel,
  ];
  for (const kernel of kernels) {
    it(`${kernel.name}: one module per format, each with its reader, each building on the device`, async () => {
      for (const format of WEIGHT_FORMATS) {
        const spec: KernelSpec<never> = kernel.formats[format] as KernelSpec<never>;
        const parts = [...spec.code.matchAll(/^\/\/ ---- (.+) ----$/gm)].map((m) => m[1]);
        expect(parts[0]).toBe(`${kernel.name}.wgsl`);
        expect(parts.at(-1)).toBe(WEIGHT_READERS[format][kernel.view].name);
        expect(parts.at(-1)).toBe(`weights/${format}${kernel.view === 'vec4' && (format === 'f32' || format === 'f16') ? '_vec4' : ''}.wgsl`);
        expect(parts.filter((p) => p.startsWith('weights/'))).toHaveLength(1);
        expect(spec.name).toBe(kernel.name);
        const module = ctx.device.createShaderModule({ code: spec.code, label: `${spec.name} (${format})` });
        const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
        expect(errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`), `${kernel.name} (${format})`).toEqual([]);
      }
    });
  }
});

describe('nf4 and q8 tensors', () => {
  it('take their packed words whole, read back as those words, and count whole blocks of 9 words', async () => {
    const w = quantValues(200, 3);
    const nf4 = quantizeNf4(w);
    expect(storageBytes('nf4', 200)).toBe(4 * 9 * 4); // 4 blocks, the last 8 elements long
    expect(storageBytes('nf4', 64)).toBe(36);
    expect(storageBytes('q8', 64)).toBe(72);
    expect(storageBytes('nf4', 0)).toBe(4);
    const t = createTensor(ctx, [10, 20], 'nf4', nf4, 'layers.0.q');
    expect(t.byteLength).toBe(144);
    expect(Array.from(await readTensor(ctx, t))).toEqual(Array.from(nf4));
    const other = quantizeNf4(quantValues(200, 4));
    writeTensor(ctx, t, other);
    expect(Array.from(await readTensor(ctx, t))).toEqual(Array.from(other));
    const q8 = quantizeQ8(quantValues(128, 5), 64);
    const q = createTensor(ctx, [2, 64], 'q8', q8);
    expect(Array.from(await readTensor(ctx, q))).toEqual(Array.from(q8));
    expect(weightFormat('matmul_forward', t)).toBe('nf4');
    expect(weightFormat('matmul_forward', q)).toBe('q8');
    t.destroy();
    q.destroy();
  });

  it('refuse values for words, the wrong number of words, q8 rows not a multiple of 32, partial reads and writes, and misaligned views', async () => {
    const nf4 = quantizeNf4(new Float32Array(100));
    expect(() => createTensor(ctx, [100], 'nf4', new Float32Array(100), 'w')).toThrow('tensor w [100]: nf4 tensors take their packed words (a Uint32Array from quantizeNf4), not values');
    expect(() => createTensor(ctx, [10, 20], 'nf4', nf4, 'w')).toThrow('tensor w [10, 20]: 18 words given; 200 elements as nf4 are 36 words (quantizeNf4)');
    expect(() => createTensor(ctx, [4, 48], 'q8', undefined, 'layers.0.k')).toThrow(
      'tensor layers.0.k [4, 48]: rows of 48 elements are not a multiple of 32 long, so it cannot be q8 (keep such a weight as f16 or f32)',
    );
    const t = createTensor(ctx, [100], 'nf4', nf4, 'w');
    await expect(readTensor(ctx, t, 64)).rejects.toThrow('readTensor: nf4 tensor w is read whole, as its packed words (asked for 36 elements from 64 of 100)');
    expect(() => writeTensor(ctx, t, nf4, 64)).toThrow('writeTensor: nf4 tensor w is written whole, from its packed words (offset 64)');
    expect(() => writeTensor(ctx, t, nf4.subarray(9))).toThrow('writeTensor: nf4 tensor w: 9 words given; 100 elements as nf4 are 18 words (quantizeNf4)');
    expect(() => t.view(32, [32])).toThrow('view of nf4 tensor w at element 32: views start on a block of 64');
    expect(() => createTensor(ctx, [64], 'q8').view(32, [16])).toThrow('q8: 16 elements are not whole Q8_0 blocks of 32');
    expect(() => weightIsF16('embedding_forward', t, 'wte')).toThrow('embedding_forward: wte (w) must be stored as f32 or f16, not nf4');
    expect(() => weightFormat('matmul_forward', createTensor(ctx, [4], 'u32', undefined, 'x'))).toThrow(
      'matmul_forward: weight (x) must be stored as f32 or f16, not u32 (or quantized as nf4 or q8)',
    );
    t.destroy();
  });
});
