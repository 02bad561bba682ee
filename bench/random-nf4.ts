// The 'nf4' fill of the random models (./models.ts): the checkpoint as a bitsandbytes NF4 one
// (../src/model/bnb.ts states the format), whose layers' projections are random valid NF4 blocks
// written directly: random 4-bit codes and a random absmax per block of 64, not random floats
// quantized. It is what `--memory-only --weights nf4` reads, a memory benchmark of random weights:
// the bytes a model and its training step allocate do not depend on the values, and the loader
// takes a bnb projection's codes as they are (uploadWeights puts them on the GPU as nf4 words),
// so loading skips both drawing 1.5-3 billion floats and quantizing them (~7 ns a value).
//
// A projection `<m>.weight` of shape [N, K] (n = N·K elements) becomes, as bitsandbytes saves it:
//   <m>.weight                                U8 [⌈n / 2⌉, 1]: two codes a byte (the even element in
//                                             the high nibble), the bytes drawn uniformly;
//   <m>.weight.absmax                         F32 [⌈n / 64⌉]: each block's absmax, uniform in
//                                             [0.04, 0.06) (about the largest |w| of 64 N(0, 0.02²) draws);
//   <m>.weight.quant_map                      F32 [16]: the NF4 table;
//   <m>.weight.quant_state.bitsandbytes__nf4  U8: the JSON {quant_type, blocksize, dtype, shape}.
// The blocks are tiled as 'tiled' floats are: the first TILED_VALUES elements' (their codes and
// the absmax of their TILED_VALUES / 64 blocks) are drawn from the tensor's own stream, then
// repeated to the end. An odd n leaves the last low nibble, bitsandbytes' padding, 0.
import { mulberry32 } from '../src/lora/adapter.js';
import { NF4_VALUES } from '../src/gpu/quant/nf4.js';

/** config.json's quantization_config of such a checkpoint (transformers' BitsAndBytesConfig.to_dict, float32 compute). */
export const BNB_NF4_QUANTIZATION_CONFIG = {
  quant_method: 'bitsandbytes',
  load_in_4bit: true,
  load_in_8bit: false,
  bnb_4bit_quant_type: 'nf4',
  bnb_4bit_use_double_quant: false,
  bnb_4bit_compute_dtype: 'float32',
  bnb_4bit_quant_storage: 'uint8',
} as const;

/** One tensor of the file: its name, safetensors dtype and shape, and its bytes (made when read). */
export interface FileTensor {
  name: string;
  dtype: 'F32' | 'U8';
  shape: number[];
  bytes: () => Uint8Array;
}

/** `out` filled from `draw`: its first `drawn` values drawn, then repeated to its end. */
function tiled<A extends Uint8Array | Float32Array>(out: A, drawn: number, draw: () => number): A {
  const first = Math.min(out.length, drawn);
  for (let i = 0; i < first; i++) out[i] = draw();
  for (let have = first; have < out.length; have *= 2) out.copyWithin(have, 0, Math.min(have, out.length - have));
  return out;
}

const asBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * The four tensors of the projection `name` [N, K] as a bnb NF4 weight with random blocks (see the
 * header); `stream` seeds its own generator (one per tensor, as the floats' are), `tiledValues`
 * (a multiple of 64) is how many elements' blocks are drawn before they repeat.
 */
export function randomNf4Tensors(name: string, shape: number[], stream: number, tiledValues: number): FileTensor[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const packed = Math.ceil(n / 2);
  const blocks = Math.ceil(n / 64);
  const state = new TextEncoder().encode(JSON.stringify({ quant_type: 'nf4', blocksize: 64, dtype: 'float32', shape }));
  const codes = () => {
    const random = mulberry32(stream);
    const out = tiled(new Uint8Array(packed), tiledValues / 2, () => Math.floor(random() * 256));
    if (n % 2 === 1) out[packed - 1] &= 0xf0; // the padding nibble
    return out;
  };
  const absmax = () => {
    const random = mulberry32(stream ^ 0x5bd1e995);
    return asBytes(tiled(new Float32Array(blocks), tiledValues / 64, () => 0.02 * (2 + random())));
  };
  return [
    { name, dtype: 'U8', shape: [packed, 1], bytes: codes },
    { name: `${name}.absmax`, dtype: 'F32', shape: [blocks], bytes: absmax },
    { name: `${name}.quant_map`, dtype: 'F32', shape: [16], bytes: () => asBytes(NF4_VALUES.slice()) },
    { name: `${name}.quant_state.bitsandbytes__nf4`, dtype: 'U8', shape: [state.length], bytes: () => state.slice() },
  ];
}
