// The weight gradient of a Linear layer, a reduction over the rows ("TN"), register-tiled:
//   dweight[n, k] = (ACCUMULATE ? dweight[n, k] : 0) + scale * sum_m dout[m, n] * inp[m, k]
// dout: [M, N]; inp: [M, K]; dweight: [N, K] (row-major, the nn.Linear layout).
// For LoRA it gives dB (N = output features, K = R, inp = u = x·Aᵀ) and dA (N = R, K = input
// features, dout = du, inp = x). The output is small and M (B·T) is large.
//
// Each workgroup computes one 64 x 64 tile of dweight with 16 x 16 invocations. Invocation
// (tx, ty) holds a 4 x 4 block of accumulators in registers: rows ty + 16 i and columns tx + 16 j
// of the tile (i, j in 0..3), so neighbouring invocations write neighbouring columns. The
// reduction walks M in chunks of 32 rows: the 32 x 64 slices of dout (columns n of the tile) and
// of inp (columns k of the tile) are staged in workgroup memory (2 x 8 KiB) as they lie in memory,
// 64 consecutive values of a row per 64 invocations, zero-filled past M, N or K, so any M, N and
// K work, M = 0 included (dweight is then only scaled-and-kept or zeroed). The inner loop reads two
// dout values (broadcast) and 16 consecutive inp values per 32 invocations: no bank conflicts.
//
// Every output is summed by one invocation in a fixed order (no atomics, no split of M across
// workgroups), so results are the same on every run.
// Tiles of dweight are addressed as column tile workgroup_id.x and row tile
// workgroup_id.y + workgroup_id.z * num_workgroups.y.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override ACCUMULATE: bool = false;

const TILE: u32 = 64u;  // rows and columns of dweight per workgroup
const TM: u32 = 32u;    // rows of dout and inp per staged chunk
const SIDE: u32 = 16u;  // invocations per side of the workgroup
const LOADS: u32 = TM * TILE / (SIDE * SIDE);  // values of each chunk staged by one invocation

var<workgroup> tile_dout: array<f32, TM * TILE>;  // [32 rows m][64 columns n]
var<workgroup> tile_inp: array<f32, TM * TILE>;   // [32 rows m][64 columns k]

@compute @workgroup_size(SIDE, SIDE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) lidx: u32,
) {
  let n0 = (wid.y + wid.z * nwg.y) * TILE;
  let k0 = wid.x * TILE;
  // Uniform per workgroup (workgroup_id, num_workgroups and params only), so barriers stay uniform.
  if (n0 >= params.N) { return; }
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tx = lid.x;
  let ty = lid.y;

  // While staging, invocation lidx copies column lidx % 64 of chunk rows lidx / 64 + 4 l.
  let load_col = lidx % TILE;
  let load_row = lidx / TILE;

  var acc: array<vec4<f32>, 4>;  // acc[i][j]: dweight row n0 + ty + 16 i, column k0 + tx + 16 j
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var m0 = 0u; m0 < M; m0 += TM) {
    for (var l = 0u; l < LOADS; l++) {
      let row = load_row + l * (SIDE * SIDE / TILE);
      let m = m0 + row;
      var d = 0.0;
      if (m < M && n0 + load_col < N) { d = dout[m * N + n0 + load_col]; }
      tile_dout[row * TILE + load_col] = d;
      var x = 0.0;
      if (m < M && k0 + load_col < K) { x = inp[m * K + k0 + load_col]; }
      tile_inp[row * TILE + load_col] = x;
    }
    workgroupBarrier();

    for (var r = 0u; r < TM; r++) {
      let base = r * TILE;
      let b = vec4<f32>(
        tile_inp[base + tx],
        tile_inp[base + tx + 16u],
        tile_inp[base + tx + 32u],
        tile_inp[base + tx + 48u],
      );
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(tile_dout[base + ty + 16u * i]), b, acc[i]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let n = n0 + ty + 16u * i;
    if (n >= N) { break; }
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + tx + 16u * j;
      if (k < K) {
        var v = params.scale * acc[i][j];
        if (ACCUMULATE) { v += dweight[n * K + k]; }
        dweight[n * K + k] = v;
      }
    }
  }
}
