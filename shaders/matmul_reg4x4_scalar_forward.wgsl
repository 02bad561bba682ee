// Matrix multiply for few rows (decoding one token per sequence), register-tiled, no workgroup
// memory and no barriers:
//   out[m, n] = sum_k inp[m, k] * weight[n, k]  (+ bias[n] when HAS_BIAS)
// inp: [M, K]; weight: [N, K] (row-major, the Hugging Face nn.Linear layout); bias: [N]; out: [M, N].
//
// Each invocation owns a 4 x 4 block of out: rows 4 r .. 4 r + 3 and columns 4 c .. 4 c + 3,
// accumulated in registers while it walks K; each weight value it loads serves four rows and each
// input value four columns. With M of 1 to 8 there are few rows to share, so staging tiles through
// workgroup memory (matmul_forward.wgsl) would only add barriers.
// Invocation index i (the entry point of lib/grid_1d.wgsl) covers c = i % ceil(N / 4),
// r = i / ceil(N / 4).
//
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight_at(i) is element i of the [N, K] weight, widened to f32 as read.
// The products and sums are f32 whatever the format.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override HAS_BIAS: bool = false;

fn invocations() -> u32 { return ((params.N + 3u) / 4u) * ((params.M + 3u) / 4u); }

fn element(i: u32) {
  let col_blocks = (params.N + 3u) / 4u;
  let n0 = (i % col_blocks) * 4u;
  let m0 = (i / col_blocks) * 4u;
  let K = params.K;

  // Rows and columns past M or N are clamped to the last valid one while reading and skipped
  // when writing, so the loop needs no bounds checks.
  var w_row: array<u32, 4>;
  var x_row: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) {
    w_row[j] = min(n0 + j, params.N - 1u) * K;
    x_row[j] = min(m0 + j, params.M - 1u) * K;
  }

  var acc: array<vec4<f32>, 4>;  // acc[row][column]
  for (var k = 0u; k < K; k++) {
    let w = vec4<f32>(weight_at(w_row[0] + k), weight_at(w_row[1] + k), weight_at(w_row[2] + k), weight_at(w_row[3] + k));
    for (var r = 0u; r < 4u; r++) {
      acc[r] += inp[x_row[r] + k] * w;
    }
  }

  for (var r = 0u; r < 4u; r++) {
    let m = m0 + r;
    if (m >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= params.N) { break; }
      var y = acc[r][j];
      if (HAS_BIAS) { y += bias[n]; }
      out[mn_index(m, n)] = y;
    }
  }
}
