// The forward pass of a Linear layer: out[M, N] = inp[M, K] · weight[N, K]ᵀ (+ bias[N]).
// weight is row-major [N, K], the Hugging Face nn.Linear layout, so it is used as stored.
// Which kernel runs is selectMatmulForward's choice (select.ts), from the device's policy:
// matmul_tile128_forward (tile128.ts), matmul_tile64_forward, matmul_reg4x4_forward (vec4 loads,
// K a multiple of 4) or matmul_reg4x4_scalar_forward (tiles.ts describes each tiling).
// Every kernel here reads the weight through its storage format's reader (../weight-format.ts):
// one pipeline per format, the products and sums f32 whatever the format.
// matmulLoraForward is a LoRA projection's forward in one launch, once u = x·Aᵀ is computed:
// out = inp·weightᵀ (+ bias) + s·u·Bᵀ, with the HAS_LORA override of whichever kernel
// matmulForward takes (not the scalar reg4x4 kernel, whose few rows are decoding's, without LoRA
// training). It gives the same bits as matmulForward followed by loraForward (see the shaders).
import reg4x4Code from '../../../../shaders/matmul_reg4x4_forward.wgsl?raw';
import reg4x4ScalarCode from '../../../../shaders/matmul_reg4x4_scalar_forward.wgsl?raw';
import tile64Code from '../../../../shaders/matmul_tile64_forward.wgsl?raw';
import { composedKernel, type Recorder } from '../../kernel.js';
import { grid1dKernel } from '../grid-1d.js';
import type { Tensor } from '../../tensor.js';
import { requireF32, weightFormat, weightKernel, type WeightFormat, type WeightKernel } from '../weight-format.js';
import { checkColumnBlock, columnBlockSize, MATMUL_PARAMS_PART, matmulParams, type ColumnBlock } from './params.js';
import { selectMatmulForward, type MatmulForwardKernelName } from './select.js';
import { matmulTile128Forward, type FusedLora } from './tile128.js';
import { REG_WORKGROUP, reg4x4Blocks, tile64Grid } from './tiles.js';

/**
 * With ld / col0 (ColumnBlock), out is columns col0 .. col0 + N − 1 of a row-major matrix of row
 * stride ld (a split LM head's part of the logits); by default out is [M, N] itself.
 */
export interface MatmulDims extends ColumnBlock {
  M: number; // rows of inp and out (B·T, or fewer)
  N: number; // output features: rows of weight, columns of out
  K: number; // input features: columns of inp and of weight
}

/** The launch dimensions plus whether a bias is bound (the HAS_BIAS override). */
export interface MatmulLaunch extends MatmulDims {
  hasBias: boolean;
  /** matmul_reg4x4_forward only: add to out instead of overwriting it (default false). */
  accumulate?: boolean;
  /** matmul_reg4x4_forward only: multiplies the product, before the bias (default 1). */
  scale?: number;
  /**
   * matmul_reg4x4_forward and matmul_tile64_forward: add scale·u·loraBᵀ with u [M, R] and loraB [N, R]
   * in the last two slots (the HAS_LORA override; R a positive multiple of 4). Default none.
   */
  lora?: { R: number; scale: number };
}

/** Bindings: out, inp, weight, bias, u, loraB (the last two unread without `lora`). */
export const matmulTile64ForwardKernel: WeightKernel<MatmulLaunch> = weightKernel('scalar', (reader) =>
  composedKernel(
    'matmul_tile64_forward.wgsl',
    {
      name: 'matmul_tile64_forward',
      code: tile64Code,
      bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
      constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, HAS_LORA: d.lora ? 1 : 0 }),
      params: (d) => matmulParams({ M: d.M, N: d.N, K: d.K, R: d.lora?.R, loraScale: d.lora?.scale, ld: d.ld, col0: d.col0 }),
      dispatch: (d) => tile64Grid(d.M, d.N),
    },
    MATMUL_PARAMS_PART,
    reader,
  ),
);

/** Any M, N and K. Bindings: out, inp, weight, bias. */
export const matmulReg4x4ScalarForwardKernel: WeightKernel<MatmulLaunch> = weightKernel('scalar', (reader) =>
  grid1dKernel(
    'matmul_reg4x4_scalar_forward.wgsl',
    {
      name: 'matmul_reg4x4_scalar_forward',
      code: reg4x4ScalarCode,
      bindings: ['read_write', 'read', 'read', 'read'],
      constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0 }),
      params: (d) => matmulParams({ M: d.M, N: d.N, K: d.K, ld: d.ld, col0: d.col0 }),
      workgroupSize: REG_WORKGROUP,
      threads: (d) => reg4x4Blocks(d.M, d.N),
    },
    MATMUL_PARAMS_PART,
    reader,
  ),
);

/**
 * Any M; K must be a positive multiple of 4 (inp and weight are read as vec4 rows, never empty).
 * Also serves LoRA's update out += s·u·Bᵀ (accumulate, scale; see ../lora.ts), and with `lora` a
 * whole LoRA projection (matmulLoraForward). Bindings: out, inp, weight, bias, u, loraB; without
 * `lora` the last two get operands already bound, of at least 16 bytes (unread).
 */
export const matmulReg4x4ForwardKernel: WeightKernel<MatmulLaunch> = weightKernel('vec4', (reader) =>
  grid1dKernel(
    'matmul_reg4x4_forward.wgsl',
    {
      name: 'matmul_reg4x4_forward',
      code: reg4x4Code,
      bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
      constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, ACCUMULATE: d.accumulate ? 1 : 0, HAS_LORA: d.lora ? 1 : 0 }),
      params: (d) => matmulParams({ M: d.M, N: d.N, K: d.K, scale: d.scale, R: d.lora?.R, loraScale: d.lora?.scale, ld: d.ld, col0: d.col0 }),
      workgroupSize: REG_WORKGROUP,
      threads: (d) => reg4x4Blocks(d.M, d.N),
    },
    MATMUL_PARAMS_PART,
    reader,
  ),
);

/** The kernels selectMatmulForward names, except matmul_tile128_forward (tile128.ts launches it). */
const FORWARD_KERNELS: Record<Exclude<MatmulForwardKernelName, 'matmul_tile128_forward'>, WeightKernel<MatmulLaunch>> = {
  matmul_tile64_forward: matmulTile64ForwardKernel,
  matmul_reg4x4_forward: matmulReg4x4ForwardKernel,
  matmul_reg4x4_scalar_forward: matmulReg4x4ScalarForwardKernel,
};

/** Checks what matmulForward and matmulLoraForward share; returns the weight's format. */
function checkForward(kernel: string, out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | null, dims: MatmulDims, more: Array<[Tensor, number, string]> = []): WeightFormat {
  const { M, N, K } = dims;
  const format = weightFormat(kernel, weight);
  const acts: Array<[Tensor, string]> = [[out, 'out'], [inp, 'inp'], ...more.map(([t, , what]): [Tensor, string] => [t, what])];
  requireF32(kernel, bias ? [...acts, [bias, 'bias']] : acts);
  checkColumnBlock(kernel, N, dims);
  const sizes: Array<[Tensor, number, string]> = [[out, columnBlockSize(M, N, dims), 'out'], [inp, M * K, 'inp'], [weight, N * K, 'weight'], ...more];
  if (bias) sizes.push([bias, N, 'bias']);
  for (const [t, want, what] of sizes) {
    if (t.size < want) throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (${Object.entries(dims).map(([k, v]) => `${k}=${v}`).join(' ')})`);
  }
  return format;
}

/**
 * Records out = inp·weightᵀ (+ bias) (+ lora.scale·u·loraBᵀ) with the kernel for this device and
 * these dimensions; the checks are done. Without a bias the weight fills the bias slot, and
 * without `lora` inp (M·K ≥ 4 elements wherever the slots are vec4) the u and loraB slots; the
 * kernels read only the slots they need.
 */
function recordForward(rec: Recorder, out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | null, dims: MatmulDims, format: WeightFormat, lora?: FusedLora): void {
  const { M, N, K } = dims;
  if (M === 0 || N === 0) return;
  const { kernel: name } = selectMatmulForward(rec.ctx.policy, dims);
  if (name === 'matmul_tile128_forward') return matmulTile128Forward(rec, out, inp, weight, bias, dims, lora);
  const loraSlots = name === 'matmul_reg4x4_scalar_forward' ? [] : [lora?.u ?? inp, lora?.factor ?? inp];
  const launch = { M, N, K, ld: dims.ld, col0: dims.col0, hasBias: bias !== null, lora: lora && { R: lora.R, scale: lora.scale } };
  rec.run(FORWARD_KERNELS[name].formats[format], launch, [out, inp, weight, bias ?? weight, ...loraSlots]);
}

/**
 * out: [M, N] (or a column block of a wider matrix: dims.ld, dims.col0); inp: [M, K]; weight:
 * [N, K] in any weight format (f32, f16, nf4, q8); bias: [N] or null. out = inp·weightᵀ (+ bias).
 */
export function matmulForward(
  rec: Recorder,
  out: Tensor,
  inp: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  dims: MatmulDims,
): void {
  const format = checkForward('matmul_forward', out, inp, weight, bias, dims);
  recordForward(rec, out, inp, weight, bias, dims, format);
}

export interface MatmulLoraDims extends MatmulDims {
  R: number; // LoRA rank: columns of u and loraB
  scale: number; // s
}

/**
 * Whether matmulLoraForward runs these dimensions on this device: R a positive multiple of 4, and
 * where barriers are slow K too (matmul_reg4x4_forward's vec4 rows), elsewhere more than
 * FEW_ROWS rows (matmul_reg4x4_scalar_forward has no fused form). Otherwise a LoRA projection stays
 * matmulForward + loraForward.
 */
export function canFuseLoraForward(rec: Recorder, { M, K, R }: { M: number; K: number; R: number }): boolean {
  return R > 0 && R % 4 === 0 && selectMatmulForward(rec.ctx.policy, { M, N: 0, K }).kernel !== 'matmul_reg4x4_scalar_forward';
}

/**
 * out = inp·weightᵀ (+ bias) + scale·u·loraBᵀ in one launch. out: [M, N]; inp: [M, K]; weight:
 * [N, K], any weight format; bias: [N] or null; u: [M, R]; loraB: [N, R]. Only where canFuseLoraForward:
 * there it gives the same bits as matmulForward(out, inp, weight, bias) followed by
 * loraForward(out, u, loraB).
 */
export function matmulLoraForward(
  rec: Recorder,
  out: Tensor,
  inp: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  u: Tensor,
  loraB: Tensor,
  dims: MatmulLoraDims,
): void {
  const { M, N, K, R, scale } = dims;
  const format = checkForward('matmul_lora_forward', out, inp, weight, bias, dims, [[u, M * R, 'u'], [loraB, N * R, 'loraB']]);
  if (!canFuseLoraForward(rec, dims)) throw new Error(`matmul_lora_forward: not on this device or at M=${M} K=${K} R=${R} (see canFuseLoraForward)`);
  recordForward(rec, out, inp, weight, bias, { M, N, K, ld: dims.ld, col0: dims.col0 }, format, { u, factor: loraB, R, scale });
}
