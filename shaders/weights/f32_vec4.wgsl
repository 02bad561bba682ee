// Weight format f32, read four elements at a time: a frozen weight stored as 32-bit floats, bound
// as vec4 values (the kernel's rows have a multiple of 4 elements). The kernel declares
// WEIGHT_BINDING, the binding slot of the weight.
//   weight4_at(i) = elements 4 i .. 4 i + 3 of the weight.

@group(0) @binding(WEIGHT_BINDING) var<storage, read> weight: array<vec4<f32>>;

fn weight4_at(i: u32) -> vec4<f32> {
  return weight[i];
}
