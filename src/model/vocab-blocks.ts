// Vocabulary matrices larger than one storage binding. The token embedding and an untied LM head
// are [V, C]; Gemma 3 1B's is 262,144 × 1,152, 1.2 GB in f32, while many GPUs bind at most 1 or
// 2 GiB of a buffer at once (maxStorageBufferBindingSize) and WebGPU guarantees only 128 MiB.
// Such a matrix is stored as consecutive blocks of vocabulary rows, each its own buffer, every
// block but the last of the same number of rows, a multiple of VOCAB_BLOCK_ALIGN. The kernels run
// once per block (./ends.ts): the embedding gather writes the rows of the tokens a block holds, the
// LM head writes a block's columns of the logits (a column block: matmul ld / col0) and adds a
// block's share of dh = dlogits·E. A matrix that fits one binding is one block, as before.
// Dimension letters as in ./config.ts.
import type { GpuContext } from '../gpu/device.js';
import { storageBytes, type DType } from '../gpu/tensor.js';

/**
 * Blocks start at multiples of this many rows: a head block's first logits column (col0) is then a
 * multiple of 4, so its columns are read as whole vec4s, as the unsplit head's are.
 */
export const VOCAB_BLOCK_ALIGN = 64;

/** The largest buffer a kernel can bind on this device: the smaller of its two limits. */
export function bindingLimit(ctx: Pick<GpuContext, 'limits'>): number {
  return Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
}

/**
 * The rows of each block of a [V, C] matrix of `dtype` for buffers of at most maxBytes: [V] when
 * it fits one (or maxBytes is Infinity), else the fewest blocks that fit, as even as alignment
 * allows (every block but the last of the same multiple of VOCAB_BLOCK_ALIGN rows). Throws when
 * VOCAB_BLOCK_ALIGN rows alone do not fit, naming the matrix.
 */
export function vocabBlockRows(name: string, V: number, C: number, dtype: DType, maxBytes: number): number[] {
  if (storageBytes(dtype, V * C) <= maxBytes) return [V];
  const alignedBlock = storageBytes(dtype, VOCAB_BLOCK_ALIGN * C);
  if (alignedBlock > maxBytes) {
    throw new Error(`${name} [${V}, ${C}] cannot be split to fit this GPU's binding limit of ${maxBytes} bytes: ${VOCAB_BLOCK_ALIGN} rows of it take ${alignedBlock}`);
  }
  const fitting = Math.floor(maxBytes / alignedBlock) * VOCAB_BLOCK_ALIGN; // the most aligned rows in one buffer
  const count = Math.ceil(V / fitting);
  const rows = Math.ceil(V / count / VOCAB_BLOCK_ALIGN) * VOCAB_BLOCK_ALIGN; // ≤ fitting
  return Array.from({ length: Math.ceil(V / rows) }, (_, i) => Math.min(rows, V - i * rows));
}

/** The shape of the whole matrix that blocks of rows (or one tensor) make up: [Σ rows, C], or the one tensor's shape. */
export function wholeShape(blocks: ReadonlyArray<{ shape: readonly number[] }>): number[] {
  return blocks.length === 1 ? [...blocks[0].shape] : [blocks.reduce((n, b) => n + b.shape[0], 0), blocks[0].shape[1]];
}

/** Each block of a split matrix (tensors or their plans, [rows, C] each) with its first row in the whole matrix. */
export function withFirstRows<P extends { shape: readonly number[] }>(blocks: readonly P[]): Array<{ block: P; row0: number; rows: number }> {
  let row0 = 0;
  return blocks.map((block) => {
    const rows = block.shape[0];
    const out = { block, row0, rows };
    row0 += rows;
    return out;
  });
}
