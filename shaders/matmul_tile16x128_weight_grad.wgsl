// Pass 1 of the split weight gradient (matmul-weight-grad-split.ts): partial sums of
//   dweight[n, k] = sum_m dout[m, n] * inp[m, k]
// over chunks of the rows, written to a scratch buffer that pass 2 (matmul_weight_grad_reduce)
// adds up in a fixed order:
//   partials[s, n, k] = sum_{m in chunk s} dout[m, n] * inp[m, k]
// chunk s = rows [s * split, min(M, (s + 1) * split)) (params.split: rows per chunk), empty (all zeros) when it
// starts at or past M. dout: [M, N]; inp: [M, K]; partials: [S, N, K]; all f32, row-major. No scale,
// no accumulation here: pass 2 applies both.
//
// For LoRA one side of dweight is the rank R (8..64) and the other a model width: dA has N = R,
// dB has K = R. Each workgroup (256 invocations) computes a THIN x WIDE = 16 x 128 tile of one
// chunk's partial sums, the 16 along the thin side of dweight: along n when K_THIN is false (tile
// = rows n0..n0+15, columns k0..k0+127), along k when K_THIN is true (rows n0..n0+127, columns
// k0..k0+15). The launcher picks the orientation with fewer tiles. Inside the tile an output is
// addressed as (a, b), a along the thin side and b along the wide side; the operand whose columns
// run along the thin side is the "thin operand" (dout, or inp when K_THIN), the other the "wide".
// Invocation t holds 2 x 4 accumulators, (a, b) = (ta + 8 i, tb + 32 j) for i in 0..1, j in 0..3,
// with (ta, tb) = (t / 32, t % 32), or (t % 8, t / 8) when K_THIN so that neighbouring invocations
// write neighbouring addresses of partials (the thin side is then the contiguous k).
// The chunk is walked TM = 16 rows at a time: the 16 x 16 slice of the thin operand and the
// 16 x 128 slice of the wide one are staged in workgroup memory (2304 f32, 9 KiB: within the
// 16 KiB every WebGPU device offers), each row's consecutive columns by consecutive invocations,
// zero-filled past the chunk's end, N or K, so any M, N, K work.
//
// Grid: x = tiles along K, y = tiles along N, z = the chunk s (x, y, z each at most 65535; the
// launcher checks). Every partial is summed by one invocation in row order: the same bits on
// every run, no atomics. Barriers sit in control flow that depends only on workgroup_id and params.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> partials: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// The thin (16-wide) side of the tile runs along k (true, dB: K = R) or along n (false, dA: N = R).
override K_THIN: bool = false;

const THIN: u32 = 16u;   // outputs of the tile along the thin side
const WIDE: u32 = 128u;  // outputs of the tile along the wide side
const TM: u32 = 16u;     // rows of M per staged slice
const WG: u32 = 256u;    // invocations per workgroup
const WIDE_LOADS: u32 = TM * WIDE / WG;  // values of the wide slice each invocation stages (8)

var<workgroup> tile_thin: array<f32, TM * THIN>;  // [16 rows m][16 thin columns]
var<workgroup> tile_wide: array<f32, TM * WIDE>;  // [16 rows m][128 wide columns]

// Column c of row m of the thin operand (the caller checks m < M and c < its column count).
fn load_thin(m: u32, c: u32) -> f32 {
  if (K_THIN) { return inp[m * params.K + c]; }
  return dout[m * params.N + c];
}

// Column c of row m of the wide operand (the caller checks m < M and c < its column count).
fn load_wide(m: u32, c: u32) -> f32 {
  if (K_THIN) { return dout[m * params.N + c]; }
  return inp[m * params.K + c];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let N = params.N;
  let K = params.K;
  // Columns of the thin and wide operands, and where this tile starts along each side.
  let thin_cols = select(N, K, K_THIN);
  let wide_cols = select(K, N, K_THIN);
  let a0 = select(wid.y, wid.x, K_THIN) * THIN;
  let b0 = select(wid.x, wid.y, K_THIN) * WIDE;
  let s = wid.z;
  let m_begin = s * params.split;
  let m_end = min(params.M, m_begin + params.split);

  let ta = select(t / 32u, t % 8u, K_THIN);
  let tb = select(t % 32u, t / 8u, K_THIN);

  var acc0 = vec4<f32>(0.0);  // a = ta, b = tb + 32 j
  var acc1 = vec4<f32>(0.0);  // a = ta + 8, b = tb + 32 j

  for (var m0 = m_begin; m0 < m_end; m0 += TM) {
    // The thin slice: invocation t stages row t / 16, column t % 16.
    let thin_row = t / THIN;
    let thin_col = a0 + t % THIN;
    var v = 0.0;
    if (m0 + thin_row < m_end && thin_col < thin_cols) { v = load_thin(m0 + thin_row, thin_col); }
    tile_thin[t] = v;
    // The wide slice: invocation t stages column t % 128 of rows t / 128 + 2 l.
    let wide_col = b0 + t % WIDE;
    for (var l = 0u; l < WIDE_LOADS; l++) {
      let row = t / WIDE + l * (WG / WIDE);
      var w = 0.0;
      if (m0 + row < m_end && wide_col < wide_cols) { w = load_wide(m0 + row, wide_col); }
      tile_wide[row * WIDE + t % WIDE] = w;
    }
    workgroupBarrier();

    for (var r = 0u; r < TM; r++) {
      let base = r * WIDE;
      let w = vec4<f32>(tile_wide[base + tb], tile_wide[base + tb + 32u], tile_wide[base + tb + 64u], tile_wide[base + tb + 96u]);
      acc0 = fma(vec4<f32>(tile_thin[r * THIN + ta]), w, acc0);
      acc1 = fma(vec4<f32>(tile_thin[r * THIN + ta + 8u]), w, acc1);
    }
    workgroupBarrier();
  }

  let out0 = s * N * K;
  for (var i = 0u; i < 2u; i++) {
    let a = a0 + ta + 8u * i;
    if (a >= thin_cols) { break; }
    let acc = select(acc0, acc1, i == 1u);
    for (var j = 0u; j < 4u; j++) {
      let b = b0 + tb + 32u * j;
      if (b < wide_cols) {
        let n = select(a, b, K_THIN);
        let k = select(b, a, K_THIN);
        partials[out0 + n * K + k] = acc[j];
      }
    }
  }
}
