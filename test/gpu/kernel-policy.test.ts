// The kernel policy (src/gpu/policy.ts) as one table: for three devices (SwiftShader, a large GPU
// like the H200 with 32 KiB of workgroup memory and subgroups of 32, a small GPU with WebGPU's
// minimum 16 KiB and no subgroups) and the shapes of LoRA training and decoding (stories260K:
// C = 64, F = 172, V = 512; SmolLM2-135M: C = 576, F = 1536, V = 49152), which kernel every family
// takes: the matmuls (forward, input gradient and its split, weight gradient and its split, LoRA
// fusion), attention, the row reductions (RMSNorm, cross-entropy, the gradient norm). Pure: no
// device is used, so a changed rule shows up here as a changed row.
import { describe, expect, it } from 'vitest';
import type { KernelSpec, Recorder } from '../../src/gpu/kernel.js';
import { selectGradNorm } from '../../src/gpu/kernels/adamw.js';
import { selectAttention } from '../../src/gpu/kernels/attention.js';
import { selectCrossentropyForward } from '../../src/gpu/kernels/crossentropy.js';
import { canFuseLoraBackward } from '../../src/gpu/kernels/matmul/backward.js';
import { canFuseLoraForward } from '../../src/gpu/kernels/matmul/forward.js';
import { backwardSplits, selectMatmulForward, selectMatmulInputGrad, selectMatmulWeightGrad } from '../../src/gpu/kernels/matmul/select.js';
import { selectRmsnormBackward, selectRmsnormForward } from '../../src/gpu/kernels/rmsnorm.js';
import { devicePolicy, type KernelPolicy, type PolicyInputs } from '../../src/gpu/policy.js';
import type { Tensor } from '../../src/gpu/tensor.js';

const adapter = (vendor: string, description: string, subgroupMinSize: number): PolicyInputs['adapterInfo'] => ({ vendor, architecture: '', device: '', description, subgroupMinSize });

const SWIFTSHADER = devicePolicy({
  adapterInfo: adapter('google', 'SwiftShader Device (Subzero)', 4),
  features: { subgroupId: true },
  limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 },
});
const LARGE_GPU = devicePolicy({
  adapterInfo: adapter('nvidia', 'NVIDIA H200', 32),
  features: { subgroupId: true },
  limits: { maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024 },
});
const SMALL_GPU = devicePolicy({
  adapterInfo: adapter('intel', 'Intel integrated', 0),
  features: { subgroupId: false },
  limits: { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 },
});
const POLICIES: Record<string, KernelPolicy> = { swiftshader: SWIFTSHADER, 'large GPU': LARGE_GPU, 'small GPU': SMALL_GPU };

/** A kernel's name, with its entry point where one WGSL file holds several variants. */
const id = (k: KernelSpec<never>) => (k.entryPoint && k.entryPoint !== 'main' ? `${k.name}:${k.entryPoint}` : k.name);

describe('the kernel policy of a device', () => {
  it('is worked out from the adapter, features and limits', () => {
    expect(SWIFTSHADER).toMatchObject({ kernels: 'barrier-free', subgroupSize: 4, workgroupBytes: 32768 });
    expect(LARGE_GPU).toMatchObject({ kernels: 'tiled', subgroupSize: 32, workgroupBytes: 49152, workgroupInvocations: 1024 });
    expect(SMALL_GPU).toMatchObject({ kernels: 'tiled', subgroupSize: 0 });
    for (const p of Object.values(POLICIES)) expect(p.reason.length).toBeGreaterThan(10);
  });
});

type Dims = { M: number; N: number; K: number };
const TABLES: Record<string, Array<[string, Dims, string, string, string]>> = {
  //                                      shape                          swiftshader                     large GPU                   small GPU
  'forward x·Wᵀ (selectMatmulForward)': [
    ['stories260K q', { M: 512, N: 64, K: 64 }, 'matmul_reg4x4_forward', 'matmul_tile64_forward', 'matmul_tile64_forward'],
    ['odd K', { M: 512, N: 64, K: 6 }, 'matmul_reg4x4_scalar_forward', 'matmul_tile64_forward', 'matmul_tile64_forward'],
    ['SmolLM2 up_proj', { M: 2048, N: 1536, K: 576 }, 'matmul_reg4x4_forward', 'matmul_tile128_forward', 'matmul_tile64_forward'],
    ['SmolLM2 odd K', { M: 2048, N: 1536, K: 6 }, 'matmul_reg4x4_scalar_forward', 'matmul_tile64_forward', 'matmul_tile64_forward'],
    ['decoding 4 rows', { M: 4, N: 49152, K: 576 }, 'matmul_reg4x4_forward', 'matmul_reg4x4_scalar_forward', 'matmul_reg4x4_scalar_forward'],
    ['255 rows', { M: 255, N: 576, K: 576 }, 'matmul_reg4x4_forward', 'matmul_tile64_forward', 'matmul_tile64_forward'],
  ],
  'input gradient dy·W (selectMatmulInputGrad)': [
    ['stories260K down_proj', { M: 512, N: 64, K: 172 }, 'matmul_reg4x4_backward', 'matmul_tile64_backward', 'matmul_tile64_backward'],
    ['odd K', { M: 512, N: 64, K: 6 }, 'matmul_reg4x4_scalar_backward', 'matmul_tile64_backward', 'matmul_tile64_backward'],
    ['N = 0', { M: 512, N: 0, K: 64 }, 'matmul_reg4x4_scalar_backward', 'matmul_tile64_backward', 'matmul_tile64_backward'],
    ['SmolLM2 up_proj', { M: 2048, N: 1536, K: 576 }, 'matmul_reg4x4_backward', 'matmul_tile128_backward', 'matmul_tile64_backward'],
    ['odd N', { M: 2048, N: 6, K: 576 }, 'matmul_reg4x4_backward', 'matmul_tile64_backward', 'matmul_tile64_backward'],
    ['8 rows', { M: 8, N: 576, K: 576 }, 'matmul_reg4x4_backward', 'matmul_reg4x4_scalar_backward', 'matmul_reg4x4_scalar_backward'],
  ],
  'weight gradient dyᵀ·x, no scratch lent (selectMatmulWeightGrad)': [
    ['LoRA dA', { M: 512, N: 16, K: 64 }, 'matmul_reg4x4_weight_grad', 'matmul_tile64_weight_grad', 'matmul_tile64_weight_grad'],
    ['odd K', { M: 512, N: 16, K: 6 }, 'matmul_tile64_weight_grad', 'matmul_tile64_weight_grad', 'matmul_tile64_weight_grad'],
    ['M = 0', { M: 0, N: 16, K: 64 }, 'matmul_tile64_weight_grad', 'matmul_tile64_weight_grad', 'matmul_tile64_weight_grad'],
  ],
  'weight gradient with scratch lent (selectMatmulWeightGrad)': [
    ['SmolLM2 dA', { M: 2048, N: 16, K: 576 }, 'matmul_reg4x4_weight_grad', 'matmul_tile16x128_weight_grad', 'matmul_tile16x128_weight_grad'],
    ['few rows', { M: 128, N: 16, K: 576 }, 'matmul_reg4x4_weight_grad', 'matmul_tile64_weight_grad', 'matmul_tile64_weight_grad'],
    ['wide gradient', { M: 2048, N: 1024, K: 1024 }, 'matmul_reg4x4_weight_grad', 'matmul_tile64_weight_grad', 'matmul_tile64_weight_grad'],
  ],
};
const COLUMNS = ['swiftshader', 'large GPU', 'small GPU'] as const;
const PLENTY = 1 << 26;

const select: Record<string, (p: KernelPolicy, d: Dims) => string> = {
  'forward x·Wᵀ (selectMatmulForward)': (p, d) => selectMatmulForward(p, d).kernel,
  'input gradient dy·W (selectMatmulInputGrad)': (p, d) => selectMatmulInputGrad(p, d).kernel,
  'weight gradient dyᵀ·x, no scratch lent (selectMatmulWeightGrad)': (p, d) => selectMatmulWeightGrad(p, d).kernel,
  'weight gradient with scratch lent (selectMatmulWeightGrad)': (p, d) => selectMatmulWeightGrad(p, d, PLENTY).kernel,
};

describe('matmul kernels by (policy, shape)', () => {
  for (const [family, rows] of Object.entries(TABLES)) {
    it(family, () => {
      for (const [what, dims, ...want] of rows) {
        COLUMNS.forEach((column, i) => {
          expect(select[family](POLICIES[column], dims), `${what} ${JSON.stringify(dims)} on ${column}`).toBe(want[i]);
        });
      }
    });
  }

  it('every selection says why', () => {
    for (const p of Object.values(POLICIES)) {
      const dims = { M: 2048, N: 1536, K: 576 };
      for (const s of [selectMatmulForward(p, dims), selectMatmulInputGrad(p, dims), selectMatmulWeightGrad(p, dims, PLENTY)]) expect(s.reason).toMatch(/\w{3,}/);
    }
  });

  it('splits: the LM head’s input gradient over n, LoRA’s weight gradient over the rows, only on GPUs', () => {
    const lmHead = { M: 64, N: 49152, K: 576 };
    expect([SWIFTSHADER, LARGE_GPU, SMALL_GPU].map((p) => backwardSplits(p, lmHead, PLENTY))).toEqual([1, 28, 28]);
    expect([SWIFTSHADER, LARGE_GPU, SMALL_GPU].map((p) => selectMatmulWeightGrad(p, { M: 2048, N: 16, K: 576 }, PLENTY).splits)).toEqual([1, 32, 32]);
  });

  it('LoRA fusion: the projections whose base kernel has a fused form', () => {
    const rec = (policy: KernelPolicy) => ({ ctx: { policy } }) as unknown as Recorder;
    const tensor = (byteLength: number) => ({ byteLength }) as Tensor;
    const table: Array<[string, () => [boolean, boolean, boolean]]> = [
      ['forward, training rows, R = 16', () => COLUMNS.map((c) => canFuseLoraForward(rec(POLICIES[c]), { M: 512, K: 64, R: 16 })) as [boolean, boolean, boolean]],
      ['forward, R = 6', () => COLUMNS.map((c) => canFuseLoraForward(rec(POLICIES[c]), { M: 512, K: 64, R: 6 })) as [boolean, boolean, boolean]],
      ['forward, odd K', () => COLUMNS.map((c) => canFuseLoraForward(rec(POLICIES[c]), { M: 512, K: 6, R: 16 })) as [boolean, boolean, boolean]],
      ['forward, decoding', () => COLUMNS.map((c) => canFuseLoraForward(rec(POLICIES[c]), { M: 4, K: 64, R: 16 })) as [boolean, boolean, boolean]],
      ['backward, training rows', () => COLUMNS.map((c) => canFuseLoraBackward(rec(POLICIES[c]), { M: 512, N: 64, K: 64, R: 16 }, tensor(16384), tensor(131072))) as [boolean, boolean, boolean]],
      ['backward, a tiny f16 weight and dout', () => COLUMNS.map((c) => canFuseLoraBackward(rec(POLICIES[c]), { M: 9, N: 1, K: 4, R: 2 }, tensor(8), tensor(8))) as [boolean, boolean, boolean]],
    ];
    const want: Record<string, [boolean, boolean, boolean]> = {
      'forward, training rows, R = 16': [true, true, true],
      'forward, R = 6': [false, false, false],
      'forward, odd K': [false, true, true],
      'forward, decoding': [true, false, false],
      'backward, training rows': [true, true, true],
      'backward, a tiny f16 weight and dout': [false, true, true],
    };
    for (const [what, got] of table) expect(got(), what).toEqual(want[what]);
  });
});

describe('attention and row-reduction kernels by policy', () => {
  it('attention by head size', () => {
    const rows: Array<[number, string, string, string]> = [
      // HS   swiftshader                 large GPU                     small GPU
      [8, 'attention_vec4_forward', 'attention_subgroup_forward', 'attention_vec4_forward'],
      [64, 'attention_vec4_forward', 'attention_subgroup_forward', 'attention_vec4_forward'],
      [6, 'attention_forward', 'attention_subgroup_forward', 'attention_forward'],
      [128, 'attention_vec4_forward', 'attention_subgroup_forward', 'attention_vec4_forward'],
      [192, 'attention_forward', 'attention_subgroup_forward', 'attention_forward'],
      [255, 'attention_forward', 'attention_subgroup_forward', 'attention_forward'],
      [256, 'attention_forward', 'attention_subgroup_forward', 'attention_forward'],
    ];
    for (const [HS, ...want] of rows) {
      COLUMNS.forEach((column, i) => {
        const s = selectAttention(POLICIES[column], HS);
        expect(s.kernel.forward.name, `HS ${HS} on ${column}`).toBe(want[i]);
        expect(s.kernel.query.name).toBe(want[i].replace('forward', 'backward_query'));
        expect(s.kernel.key.name).toBe(want[i].replace('forward', 'backward_key'));
        expect(s.subgroupMinSize).toBe(want[i].includes('subgroup') ? 32 : 0);
      });
    }
  });

  it('row reductions: one invocation per row where barriers are slow, one workgroup per row on GPUs', () => {
    const table: Array<[string, (p: KernelPolicy) => string, string, string]> = [
      ['RMSNorm forward', (p) => id(selectRmsnormForward(p).kernel as KernelSpec<never>), 'rmsnorm_forward:per_row', 'rmsnorm_forward'],
      ['RMSNorm backward', (p) => id(selectRmsnormBackward(p).kernel as KernelSpec<never>), 'rmsnorm_backward:per_row', 'rmsnorm_backward'],
      ['cross-entropy forward', (p) => id(selectCrossentropyForward(p).kernel as KernelSpec<never>), 'crossentropy_forward:per_row', 'crossentropy_forward'],
      ['gradient norm', (p) => selectGradNorm(p).kernel.map((k) => id(k as KernelSpec<never>)).join(' + '), 'grad_norm:partial_sums_flat + grad_norm:finish_serial', 'grad_norm:partial_sums + grad_norm:finish'],
    ];
    for (const [what, pick, barrierFree, tiled] of table) {
      expect(pick(SWIFTSHADER), `${what} on swiftshader`).toBe(barrierFree);
      expect(pick(LARGE_GPU), `${what} on a large GPU`).toBe(tiled);
      expect(pick(SMALL_GPU), `${what} on a small GPU`).toBe(tiled);
    }
  });
});
