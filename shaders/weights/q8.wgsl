// Weight format q8 (GGUF's Q8_0), both views in one file: a frozen weight whose rows are a
// multiple of 32 long, flattened row-major in blocks of 32 elements, 9 words per block
// (../../src/gpu/quant/q8.ts makes them):
//   word 9 b          the block's scale f16(d), binary16 bits in bits 0 .. 15;
//   word 9 b + 1 + j  the int8 values q of the block's elements 4 j .. 4 j + 3, element 4 j + e in
//                     bits 8 e .. 8 e + 7 (two's complement).
// Each element is dequantized as it is read, w = q · f16(d) in f32 (exact: 8 bits times 11), the
// values quantizeQ8 + dequantizeQ8 give on the CPU; the kernel multiplies and adds in f32. The
// kernel declares WEIGHT_BINDING, the binding slot of the weight.
//   weight_at(i)  = element i of the weight;
//   weight4_at(v) = elements 4 v .. 4 v + 3, the four bytes of one word.

@group(0) @binding(WEIGHT_BINDING) var<storage, read> weight: array<u32>;

// The f32 value of a block's scale word: a binary16 d ≥ 0, never Inf or NaN (the quantizer refuses
// those), widened with integer operations so that subnormal halves (d below 2⁻¹⁴) are exact on
// every device: normal, the exponent rebiased by 127 − 15 = 112; subnormal, mantissa · 2⁻²⁴.
fn q8_scale(word: u32) -> f32 {
  let h = word & 0x7fffu;
  return select(bitcast<f32>((h << 13u) + 0x38000000u), f32(h) * 5.9604644775390625e-8, h < 0x400u);
}

fn weight_at(i: u32) -> f32 {
  let base = (i >> 5u) * 9u;                          // block i / 32
  let q = bitcast<i32>(weight[base + 1u + ((i & 31u) >> 2u)] << (24u - 8u * (i & 3u))) >> 24u;
  return f32(q) * q8_scale(weight[base]);
}

fn weight4_at(v: u32) -> vec4<f32> {
  let base = (v >> 3u) * 9u;                          // block 4 v / 32
  let q = vec4<i32>(bitcast<i32>(weight[base + 1u + (v & 7u)])) << vec4<u32>(24u, 16u, 8u, 0u);
  return vec4<f32>(q >> vec4<u32>(24u)) * q8_scale(weight[base]);
}
