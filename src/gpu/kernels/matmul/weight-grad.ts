// The weight gradient of a Linear layer out[M, N] = inp[M, K] · weight[N, K]ᵀ, the one LoRA's A
// and B take (dA = duᵀ·x, dB = s·dyᵀ·u):
//   dweight[N, K] (+)= scale · dout[M, N]ᵀ · inp[M, K]  ("TN", a reduction over the M rows).
// Which kernel runs is selectMatmulWeightGrad's choice (select.ts), from the device's policy:
// matmul_tile64_weight_grad (64 × 64 tiles of dweight, M walked in chunks of 32 rows staged
// through workgroup memory; deterministic, no atomics), matmul_reg4x4_weight_grad (4 × 4 blocks,
// vec4 loads, where barriers are slow and N and K are multiples of 4), or, for thin gradients with
// many rows on a GPU when the caller lends scratch, matmul_tile16x128_weight_grad with the rows
// split over workgroups (weight-grad-split.ts). Only f32 operands: no frozen weight is read here.
import reg4x4Code from '../../../../shaders/matmul_reg4x4_weight_grad.wgsl?raw';
import tile64Code from '../../../../shaders/matmul_tile64_weight_grad.wgsl?raw';
import { composedKernel, type KernelSpec, type Recorder } from '../../kernel.js';
import { grid1dKernel } from '../grid-1d.js';
import type { Tensor } from '../../tensor.js';
import { requireF32 } from '../weight-format.js';
import { accumulateConstant, backwardLaunch, checkSizes, type MatmulBackwardDims, type MatmulBackwardLaunch } from './backward.js';
import { MATMUL_PARAMS_PART, matmulParams } from './params.js';
import { selectMatmulWeightGrad, type MatmulWeightGradKernelName } from './select.js';
import { REG_BLOCK, REG_WORKGROUP, tile64Grid } from './tiles.js';
import { matmulWeightGradSplit } from './weight-grad-split.js';

const params = (d: MatmulBackwardLaunch) => matmulParams(d);

/** dweight [N, K] tiled 64 × 64: column tiles (K) along x, row tiles (N) along y. Bindings: dweight, dout, inp. */
export const matmulTile64WeightGradKernel: KernelSpec<MatmulBackwardLaunch> = composedKernel(
  'matmul_tile64_weight_grad.wgsl',
  {
    name: 'matmul_tile64_weight_grad',
    code: tile64Code,
    bindings: ['read_write', 'read', 'read'],
    constants: accumulateConstant,
    params,
    dispatch: (d) => tile64Grid(d.N, d.K),
  },
  MATMUL_PARAMS_PART,
);

/** dweight [N, K] in 4 × 4 blocks, vec4 loads; N and K must be multiples of 4 and M > 0. Bindings: dweight, dout, inp. */
export const matmulReg4x4WeightGradKernel: KernelSpec<MatmulBackwardLaunch> = grid1dKernel('matmul_reg4x4_weight_grad.wgsl', {
  name: 'matmul_reg4x4_weight_grad',
  code: reg4x4Code,
  bindings: ['read_write', 'read', 'read'],
  constants: accumulateConstant,
  params,
  workgroupSize: REG_WORKGROUP,
  threads: (d) => (d.N / REG_BLOCK) * (d.K / REG_BLOCK),
}, MATMUL_PARAMS_PART);

const WEIGHT_GRAD_KERNELS: Record<Exclude<MatmulWeightGradKernelName, 'matmul_tile16x128_weight_grad'>, KernelSpec<MatmulBackwardLaunch>> = {
  matmul_tile64_weight_grad: matmulTile64WeightGradKernel,
  matmul_reg4x4_weight_grad: matmulReg4x4WeightGradKernel,
};

/**
 * dweight: [N, K]; dout: [M, N]; inp: [M, K].
 * dweight = (accumulate ? dweight : 0) + scale · Σ_m dout[m, :]ᵀ · inp[m, :].
 * dweight must be a different buffer from dout and inp. M = 0 gives zeros (or leaves dweight as it is).
 * `partials`, scratch the caller does not need during the call (a buffer of its own), lets a
 * thin gradient with many rows (LoRA's dA and dB on a GPU) split its rows over more workgroups:
 * matmulWeightGradSplit, where weightGradSplits says it pays (weight-grad-split.ts).
 */
export function matmulWeightGrad(
  rec: Recorder,
  dweight: Tensor,
  dout: Tensor,
  inp: Tensor,
  dims: MatmulBackwardDims,
  partials?: Tensor,
): void {
  const d = backwardLaunch(dims);
  requireF32('matmul_weight_grad', [[dweight, 'dweight'], [dout, 'dout'], [inp, 'inp']]);
  checkSizes('matmul_weight_grad', d, [
    [dweight, d.N * d.K, 'dweight'],
    [dout, d.M * d.N, 'dout'],
    [inp, d.M * d.K, 'inp'],
  ]);
  if (d.N === 0 || d.K === 0) return;
  const { kernel, splits } = selectMatmulWeightGrad(rec.ctx.policy, d, partials?.size ?? 0);
  if (kernel === 'matmul_tile16x128_weight_grad') return matmulWeightGradSplit(rec, dweight, dout, inp, partials!, { ...d, splits });
  rec.run(WEIGHT_GRAD_KERNELS[kernel], d, [dweight, dout, inp]);
}
