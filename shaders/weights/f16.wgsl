// Weight format f16, read element by element: a frozen weight stored as IEEE halves, two per
// 32-bit word, element 2 w in the low half of word w (../../src/gpu/f16.ts packs them). Each value
// is widened to f32 as it is read; the kernel multiplies and adds in f32. The kernel declares
// WEIGHT_BINDING, the binding slot of the weight.
//   weight_at(i) = element i of the weight.

@group(0) @binding(WEIGHT_BINDING) var<storage, read> weight: array<u32>;

fn weight_at(i: u32) -> f32 {
  return unpack2x16float(weight[i >> 1u])[i & 1u];
}
