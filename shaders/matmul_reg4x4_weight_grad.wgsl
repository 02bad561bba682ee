// The weight gradient of a Linear layer ("TN", a reduction over the rows), register-tiled from
// storage with vec4 loads, no workgroup memory and no barriers (the variant for CPU Vulkan
// drivers, where barriers are slow):
//   dweight[n, k] = (ACCUMULATE ? dweight[n, k] : 0) + scale * sum_m dout[m, n] * inp[m, k]
// dout: [M, N]; inp: [M, K]; dweight: [N, K] (row-major, the nn.Linear layout).
// N and K must be multiples of 4: dout and inp are read as rows of vec4 values.
//
// Each invocation owns a 4 x 4 block of dweight: rows 4 b .. 4 b + 3 and columns 4 c .. 4 c + 3.
// Per row m it loads one vec4 of dout (columns 4 b ..) and one of inp (columns 4 c ..) and adds
// their outer product. Every output is summed by one invocation in the order m = 0, 1, ... (no
// atomics, no split of M), so results are the same on every run; M = 0 only scales-and-keeps or
// zeroes dweight.
// Invocation index i (the entry point of lib/grid_1d.wgsl) covers c = i % (K / 4),
// b = i / (K / 4).

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> dweight: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> inp: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

override ACCUMULATE: bool = false;

fn invocations() -> u32 { return (params.K / 4u) * (params.N / 4u); }

fn element(i: u32) {
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let c = i % K4;
  let b = i / K4;

  var a0 = vec4<f32>(0.0);  // a<j>: dweight row 4 b + j, columns 4 c .. 4 c + 3
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var m = 0u; m < params.M; m++) {
    let d = dout[m * N4 + b];
    let x = inp[m * K4 + c];
    a0 = fma(vec4<f32>(d.x), x, a0);
    a1 = fma(vec4<f32>(d.y), x, a1);
    a2 = fma(vec4<f32>(d.z), x, a2);
    a3 = fma(vec4<f32>(d.w), x, a3);
  }

  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  for (var j = 0u; j < 4u; j++) {
    let o = (4u * b + j) * K4 + c;
    var v = params.scale * acc[j];
    if (ACCUMULATE) { v += dweight[o]; }
    dweight[o] = v;
  }
}
