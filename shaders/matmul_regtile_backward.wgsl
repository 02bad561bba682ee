// The activation gradient of a Linear layer, register-tiled from storage with vec4 loads, no
// workgroup memory and no barriers (the variant for CPU Vulkan drivers, where barriers are slow):
//   dinp[m, k] = (ACCUMULATE ? dinp[m, k] : 0) + scale * sum_n dout[m, n] * weight[n, k]
// dout: [M, N]; weight: [N, K] (row-major, the nn.Linear layout, used as stored: "NN"); dinp: [M, K].
// K must be a multiple of 4: weight is read as rows of K / 4 vec4 values.
//
// Each invocation owns a 4 x 4 block of dinp: rows 4 r .. 4 r + 3 and columns 4 c .. 4 c + 3. Per
// n it loads one vec4 of the weight row (columns 4 c .. 4 c + 3) and four dout values, and adds
// their 16 products. Rows past M are clamped to the last valid one while reading and skipped when
// writing, so the loop needs no bounds checks.
// Invocation index i = gid.x + gid.y * (num_workgroups.x * 64) covers c = i % (K / 4),
// r = i / (K / 4).
//
// The weight may be stored as f32 or as f16 (two halves per 32-bit word, element 2i in the low
// half; four consecutive halves are one vec2<u32>): the launcher binds the same buffer as `weight`
// and as `weight_f16` and sets WEIGHT_F16; weight4 reads whichever the override names (the other
// binding is never read). Either way the products and sums are f32.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dinp: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> weight_f16: array<vec2<u32>>;
@group(0) @binding(4) var<uniform> params: Params;

override ACCUMULATE: bool = false;
override WEIGHT_F16: u32 = 0u;

const WG: u32 = 64u;

// Elements 4 i .. 4 i + 3 of the weight, row-major [N, K], from whichever storage it has.
fn weight4(i: u32) -> vec4<f32> {
  if (WEIGHT_F16 != 0u) {
    let h = weight_f16[i];
    return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
  }
  return weight[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K4 = params.K / 4u;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= K4 * ((M + 3u) / 4u)) { return; }
  let c = i % K4;
  let m0 = (i / K4) * 4u;

  let d0 = min(m0, M - 1u) * N;
  let d1 = min(m0 + 1u, M - 1u) * N;
  let d2 = min(m0 + 2u, M - 1u) * N;
  let d3 = min(m0 + 3u, M - 1u) * N;

  var a0 = vec4<f32>(0.0);  // a<r>: dinp row m0 + r, columns 4 c .. 4 c + 3
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var n = 0u; n < N; n++) {
    let w = weight4(n * K4 + c);
    a0 = fma(vec4<f32>(dout[d0 + n]), w, a0);
    a1 = fma(vec4<f32>(dout[d1 + n]), w, a1);
    a2 = fma(vec4<f32>(dout[d2 + n]), w, a2);
    a3 = fma(vec4<f32>(dout[d3 + n]), w, a3);
  }

  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + r;
    if (m >= M) { break; }
    var v = params.scale * acc[r];
    if (ACCUMULATE) { v += dinp[m * K4 + c]; }
    dinp[m * K4 + c] = v;
  }
}
