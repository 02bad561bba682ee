// The activation gradient of a Linear layer for few rows, register-tiled, no workgroup memory and
// no barriers:
//   dinp[m, k] = (ACCUMULATE ? dinp[m, k] : 0) + scale * sum_n dout[m, n] * weight[n, k]
// dout: [M, N]; weight: [N, K] (row-major, the nn.Linear layout: "NN"); dinp: [M, K].
//
// Each invocation owns a 4 x 4 block of dinp: rows 4 r .. 4 r + 3 and columns 4 c .. 4 c + 3,
// accumulated in registers while it walks N; each weight row segment it loads (four consecutive
// columns) serves four rows and each dout value four columns. With M of 1 to 8 there are few rows
// to share, so staging tiles through workgroup memory (matmul_backward.wgsl) would only add barriers.
// Invocation index i (the entry point of lib/grid_1d.wgsl) covers c = i % ceil(K / 4),
// r = i / ceil(K / 4).
//
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight_at(i) is element i of the [N, K] weight, widened to f32 as read.
// The products and sums are f32 whatever the format.
//
// CONTINUE_SUM (with ACCUMULATE and scale 1): dinp holds this product's sum over an earlier block
// of n (a split LM head's earlier blocks of the vocabulary, src/model/ends.ts), and the sum goes on
// from it instead of from zero, so that the blocks, launched in order, give the bits of the whole
// product in one launch.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<uniform> params: Params;

override ACCUMULATE: bool = false;
override CONTINUE_SUM: bool = false;

fn invocations() -> u32 { return ((params.K + 3u) / 4u) * ((params.M + 3u) / 4u); }

fn element(i: u32) {
  let col_blocks = (params.K + 3u) / 4u;
  let k0 = (i % col_blocks) * 4u;
  let m0 = (i / col_blocks) * 4u;
  let N = params.N;
  let K = params.K;

  // Rows and columns past M or K are clamped to the last valid one while reading and skipped
  // when writing, so the loop needs no bounds checks.
  var col: array<u32, 4>;
  var d_row: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) {
    col[j] = min(k0 + j, K - 1u);
    d_row[j] = mn_index(min(m0 + j, params.M - 1u), 0u);
  }

  var acc: array<vec4<f32>, 4>;  // acc[row][column]
  if (CONTINUE_SUM) {
    for (var r = 0u; r < 4u; r++) {
      let row = min(m0 + r, params.M - 1u) * K;
      acc[r] = vec4<f32>(dinp[row + col[0]], dinp[row + col[1]], dinp[row + col[2]], dinp[row + col[3]]);
    }
  }
  for (var n = 0u; n < N; n++) {
    let base = n * K;
    let w = vec4<f32>(weight_at(base + col[0]), weight_at(base + col[1]), weight_at(base + col[2]), weight_at(base + col[3]));
    for (var r = 0u; r < 4u; r++) {
      acc[r] = fma(vec4<f32>(dout[d_row[r] + n]), w, acc[r]);
    }
  }

  for (var r = 0u; r < 4u; r++) {
    let m = m0 + r;
    if (m >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + j;
      if (k >= K) { break; }
      var v = params.scale * acc[r][j];
      if (ACCUMULATE && !CONTINUE_SUM) { v += dinp[m * K + k]; }
      dinp[m * K + k] = v;
    }
  }
}
