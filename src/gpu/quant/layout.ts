// The GPU storage of the block-quantized weight formats (nf4, q8): one array<u32> per tensor,
// the tensor flattened row-major and cut into blocks, each block a fixed number of words, so a
// reader finds element i from i alone (block ⌊i / B⌋ starts at word W·⌊i / B⌋), without the
// tensor's length. The formats' files (./nf4.ts, ./q8.ts) state each block's words.
//   nf4: B = 64 elements per block, W = 9 words (the f32 absmax, then 8 words of 8 four-bit codes);
//        the last block may be shorter than 64 (its unused codes are 0) but still takes 9 words.
//   q8:  B = 32 elements per block, W = 9 words (the f16 scale in the low half of a word, then
//        8 words of 4 int8 values); Q8_0 blocks lie along rows, so a q8 tensor's rows are a
//        multiple of 32 long and its element count a multiple of 32.

/** The element types whose storage is quantized blocks. */
export type QuantDType = 'nf4' | 'q8';

export interface BlockLayout {
  /** Elements per block. */
  elements: number;
  /** 32-bit words per block. */
  words: number;
}

export const BLOCK_LAYOUT: Record<QuantDType, BlockLayout> = {
  nf4: { elements: 64, words: 9 },
  q8: { elements: 32, words: 9 },
};

export const isQuantDType = (dtype: string): dtype is QuantDType => dtype === 'nf4' || dtype === 'q8';

/** The words of n elements stored as `dtype`: whole blocks (q8: n must be a multiple of 32). */
export function quantWords(dtype: QuantDType, n: number): number {
  const { elements, words } = BLOCK_LAYOUT[dtype];
  if (dtype === 'q8' && n % elements !== 0) {
    throw new Error(`q8: ${n} elements are not whole Q8_0 blocks of ${elements} (a q8 tensor's rows are a multiple of ${elements} long)`);
  }
  return Math.ceil(n / elements) * words;
}
