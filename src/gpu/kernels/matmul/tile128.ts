// 128 × 128-tiled matmuls for real GPUs (8 × 8 register blocks per invocation, vec4 loads, k-major
// double-buffered workgroup tiles; see the two .wgsl files for the design):
//  - matmul_tile128_forward: out[M, N] = scale · inp[M, K] · weight[N, K]ᵀ (+ bias[N]), the Linear
//    layer's forward pass with weight used as stored. K must be a positive multiple of 4.
//  - matmul_tile128_backward: dinp[M, K] (+)= scale · dout[M, N] · weight[N, K], the input
//    gradient (the same semantics as matmul_tile64_backward, see backward.ts). N and K must be
//    positive multiples of 4.
// Both can add a LoRA projection's second term in the same launch (`lora`, the HAS_LORA override):
// forward + lora_scale·u·loraBᵀ (u [M, R], loraB [N, R], R a positive multiple of 4), backward
// + lora_scale·du·loraA (du [M, R], loraA [R, K]); see the shaders.
// Both read the weight through its format's vec4 reader (../weight-format.ts). Which shapes go
// here is select.ts's choice (useTile128Forward, useTile128Backward in tiles.ts); matmulForward and
// matmulBackward (forward.ts, backward.ts) call these launchers, and so do tests and the bench.
import backwardCode from '../../../../shaders/matmul_tile128_backward.wgsl?raw';
import forwardCode from '../../../../shaders/matmul_tile128_forward.wgsl?raw';
import sharedCode from '../../../../shaders/lib/matmul_tile128.wgsl?raw';
import { composedKernel, type Recorder } from '../../kernel.js';
import type { Tensor } from '../../tensor.js';
import { weightFormat, weightKernel, type WeightKernel } from '../weight-format.js';
import type { WgslPart } from '../../wgsl.js';
import { columnBlockSize, MATMUL_PARAMS_PART, matmulParams, type ColumnBlock } from './params.js';
import { tile128BackwardSupports, tile128ForwardSupports, tile128Grid } from './tiles.js';

/** The tile geometry, slot() and load_w() both kernels compose in. */
const SHARED: WgslPart = { name: 'lib/matmul_tile128.wgsl', code: sharedCode };

export interface Tile128ForwardLaunch extends ColumnBlock {
  M: number; // rows of inp and out
  N: number; // output features: rows of weight, columns of out
  K: number; // input features: columns of inp and weight; a positive multiple of 4
  hasBias: boolean;
  /** Multiplies the product, before the bias (default 1). */
  scale?: number;
  /** Adds scale·u·loraBᵀ (u [M, R], loraB [N, R] in the last two slots; the HAS_LORA override). */
  lora?: { R: number; scale: number };
}

export interface Tile128BackwardLaunch extends ColumnBlock {
  M: number; // rows of dout and dinp
  N: number; // output features of the forward layer: columns of dout, rows of weight; a positive multiple of 4
  K: number; // input features of the forward layer: columns of weight and dinp; a positive multiple of 4
  scale: number;
  accumulate: boolean;
  /** Adds scale·du·loraA (du [M, R], loraA [R, K] in the last two slots; the HAS_LORA override). */
  lora?: { R: number; scale: number };
}

/** A LoRA projection's second term, fused into the launch: its operands and rank and scale. */
export interface FusedLora {
  /** u [M, R] forward; du [M, R] backward. */
  u: Tensor;
  /** loraB [N, R] forward; loraA [R, K] backward. */
  factor: Tensor;
  R: number;
  scale: number;
}


/** Bindings: out, inp, weight, bias, u, loraB (the last two unread without `lora`). */
export const matmulTile128ForwardKernel: WeightKernel<Tile128ForwardLaunch> = weightKernel('vec4', (reader) =>
  composedKernel(
    'matmul_tile128_forward.wgsl',
    {
      name: 'matmul_tile128_forward',
      code: forwardCode,
      bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
      constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, HAS_LORA: d.lora ? 1 : 0 }),
      params: (d) => matmulParams({ M: d.M, N: d.N, K: d.K, scale: d.scale, R: d.lora?.R, loraScale: d.lora?.scale, ld: d.ld, col0: d.col0 }),
      dispatch: (d) => tile128Grid(d.M, d.N),
    },
    SHARED,
    MATMUL_PARAMS_PART,
    reader,
  ),
);

/** Bindings: dinp, dout, weight, du, loraA (the last two unread without `lora`). */
export const matmulTile128BackwardKernel: WeightKernel<Tile128BackwardLaunch> = weightKernel('vec4', (reader) =>
  composedKernel(
    'matmul_tile128_backward.wgsl',
    {
      name: 'matmul_tile128_backward',
      code: backwardCode,
      bindings: ['read_write', 'read', 'read', 'read', 'read'],
      constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0, HAS_LORA: d.lora ? 1 : 0 }),
      params: (d) => matmulParams({ M: d.M, N: d.N, K: d.K, scale: d.scale, R: d.lora?.R, loraScale: d.lora?.scale, ld: d.ld, col0: d.col0 }),
      dispatch: (d) => tile128Grid(d.M, d.K),
    },
    SHARED,
    MATMUL_PARAMS_PART,
    reader,
  ),
);

const multipleOf4 = (x: number) => x > 0 && x % 4 === 0;

function checkSizes(kernel: string, dims: { M: number; N: number; K: number }, tensors: Array<[Tensor, number, string]>): void {
  for (const [t, want, what] of tensors) {
    if (t.size < want) throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (M=${dims.M} N=${dims.N} K=${dims.K})`);
  }
}

/**
 * out: [M, N]; inp: [M, K]; weight: [N, K] (any weight format: f32, f16, nf4, q8); bias: [N] or null; with `lora`, u [M, R]
 * and loraB [N, R] (R a positive multiple of 4).
 * out = scale · inp · weightᵀ (+ bias) (+ lora.scale · u · loraBᵀ). Throws unless
 * tile128ForwardSupports(dims).
 */
export function matmulTile128Forward(
  rec: Recorder,
  out: Tensor,
  inp: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  dims: { M: number; N: number; K: number; scale?: number } & ColumnBlock,
  lora?: FusedLora,
): void {
  const { M, N, K } = dims;
  if (!tile128ForwardSupports(dims)) throw new Error(`matmul_tile128_forward: K = ${K} is not a positive multiple of 4`);
  if (lora && !multipleOf4(lora.R)) throw new Error(`matmul_tile128_forward: the LoRA rank R = ${lora.R} is not a positive multiple of 4`);
  checkSizes('matmul_tile128_forward', dims, [
    [out, columnBlockSize(M, N, dims), 'out'],
    [inp, M * K, 'inp'],
    [weight, N * K, 'weight'],
    ...(bias ? [[bias, N, 'bias'] as [Tensor, number, string]] : []),
    ...(lora ? ([[lora.u, M * lora.R, 'u'], [lora.factor, N * lora.R, 'loraB']] as Array<[Tensor, number, string]>) : []),
  ]);
  const format = weightFormat('matmul_tile128_forward', weight);
  if (M === 0 || N === 0) return;
  const launch = { M, N, K, ld: dims.ld, col0: dims.col0, hasBias: bias !== null, scale: dims.scale, lora: lora && { R: lora.R, scale: lora.scale } };
  // Without a bias the weight fills its slot, and without lora inp (M·K ≥ 4 elements) the u and
  // loraB slots, unread.
  rec.run(matmulTile128ForwardKernel.formats[format], launch, [out, inp, weight, bias ?? weight, lora?.u ?? inp, lora?.factor ?? inp]);
}

/**
 * dinp: [M, K]; dout: [M, N]; weight: [N, K] (any weight format: f32, f16, nf4, q8); with `lora`, du [M, R] and loraA [R, K].
 * dinp = (accumulate ? dinp : 0) + scale · dout · weight (+ lora.scale · du · loraA). dinp must
 * be a different buffer from the operands. Throws unless tile128BackwardSupports(dims).
 */
export function matmulTile128Backward(
  rec: Recorder,
  dinp: Tensor,
  dout: Tensor,
  weight: Tensor,
  dims: { M: number; N: number; K: number; scale?: number; accumulate?: boolean } & ColumnBlock,
  lora?: FusedLora,
): void {
  const { M, N, K } = dims;
  if (!tile128BackwardSupports(dims)) throw new Error(`matmul_tile128_backward: N = ${N} and K = ${K} (and dout's ld and col0) must be positive multiples of 4`);
  if (lora && !(lora.R > 0)) throw new Error(`matmul_tile128_backward: the LoRA rank R = ${lora.R} must be positive`);
  checkSizes('matmul_tile128_backward', dims, [
    [dinp, M * K, 'dinp'],
    [dout, columnBlockSize(M, N, dims), 'dout'],
    [weight, N * K, 'weight'],
    ...(lora ? ([[lora.u, M * lora.R, 'du'], [lora.factor, lora.R * K, 'loraA']] as Array<[Tensor, number, string]>) : []),
  ]);
  const format = weightFormat('matmul_tile128_backward', weight);
  if (M === 0) return;
  const launch = { M, N, K, ld: dims.ld, col0: dims.col0, scale: dims.scale ?? 1, accumulate: dims.accumulate ?? false, lora: lora && { R: lora.R, scale: lora.scale } };
  // Without lora, dout (M·N ≥ 4 elements) fills the du and loraA slots, unread.
  rec.run(matmulTile128BackwardKernel.formats[format], launch, [dinp, dout, weight, lora?.u ?? dout, lora?.factor ?? dout]);
}
