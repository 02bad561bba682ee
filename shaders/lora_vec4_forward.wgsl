// The low-rank update of a LoRA-wrapped Linear layer with vec4 loads, for ranks that are a
// multiple of 4 (r 4, 8, 16, 32, 64: the usual ones); the same update as lora_forward.wgsl:
//   out[m, n] += scale * sum_r u[m, r] * lora_b[n, r]
// u: [M, R] read as rows of R / 4 vec4 values; lora_b: [N, R] likewise; out: [M, N], already
// holding x·Wᵀ (+ bias).
//
// Each invocation computes a 4 x 4 block of out (rows 4 p .. 4 p + 3, columns 4 q .. 4 q + 3):
// per vec4 step of r it loads four u rows and four lora_b rows and makes 16 four-term dot
// products. No workgroup memory, no barriers. Rows and columns past M or N are clamped while
// reading and skipped when writing. Invocation index i = gid.x + gid.y * (num_workgroups.x * 64)
// covers q = i % ceil(N / 4), p = i / ceil(N / 4).

struct Params {
  M: u32,
  N: u32,
  R: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> lora_b: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let R4 = params.R / 4u;
  let col_blocks = (N + 3u) / 4u;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= col_blocks * ((M + 3u) / 4u)) { return; }
  let n0 = (i % col_blocks) * 4u;
  let m0 = (i / col_blocks) * 4u;

  let b0 = min(n0, N - 1u) * R4;
  let b1 = min(n0 + 1u, N - 1u) * R4;
  let b2 = min(n0 + 2u, N - 1u) * R4;
  let b3 = min(n0 + 3u, N - 1u) * R4;
  let u0 = min(m0, M - 1u) * R4;
  let u1 = min(m0 + 1u, M - 1u) * R4;
  let u2 = min(m0 + 2u, M - 1u) * R4;
  let u3 = min(m0 + 3u, M - 1u) * R4;

  var a0 = vec4<f32>(0.0);  // a<row>[j]: out row m0 + row, column n0 + j
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var r = 0u; r < R4; r++) {
    let c0 = lora_b[b0 + r];
    let c1 = lora_b[b1 + r];
    let c2 = lora_b[b2 + r];
    let c3 = lora_b[b3 + r];
    let x0 = u[u0 + r];
    let x1 = u[u1 + r];
    let x2 = u[u2 + r];
    let x3 = u[u3 + r];
    a0 += vec4<f32>(dot(x0, c0), dot(x0, c1), dot(x0, c2), dot(x0, c3));
    a1 += vec4<f32>(dot(x1, c0), dot(x1, c1), dot(x1, c2), dot(x1, c3));
    a2 += vec4<f32>(dot(x2, c0), dot(x2, c1), dot(x2, c2), dot(x2, c3));
    a3 += vec4<f32>(dot(x3, c0), dot(x3, c1), dot(x3, c2), dot(x3, c3));
  }

  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  for (var row = 0u; row < 4u; row++) {
    let m = m0 + row;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= N) { break; }
      out[m * N + n] += params.scale * acc[row][j];
    }
  }
}
