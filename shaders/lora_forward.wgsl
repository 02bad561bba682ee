// The low-rank update of a LoRA-wrapped Linear layer, added in place to the frozen projection's
// output:
//   out[m, n] += scale * sum_r u[m, r] * lora_b[n, r]
// u: [M, R] (u = x·Aᵀ, computed before with matmul_forward); lora_b: [N, R] (row-major, the PEFT
// lora_B layout); out: [M, N], already holding x·Wᵀ (+ bias).
//
// R is small (1 to 64), so each invocation computes a 4 x 4 block of out straight from global
// memory: rows 4 p .. 4 p + 3 and columns 4 q .. 4 q + 3, with every u value it loads serving four
// columns and every lora_b value four rows. No workgroup memory and no barriers.
// Invocation index i (the entry point of lib/grid_1d.wgsl) covers q = i % ceil(N / 4),
// p = i / ceil(N / 4), so neighbouring invocations update neighbouring column blocks of one row block.

struct Params {
  M: u32,
  N: u32,
  R: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> lora_b: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn invocations() -> u32 { return ((params.N + 3u) / 4u) * ((params.M + 3u) / 4u); }

fn element(i: u32) {
  let col_blocks = (params.N + 3u) / 4u;
  let n0 = (i % col_blocks) * 4u;
  let m0 = (i / col_blocks) * 4u;
  let R = params.R;

  // Rows and columns past M or N are clamped to the last valid one while reading and skipped
  // when writing, so the loop needs no bounds checks.
  var b_row: array<u32, 4>;
  var u_row: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) {
    b_row[j] = min(n0 + j, params.N - 1u) * R;
    u_row[j] = min(m0 + j, params.M - 1u) * R;
  }

  var acc: array<vec4<f32>, 4>;  // acc[row][column]
  for (var r = 0u; r < R; r++) {
    let b = vec4<f32>(lora_b[b_row[0] + r], lora_b[b_row[1] + r], lora_b[b_row[2] + r], lora_b[b_row[3] + r]);
    for (var row = 0u; row < 4u; row++) {
      acc[row] = fma(vec4<f32>(u[u_row[row] + r]), b, acc[row]);
    }
  }

  for (var row = 0u; row < 4u; row++) {
    let m = m0 + row;
    if (m >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= params.N) { break; }
      out[m * params.N + n] += params.scale * acc[row][j];
    }
  }
}
