// Weight format nf4 (bitsandbytes' NF4 as QLoRA uses it), both views in one file: a frozen weight
// flattened row-major in blocks of 64 elements, 9 words per block (../../src/gpu/quant/nf4.ts
// makes them):
//   word 9 b          the absmax of block b, as f32 bits;
//   word 9 b + 1 + j  the 4-bit codes of the block's elements 8 j .. 8 j + 7, element 8 j + e in
//                     bits 4 e .. 4 e + 3.
// Each element is dequantized as it is read, w = NF4[code] · absmax (one f32 product), the values
// quantizeNf4 + dequantizeNf4 give on the CPU; the kernel multiplies and adds in f32. The kernel
// declares WEIGHT_BINDING, the binding slot of the weight.
//   weight_at(i)  = element i of the weight;
//   weight4_at(v) = elements 4 v .. 4 v + 3, four codes in one half of a codes word (16 such
//                   groups a block, so they never straddle one).

@group(0) @binding(WEIGHT_BINDING) var<storage, read> weight: array<u32>;

// bitsandbytes' NF4 table, increasing (quant/nf4.ts NF4_VALUES); each literal is exactly an f32 value.
const NF4_TABLE = array<f32, 16>(
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
);

fn weight_at(i: u32) -> f32 {
  let base = (i >> 6u) * 9u;                         // block i / 64
  let codes = weight[base + 1u + ((i & 63u) >> 3u)];  // the word of elements 8 ⌊i / 8⌋ ..
  return NF4_TABLE[(codes >> (4u * (i & 7u))) & 15u] * bitcast<f32>(weight[base]);
}

fn weight4_at(v: u32) -> vec4<f32> {
  let base = (v >> 4u) * 9u;                                     // block 4 v / 64
  let codes = weight[base + 1u + ((v & 15u) >> 1u)] >> (16u * (v & 1u));  // the half holding 4 v ..
  let absmax = bitcast<f32>(weight[base]);
  return vec4<f32>(NF4_TABLE[codes & 15u], NF4_TABLE[(codes >> 4u) & 15u], NF4_TABLE[(codes >> 8u) & 15u], NF4_TABLE[(codes >> 12u) & 15u]) * absmax;
}
