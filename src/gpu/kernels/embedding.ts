// Token embeddings: out[b, t, c] = wte[ids[b, t], c]·scale (+ wpe[pos0 + t, c], GPT-2's learned
// positions); scale is 1 but for Gemma (√C, rounded to f32).
// wte and wpe may each be stored as f32 or f16 (./weight-format.ts): each is bound twice, as f32
// and as packed halves, and the WTE_F16 / WPE_F16 overrides pick what the kernel reads.
import code from '../../../shaders/embedding_forward.wgsl?raw';
import { f32, grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';
import { requireF32, weightIsF16 } from './weight-format.js';

export interface EmbeddingDims {
  B: number; // batch
  T: number; // sequence length
  C: number; // model width
  V: number; // vocabulary size: rows of wte
  pos0: number; // position of the first token (0 in training; the KV-cache length when generating)
  /** The factor of every token embedding, f32 (Gemma: √C); default 1, no multiplication. */
  scale?: number;
  /**
   * One block of a split vocabulary (src/model/vocab-blocks.ts): wte holds rows row0 .. row0 +
   * rows − 1 of the [V, C] table, and only the tokens in that range are written. Default: all V.
   */
  block?: { row0: number; rows: number };
}

/** The launch dimensions plus whether position embeddings are bound (the HAS_POSITIONS override). */
export interface EmbeddingLaunch extends EmbeddingDims {
  hasPositions: boolean;
  /** wte / wpe are stored as f16 (the WTE_F16 / WPE_F16 overrides; default false, f32). */
  wteF16?: boolean;
  wpeF16?: boolean;
}

const WG = 256;

export const embeddingForwardKernel: KernelSpec<EmbeddingLaunch> = {
  name: 'embedding_forward',
  code,
  // out, ids, wte, wpe, wte as packed halves, wpe as packed halves
  bindings: ['read_write', 'read', 'read', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_POSITIONS: d.hasPositions ? 1 : 0, WTE_F16: d.wteF16 ? 1 : 0, WPE_F16: d.wpeF16 ? 1 : 0 }),
  params: (d) => [u32(d.B), u32(d.T), u32(d.C), u32(d.V), u32(d.pos0), f32(d.scale ?? 1), u32(d.block?.row0 ?? 0), u32(d.block?.rows ?? d.V)],
  dispatch: (d) => grid1d(d.B * d.T * d.C, WG),
};

/**
 * Throw unless every id is an integer in [0, V). The message names the first bad id and its
 * index. The shader clamps ids to V - 1 so it never reads out of bounds; this is the real check.
 */
export function assertTokenIds(ids: ArrayLike<number>, V: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(Number.isInteger(id) && id >= 0 && id < V)) {
      throw new Error(`token id ${id} at index ${i} is outside the vocabulary [0, ${V})`);
    }
  }
}

/**
 * out: [B, T, C] = wte[ids]·dims.scale (+ wpe); ids: [B, T] (u32); wte: [V, C] (or a block of its
 * rows, dims.block: then only the rows of the tokens in the block are written); wpe: [P, C] with
 * pos0 + T <= P, or null (Llama, Qwen: positions come from RoPE instead); wte and wpe f32 or f16. Each is bound both as f32 and as
 * packed halves; without wpe, wte is bound again in its slots, unread.
 */
export function embeddingForward(
  rec: Recorder,
  out: Tensor,
  ids: Tensor,
  wte: Tensor,
  wpe: Tensor | null,
  dims: EmbeddingDims,
): void {
  const { B, T, C, V, pos0 } = dims;
  const { row0, rows } = dims.block ?? { row0: 0, rows: V };
  const fail = (msg: string) => {
    throw new Error(`embedding_forward: ${msg} (B=${B} T=${T} C=${C} V=${V} pos0=${pos0})`);
  };
  if (ids.dtype !== 'u32') fail(`ids must be u32, not ${ids.dtype}`);
  requireF32('embedding_forward', [[out, 'out']]);
  const wteF16 = weightIsF16('embedding_forward', wte, 'wte');
  const wpeF16 = wpe ? weightIsF16('embedding_forward', wpe, 'wpe') : false;
  if (V < 1) fail('the vocabulary is empty');
  if (out.size < B * T * C) fail(`out has ${out.size} elements, needs ${B * T * C}`);
  if (ids.size < B * T) fail(`ids has ${ids.size} elements, needs ${B * T}`);
  if (!(Number.isInteger(row0) && Number.isInteger(rows) && row0 >= 0 && rows >= 1 && row0 + rows <= V)) fail(`the block of rows ${row0} .. ${row0 + rows - 1} is not within the vocabulary`);
  if (wte.size < rows * C) fail(`wte has ${wte.size} elements, needs ${rows * C}`);
  if (wpe && wpe.size < (pos0 + T) * C) fail(`wpe has ${wpe.size / C} positions, needs pos0 + T = ${pos0 + T}`);
  if (B * T * C === 0) return;
  const pos = wpe ?? wte;
  rec.run(embeddingForwardKernel, { ...dims, hasPositions: wpe !== null, wteF16, wpeF16 }, [out, ids, wte, pos, wte, pos]);
}
