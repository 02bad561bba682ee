// The plan of every buffer a training step allocates: each tensor's name (its GPU label), shape and
// element type, from (model, B, T, adapter, checkpointing), before anything is allocated. It is
// the one source of these sizes: createTrainBuffers (./train-buffers.ts) allocates exactly the
// planned tensors, and the memory estimate (../train/memory.ts) sums their bytes, as llm.c's
// fill_in_activation_sizes feeds both its allocation and its printout of the memory it takes.
//
// A plan has the fields of TrainBuffers (and LayerBuffers for the blocks), each tensor replaced
// by its BufferSpec; the shapes are commented on those interfaces (./train-buffers.ts, ./layer.ts).
// allocatePlan turns a plan into the record of tensors it describes, field for field.
// Dimension letters as in ./config.ts; M = B·T rows, R the LoRA rank, Kd the widest input that
// LoRA dropout drops.
import type { GpuContext } from '../gpu/device.js';
import { attentionBackwardScratchShape } from '../gpu/kernels/attention.js';
import { createTensor, storageBytes, type DType, type Tensor } from '../gpu/tensor.js';
import type { ModelSpec } from './config.js';
import type { LayerBuffers } from './layer.js';
import type { ProjectionKind } from './linear.js';
import type { TrainBuffers } from './train-buffers.js';

/** One planned tensor: the label its GPU buffer gets, its shape and its element type. */
export interface BufferSpec<D extends DType = DType> {
  name: string;
  shape: number[];
  dtype: D;
}

/** The plan of a record of tensors: the same fields, each Tensor<D> replaced by a BufferSpec<D>. */
export type Planned<X> = X extends Tensor<infer D>
  ? BufferSpec<D>
  : X extends readonly (infer E)[]
    ? Planned<E>[]
    : X extends object
      ? { [K in keyof X]: Planned<X[K]> }
      : X;

/** The plan of one layer's block buffers. */
export type LayerBufferPlan = Planned<LayerBuffers>;

/** The plan of a training step's buffers: TrainBuffers without its CPU copy of the loss rows. */
export type TrainBufferPlan = Planned<Omit<TrainBuffers, 'lossRowIndices'>>;

/**
 * What the plan needs of an adapter: the projection kinds it adapts in any layer (each gets a
 * u = x·Aᵀ buffer [M, R]), its rank R (1 without an adapter: dU stays one column wide), and Kd, the
 * widest input K of a projection whose update drops its input (0 when none does: no dropout buffers).
 */
export interface AdapterShape {
  kinds: readonly ProjectionKind[];
  R: number;
  dropoutWidth: number;
}

export interface TrainBufferOptions {
  /**
   * Gradient checkpointing: plan one LayerBuffers for all layers instead of one each, and keep the
   * logits chunk at its small size (logitsChunkRows). Default false.
   */
  checkpoint?: boolean;
  /** The device's largest binding (../model/vocab-blocks.ts bindingLimit), which bounds the logits chunk; default none. */
  maxBindingBytes?: number;
}

/**
 * Rows of logits computed at once: a multiple of 64 (so chunk views stay aligned), about 16 MiB of
 * logits (at least 64 rows), and no more than the rows there are. A large batch (at least
 * 4 · LOGITS_CHUNK_MIN_ROWS rows) takes at least LOGITS_CHUNK_MIN_ROWS, so that on GPUs the LM
 * head, the largest product of small models, runs on the 128 × 128-tiled kernel (TILE128_MIN_SIDE)
 * rather than the 64 × 64 one: that trades memory for speed where the L layers' saved
 * activations dwarf the chunk (256 rows are 48 MiB of logits at SmolLM2's 49,152 tokens, 148 MiB
 * at Qwen2.5's 151,936). With gradient checkpointing (`checkpoint`) the user has chosen memory
 * over speed and one layer's activations are saved, not L: there the chunk would be a quarter of
 * a step's buffers (Qwen2.5-1.5B at 4 × 256: 148 of 617 MiB), so it keeps the small size, as a
 * small batch does. The chunk fits one binding of maxBindingBytes: a vocabulary too wide for that
 * takes fewer rows (a multiple of 64 / gcd(64, C), so that the chunks' rows of h stay aligned).
 */
export function logitsChunkRows(V: number, rows: number, C: number, maxBindingBytes = Infinity, checkpoint = false): number {
  const least = rows >= 4 * LOGITS_CHUNK_MIN_ROWS && !checkpoint ? LOGITS_CHUNK_MIN_ROWS : 64;
  const budget = Math.max(least, Math.floor((4 << 20) / V / 64) * 64);
  const chunk = Math.min(budget, Math.ceil(rows / 64) * 64);
  const fitting = Math.floor(maxBindingBytes / (4 * V)); // rows of logits one binding holds
  if (chunk <= fitting) return chunk;
  // A vocabulary too wide for the usual chunk in one binding: fewer rows, a multiple of `align` so
  // that each chunk's rows of h [rows, C] still start on a 256-byte binding offset.
  const align = 64 / gcd(64, C);
  const rowsFitting = Math.floor(fitting / align) * align;
  if (rowsFitting === 0) throw new Error(`the logits of ${align} rows of a ${V}-token vocabulary take ${4 * V * align} bytes, more than this GPU binds at once (${maxBindingBytes})`);
  return rowsFitting;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** The fewest rows of a large batch's logits chunk without gradient checkpointing (logitsChunkRows). */
export const LOGITS_CHUNK_MIN_ROWS = 256;

/**
 * One layer's block buffers for M = B·T rows, labelled `${label}.<field>`. The per-head norms'
 * buffers (qn, kn, rstdQ, rstdK) are one row each where the model has no q/k norm, GPT-2's gate
 * (it has none) is one row, and Gemma's post-norm buffers (oOut, post, rstdPost1, rstdPost2) exist
 * only for Gemma.
 */
export function planLayerBuffers(spec: ModelSpec, B: number, T: number, adapter: Pick<AdapterShape, 'kinds' | 'R'>, label: string): LayerBufferPlan {
  const { C, NH, KV, HS, F } = spec;
  const M = B * T;
  const f = (shape: number[], name: string): BufferSpec<'f32'> => ({ name: `${label}.${name}`, shape, dtype: 'f32' });
  const u: LayerBufferPlan['u'] = {};
  for (const kind of adapter.kinds) u[kind] = f([M, adapter.R], `u.${kind}`);
  const qk = spec.qkNorm;
  return {
    h1: f([M, C], 'h1'),
    mean1: f([M], 'mean1'),
    rstd1: f([M], 'rstd1'),
    q: f([M, NH * HS], 'q'),
    k: f([M, KV * HS], 'k'),
    v: f([M, KV * HS], 'v'),
    qn: f([qk ? M : 1, NH * HS], 'qn'),
    kn: f([qk ? M : 1, KV * HS], 'kn'),
    rstdQ: f([qk ? M * NH : 1], 'rstdQ'),
    rstdK: f([qk ? M * KV : 1], 'rstdK'),
    qr: f([M, NH * HS], 'qr'),
    kr: f([M, KV * HS], 'kr'),
    att: f([M, NH * HS], 'att'),
    lse: f([B, NH, T], 'lse'),
    proj: f([M, C], 'proj'),
    xMid: f([M, C], 'xMid'),
    h2: f([M, C], 'h2'),
    mean2: f([M], 'mean2'),
    rstd2: f([M], 'rstd2'),
    gate: f([spec.arch === 'gpt2' ? 1 : M, F], 'gate'),
    up: f([M, F], 'up'),
    act: f([M, F], 'act'),
    ...(spec.postNorms ? { oOut: f([M, C], 'oOut'), post: f([M, C], 'post'), rstdPost1: f([M], 'rstdPost1'), rstdPost2: f([M], 'rstdPost2') } : {}),
    u,
  };
}

/**
 * Every buffer of a training step for micro-batches of up to B rows of T tokens: L sets of block
 * buffers (layer.0 … layer.L−1), or with checkpointing one set (layer.shared) that every layer's
 * recomputation reuses; the residual stream, the final norm, the chunked loss, the gradient
 * scratch shared by all layers, and the dropout scratch when some update drops its input.
 */
export function planTrainBuffers(spec: ModelSpec, B: number, T: number, adapter: AdapterShape, { checkpoint = false, maxBindingBytes }: TrainBufferOptions = {}): TrainBufferPlan {
  const { C, NH, KV, HS, F, V, L } = spec;
  const M = B * T;
  const { R, dropoutWidth: Kd } = adapter;
  const f = (shape: number[], name: string): BufferSpec<'f32'> => ({ name, shape, dtype: 'f32' });
  const u32 = (shape: number[], name: string): BufferSpec<'u32'> => ({ name, shape, dtype: 'u32' });
  const chunkRows = logitsChunkRows(V, M, C, maxBindingBytes, checkpoint);
  return {
    B,
    T,
    ids: u32([B, T], 'ids'),
    mask: u32([B, T], 'mask'),
    targets: { name: 'targets', shape: [M], dtype: 'i32' },
    lossRows: u32([M], 'lossRows'),
    res: Array.from({ length: L + 1 }, (_, l) => f([M, C], `res.${l}`)),
    checkpoint,
    layers: checkpoint
      ? [planLayerBuffers(spec, B, T, adapter, 'layer.shared')]
      : Array.from({ length: L }, (_, l) => planLayerBuffers(spec, B, T, adapter, `layer.${l}`)),
    hF: f([M, C], 'hF'),
    meanF: f([M], 'meanF'),
    rstdF: f([M], 'rstdF'),
    logitsChunk: f([chunkRows, V], 'logitsChunk'),
    chunkRows,
    losses: f([M], 'losses'),
    lseCE: f([M], 'lseCE'),
    loss: f([1], 'loss'),
    dRes: f([M, C], 'dRes'),
    dH: f([M, C], 'dH'),
    dAtt: f([M, NH * HS], 'dAtt'),
    dQ: f([M, NH * HS], 'dQ'),
    dQ2: f([M, NH * HS], 'dQ2'),
    dK: f([M, KV * HS], 'dK'),
    dK2: f([M, KV * HS], 'dK2'),
    dV: f([M, KV * HS], 'dV'),
    dAct: f([M, F], 'dAct'),
    dGate: f([M, F], 'dGate'),
    dUp: f([M, F], 'dUp'),
    dU: f([M, R], 'dU'),
    attScratch: f(attentionBackwardScratchShape({ B, T, NH, KV, HS }), 'attScratch'),
    ...(Kd > 0 ? { dropScratch: f([M, Kd], 'dropScratch'), dropStep: u32([1], 'dropStep') } : {}),
  };
}

export function isBufferSpec(v: unknown): v is BufferSpec {
  return typeof v === 'object' && v !== null && 'name' in v && 'shape' in v && 'dtype' in v;
}

/** Every BufferSpec of a plan (or of any record, array or nesting of them), in field order. */
export function plannedTensors(plan: unknown): BufferSpec[] {
  if (isBufferSpec(plan)) return [plan];
  if (Array.isArray(plan)) return plan.flatMap(plannedTensors);
  if (typeof plan === 'object' && plan !== null) return Object.values(plan).flatMap(plannedTensors);
  return [];
}

/** The bytes a planned tensor's buffer takes (storageBytes of its elements). */
export function bufferBytes(t: BufferSpec): number {
  return storageBytes(t.dtype, t.shape.reduce((a, b) => a * b, 1));
}

/** The bytes of every buffer of a plan, and of its largest one. */
export function plannedBytes(plan: unknown): { total: number; largest: number } {
  const bytes = plannedTensors(plan).map(bufferBytes);
  return { total: bytes.reduce((a, b) => a + b, 0), largest: Math.max(0, ...bytes) };
}

/** The tensors of a plan: the same record with each BufferSpec<D> allocated as a Tensor<D>. */
export type Allocated<P> = P extends BufferSpec<infer D>
  ? Tensor<D>
  : P extends readonly (infer E)[]
    ? Allocated<E>[]
    : P extends object
      ? { [K in keyof P]: Allocated<P[K]> }
      : P;

/** Allocates every tensor of a plan (zeroed, labelled with its name); other fields are copied. */
export function allocatePlan<P>(ctx: GpuContext, plan: P): Allocated<P> {
  if (isBufferSpec(plan)) return createTensor(ctx, plan.shape, plan.dtype, undefined, plan.name) as Allocated<P>;
  if (Array.isArray(plan)) return plan.map((p) => allocatePlan(ctx, p)) as Allocated<P>;
  if (typeof plan === 'object' && plan !== null) {
    return Object.fromEntries(Object.entries(plan).map(([key, p]) => [key, allocatePlan(ctx, p)])) as Allocated<P>;
  }
  return plan as Allocated<P>;
}
