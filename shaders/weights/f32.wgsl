// Weight format f32, read element by element: a frozen weight stored as 32-bit floats.
// The kernel that composes this reader declares WEIGHT_BINDING, the binding slot of the weight.
//   weight_at(i) = element i of the weight (row-major, as the kernel indexes it).

@group(0) @binding(WEIGHT_BINDING) var<storage, read> weight: array<f32>;

fn weight_at(i: u32) -> f32 {
  return weight[i];
}
