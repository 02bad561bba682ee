// The optimizer step over the flat buffer of every LoRA parameter: torch.optim.AdamW (decoupled
// weight decay, bias correction, amsgrad off) with optional global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_ does it. The clipping norm stays on the GPU: gradNorm writes it
// into a one-element buffer that adamwStep reads, so a step needs no readback.
import adamwCode from '../../../shaders/adamw.wgsl?raw';
import gradNormCode from '../../../shaders/grad_norm.wgsl?raw';
import { f32, u32, type KernelSpec, type Recorder } from '../kernel.js';
import { grid1dKernel } from './grid-1d.js';
import type { Tensor } from '../tensor.js';
import { selectRowReduction, type KernelPolicy } from '../policy.js';

const WG = 256;
/** At most this many first-pass workgroups (partial sums) for the gradient norm. */
const MAX_PARTIALS = 1024;

/** Elements of the scratch buffer that gradNorm needs for n gradients: one per first-pass workgroup. */
export function gradNormScratchSize(n: number): number {
  return Math.max(1, Math.min(MAX_PARTIALS, Math.ceil(n / WG)));
}

export interface GradNormDims {
  n: number; // gradient elements
}

interface GradNormLaunch extends GradNormDims {
  partials: number;
}

export const gradNormPartialKernel: KernelSpec<GradNormLaunch> = {
  name: 'grad_norm',
  code: gradNormCode,
  entryPoint: 'partial_sums',
  bindings: ['read_write', 'read_write', 'read'],
  params: (d) => [u32(d.n), u32(d.partials)],
  dispatch: (d) => [d.partials],
};

export const gradNormFinishKernel: KernelSpec<GradNormLaunch> = {
  ...gradNormPartialKernel,
  entryPoint: 'finish',
  dispatch: () => [1],
};

/** The barrier-free pair (grad_norm.wgsl), for devices where barriers are slow (../policy.ts). */
export const gradNormFlatPartialKernel: KernelSpec<GradNormLaunch> = {
  ...gradNormPartialKernel,
  entryPoint: 'partial_sums_flat',
  dispatch: (d) => [Math.ceil(d.partials / 64)],
};

export const gradNormSerialFinishKernel: KernelSpec<GradNormLaunch> = {
  ...gradNormPartialKernel,
  entryPoint: 'finish_serial',
  dispatch: () => [1],
};

/** The gradient norm's two kernels (partial sums, then their total) on a device with this policy. */
export const selectGradNorm = (policy: KernelPolicy) =>
  selectRowReduction(policy, {
    perRow: [gradNormFlatPartialKernel, gradNormSerialFinishKernel] as const,
    workgroup: [gradNormPartialKernel, gradNormFinishKernel] as const,
  });

/**
 * norm: [1] = sqrt(Σ grads[i]²) over grads [n]; scratch: at least gradNormScratchSize(n) elements
 * of partial sums. Two dispatches, deterministic for a given n.
 */
export function gradNorm(rec: Recorder, norm: Tensor, scratch: Tensor, grads: Tensor, dims: GradNormDims): void {
  const partials = gradNormScratchSize(dims.n);
  if (dims.n < 0 || dims.n > grads.size) throw new Error(`grad_norm: n=${dims.n} for grads [${grads.size}]`);
  if (scratch.size < partials) throw new Error(`grad_norm: scratch holds ${scratch.size} elements, ${partials} needed`);
  const launch = { n: dims.n, partials };
  const [partialSums, finish] = selectGradNorm(rec.ctx.policy).kernel;
  rec.run(partialSums, launch, [norm, scratch, grads]);
  rec.run(finish, launch, [norm, scratch, grads]);
}

export interface AdamwDims {
  n: number; // parameter elements
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number; // 1-based: the first step is 1
  maxGradNorm: number | null; // clip to this global norm, or null for no clipping
}

export const adamwKernel: KernelSpec<AdamwDims> = grid1dKernel('adamw.wgsl', {
  name: 'adamw',
  code: adamwCode,
  bindings: ['read_write', 'read_write', 'read_write', 'read', 'read'],
  constants: (d) => ({ CLIP: d.maxGradNorm === null ? 0 : 1 }),
  // PyTorch's scalars, computed in f64 like the Python floats of _single_tensor_adam; the f32
  // packing rounds them as torch does when it applies a Python scalar to a float32 tensor.
  params: (d) => {
    const biasCorrection1 = 1 - d.beta1 ** d.step;
    const biasCorrection2 = 1 - d.beta2 ** d.step;
    return [
      u32(d.n),
      f32(1 - d.lr * d.weightDecay),
      f32(1 - d.beta1),
      f32(d.beta2),
      f32(1 - d.beta2),
      f32(-(d.lr / biasCorrection1)),
      f32(Math.sqrt(biasCorrection2)),
      f32(d.eps),
      f32(d.maxGradNorm ?? 0),
    ];
  },
  workgroupSize: 256,
  threads: (d) => d.n,
});

/**
 * One AdamW step, in place on params, m, v: [n] (m and v zero before step 1); grads: [n], left as
 * they are; norm: [1], the gradient norm from gradNorm, read only when maxGradNorm is not null
 * (then the gradients are scaled by min(maxGradNorm / (norm + 1e-6), 1) first).
 */
export function adamwStep(rec: Recorder, params: Tensor, grads: Tensor, m: Tensor, v: Tensor, norm: Tensor, dims: AdamwDims): void {
  const { n, step } = dims;
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamw: step ${step} is not a positive integer (steps count from 1)`);
  if (n < 1 || n > params.size || n > grads.size || n > m.size || n > v.size) {
    throw new Error(`adamw: n=${n} for params [${params.size}], grads [${grads.size}], m [${m.size}], v [${v.size}]`);
  }
  if (dims.maxGradNorm !== null && !(dims.maxGradNorm > 0)) throw new Error(`adamw: maxGradNorm ${dims.maxGradNorm} is not positive`);
  rec.run(adamwKernel, dims, [params, m, v, grads, norm]);
}
