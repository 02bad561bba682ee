// Weight format f16, read four elements at a time: a frozen weight stored as IEEE halves, two per
// 32-bit word (element 2 w in the low half of word w), bound as vec2<u32> values, four halves each
// (the kernel's rows have a multiple of 4 elements). Widened to f32 as read. The kernel declares
// WEIGHT_BINDING, the binding slot of the weight.
//   weight4_at(i) = elements 4 i .. 4 i + 3 of the weight.

@group(0) @binding(WEIGHT_BINDING) var<storage, read> weight: array<vec2<u32>>;

fn weight4_at(i: u32) -> vec4<f32> {
  let h = weight[i];
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
}
