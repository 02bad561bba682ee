// Token embeddings: out[b, t, c] = wte[ids[b, t], c] (+ wpe[pos0 + t, c], GPT-2's learned positions).
import code from '../../../shaders/embedding_forward.wgsl?raw';
import { grid1d, u32, type KernelSpec, type Recorder } from '../kernel.js';
import type { Tensor } from '../tensor.js';

export interface EmbeddingDims {
  B: number; // batch
  T: number; // sequence length
  C: number; // model width
  V: number; // vocabulary size: rows of wte
  pos0: number; // position of the first token (0 in training; the KV-cache length when generating)
}

/** The launch dimensions plus whether position embeddings are bound (the HAS_POSITIONS override). */
export interface EmbeddingLaunch extends EmbeddingDims {
  hasPositions: boolean;
}

const WG = 256;

export const embeddingForwardKernel: KernelSpec<EmbeddingLaunch> = {
  name: 'embedding_forward',
  code,
  bindings: ['read_write', 'read', 'read', 'read'],
  constants: (d) => ({ HAS_POSITIONS: d.hasPositions ? 1 : 0 }),
  params: (d) => [u32(d.B), u32(d.T), u32(d.C), u32(d.V), u32(d.pos0)],
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
 * out: [B, T, C]; ids: [B, T] (u32); wte: [V, C]; wpe: [P, C] with pos0 + T <= P, or null (Llama,
 * Qwen: positions come from RoPE instead). Without wpe, wte is bound again in its slot, unread.
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
  const fail = (msg: string) => {
    throw new Error(`embedding_forward: ${msg} (B=${B} T=${T} C=${C} V=${V} pos0=${pos0})`);
  };
  if (ids.dtype !== 'u32') fail(`ids must be u32, not ${ids.dtype}`);
  if (V < 1) fail('the vocabulary is empty');
  if (out.size < B * T * C) fail(`out has ${out.size} elements, needs ${B * T * C}`);
  if (ids.size < B * T) fail(`ids has ${ids.size} elements, needs ${B * T}`);
  if (wte.size < V * C) fail(`wte has ${wte.size} elements, needs ${V * C}`);
  if (wpe && wpe.size < (pos0 + T) * C) fail(`wpe has ${wpe.size / C} positions, needs pos0 + T = ${pos0 + T}`);
  if (B * T * C === 0) return;
  rec.run(embeddingForwardKernel, { ...dims, hasPositions: wpe !== null }, [out, ids, wte, wpe ?? wte]);
}
