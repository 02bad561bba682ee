// The backward pass of a Linear layer out[M, N] = inp[M, K] · weight[N, K]ᵀ, in two kernels:
//  - matmulBackward, the activation gradient: dinp[M, K] (+)= scale · dout[M, N] · weight[N, K]
//    ("NN"). matmul_tile128_backward (matmul-tile128.ts) for large products on GPUs,
//    matmul_backward (64 × 64 tiles staged through workgroup memory along N) for other many-row
//    ones, matmul_skinny_backward (4 × 4 register blocks, no barriers) for at most SKINNY_MAX_ROWS
//    rows. A product with few output tiles and a long N (the LM head's) splits N over workgroups
//    when the caller lends scratch (backwardSplits: matmul_backward's SPLIT_N, then
//    matmul_split_reduce).
//  - matmulWeightGrad, the weight gradient: dweight[N, K] (+)= scale · dout[M, N]ᵀ · inp[M, K]
//    ("TN", a reduction over the M rows), with matmul_weight_grad (64 × 64 tiles of dweight, M
//    walked in chunks of 32 rows staged through workgroup memory; deterministic, no atomics), or,
//    for thin gradients with many rows on a GPU when the caller lends scratch, with the rows split
//    over workgroups (matmul-weight-grad-split.ts).
// Which kernel runs is selectMatmulInputGrad's and selectMatmulWeightGrad's choice, from the
// device's policy (../policy.ts). Where barriers are slow (CPU Vulkan drivers) they take the
// barrier-free kernels: matmul_regtile_backward (4 × 4 register blocks, vec4 loads) for
// any M when K is a multiple of 4 and N > 0, else matmul_skinny_backward; matmul_regtile_weight_grad
// when N and K are multiples of 4 and M > 0, else matmul_weight_grad (the vec4 kernels cannot bind
// an empty operand).
// With `accumulate` the result is added to what the output already holds (gradient accumulation
// over micro-batches, or a second term of the same gradient); without it the output is overwritten.
// The activation-gradient kernels read the weight, which may be stored as f32 or f16
// (./weight-storage.ts): they bind it twice, as `weight` (f32) and `weight_f16` (packed halves),
// and the WEIGHT_F16 override picks one. The weight-gradient kernels read f32 activations only.
// matmulLoraBackward is a LoRA projection's input gradient in one launch, once du is computed:
// dinp (+)= dout·weight + du·loraA, with the HAS_LORA override of whichever kernel matmulBackward
// takes (matmul_regtile_backward, matmul_backward or matmul_tile128_backward; not the skinny
// kernel). It gives the same bits as matmulBackward, then matmulBackward(du, loraA) accumulating.
import code from '../../../shaders/matmul_backward.wgsl?raw';
import regtileCode from '../../../shaders/matmul_regtile_backward.wgsl?raw';
import regtileWeightGradCode from '../../../shaders/matmul_regtile_weight_grad.wgsl?raw';
import skinnyCode from '../../../shaders/matmul_skinny_backward.wgsl?raw';
import weightGradCode from '../../../shaders/matmul_weight_grad.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { KernelPolicy, Selection } from '../policy.js';
import type { Tensor } from '../tensor.js';
import { MATMUL_TILE, SKINNY_MAX_ROWS, matmulGrid } from './matmul.js';
import { reducePartials } from './split-reduce.js';
import { matmulTile128Backward, matmulTile128BackwardKernel, tile128Grid, TILE128_MIN_SIDE, useTile128Backward, type Tile128BackwardLaunch } from './matmul-tile128.js';
import { matmulWeightGradSplit, matmulWeightGradSplitKernel, weightGradSplits, type WeightGradSplitLaunch } from './matmul-weight-grad-split.js';
import { requireF32, vec4SlotFillable, weightBindings, weightIsF16 } from './weight-storage.js';

export interface MatmulBackwardDims {
  M: number; // rows of dout and of dinp / inp (B·T, or fewer)
  N: number; // output features of the forward layer: columns of dout, rows of weight / dweight
  K: number; // input features of the forward layer: columns of weight, dinp, inp and dweight
  scale?: number; // multiplies the product before it is added or stored; default 1
  accumulate?: boolean; // add to the output instead of overwriting it; default false
}

/** The dimensions every kernel of this file is launched with (defaults filled in). */
export interface MatmulBackwardLaunch {
  M: number;
  N: number;
  K: number;
  scale: number;
  accumulate: boolean;
}

/** The activation-gradient launches also say how the weight is stored. */
export interface MatmulBackwardWeightLaunch extends MatmulBackwardLaunch {
  /** The weight is stored as f16 (the WEIGHT_F16 override; default false, f32). */
  weightF16?: boolean;
  /**
   * matmul_regtile_backward and matmul_backward: the LoRA rank R > 0 to add du·loraA, with du
   * [M, R] and loraA [R, K] in two more slots (the HAS_LORA override). Default none.
   */
  loraR?: number;
  /**
   * matmul_backward only: split the sum over n into this many slices of nPerSplit, written as
   * partial sums into the output slot, then a [splits, M, K] buffer (the SPLIT_N override).
   */
  splits?: number;
  nPerSplit?: number;
}

const launch = (d: MatmulBackwardDims): MatmulBackwardLaunch => ({
  M: d.M,
  N: d.N,
  K: d.K,
  scale: d.scale ?? 1,
  accumulate: d.accumulate ?? false,
});

const constants = (d: MatmulBackwardLaunch) => ({ ACCUMULATE: d.accumulate ? 1 : 0 });
const weightConstants = (d: MatmulBackwardWeightLaunch) => ({ ACCUMULATE: d.accumulate ? 1 : 0, WEIGHT_F16: d.weightF16 ? 1 : 0 });
const params = (d: MatmulBackwardLaunch) => [u32(d.M), u32(d.N), u32(d.K), f32(d.scale)];

/**
 * dinp [M, K] tiled 64 × 64: column tiles along x, row tiles along y (and z past 65535; with
 * `splits`, z is the slice of n instead). Bindings: dinp (with `splits`, the partials), dout,
 * weight, weight_f16, du, loraA (the last two unread without `loraR`).
 */
export const matmulBackwardKernel: KernelSpec<MatmulBackwardWeightLaunch> = {
  name: 'matmul_backward',
  code,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ ...weightConstants(d), HAS_LORA: d.loraR ? 1 : 0, SPLIT_N: d.splits ? 1 : 0 }),
  params: (d) => [...params(d), u32(d.loraR ?? 0), f32(1), u32(d.nPerSplit ?? 0)],
  dispatch: (d) => (d.splits ? [Math.ceil(d.K / MATMUL_TILE), Math.ceil(d.M / MATMUL_TILE), d.splits] : matmulGrid(d.M, d.K)),
};

/**
 * How many slices of n matmulBackward splits dinp (+)= dout·weight into on this device, with at
 * most `scratchElements` f32 of partials (S·M·K); 1: no split. Real GPUs, more than SKINNY_MAX_ROWS
 * rows, and only when the unsplit grid leaves a large GPU mostly idle (fewer than 128 workgroups,
 * with the 128 × 128 tiles where they would run, else the 64 × 64 ones) while the reduction is
 * long (at least 2 · MIN_N_PER_SPLIT): the LM head's dh = dlogits·E, 256 rows of logits by
 * SmolLM2's C = 576 are 10 workgroups of 128 × 128, each summing 49,152 products per output. The
 * split runs the 64 × 64 kernel with S ≈ 256 workgroups / its tiles, each slice at least
 * MIN_N_PER_SPLIT long (a first estimate, to be tuned on the GPU machine).
 */
export function backwardSplits(policy: KernelPolicy, d: { M: number; N: number; K: number }, scratchElements: number): number {
  const { M, N, K } = d;
  if (policy.kernels === 'barrier-free' || M <= SKINNY_MAX_ROWS || K === 0) return 1;
  const [colTiles, rowTiles] = [Math.ceil(K / MATMUL_TILE), Math.ceil(M / MATMUL_TILE)];
  const unsplit = useTile128Backward(policy, d) ? tile128Grid(M, K).reduce((a, b) => a * b) : colTiles * rowTiles;
  if (unsplit >= 128 || rowTiles > 65535) return 1;
  const S = Math.min(Math.round(256 / (colTiles * rowTiles)), Math.floor(N / MIN_N_PER_SPLIT), Math.floor(scratchElements / (M * K)), 65535);
  if (S < 2) return 1;
  return Math.ceil(N / nPerSplit(N, S)); // no empty slices once the slice is rounded to 32
}

/** The shortest slice of n that backwardSplits gives a workgroup. */
export const MIN_N_PER_SPLIT = 512;

/** n per slice for S slices: ⌈N / S⌉ rounded up to the kernel's staging step of 32. */
const nPerSplit = (N: number, S: number) => Math.ceil(N / S / 32) * 32;

/** dinp [M, K] in 4 × 4 blocks, one per invocation, 64 invocations per workgroup. */
export const matmulSkinnyBackwardKernel: KernelSpec<MatmulBackwardWeightLaunch> = {
  name: 'matmul_skinny_backward',
  code: skinnyCode,
  bindings: ['read_write', 'read', 'read', 'read'],
  constants: weightConstants,
  params,
  dispatch: (d) => grid1d(Math.ceil(d.K / 4) * Math.ceil(d.M / 4), 64),
};

/** dweight [N, K] tiled 64 × 64: column tiles (K) along x, row tiles (N) along y. */
export const matmulWeightGradKernel: KernelSpec<MatmulBackwardLaunch> = {
  name: 'matmul_weight_grad',
  code: weightGradCode,
  bindings: ['read_write', 'read', 'read'],
  constants,
  params,
  dispatch: (d) => matmulGrid(d.N, d.K),
};

/**
 * dinp [M, K] in 4 × 4 blocks, vec4 loads; K must be a multiple of 4, N > 0, an f16 weight at least
 * 8 elements. Bindings: dinp, dout, weight, weight_f16, du, loraA; without `loraR` the last two
 * get operands already bound (loraA's of at least 16 bytes), unread. The uniform's lora_scale is 1:
 * a multiply by a uniform, as in the separate launch it replaces (see the shader).
 */
export const matmulRegtileBackwardKernel: KernelSpec<MatmulBackwardWeightLaunch> = {
  name: 'matmul_regtile_backward',
  code: regtileCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ ...weightConstants(d), HAS_LORA: d.loraR ? 1 : 0, DOUT_VEC4: d.N % 4 === 0 ? 1 : 0 }),
  params: (d) => [...params(d), u32(d.loraR ?? 0), f32(1)],
  dispatch: (d) => grid1d((d.K / 4) * Math.ceil(d.M / 4), 64),
};

/**
 * What matmul_regtile_backward binds as `dout4`: dout itself when N is a multiple of 4 (it reads
 * dout's rows as vec4 values), else `filler`, an operand of at least one vec4 that it never reads.
 */
export function regtileDout4(N: number, dout: Tensor, filler: Tensor): Tensor {
  return N % 4 === 0 ? dout : filler;
}

/** dweight [N, K] in 4 × 4 blocks, vec4 loads; N and K must be multiples of 4 and M > 0. */
export const matmulRegtileWeightGradKernel: KernelSpec<MatmulBackwardLaunch> = {
  name: 'matmul_regtile_weight_grad',
  code: regtileWeightGradCode,
  bindings: ['read_write', 'read', 'read'],
  constants,
  params,
  dispatch: (d) => grid1d((d.N / 4) * (d.K / 4), 64),
};

/** Every kernel selectMatmulInputGrad may choose. */
export type MatmulInputGradKernel = KernelSpec<MatmulBackwardWeightLaunch> | KernelSpec<Tile128BackwardLaunch>;

/**
 * The kernel dinp (+)= dout·weight takes on a device with this policy at these dimensions (the
 * unsplit product; backwardSplits says when a GPU splits it). vec4Weight: whether the weight can
 * be bound as vec4 values (an f16 weight of fewer than 8 elements cannot; default true).
 */
export function selectMatmulInputGrad(
  policy: KernelPolicy,
  { M, N, K, vec4Weight = true }: { M: number; N: number; K: number; vec4Weight?: boolean },
): Selection<MatmulInputGradKernel> {
  if (policy.kernels === 'barrier-free') {
    return K % 4 === 0 && N > 0 && vec4Weight
      ? { kernel: matmulRegtileBackwardKernel, reason: 'barrier-free device, K a multiple of 4: 4 × 4 register blocks, vec4 loads' }
      : { kernel: matmulSkinnyBackwardKernel, reason: 'barrier-free device, K not a multiple of 4 (or N = 0, or a tiny f16 weight): 4 × 4 register blocks, scalar loads' };
  }
  if (useTile128Backward(policy, { M, N, K })) return { kernel: matmulTile128BackwardKernel, reason: `M and K at least ${TILE128_MIN_SIDE}: 128 × 128 workgroup tiles` };
  return M <= SKINNY_MAX_ROWS
    ? { kernel: matmulSkinnyBackwardKernel, reason: `at most ${SKINNY_MAX_ROWS} rows: 4 × 4 register blocks, no workgroup memory` }
    : { kernel: matmulBackwardKernel, reason: '64 × 64 workgroup tiles' };
}

/** Every kernel selectMatmulWeightGrad may choose. */
export type MatmulWeightGradKernel = KernelSpec<MatmulBackwardLaunch> | KernelSpec<WeightGradSplitLaunch>;

/**
 * The kernel dweight (+)= doutᵀ·inp takes on a device with this policy at these dimensions, with
 * `scratchElements` f32 of partials lent for a split over the rows (0: none lent).
 */
export function selectMatmulWeightGrad(
  policy: KernelPolicy,
  { M, N, K }: { M: number; N: number; K: number },
  scratchElements = 0,
): Selection<MatmulWeightGradKernel> & { splits: number } {
  const splits = scratchElements > 0 ? weightGradSplits(policy, { M, N, K }, scratchElements) : 1;
  if (splits > 1) return { kernel: matmulWeightGradSplitKernel, splits, reason: `a thin gradient with few output tiles: the ${M} rows split in ${splits} chunks, then a fixed-order sum` };
  if (policy.kernels === 'barrier-free' && N % 4 === 0 && K % 4 === 0 && M > 0) {
    return { kernel: matmulRegtileWeightGradKernel, splits, reason: 'barrier-free device, N and K multiples of 4: 4 × 4 register blocks, vec4 loads' };
  }
  return { kernel: matmulWeightGradKernel, splits, reason: policy.kernels === 'barrier-free' ? 'N or K not a multiple of 4 (or M = 0): 64 × 64 tiles' : '64 × 64 workgroup tiles, M walked in chunks of 32' };
}

function checkSizes(kernel: string, d: MatmulBackwardLaunch, tensors: Array<[Tensor, number, string]>): void {
  for (const [t, want, what] of tensors) {
    if (t.size < want) {
      throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (M=${d.M} N=${d.N} K=${d.K})`);
    }
  }
}

/**
 * Records dinp (+)= scale·dout·weight (+ du·loraA) with the kernel for this device and these
 * dimensions; the checks are done. The weight is bound both as f32 and as packed halves; without
 * `lora` already bound operands fill the du and loraA slots (unread).
 */
function recordBackward(rec: Recorder, dinp: Tensor, dout: Tensor, weight: Tensor, d: MatmulBackwardWeightLaunch, lora?: { du: Tensor; loraA: Tensor }): void {
  if (d.M === 0 || d.K === 0) return;
  const { kernel } = selectMatmulInputGrad(rec.ctx.policy, { ...d, vec4Weight: vec4SlotFillable(weight, dout) });
  if (kernel === matmulTile128BackwardKernel) {
    const fused = lora && { u: lora.du, factor: lora.loraA, R: d.loraR!, scale: 1 };
    return matmulTile128Backward(rec, dinp, dout, weight, d, fused);
  }
  const [w32, w16] = weightBindings(weight, dout);
  const loraSlots = kernel === matmulSkinnyBackwardKernel ? [] : lora ? [lora.du, lora.loraA] : kernel === matmulRegtileBackwardKernel ? [dout, w32] : [dout, dout];
  // matmul_regtile_backward also binds dout as vec4 rows when N is a multiple of 4.
  const dout4 = kernel === matmulRegtileBackwardKernel ? [regtileDout4(d.N, dout, w32)] : [];
  rec.run(kernel as KernelSpec<MatmulBackwardWeightLaunch>, d, [dinp, dout, w32, w16, ...loraSlots, ...dout4]);
}

/**
 * dinp: [M, K]; dout: [M, N]; weight: [N, K], f32 or f16 (bound both as f32 and as packed halves).
 * dinp = (accumulate ? dinp : 0) + scale · dout · weight.
 * dinp must be a different buffer from dout and weight. N = 0 gives zeros (or leaves dinp as it is).
 * `partials`, scratch the caller does not need during the call (a buffer of its own), lets a
 * product with few output tiles and a long reduction split the reduction over more workgroups
 * (backwardSplits): partial sums, then matmul_split_reduce adds them in a fixed order.
 */
export function matmulBackward(
  rec: Recorder,
  dinp: Tensor,
  dout: Tensor,
  weight: Tensor,
  dims: MatmulBackwardDims,
  partials?: Tensor,
): void {
  const d: MatmulBackwardWeightLaunch = { ...launch(dims), weightF16: weightIsF16('matmul_backward', weight) };
  requireF32('matmul_backward', [[dinp, 'dinp'], [dout, 'dout']]);
  checkSizes('matmul_backward', d, [
    [dinp, d.M * d.K, 'dinp'],
    [dout, d.M * d.N, 'dout'],
    [weight, d.N * d.K, 'weight'],
  ]);
  const splits = partials ? backwardSplits(rec.ctx.policy, d, partials.size) : 1;
  if (splits === 1) return recordBackward(rec, dinp, dout, weight, d);
  for (const [t, what] of [[dinp, 'dinp'], [dout, 'dout'], [weight, 'weight']] as const) {
    if (t.buffer === partials!.buffer) throw new Error(`matmul_backward: the partials share a buffer with ${what} (M=${d.M} N=${d.N} K=${d.K})`);
  }
  const [w32, w16] = weightBindings(weight, dout);
  rec.run(matmulBackwardKernel, { ...d, splits, nPerSplit: nPerSplit(d.N, splits) }, [partials!, dout, w32, w16, dout, dout]);
  reducePartials(rec, dinp, partials!, { count: d.M * d.K, splits, scale: d.scale, accumulate: d.accumulate });
}

/**
 * Whether matmulLoraBackward runs these dimensions on this device: R > 0, N > 0 and K > 0, and
 * where barriers are slow the conditions of matmul_regtile_backward (K a multiple of 4, the
 * weight bindable as vec4 values; see matmulBackward), elsewhere more than SKINNY_MAX_ROWS rows
 * (the skinny kernel has no fused form). Otherwise a LoRA projection's input gradient stays two
 * matmulBackward launches.
 */
export function canFuseLoraBackward(rec: Recorder, { M, N, K, R }: { M: number; N: number; K: number; R: number }, weight: Tensor, dout: Tensor): boolean {
  if (!(R > 0 && N > 0 && K > 0)) return false;
  return selectMatmulInputGrad(rec.ctx.policy, { M, N, K: K, vec4Weight: vec4SlotFillable(weight, dout) }).kernel !== matmulSkinnyBackwardKernel;
}

/**
 * dinp: [M, K]; dout: [M, N]; weight: [N, K], f32 or f16; du: [M, R]; loraA: [R, K], f32.
 * dinp = (accumulate ? dinp : 0) + scale · dout · weight + du · loraA, in one launch. Only where
 * canFuseLoraBackward: there it gives the same bits as matmulBackward(dinp, dout, weight, {scale,
 * accumulate}) followed by matmulBackward(dinp, du, loraA, {accumulate: true}).
 */
export function matmulLoraBackward(
  rec: Recorder,
  dinp: Tensor,
  dout: Tensor,
  weight: Tensor,
  du: Tensor,
  loraA: Tensor,
  dims: MatmulBackwardDims & { R: number },
): void {
  const { R } = dims;
  const d: MatmulBackwardWeightLaunch = { ...launch(dims), weightF16: weightIsF16('matmul_lora_backward', weight), loraR: R };
  requireF32('matmul_lora_backward', [[dinp, 'dinp'], [dout, 'dout'], [du, 'du'], [loraA, 'loraA']]);
  checkSizes('matmul_lora_backward', d, [
    [dinp, d.M * d.K, 'dinp'],
    [dout, d.M * d.N, 'dout'],
    [weight, d.N * d.K, 'weight'],
    [du, d.M * R, 'du'],
    [loraA, R * d.K, 'loraA'],
  ]);
  if (!canFuseLoraBackward(rec, { M: d.M, N: d.N, K: d.K, R }, weight, dout)) {
    throw new Error(`matmul_lora_backward: not on this device or at M=${d.M} N=${d.N} K=${d.K} R=${R} (see canFuseLoraBackward)`);
  }
  recordBackward(rec, dinp, dout, weight, d, { du, loraA });
}

/**
 * dweight: [N, K]; dout: [M, N]; inp: [M, K].
 * dweight = (accumulate ? dweight : 0) + scale · Σ_m dout[m, :]ᵀ · inp[m, :].
 * dweight must be a different buffer from dout and inp. M = 0 gives zeros (or leaves dweight as it is).
 * `partials`, scratch the caller does not need during the call (a buffer of its own), lets a
 * thin gradient with many rows (LoRA's dA and dB on a GPU) split its rows over more workgroups:
 * matmulWeightGradSplit, where weightGradSplits says it pays (matmul-weight-grad-split.ts).
 */
export function matmulWeightGrad(
  rec: Recorder,
  dweight: Tensor,
  dout: Tensor,
  inp: Tensor,
  dims: MatmulBackwardDims,
  partials?: Tensor,
): void {
  const d = launch(dims);
  requireF32('matmul_weight_grad', [[dweight, 'dweight'], [dout, 'dout'], [inp, 'inp']]);
  checkSizes('matmul_weight_grad', d, [
    [dweight, d.N * d.K, 'dweight'],
    [dout, d.M * d.N, 'dout'],
    [inp, d.M * d.K, 'inp'],
  ]);
  if (d.N === 0 || d.K === 0) return;
  const { kernel, splits } = selectMatmulWeightGrad(rec.ctx.policy, d, partials?.size ?? 0);
  if (kernel === matmulWeightGradSplitKernel) return matmulWeightGradSplit(rec, dweight, dout, inp, partials!, { ...d, splits });
  rec.run(kernel as KernelSpec<MatmulBackwardLaunch>, d, [dweight, dout, inp]);
}
