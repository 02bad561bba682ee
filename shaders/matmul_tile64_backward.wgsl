// The activation gradient of a Linear layer, register-tiled:
//   dinp[m, k] = (ACCUMULATE ? dinp[m, k] : 0) + scale * sum_n dout[m, n] * weight[n, k]
// dout: [M, N]; weight: [N, K] (row-major, the nn.Linear layout, used as stored: "NN"); dinp: [M, K].
//
// Each workgroup computes one 64 x 64 tile of dinp with 16 x 16 invocations. Invocation (tx, ty)
// holds a 4 x 4 block of accumulators in registers: rows ty + 16 i and columns tx + 16 j of the
// tile (i, j in 0..3), so neighbouring invocations write neighbouring columns of dinp. The
// reduction walks N in steps of 32: a 64 x 32 slice of dout (64 rows of the tile, 32 values of n)
// and a 32 x 64 slice of weight (32 values of n, 64 columns of the tile) are staged in workgroup
// memory (2 x 8 KiB), zero-filled past M, N or K, so any M, N and K work, N = 1 included.
//
// The dout slice is stored row-major with the column swizzled as n ^ (row % 32), so the 32
// consecutive n of one row written while staging, and the two rows read at once by the inner
// loop, fall in distinct banks. The weight slice is stored as it is laid out in memory
// (n-major); the inner loop reads 16 consecutive columns of it, which needs no swizzle.
//
// Tiles of dinp are addressed as column tile workgroup_id.x and row tile
// workgroup_id.y + workgroup_id.z * num_workgroups.y, so more than 65535 row tiles still fit.
//
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight_at(i) is element i of the [N, K] weight, widened to f32 as read.
// The products and sums are f32 whatever the format.
//
// HAS_LORA adds a LoRA projection's second input-gradient term in the same launch, once du is
// computed:
//   dinp[m, k] += lora_scale * sum_r du[m, r] * lora_a[r, k]
// du: [M, R]; lora_a: [R, K]; any R > 0. Each invocation adds it to its 16 outputs in the
// epilogue, straight from storage, with the bits of the launch it replaces (this kernel or
// matmul_tile128_backward with N = R, dout = du, weight = lora_a, scale = lora_scale and
// ACCUMULATE): FMAs in r order from zero, t = lora_scale * l, then t + the value stored before.
// Without HAS_LORA the launcher binds operands already bound in the du and lora_a slots; they are
// never read.
//
// SPLIT_N splits the reduction over n across workgroups, for products with few output tiles and a
// long reduction (the LM head's dh = dlogits·E: 64 rows, n over the whole vocabulary): workgroup
// z = s sums n in [s * split, min(N, (s + 1) * split)) (params.split: n per slice) and writes the plain sum into
// slice s of `dinp`, which is then a [S, M, K] partials buffer (no scale, no ACCUMULATE, no
// HAS_LORA); matmul_split_reduce adds the slices in order into the real output. Row tiles are
// then workgroup_id.y alone.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<storage, read> du: array<f32>;
@group(0) @binding(4) var<storage, read> lora_a: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

override ACCUMULATE: bool = false;
override HAS_LORA: bool = false;
override SPLIT_N: bool = false;

const TILE: u32 = 64u;  // rows and columns of dinp per workgroup
const TN: u32 = 32u;    // values of n per staged slice; the swizzle below needs exactly 32
const SIDE: u32 = 16u;  // invocations per side of the workgroup
const LOADS: u32 = TILE * TN / (SIDE * SIDE);  // values of each slice staged by one invocation

var<workgroup> tile_dout: array<f32, TILE * TN>;  // [64 rows][32 n], swizzled
var<workgroup> tile_w: array<f32, TN * TILE>;     // [32 n][64 columns]


// Position of (row, n) inside the staged dout slice.
fn slot(row: u32, n: u32) -> u32 {
  return row * TN + (n ^ (row & 31u));
}

@compute @workgroup_size(SIDE, SIDE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) lidx: u32,
) {
  var m0 = (wid.y + wid.z * nwg.y) * TILE;
  var n_begin = 0u;
  var n_end = params.N;
  if (SPLIT_N) {
    m0 = wid.y * TILE;
    n_begin = wid.z * params.split;
    n_end = min(params.N, n_begin + params.split);
  }
  let k0 = wid.x * TILE;
  // Uniform per workgroup (workgroup_id, num_workgroups and params only), so barriers stay uniform.
  if (m0 >= params.M) { return; }
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tx = lid.x;
  let ty = lid.y;

  // Staging dout: invocation lidx copies n = lidx % 32 of rows lidx / 32 + 8 l.
  let dn = lidx % TN;
  let drow = lidx / TN;
  // Staging weight: invocation lidx copies column lidx % 64 of n = lidx / 64 + 4 l.
  let wcol = lidx % TILE;
  let wn = lidx / TILE;

  var acc: array<vec4<f32>, 4>;  // acc[i][j]: dinp row m0 + ty + 16 i, column k0 + tx + 16 j
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var n0 = n_begin; n0 < n_end; n0 += TN) {
    for (var l = 0u; l < LOADS; l++) {
      let row = drow + l * (SIDE * SIDE / TN);
      var d = 0.0;
      if (m0 + row < M && n0 + dn < n_end) { d = dout[mn_index(m0 + row, n0 + dn)]; }
      tile_dout[slot(row, dn)] = d;
      let n = wn + l * (SIDE * SIDE / TILE);
      var w = 0.0;
      if (n0 + n < n_end && k0 + wcol < K) { w = weight_at((n0 + n) * K + k0 + wcol); }
      tile_w[n * TILE + wcol] = w;
    }
    workgroupBarrier();

    for (var n = 0u; n < TN; n++) {
      let b = vec4<f32>(
        tile_w[n * TILE + tx],
        tile_w[n * TILE + tx + 16u],
        tile_w[n * TILE + tx + 32u],
        tile_w[n * TILE + tx + 48u],
      );
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(tile_dout[slot(ty + 16u * i, n)]), b, acc[i]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty + 16u * i;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + tx + 16u * j;
      if (k < K && SPLIT_N) {
        dinp[wid.z * M * K + m * K + k] = acc[i][j];
      } else if (k < K) {
        var v = params.scale * acc[i][j];
        if (ACCUMULATE) { v += dinp[m * K + k]; }
        if (HAS_LORA) {
          var l = 0.0;
          for (var r = 0u; r < params.R; r++) { l = fma(du[m * params.R + r], lora_a[r * K + k], l); }
          // As the separate launch would: t = lora_scale * l, then t += the stored v.
          var t = params.lora_scale * l;
          t += v;
          v = t;
        }
        dinp[m * K + k] = v;
      }
    }
  }
}
