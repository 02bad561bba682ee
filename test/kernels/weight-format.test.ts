// The weight-format readers (shaders/weights/, src/gpu/kernels/weight-format.ts), each composed
// into a small probe kernel that copies what the reader returns: weight_at(i) for every element
// (the scalar view) and weight4_at(i) for every group of four (the vec4 view). f32 must come back
// bit for bit; f16 as the f16 rounding of the values (element 2w in the low half of word w, an odd
// count leaving the last word half used). Then every matmul kernel that reads a frozen weight has
// one module per format with that format's reader in it, and each module builds on this device.
import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../src/gpu/f16.js';
import { composedKernel, Recorder, u32, type KernelSpec } from '../../src/gpu/kernel.js';
import { matmulReg4x4BackwardKernel, matmulReg4x4ScalarBackwardKernel, matmulTile64BackwardKernel } from '../../src/gpu/kernels/matmul/backward.js';
import { matmulReg4x4ForwardKernel, matmulReg4x4ScalarForwardKernel, matmulTile64ForwardKernel } from '../../src/gpu/kernels/matmul/forward.js';
import { matmulTile128BackwardKernel, matmulTile128ForwardKernel } from '../../src/gpu/kernels/matmul/tile128.js';
import { WEIGHT_FORMATS, weightKernel, type WeightFormat, type WeightView } from '../../src/gpu/kernels/weight-format.js';
import { createTensor, readTensor } from '../../src/gpu/tensor.js';
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

async function readThrough(view: WeightView, format: WeightFormat, values: Float32Array): Promise<Float32Array> {
  const weight = createTensor(ctx, [values.length], format, values);
  const out = createTensor(ctx, [values.length], 'f32');
  const rec = new Recorder(ctx);
  rec.run(probes[view].formats[format], { n: values.length }, [out, weight]);
  rec.submit();
  const got = await readTensor(ctx, out);
  weight.destroy();
  out.destroy();
  return got;
}

describe('weight readers', () => {
  for (const format of WEIGHT_FORMATS) {
    for (const view of ['scalar', 'vec4'] as const) {
      const lengths = view === 'scalar' ? [1, 7, 300] : [4, 8, 300];
      for (const n of lengths) {
        it(`${format}, ${view} view, ${n} elements`, async () => {
          const values = randomArray(n, 17 + n, -3, 3);
          const want = format === 'f16' ? Float32Array.from(values, roundToF16) : values;
          expect(Array.from(await readThrough(view, format, values))).toEqual(Array.from(want));
        });
      }
    }
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
        expect(parts.at(-1)).toBe(`weights/${format}${kernel.view === 'vec4' ? '_vec4' : ''}.wgsl`);
        expect(parts.filter((p) => p.startsWith('weights/'))).toHaveLength(1);
        expect(spec.name).toBe(kernel.name);
        const module = ctx.device.createShaderModule({ code: spec.code, label: `${spec.name} (${format})` });
        const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
        expect(errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`), `${kernel.name} (${format})`).toEqual([]);
      }
    });
  }
});
