// The forward pass of a Linear layer: out[M, N] = inp[M, K] · weight[N, K]ᵀ (+ bias[N]).
// weight is row-major [N, K], the Hugging Face nn.Linear layout, so it is used as stored.
// Which kernel runs is selectMatmulForward's choice, from the device's policy (../policy.ts):
// on GPUs matmul_tile128_forward (matmul-tile128.ts) for large products, matmul_forward (64 × 64
// tiles staged through workgroup memory) for other many-row ones, and matmul_skinny_forward (4 × 4
// register blocks, no barriers) for at most SKINNY_MAX_ROWS rows, as in decoding one token per
// sequence. Where barriers are slow (CPU Vulkan drivers) every M goes to matmul_regtile_forward
// (4 × 4 register blocks with vec4 loads, no barriers) when K is a positive multiple of 4, else to
// matmul_skinny_forward.
// The weight may be stored as f32 or f16 (./weight-storage.ts): each kernel binds it twice, as
// `weight` (f32) and as `weight_f16` (packed halves, the binding after the bias), and the
// WEIGHT_F16 override picks the one it reads. Products and sums are f32 either way.
// matmulLoraForward is a LoRA projection's forward in one launch, once u = x·Aᵀ is computed:
// out = inp·weightᵀ (+ bias) + s·u·Bᵀ, with the HAS_LORA override of whichever kernel
// matmulForward takes (matmul_regtile_forward, matmul_forward or matmul_tile128_forward; not the
// skinny kernel, whose few rows are decoding's, without LoRA training). It gives the same bits as
// matmulForward followed by loraForward (see the shaders).
import code from '../../../shaders/matmul_forward.wgsl?raw';
import regtileCode from '../../../shaders/matmul_regtile_forward.wgsl?raw';
import skinnyCode from '../../../shaders/matmul_skinny_forward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import type { KernelPolicy, Selection } from '../policy.js';
import { matmulTile128Forward, matmulTile128ForwardKernel, TILE128_MIN_SIDE, useTile128Forward, type FusedLora, type Tile128ForwardLaunch } from './matmul-tile128.js';
import { requireF32, weightBindings, weightIsF16 } from './weight-storage.js';

export interface MatmulDims {
  M: number; // rows of inp and out (B·T, or fewer)
  N: number; // output features: rows of weight, columns of out
  K: number; // input features: columns of inp and of weight
}

/** The launch dimensions plus whether a bias is bound (the HAS_BIAS override). */
export interface MatmulLaunch extends MatmulDims {
  hasBias: boolean;
  /** matmul_regtile_forward only: add to out instead of overwriting it (default false). */
  accumulate?: boolean;
  /** matmul_regtile_forward only: multiplies the product, before the bias (default 1). */
  scale?: number;
  /** The weight is stored as f16 (the WEIGHT_F16 override; default false, f32). */
  weightF16?: boolean;
  /**
   * matmul_regtile_forward and matmul_forward: add scale·u·loraBᵀ with u [M, R] and loraB [N, R]
   * in the last two slots (the HAS_LORA override; R a positive multiple of 4). Default none.
   */
  lora?: { R: number; scale: number };
}

const weightF16 = (d: MatmulLaunch) => (d.weightF16 ? 1 : 0);

/** Each workgroup computes a MATMUL_TILE × MATMUL_TILE block of out (see matmul_forward.wgsl). */
export const MATMUL_TILE = 64;
const MAX_GROUPS = 65535;

/**
 * Workgroups (x, y, z) covering out: x walks the column tiles, y·z the row tiles. The row tiles
 * are split over z only when there are more than 65535 of them; the shader reads the row tile as
 * workgroup_id.y + workgroup_id.z · num_workgroups.y and skips the few past the last.
 */
export function matmulGrid(M: number, N: number): [number, number, number] {
  const colTiles = Math.max(1, Math.ceil(N / MATMUL_TILE));
  const rowTiles = Math.max(1, Math.ceil(M / MATMUL_TILE));
  if (colTiles > MAX_GROUPS) throw new Error(`matmul_forward: N = ${N} needs ${colTiles} column tiles, more than ${MAX_GROUPS}`);
  if (rowTiles <= MAX_GROUPS) return [colTiles, rowTiles, 1];
  const z = Math.ceil(rowTiles / MAX_GROUPS);
  return [colTiles, Math.ceil(rowTiles / z), z];
}

/** Bindings: out, inp, weight, bias, weight_f16, u, loraB (the last two unread without `lora`). */
export const matmulForwardKernel: KernelSpec<MatmulLaunch> = {
  name: 'matmul_forward',
  code,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, WEIGHT_F16: weightF16(d), HAS_LORA: d.lora ? 1 : 0 }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K), u32(d.lora?.R ?? 0), f32(d.lora?.scale ?? 0)],
  dispatch: (d) => matmulGrid(d.M, d.N),
};

/** Up to this many rows go to matmul_skinny_forward. */
export const SKINNY_MAX_ROWS = 8;

export const matmulSkinnyForwardKernel: KernelSpec<MatmulLaunch> = {
  name: 'matmul_skinny_forward',
  code: skinnyCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, WEIGHT_F16: weightF16(d) }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K)],
  dispatch: (d) => grid1d(Math.ceil(d.N / 4) * Math.ceil(d.M / 4), 64),
};

/**
 * Any M; K must be a positive multiple of 4 (inp and weight are read as vec4 rows, never empty),
 * Also serves LoRA's update out += s·u·Bᵀ (accumulate, scale; see lora.ts), and with `lora` a
 * whole LoRA projection (matmulLoraForward). Bindings: out, inp, weight, bias, weight_f16, u,
 * loraB; without `lora` the last two get operands already bound, of at least 16 bytes (unread).
 */
export const matmulRegtileForwardKernel: KernelSpec<MatmulLaunch> = {
  name: 'matmul_regtile_forward',
  code: regtileCode,
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_BIAS: d.hasBias ? 1 : 0, ACCUMULATE: d.accumulate ? 1 : 0, WEIGHT_F16: weightF16(d), HAS_LORA: d.lora ? 1 : 0 }),
  params: (d) => [u32(d.M), u32(d.N), u32(d.K), f32(d.scale ?? 1), u32(d.lora?.R ?? 0), f32(d.lora?.scale ?? 0)],
  dispatch: (d) => grid1d(Math.ceil(d.N / 4) * Math.ceil(d.M / 4), 64),
};

/** Every kernel selectMatmulForward may choose. */
export type MatmulForwardKernel = KernelSpec<MatmulLaunch> | KernelSpec<Tile128ForwardLaunch>;

/** The kernel out = inp·weightᵀ takes on a device with this policy at these dimensions. */
export function selectMatmulForward(policy: KernelPolicy, { M, N, K }: MatmulDims): Selection<MatmulForwardKernel> {
  if (policy.kernels === 'barrier-free') {
    return K % 4 === 0 && K > 0
      ? { kernel: matmulRegtileForwardKernel, reason: 'barrier-free device, K a multiple of 4: 4 × 4 register blocks, vec4 loads' }
      : { kernel: matmulSkinnyForwardKernel, reason: 'barrier-free device, K not a multiple of 4: 4 × 4 register blocks, scalar loads' };
  }
  if (useTile128Forward(policy, { M, N, K })) return { kernel: matmulTile128ForwardKernel, reason: `both output sides at least ${TILE128_MIN_SIDE}: 128 × 128 workgroup tiles` };
  return M <= SKINNY_MAX_ROWS
    ? { kernel: matmulSkinnyForwardKernel, reason: `at most ${SKINNY_MAX_ROWS} rows: 4 × 4 register blocks, no workgroup memory` }
    : { kernel: matmulForwardKernel, reason: '64 × 64 workgroup tiles' };
}

/** Checks what matmulForward and matmulLoraForward share; returns whether the weight is f16. */
function checkForward(kernel: string, out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | null, dims: MatmulDims, more: Array<[Tensor, number, string]> = []): boolean {
  const { M, N, K } = dims;
  const f16 = weightIsF16(kernel, weight);
  const acts: Array<[Tensor, string]> = [[out, 'out'], [inp, 'inp'], ...more.map(([t, , what]): [Tensor, string] => [t, what])];
  requireF32(kernel, bias ? [...acts, [bias, 'bias']] : acts);
  const sizes: Array<[Tensor, number, string]> = [[out, M * N, 'out'], [inp, M * K, 'inp'], [weight, N * K, 'weight'], ...more];
  if (bias) sizes.push([bias, N, 'bias']);
  for (const [t, want, what] of sizes) {
    if (t.size < want) throw new Error(`${kernel}: ${what} has ${t.size} elements, needs ${want} (${Object.entries(dims).map(([k, v]) => `${k}=${v}`).join(' ')})`);
  }
  return f16;
}

/**
 * Records out = inp·weightᵀ (+ bias) (+ lora.scale·u·loraBᵀ) with the kernel for this device and
 * these dimensions; the checks are done. The weight buffer is bound both as f32 and as packed
 * halves (two read-only bindings of one buffer are legal), and, without a bias, again in the bias
 * slot; without `lora`, inp (M·K ≥ 4 elements wherever the slots are vec4) fills the u and loraB
 * slots. The kernels read only the slots they need.
 */
function recordForward(rec: Recorder, out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | null, dims: MatmulDims, f16: boolean, lora?: FusedLora): void {
  const { M, N, K } = dims;
  if (M === 0 || N === 0) return;
  const { kernel } = selectMatmulForward(rec.ctx.policy, dims);
  if (kernel === matmulTile128ForwardKernel) return matmulTile128Forward(rec, out, inp, weight, bias, dims, lora);
  const [w32, w16] = weightBindings(weight, inp);
  const loraSlots = kernel === matmulSkinnyForwardKernel ? [] : [lora?.u ?? inp, lora?.factor ?? inp];
  const launch = { M, N, K, hasBias: bias !== null, weightF16: f16, lora: lora && { R: lora.R, scale: lora.scale } };
  rec.run(kernel, launch, [out, inp, w32, bias ?? w32, w16, ...loraSlots]);
}

/** out: [M, N]; inp: [M, K]; weight: [N, K], f32 or f16; bias: [N] or null. out = inp·weightᵀ (+ bias). */
export function matmulForward(
  rec: Recorder,
  out: Tensor,
  inp: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  dims: MatmulDims,
): void {
  const f16 = checkForward('matmul_forward', out, inp, weight, bias, dims);
  recordForward(rec, out, inp, weight, bias, dims, f16);
}

export interface MatmulLoraDims extends MatmulDims {
  R: number; // LoRA rank: columns of u and loraB
  scale: number; // s
}

/**
 * Whether matmulLoraForward runs these dimensions on this device: R a positive multiple of 4, and
 * where barriers are slow K too (matmul_regtile_forward's vec4 rows), elsewhere more than
 * SKINNY_MAX_ROWS rows (the skinny kernel has no fused form). Otherwise a LoRA projection stays
 * matmulForward + loraForward.
 */
export function canFuseLoraForward(rec: Recorder, { M, K, R }: { M: number; K: number; R: number }): boolean {
  return R > 0 && R % 4 === 0 && selectMatmulForward(rec.ctx.policy, { M, N: 0, K }).kernel !== matmulSkinnyForwardKernel;
}

/**
 * out = inp·weightᵀ (+ bias) + scale·u·loraBᵀ in one launch. out: [M, N]; inp: [M, K]; weight:
 * [N, K], f32 or f16; bias: [N] or null; u: [M, R]; loraB: [N, R]. Only where canFuseLoraForward:
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
  const f16 = checkForward('matmul_lora_forward', out, inp, weight, bias, dims, [[u, M * R, 'u'], [loraB, N * R, 'loraB']]);
  if (!canFuseLoraForward(rec, dims)) throw new Error(`matmul_lora_forward: not on this device or at M=${M} K=${K} R=${R} (see canFuseLoraForward)`);
  recordForward(rec, out, inp, weight, bias, { M, N, K }, f16, { u, factor: loraB, R, scale });
}
