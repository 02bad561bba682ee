// Tensor data in GGUF's types: f32, f16 (../../gpu/f16.ts, round to nearest even) and Q8_0 (the
// project's quantizer, ../../gpu/quant/q8.ts, whose rule is llama.cpp's quantize_row_q8_0_ref:
// per block of 32 values d = absmax / 127 in f32, q = round-half-away-from-zero(x · (1/d)), d
// stored as f16). Browser-safe.
//
// A GGUF Q8_0 block is 34 bytes: d as binary16 (little-endian), then the 32 q as int8 in element
// order. The GPU words of quantizeQ8 hold a block in 9 u32: word 0's low half is d, words 1..8 hold
// elements 4j..4j+3 in their bytes 0..3, so the block's bytes are d's two bytes followed by words
// 1..8 in little-endian byte order.
import { f16Bits } from '../../gpu/f16.js';
import { quantizeQ8 } from '../../gpu/quant/q8.js';
import type { GgmlTypeName } from './format.js';

/**
 * The type a tensor is written in when the export asks for `requested`: 1-D tensors (norms,
 * biases) stay f32, as llama.cpp's converter keeps them; a Q8_0 tensor whose rows (the innermost
 * dimension) are not a multiple of 32 long falls back to f16, as the converter does.
 */
export function tensorType(requested: GgmlTypeName, dims: number[]): GgmlTypeName {
  if (dims.length === 1) return 'f32';
  if (requested === 'q8_0' && dims[0] % 32 !== 0) return 'f16';
  return requested;
}

/** The little-endian bytes of `values` as `type`; `rowLength` (the innermost dimension) cuts Q8_0 rows. */
export function encodeTensor(values: Float32Array, type: GgmlTypeName, rowLength: number, name: string): Uint8Array {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new Error(`GGUF tensor '${name}': value ${i} is ${values[i]}; only finite values can be exported`);
  }
  if (type === 'f32') return new Uint8Array(new Float32Array(values).buffer);
  if (type === 'f16') {
    const h = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) h[i] = f16Bits(values[i]);
    for (let i = 0; i < h.length; i++) {
      if ((h[i] & 0x7c00) === 0x7c00) throw new Error(`GGUF tensor '${name}': value ${i} (${values[i]}) overflows f16; export it as f32`);
    }
    return new Uint8Array(h.buffer);
  }
  return q8BlocksFromWords(quantizeQ8(values, rowLength));
}

/** quantizeQ8's words (9 per block) as GGUF Q8_0 blocks (34 bytes each); see the header. */
export function q8BlocksFromWords(words: Uint32Array): Uint8Array {
  const blocks = words.length / 9;
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    view.setUint16(b * 34, words[b * 9] & 0xffff, true);
    for (let j = 0; j < 8; j++) view.setUint32(b * 34 + 2 + 4 * j, words[b * 9 + 1 + j], true);
  }
  return out;
}
