// The input gradient of a Linear layer out[M, N] = inp[M, K] · weight[N, K]ᵀ:
//   dinp[M, K] (+)= scale · dout[M, N] · weight[N, K]  ("NN"; weight used as stored).
// Which kernel runs is selectMatmulInputGrad's choice (select.ts), from the device's policy:
// matmul_tile128_backward (tile128.ts), matmul_tile64_backward (64 × 64 tiles staged along N),
// matmul_reg4x4_backward (vec4 loads, K a multiple of 4) or matmul_reg4x4_scalar_backward
// (tiles.ts describes each tiling). A product with few output tiles and a long N (the LM head's)
// splits N over workgroups when the caller lends scratch (backwardSplits: matmul_tile64_backward's
// SPLIT_N, then matmul_split_reduce).
// With `accumulate` the result is added to what dinp already holds (gradient accumulation over
// micro-batches, or a second term of the same gradient); without it dinp is overwritten.
// Every kernel here reads the weight through its storage format's reader (../weight-format.ts).
// matmulLoraBackward is a LoRA projection's input gradient in one launch, once du is computed:
// dinp (+)= dout·weight + du·loraA, with the HAS_LORA override of whichever kernel matmulBackward
// takes (not the scalar reg4x4 kernel). It gives the same bits as matmulBackward, then
// matmulBackward(du, loraA) accumulating.
// The weight gradient, dweight (+)= doutᵀ·inp, is weight-grad.ts.
import reg4x4Code from '../../../../shaders/matmul_reg4x4_backward.wgsl?raw';
import reg4x4ScalarCode from '../../../../shaders/matmul_reg4x4_scalar_backward.wgsl?raw';
import tile64Code from '../../../../shaders/matmul_tile64_backward.wgsl?raw';
import { composedKernel, type Recorder } from '../../kernel.js';
import { grid1dKernel } from '../grid-1d.js';
import type { Tensor } from '../../tensor.js';
import { requireF32, weightFormat, weightKernel, type WeightFormat, type WeightKernel } from '../weight-format.js';
import { checkColumnBlock, columnBlockSize, columnBlockVec4, MATMUL_PARAMS_PART, matmulParams, type ColumnBlock } from './params.js';
import { backwardSplits, nPerSplit, selectMatmulInputGrad, type MatmulBackwardKernelName } from './select.js';
import { reducePartials } from './split-reduce.js';
import { matmulTile128Backward } from './tile128.js';
import { REG_WORKGROUP, reg4x4Blocks, TILE64, tile64Grid } from './tiles.js';

export interface MatmulBackwardDims {
  M: number; // rows of dout and of dinp / inp (B·T, or fewer)
  N: number; // output features of the forward layer: columns of dout, rows of weight / dweight
  K: number; // input features of the forward layer: columns of weight, dinp, inp and dweight
  scale?: number; // multiplies the product before it is added or stored; default 1
  accumulate?: boolean; // add to the output instead of overwriting it; default false
}

/**
 * The input gradient's dimensions; with ld / col0 (ColumnBlock), dout is columns col0 .. col0 + N − 1
 * of a row-major matrix of row stride ld (a split LM head's part of the logits' gradient).
 */
export type MatmulInputGradDims = MatmulBackwardDims &
  ColumnBlock & {
    /**
     * dinp holds this product's sum over an earlier block of n (scale 1; implies accumulate): the
     * barrier-free kernels continue that sum rather than add a new one to it, so that blocks
     * launched in order give the whole product's bits (CONTINUE_SUM); the others add (float32
     * rounding apart, the same). A split LM head's blocks (src/model/ends.ts). Default false.
     */
    continueSum?: boolean;
  };

/**
 * The dimensions the matmul backward kernels are launched with (defaults filled in); the input
 * gradient's dout may be a column block (ld, col0: ColumnBlock), the weight gradients' never is.
 */
export interface MatmulBackwardLaunch extends ColumnBlock {
  M: number;
  N: number;
  K: number;
  scale: number;
  accumulate: boolean;
  /** matmul_reg4x4_backward and matmul_reg4x4_scalar_backward: MatmulInputGradDims.continueSum (default false). */
  continueSum?: boolean;
}

/** The input-gradient launches: the fused LoRA term and the split over n. */
export interface MatmulBackwardWeightLaunch extends MatmulBackwardLaunch {
  /**
   * matmul_reg4x4_backward and matmul_tile64_backward: the LoRA rank R > 0 to add du·loraA, with du
   * [M, R] and loraA [R, K] in two more slots (the HAS_LORA override). Default none.
   */
  loraR?: number;
  /**
   * matmul_tile64_backward only: split the sum over n into this many slices of nPerSplit, written as
   * partial sums into the output slot, then a [splits, M, K] buffer (the SPLIT_N override).
   */
  splits?: number;
  nPerSplit?: number;
}

/** The launch of dims, with the defaults filled in. */
export function backwardLaunch(d: MatmulInputGradDims): MatmulBackwardLaunch {
  const scale = d.scale ?? 1;
  if (d.continueSum && scale !== 1) throw new Error(`matmul_backward: continueSum needs scale 1, not ${scale} (M=${d.M} N=${d.N} K=${d.K})`);
  return { M: d.M, N: d.N, K: d.K, scale, accumulate: (d.accumulate || d.continueSum) ?? false, ld: d.ld ?? d.N, col0: d.col0 ?? 0, continueSum: d.continueSum ?? false };
}

const params = (d: MatmulBackwardLaunch) => matmulParams(d);
export const accumulateConstant = (d: MatmulBackwardLaunch) => ({ ACCUMULATE: d.accumulate ? 1 : 0 });

/**
 * dinp [M, K] tiled 64 × 64: column tiles along x, row tiles along y (and z past 65535; with
 * `splits`, z is the slice of n instead). Bindings: dinp (with `splits`, the partials), dout,
 * weight, du, loraA (the last two unread without `loraR`).
 */
export const matmulTile64BackwardKernel: WeightKernel<MatmulBackwardWeightLaunch> = weightKernel('scalar', (reader) =>
  composedKernel(
    'matmul_tile64_backward.wgsl',
    {
      name: 'matmul_tile64_backward',
      code: tile64Code,
      bindings: ['read_write', 'read', 'read', 'read', 'read'],
      constants: (d) => ({ ...accumulateConstant(d), HAS_LORA: d.loraR ? 1 : 0, SPLIT_N: d.splits ? 1 : 0 }),
      params: (d) => matmulParams({ ...d, R: d.loraR, loraScale: 1, split: d.nPerSplit }),
      dispatch: (d) => (d.splits ? [Math.ceil(d.K / TILE64), Math.ceil(d.M / TILE64), d.splits] : tile64Grid(d.M, d.K)),
    },
    MATMUL_PARAMS_PART,
    reader,
  ),
);

/** dinp [M, K] in 4 × 4 blocks, one per invocation, scalar loads. Bindings: dinp, dout, weight. */
export const matmulReg4x4ScalarBackwardKernel: WeightKernel<MatmulBackwardWeightLaunch> = weightKernel('scalar', (reader) =>
  grid1dKernel(
    'matmul_reg4x4_scalar_backward.wgsl',
    {
      name: 'matmul_reg4x4_scalar_backward',
      code: reg4x4ScalarCode,
      bindings: ['read_write', 'read', 'read'],
      constants: (d) => ({ ...accumulateConstant(d), CONTINUE_SUM: d.continueSum ? 1 : 0 }),
      params,
      workgroupSize: REG_WORKGROUP,
      threads: (d) => reg4x4Blocks(d.M, d.K),
    },
    MATMUL_PARAMS_PART,
    reader,
  ),
);

/**
 * dinp [M, K] in 4 × 4 blocks, vec4 loads; K must be a multiple of 4 and N > 0. Bindings: dinp,
 * dout, weight, du, loraA, dout4; without `loraR` du and loraA get operands already bound (loraA's
 * of at least 16 bytes), unread. The uniform's lora_scale is 1: a multiply by a uniform, as in the
 * separate launch it replaces (see the shader).
 */
export const matmulReg4x4BackwardKernel: WeightKernel<MatmulBackwardWeightLaunch> = weightKernel('vec4', (reader) =>
  grid1dKernel(
    'matmul_reg4x4_backward.wgsl',
    {
      name: 'matmul_reg4x4_backward',
      code: reg4x4Code,
      bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
      constants: (d) => ({ ...accumulateConstant(d), HAS_LORA: d.loraR ? 1 : 0, DOUT_VEC4: columnBlockVec4(d.N, d) ? 1 : 0, CONTINUE_SUM: d.continueSum ? 1 : 0 }),
      params: (d) => matmulParams({ ...d, R: d.loraR, loraScale: 1 }),
      workgroupSize: REG_WORKGROUP,
      threads: (d) => reg4x4Blocks(d.M, d.K),
    },
    MATMUL_PARAMS_PART,
    reader,
  ),
);

/**
 * What matmul_reg4x4_backward binds as `dout4`: dout itself when its rows start at whole vec4s (N,
 * and a column block's ld and col0, multiples of 4: it reads dout's rows as vec4 values), else
 * `filler`, an operand of at least one vec4 that it never reads.
 */
export function reg4x4Dout4(N: number, dout: Tensor, filler: Tensor, block: ColumnBlock = {}): Tensor {
  return columnBlockVec4(N, block) ? dout : filler;
}

/** The kernels selectMatmulInputGrad names, except matmul_tile128_backward (tile128.ts launches it). */
const BACKWARD_KERNELS: Record<Exclude<MatmulBackwardKernelName, 'matmul_tile128_backward'>, WeightKernel<MatmulBackwardWeightLaunch>> = {
  matmul_tile64_backward: matmulTile64BackwardKernel,
  matmul_reg4x4_backward: matmulReg4x4BackwardKernel,
  matmul_reg4x4_scalar_backward: matmulReg4x4ScalarBackwardKernel,
};

/**
 * An operand of the launch of at least one vec4 (16 bytes), to fill the vec4 slots a kernel
 * leaves unread: the weight, else dout; null when both are smaller (a tiny f16 weight and dout).
 */
const vec4Filler = (weight: Tensor, dout: Tensor): Tensor | null => (weight.byteLength >= 16 ? weight : dout.byteLength >= 16 ? dout : null);

export function checkSizes(kernel: string, d: MatmulBackwardLaunch, tensors: Array<[Tensor, number, string]>): void {
  for (const [t, want, what] of tensors) {
    if (t.size < want) {
      throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (M=${d.M} N=${d.N} K=${d.K})`);
    }
  }
}

/**
 * Records dinp (+)= scale·dout·weight (+ du·loraA) with the kernel for this device and these
 * dimensions; the checks are done. Without `lora` operands already bound fill the du and loraA
 * slots (unread; loraA's of at least one vec4 where the kernel reads it as vec4 values).
 */
function recordBackward(rec: Recorder, dinp: Tensor, dout: Tensor, weight: Tensor, format: WeightFormat, d: MatmulBackwardWeightLaunch, lora?: { du: Tensor; loraA: Tensor }): void {
  if (d.M === 0 || d.K === 0) return;
  const filler = vec4Filler(weight, dout);
  const { kernel: name } = selectMatmulInputGrad(rec.ctx.policy, { ...d, vec4Operands: filler !== null });
  if (name === 'matmul_tile128_backward') {
    const fused = lora && { u: lora.du, factor: lora.loraA, R: d.loraR!, scale: 1 };
    return matmulTile128Backward(rec, dinp, dout, weight, d, fused);
  }
  const reg4x4 = name === 'matmul_reg4x4_backward';
  const loraSlots = name === 'matmul_reg4x4_scalar_backward' ? [] : lora ? [lora.du, lora.loraA] : [dout, reg4x4 ? filler! : dout];
  // matmul_reg4x4_backward also binds dout as vec4 rows when N is a multiple of 4.
  const dout4 = reg4x4 ? [reg4x4Dout4(d.N, dout, filler!, d)] : [];
  rec.run(BACKWARD_KERNELS[name].formats[format], d, [dinp, dout, weight, ...loraSlots, ...dout4]);
}

/**
 * dinp: [M, K]; dout: [M, N] (or a column block of a wider matrix: dims.ld, dims.col0); weight:
 * [N, K] in any weight format (f32, f16, nf4, q8).
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
  dims: MatmulInputGradDims,
  partials?: Tensor,
): void {
  const format = weightFormat('matmul_backward', weight);
  const d: MatmulBackwardWeightLaunch = backwardLaunch(dims);
  requireF32('matmul_backward', [[dinp, 'dinp'], [dout, 'dout']]);
  checkColumnBlock('matmul_backward', d.N, d);
  checkSizes('matmul_backward', d, [
    [dinp, d.M * d.K, 'dinp'],
    [dout, columnBlockSize(d.M, d.N, d), 'dout'],
    [weight, d.N * d.K, 'weight'],
  ]);
  const splits = partials ? backwardSplits(rec.ctx.policy, d, partials.size) : 1;
  if (splits === 1) return recordBackward(rec, dinp, dout, weight, format, d);
  for (const [t, what] of [[dinp, 'dinp'], [dout, 'dout'], [weight, 'weight']] as const) {
    if (t.buffer === partials!.buffer) throw new Error(`matmul_backward: the partials share a buffer with ${what} (M=${d.M} N=${d.N} K=${d.K})`);
  }
  rec.run(matmulTile64BackwardKernel.formats[format], { ...d, splits, nPerSplit: nPerSplit(d.N, splits) }, [partials!, dout, weight, dout, dout]);
  reducePartials(rec, dinp, partials!, { count: d.M * d.K, splits, scale: d.scale, accumulate: d.accumulate });
}

/**
 * Whether matmulLoraBackward runs these dimensions on this device: R > 0, N > 0 and K > 0, and
 * where barriers are slow the conditions of matmul_reg4x4_backward (K a multiple of 4, an
 * operand of at least one vec4; see recordBackward), elsewhere more than FEW_ROWS rows
 * (matmul_reg4x4_scalar_backward has no fused form). Otherwise a LoRA projection's input gradient stays two
 * matmulBackward launches.
 */
export function canFuseLoraBackward(rec: Recorder, { M, N, K, R }: { M: number; N: number; K: number; R: number }, weight: Tensor, dout: Tensor): boolean {
  if (!(R > 0 && N > 0 && K > 0)) return false;
  return selectMatmulInputGrad(rec.ctx.policy, { M, N, K, vec4Operands: vec4Filler(weight, dout) !== null }).kernel !== 'matmul_reg4x4_scalar_backward';
}

/**
 * dinp: [M, K]; dout: [M, N]; weight: [N, K] in any weight format (f32, f16, nf4, q8); du: [M, R]; loraA: [R, K], f32.
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
  const format = weightFormat('matmul_lora_backward', weight);
  const d: MatmulBackwardWeightLaunch = { ...backwardLaunch(dims), loraR: R };
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
  recordBackward(rec, dinp, dout, weight, format, d, { du, loraA });
}
