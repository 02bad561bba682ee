// Matrix multiply against a Linear layer's weight, register-tiled from storage with vec4 loads,
// no workgroup memory and no barriers (the variant for CPU Vulkan drivers, where barriers are slow):
//   out[m, n] = scale * sum_k inp[m, k] * weight[n, k]  (+ bias[n] when HAS_BIAS)
//   (+ the old out[m, n] when ACCUMULATE: with scale s, inp = u and weight = lora_B this is LoRA's
//   low-rank update out += s·u·Bᵀ, which lora.ts launches here when the rank is a multiple of 4)
// inp: [M, K]; weight: [N, K] (row-major, the Hugging Face nn.Linear layout); bias: [N]; out: [M, N].
// K must be a multiple of 4: inp and weight are read as rows of K / 4 vec4 values.
//
// Each invocation owns a 4 x 4 block of out: rows 4 r .. 4 r + 3 and columns 4 c .. 4 c + 3. Per
// step of four k it loads one vec4 of each of its four inp rows and four weight rows (8 loads) and
// makes 16 four-term dot products. Rows and columns past M or N are clamped to the last valid one
// while reading and skipped when writing, so the loop needs no bounds checks.
// Invocation index i = gid.x + gid.y * (num_workgroups.x * 64) covers c = i % ceil(N / 4),
// r = i / ceil(N / 4). When HAS_BIAS is false the launcher binds the weight buffer again in the
// bias slot; it is never read.
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

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> weight_f16: array<vec2<u32>>;
@group(0) @binding(5) var<uniform> params: Params;

override HAS_BIAS: bool = false;
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
  let col_blocks = (N + 3u) / 4u;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= col_blocks * ((M + 3u) / 4u)) { return; }
  let n0 = (i % col_blocks) * 4u;
  let m0 = (i / col_blocks) * 4u;

  let w0 = min(n0, N - 1u) * K4;
  let w1 = min(n0 + 1u, N - 1u) * K4;
  let w2 = min(n0 + 2u, N - 1u) * K4;
  let w3 = min(n0 + 3u, N - 1u) * K4;
  let x0 = min(m0, M - 1u) * K4;
  let x1 = min(m0 + 1u, M - 1u) * K4;
  let x2 = min(m0 + 2u, M - 1u) * K4;
  let x3 = min(m0 + 3u, M - 1u) * K4;

  var a0 = vec4<f32>(0.0);  // a<r>[j]: out row m0 + r, column n0 + j
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var k = 0u; k < K4; k++) {
    let b0 = weight4(w0 + k);
    let b1 = weight4(w1 + k);
    let b2 = weight4(w2 + k);
    let b3 = weight4(w3 + k);
    let r0 = inp[x0 + k];
    let r1 = inp[x1 + k];
    let r2 = inp[x2 + k];
    let r3 = inp[x3 + k];
    a0 += vec4<f32>(dot(r0, b0), dot(r0, b1), dot(r0, b2), dot(r0, b3));
    a1 += vec4<f32>(dot(r1, b0), dot(r1, b1), dot(r1, b2), dot(r1, b3));
    a2 += vec4<f32>(dot(r2, b0), dot(r2, b1), dot(r2, b2), dot(r2, b3));
    a3 += vec4<f32>(dot(r3, b0), dot(r3, b1), dot(r3, b2), dot(r3, b3));
  }

  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + r;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= N) { break; }
      var y = params.scale * acc[r][j];
      if (HAS_BIAS) { y += bias[n]; }
      if (ACCUMULATE) { y += out[m * N + n]; }
      out[m * N + n] = y;
    }
  }
}
