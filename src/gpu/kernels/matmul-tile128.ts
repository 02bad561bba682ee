// 128 × 128-tiled matmuls for real GPUs (8 × 8 register blocks per invocation, vec4 loads, k-major
// double-buffered workgroup tiles; see the two .wgsl files for the design):
//  - matmul_tile128_forward: out[M, N] = scale · inp[M, K] · weight[N, K]ᵀ (+ bias[N]), the Linear
//    layer's forward pass with weight used as stored. K must be a positive multiple of 4.
//  - matmul_tile128_backward: dinp[M, K] (+)= scale · dout[M, N] · weight[N, K], the activation
//    gradient (the same semantics as matmul_backward, see matmul-backward.ts). N and K must be
//    positive multiples of 4.
// Both can add a LoRA projection's second term in the same launch (`lora`, the HAS_LORA override):
// forward + lora_scale·u·loraBᵀ (u [M, R], loraB [N, R], R a positive multiple of 4), backward
// + lora_scale·du·loraA (du [M, R], loraA [R, K]); see the shaders.
// Both read the weight either as f32 or as packed f16 (tensor dtype 'f16'): the tensor is bound to
// the f32 binding and to the packed `weight_f16` binding alike, and the WEIGHT_F16 override picks
// the one that is read. Shapes these kernels do not take (tile128*Supports false) go to the
// existing kernels. matmulForward and matmulBackward (matmul.ts, matmul-backward.ts) take these on
// GPUs for large products (selectMatmulForward, selectMatmulInputGrad); the launchers below call
// them directly (tests, the bench).
import backwardCode from '../../../shaders/matmul_tile128_backward.wgsl?raw';
import forwardCode from '../../../shaders/matmul_tile128_forward.wgsl?raw';
import { f32, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { KernelPolicy } from '../policy.js';
import type { Tensor } from '../tensor.js';
import { weightBindings } from './weight-storage.js';

/** Rows and columns of the output per workgroup. */
export const TILE128 = 128;
const MAX_GROUPS = 65535;

/**
 * Workgroups (x, y, z) covering a rows × cols output with 128 × 128 tiles: x walks the column
 * tiles, y·z the row tiles (split over z only past 65535; the shaders read the row tile as
 * workgroup_id.y + workgroup_id.z · num_workgroups.y and skip the few past the last).
 */
export function tile128Grid(rows: number, cols: number): [number, number, number] {
  const colTiles = Math.max(1, Math.ceil(cols / TILE128));
  const rowTiles = Math.max(1, Math.ceil(rows / TILE128));
  if (colTiles > MAX_GROUPS) throw new Error(`matmul_tile128: ${cols} columns need ${colTiles} column tiles, more than ${MAX_GROUPS}`);
  if (rowTiles <= MAX_GROUPS) return [colTiles, rowTiles, 1];
  const z = Math.ceil(rowTiles / MAX_GROUPS);
  return [colTiles, Math.ceil(rowTiles / z), z];
}

export interface Tile128ForwardLaunch {
  M: number; // rows of inp and out
  N: number; // output features: rows of weight, columns of out
  K: number; // input features: columns of inp and weight; a positive multiple of 4
  hasBias: boolean;
  /** The weight is packed f16 (read through weight_f16). */
  weightF16: boolean;
  /** Multiplies the product, before the bias (default 1). */
  scale?: number;
  /** Adds scale·u·loraBᵀ (u [M, R], loraB [N, R] in the last two slots; the HAS_LORA override). */
  lora?: { R: number; scale: number };
}

export interface Tile128BackwardLaunch {
  M: number; // rows of dout and dinp
  N: number; // output features of the forward layer: columns of dout, rows of weight; a positive multiple of 4
  K: number; // input features of the forward layer: columns of weight and dinp; a positive multiple of 4
  scale: number;
  accumulate: boolean;
  weightF16: boolean;
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

const loraParams = (lora: { R: number; scale: number } | undefined) => [u32(lora?.R ?? 0), f32(lora?.scale ?? 0)];

export const matmulTile128ForwardKernel: KernelSpec<Tile128ForwardLaunch> = {
  name: 'matmul_tile128_forward',
  code: forwardCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, WEIGHT_F16: d.weightF16 ? 1 : 0, HAS_LORA: d.lora ? 1 : 0 }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K), f32(d.scale ?? 1), ...loraParams(d.lora)],
  dispatch: (d) => tile128Grid(d.M, d.N),
};

export const matmulTile128BackwardKernel: KernelSpec<Tile128BackwardLaunch> = {
  name: 'matmul_tile128_backward',
  code: backwardCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ ACCUMULATE: d.accumulate ? 1 : 0, WEIGHT_F16: d.weightF16 ? 1 : 0, HAS_LORA: d.lora ? 1 : 0 }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K), f32(d.scale), ...loraParams(d.lora)],
  dispatch: (d) => tile128Grid(d.M, d.K),
};

const multipleOf4 = (x: number) => x > 0 && x % 4 === 0;

/** Whether matmul_tile128_forward takes these dimensions (K a positive multiple of 4). */
export function tile128ForwardSupports(d: { K: number }): boolean {
  return multipleOf4(d.K);
}

/** Whether matmul_tile128_backward takes these dimensions (N and K positive multiples of 4). */
export function tile128BackwardSupports(d: { N: number; K: number }): boolean {
  return multipleOf4(d.N) && multipleOf4(d.K);
}

/** Products at least this large on both output sides go to the 128 × 128 tiles on real GPUs. */
export const TILE128_MIN_SIDE = 256;

/** Workgroup memory of either tile128 kernel: two copies of two 16 × 128 slices of f32 (32 KiB). */
export const TILE128_WORKGROUP_BYTES = 2 * 2 * 16 * 128 * 4;

/**
 * Whether a device with this policy can run the tile128 kernels: 256 invocations and 32 KiB of
 * workgroup memory per workgroup (WebGPU guarantees only 16 KiB; most GPUs offer 32 KiB or more,
 * and acquireDevice asks for the adapter's maximum).
 */
export const tile128Fits = (policy: KernelPolicy): boolean =>
  policy.kernels === 'tiled' && policy.workgroupBytes >= TILE128_WORKGROUP_BYTES && policy.workgroupInvocations >= 256;

/** Whether a GPU's forward x·Wᵀ of these dimensions goes to matmul_tile128_forward. */
export const useTile128Forward = (policy: KernelPolicy, d: { M: number; N: number; K: number }): boolean =>
  tile128Fits(policy) && tile128ForwardSupports(d) && d.M >= TILE128_MIN_SIDE && d.N >= TILE128_MIN_SIDE;

/** Whether a GPU's activation gradient dy·W of these dimensions goes to matmul_tile128_backward. */
export const useTile128Backward = (policy: KernelPolicy, d: { M: number; N: number; K: number }): boolean =>
  tile128Fits(policy) && tile128BackwardSupports(d) && d.M >= TILE128_MIN_SIDE && d.K >= TILE128_MIN_SIDE;

function checkSizes(kernel: string, dims: { M: number; N: number; K: number }, tensors: Array<[Tensor, number, string]>): void {
  for (const [t, want, what] of tensors) {
    if (t.size < want) throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (M=${dims.M} N=${dims.N} K=${dims.K})`);
  }
}

/**
 * out: [M, N]; inp: [M, K]; weight: [N, K] (f32 or f16); bias: [N] or null; with `lora`, u [M, R]
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
  dims: { M: number; N: number; K: number; scale?: number },
  lora?: FusedLora,
): void {
  const { M, N, K } = dims;
  if (!tile128ForwardSupports(dims)) throw new Error(`matmul_tile128_forward: K = ${K} is not a positive multiple of 4`);
  if (lora && !multipleOf4(lora.R)) throw new Error(`matmul_tile128_forward: the LoRA rank R = ${lora.R} is not a positive multiple of 4`);
  checkSizes('matmul_tile128_forward', dims, [
    [out, M * N, 'out'],
    [inp, M * K, 'inp'],
    [weight, N * K, 'weight'],
    ...(bias ? [[bias, N, 'bias'] as [Tensor, number, string]] : []),
    ...(lora ? ([[lora.u, M * lora.R, 'u'], [lora.factor, N * lora.R, 'loraB']] as Array<[Tensor, number, string]>) : []),
  ]);
  if (M === 0 || N === 0) return;
  const [w32, w16] = weightBindings(weight, inp);
  const launch = { M, N, K, hasBias: bias !== null, weightF16: weight.dtype === 'f16', scale: dims.scale, lora: lora && { R: lora.R, scale: lora.scale } };
  // Without lora, inp (M·K ≥ 4 elements) fills the u and loraB slots, unread.
  rec.run(matmulTile128ForwardKernel, launch, [out, inp, w32, bias ?? w32, w16, lora?.u ?? inp, lora?.factor ?? inp]);
}

/**
 * dinp: [M, K]; dout: [M, N]; weight: [N, K] (f32 or f16); with `lora`, du [M, R] and loraA [R, K].
 * dinp = (accumulate ? dinp : 0) + scale · dout · weight (+ lora.scale · du · loraA). dinp must
 * be a different buffer from the operands. Throws unless tile128BackwardSupports(dims).
 */
export function matmulTile128Backward(
  rec: Recorder,
  dinp: Tensor,
  dout: Tensor,
  weight: Tensor,
  dims: { M: number; N: number; K: number; scale?: number; accumulate?: boolean },
  lora?: FusedLora,
): void {
  const { M, N, K } = dims;
  if (!tile128BackwardSupports(dims)) throw new Error(`matmul_tile128_backward: N = ${N} and K = ${K} must be positive multiples of 4`);
  if (lora && !(lora.R > 0)) throw new Error(`matmul_tile128_backward: the LoRA rank R = ${lora.R} must be positive`);
  checkSizes('matmul_tile128_backward', dims, [
    [dinp, M * K, 'dinp'],
    [dout, M * N, 'dout'],
    [weight, N * K, 'weight'],
    ...(lora ? ([[lora.u, M * lora.R, 'du'], [lora.factor, lora.R * K, 'loraA']] as Array<[Tensor, number, string]>) : []),
  ]);
  if (M === 0) return;
  const [w32, w16] = weightBindings(weight, dout);
  const launch = { M, N, K, scale: dims.scale ?? 1, accumulate: dims.accumulate ?? false, weightF16: weight.dtype === 'f16', lora: lora && { R: lora.R, scale: lora.scale } };
  // Without lora, dout (M·N ≥ 4 elements) fills the du and loraA slots, unread.
  rec.run(matmulTile128BackwardKernel, launch, [dinp, dout, w32, w16, lora?.u ?? dout, lora?.factor ?? dout]);
}
