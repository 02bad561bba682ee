// LoRA parameters on the GPU: every A and B of an adapter in one flat f32 buffer, so that the
// optimizer, gradient clipping and checkpoints treat them as one vector. The gradients and the
// two AdamW moments are flat buffers of the same layout.
//
// Layout: for each module, in adapter order, A [r, in] then B [out, r], each segment starting at
// a multiple of the storage-offset alignment (so kernels can bind it as a view). GPT-2's fused
// attn.c_attn has its B split into three segments B_q, B_k, B_v ([C, r] each: rows 0..C-1, C..2C-1,
// 2C..3C-1 of PEFT's lora_B), which the attention block uses as three separate projections.
// Padding between segments holds zeros, has zero gradients, and stays zero under AdamW.
import type { GpuContext } from '../gpu/device.js';
import { createTensor, readTensor, writeTensor, type Tensor } from '../gpu/tensor.js';
import type { LoraAdapter } from './adapter.js';
import type { LowRankUpdate, LowRankUpdates, ProjectionKind } from '../model/linear.js';
import { loraScale, type LoraKind, type LoraModule } from './config.js';


export interface Segment {
  module: LoraModule;
  factor: 'A' | 'B';
  /** Rows of the module's PEFT tensor that this segment holds. */
  rowStart: number;
  rows: number;
  cols: number;
  offset: number;
}

/**
 * The flat layout of an adapter's factors (see the header): each module's A [r, in], then its B
 * [out, r] (GPT-2's fused qkv in three segments), each segment starting at a multiple of
 * `alignElements` (the storage-offset alignment in f32 elements). `elements` is the buffer's length:
 * the params, the gradients and AdamW's two moments all have it. The memory estimate
 * (train/memory.ts) sums the same layout.
 */
export function loraLayout(modules: readonly LoraModule[], R: number, alignElements: number): { segments: Segment[]; elements: number } {
  const align = Math.max(1, alignElements);
  const segments: Segment[] = [];
  let offset = 0;
  const add = (module: LoraModule, factor: 'A' | 'B', rowStart: number, rows: number, cols: number) => {
    segments.push({ module, factor, rowStart, rows, cols, offset });
    offset += Math.ceil((rows * cols) / align) * align;
  };
  for (const m of modules) {
    add(m, 'A', 0, R, m.inFeatures);
    const parts = m.kind === 'qkv' ? 3 : 1;
    const rows = m.outFeatures / parts;
    for (let p = 0; p < parts; p++) add(m, 'B', p * rows, rows, R);
  }
  return { segments, elements: Math.max(offset, 1) };
}

export class GpuLora implements LowRankUpdates {
  private constructor(
    readonly ctx: GpuContext,
    readonly adapter: Omit<LoraAdapter, 'weights'>,
    readonly segments: Segment[],
    readonly params: Tensor<'f32'>,
    readonly grads: Tensor<'f32'>,
    private readonly slots: Map<string, LowRankUpdate>,
  ) {}

  /** Number of trainable parameters (PEFT's count: the elements of every A and B). */
  get trainableParameters(): number {
    return this.segments.reduce((n, s) => n + s.rows * s.cols, 0);
  }

  /**
   * The adapter's parameters on the GPU, zero gradients. With config.dropout p > 0 every slot
   * drops its input in training passes, its masks keyed by `dropoutSeed` (a u32, default 0) and
   * the module's index in adapter.modules (the stream: GPT-2's q/k/v share their module's).
   */
  static create(ctx: GpuContext, adapter: LoraAdapter, opts: { dropoutSeed?: number } = {}): GpuLora {
    const R = adapter.config.r;
    const { segments, elements } = loraLayout(adapter.modules, R, ctx.limits.minStorageBufferOffsetAlignment / 4);
    const params = createTensor(ctx, [elements], 'f32', undefined, 'lora.params');
    const grads = createTensor(ctx, [elements], 'f32', undefined, 'lora.grads');

    const scale = loraScale(adapter.config);
    const { dropout: p } = adapter.config;
    const seed = opts.dropoutSeed ?? 0;
    if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw new Error(`LoRA dropout seed must be an integer in [0, 2³²), got ${seed}`);
    const slots = new Map<string, LowRankUpdate>();
    const view = (t: Tensor<'f32'>, s: Segment) => t.view(s.offset, [s.rows, s.cols]);
    adapter.modules.forEach((m, stream) => {
      const segs = segments.filter((s) => s.module === m);
      const a = segs[0];
      const bs = segs.slice(1);
      const kinds: ProjectionKind[] = m.kind === 'qkv' ? ['q', 'k', 'v'] : [m.kind as Exclude<LoraKind, 'qkv'>];
      kinds.forEach((kind, i) => {
        slots.set(`${m.layer}.${kind}`, {
          R,
          scale,
          A: view(params, a),
          B: view(params, bs[i]),
          dA: view(grads, a),
          dB: view(grads, bs[i]),
          computesU: i === 0, // GPT-2's q, k and v share A: q computes u, k and v reuse it
          ...(p > 0 ? { dropout: { p, seed, stream } } : {}),
        });
      });
    });
    const { weights: _, ...rest } = adapter;
    const lora = new GpuLora(ctx, rest, segments, params, grads, slots);
    lora.upload(adapter);
    return lora;
  }

  /** The LoRA of a projection of a layer, or undefined when that projection is not adapted. */
  slot(layer: number, kind: ProjectionKind): LowRankUpdate | undefined {
    return this.slots.get(`${layer}.${kind}`);
  }

  /** Write the adapter's A and B matrices into the parameter buffer. */
  upload(adapter: LoraAdapter): void {
    const flat = new Float32Array(this.params.size);
    for (const s of this.segments) {
      const w = adapter.weights.get(s.module.path);
      if (!w) throw new Error(`adapter has no weights for ${s.module.path}`);
      const src = s.factor === 'A' ? w.A : w.B;
      flat.set(src.subarray(s.rowStart * s.cols, (s.rowStart + s.rows) * s.cols), s.offset);
    }
    writeTensor(this.ctx, this.params, flat);
  }

  /** Read the parameters (or a buffer of the same layout, such as the gradients) back as an adapter. */
  async download(from: Tensor<'f32'> = this.params): Promise<LoraAdapter> {
    const flat = await readTensor(this.ctx, from);
    const weights: LoraAdapter['weights'] = new Map();
    for (const m of this.adapter.modules) {
      weights.set(m.path, { A: new Float32Array(this.adapter.config.r * m.inFeatures), B: new Float32Array(m.outFeatures * this.adapter.config.r) });
    }
    for (const s of this.segments) {
      const w = weights.get(s.module.path)!;
      (s.factor === 'A' ? w.A : w.B).set(flat.subarray(s.offset, s.offset + s.rows * s.cols), s.rowStart * s.cols);
    }
    return { ...this.adapter, weights };
  }

  destroy(): void {
    this.params.destroy();
    this.grads.destroy();
  }
}
