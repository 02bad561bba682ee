// The activation gradient of a Linear layer, 128 x 128 tiles with 8 x 8 register blocks:
//   dinp[m, k] = (ACCUMULATE ? dinp[m, k] : 0) + scale * sum_n dout[m, n] * weight[n, k]
// dout: [M, N]; weight: [N, K] (row-major, the nn.Linear layout, used as stored: "NN"); dinp: [M, K].
// N and K must be positive multiples of 4 (rows of dout and weight are read as vec4, dinp is
// written as vec4); M is free.
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight4_at(i) is elements 4 i .. 4 i + 3 of
// the [N, K] weight, widened to f32 as read. The products and sums are f32 whatever the format.
//
// The same scheme as matmul_tile128_forward.wgsl, with the reduction over n instead of k. A
// workgroup of 256 invocations computes one 128 x 128 tile of dinp; invocation (tx, ty) holds rows
// 4 ty + i and 64 + 4 ty + i, columns 4 tx + j and 64 + 4 tx + j (i, j in 0..3) in 16 vec4
// registers, and per n reads two vec4 of each staged slice and makes 64 FMAs. Within each 32-wide
// subgroup tx spans 8 values and ty 4: one n reads 8 distinct vec4 of weight (128 contiguous
// bytes) and 4 of dout (broadcast), and the 8 tx of one row store 128 contiguous bytes of dinp.
//
// Staging, N in slices of STEP = 16, both slices n-major in workgroup memory:
//  - dout (128 rows x 16 n, n contiguous in memory): invocation t loads n values 4 (t % 4) .. + 3
//    of rows t / 4 and t / 4 + 64 with one vec4 each and transposes them into slots [n][row / 4],
//    the vec4 column swizzled as (row / 4) ^ 2 (n / 4) so that a subgroup's 32 scalar stores hit 32
//    distinct banks (the forward kernel's inp slice, exactly).
//  - weight (16 n x 128 columns, columns contiguous in memory, so already n-major): invocation t
//    loads vec4 t % 32 of rows n = t / 32 and t / 32 + 8; a subgroup reads 512 contiguous bytes and
//    stores 32 consecutive vec4 unchanged.
// Rows past M, n past N and columns past K are staged as zeros. Two copies of each slice
// (32 KiB in all): the loads of slice s + 1 are in flight while the FMAs run on slice s, and one
// barrier per slice separates the reads of one copy from the next writes to it.
//
// Tiles of dinp are addressed as column tile workgroup_id.x and row tile
// workgroup_id.y + workgroup_id.z * num_workgroups.y, so more than 65535 row tiles still fit.
//
// HAS_LORA adds a LoRA projection's second input-gradient term in the same launch, once du is
// computed:
//   dinp[m, k] += lora_scale * sum_r du[m, r] * lora_a[r, k]
// du: [M, R]; lora_a: [R, K] (any R > 0; rows of lora_a read as vec4). Each invocation adds it to
// its 64 outputs in the epilogue, straight from storage (R is 8 to 64, lora_a is shared by the
// whole grid). It gives the bits of the launch it replaces, this kernel (or matmul_backward) with
// N = R, dout = du, weight = lora_a, scale = lora_scale and ACCUMULATE: FMAs in r order from
// zero, t = lora_scale * l, then t + the value stored before. Without HAS_LORA the launcher binds
// operands already bound (at least one vec4) in the du and lora_a slots; they are never read.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> dinp: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dout: array<vec4<f32>>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<storage, read> du: array<f32>;
@group(0) @binding(4) var<storage, read> lora_a: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> params: Params;

override ACCUMULATE: bool = false;
override HAS_LORA: bool = false;

// TILE, STEP (n per staged slice), ROW4, SLICE, slot() and load_w() are lib/matmul_tile128.wgsl's.
var<workgroup> tile_dout: array<vec4<f32>, 2u * SLICE>;  // [copy][n][row / 4], swizzled
var<workgroup> tile_w: array<vec4<f32>, 2u * SLICE>;     // [copy][n][column / 4]

// dout[m, 4 nv .. 4 nv + 3], or zeros past M or N.
fn load_dout(m: u32, nv: u32) -> vec4<f32> {
  let N4 = params.N / 4u;
  if (m >= params.M || nv >= N4) { return vec4<f32>(0.0); }
  return dout[mn_index(m, 0u) / 4u + nv];  // ld and col0 are multiples of 4 here
}

// Writes the four n of v (row `row` of the dout slice, n = 4 c .. 4 c + 3) into copy `base`.
fn stage_dout(base: u32, row: u32, c: u32, v: vec4<f32>) {
  for (var e = 0u; e < 4u; e++) { tile_dout[base + slot(4u * c + e, row / 4u)][row % 4u] = v[e]; }
}

// dinp[m, 4 kv .. 4 kv + 3] = scale * v (+ the old value) (+ the LoRA term), when m < M and kv < K / 4.
fn store4(m: u32, kv: u32, v: vec4<f32>) {
  let K4 = params.K / 4u;
  if (m >= params.M || kv >= K4) { return; }
  var y = params.scale * v;
  if (ACCUMULATE) { y += dinp[m * K4 + kv]; }
  if (HAS_LORA) {
    var l = vec4<f32>(0.0);
    for (var r = 0u; r < params.R; r++) { l = fma(vec4<f32>(du[m * params.R + r]), lora_a[r * K4 + kv], l); }
    // As the separate launch would: t = lora_scale * l, then t += the stored y.
    var t = params.lora_scale * l;
    t += y;
    y = t;
  }
  dinp[m * K4 + kv] = y;
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lidx: u32,
) {
  let m0 = (wid.y + wid.z * nwg.y) * TILE;
  let kv0 = wid.x * ROW4;  // first vec4 column of the tile
  // Uniform per workgroup (workgroup_id, num_workgroups and params only), so barriers stay uniform.
  if (m0 >= params.M) { return; }

  // Compute mapping: within each 32 invocations, tx takes 8 values and ty 4.
  let lane = lidx % 32u;
  let sg = lidx / 32u;
  let tx = lane % 8u + 8u * (sg % 2u);
  let ty = lane / 8u + 4u * (sg / 2u);
  // Staging mappings: dout rows dr and dr + 64, n vec4 dc; weight rows wn and wn + 8, column vec4 wc.
  let dr = lidx / 4u;
  let dc = lidx % 4u;
  let wn = lidx / ROW4;
  let wc = lidx % ROW4;

  let slices = (params.N + STEP - 1u) / STEP;
  var pd0 = load_dout(m0 + dr, dc);
  var pd1 = load_dout(m0 + dr + 64u, dc);
  var pw0 = load_w(wn, kv0 + wc);
  var pw1 = load_w(wn + 8u, kv0 + wc);
  stage_dout(0u, dr, dc, pd0);
  stage_dout(0u, dr + 64u, dc, pd1);
  tile_w[wn * ROW4 + wc] = pw0;
  tile_w[(wn + 8u) * ROW4 + wc] = pw1;
  workgroupBarrier();

  // s<i><h>: dinp row (i < 4 ? 4 ty + i : 64 + 4 ty + i - 4), columns 4 tx + 64 h .. + 3.
  var s00 = vec4<f32>(0.0); var s01 = vec4<f32>(0.0);
  var s10 = vec4<f32>(0.0); var s11 = vec4<f32>(0.0);
  var s20 = vec4<f32>(0.0); var s21 = vec4<f32>(0.0);
  var s30 = vec4<f32>(0.0); var s31 = vec4<f32>(0.0);
  var s40 = vec4<f32>(0.0); var s41 = vec4<f32>(0.0);
  var s50 = vec4<f32>(0.0); var s51 = vec4<f32>(0.0);
  var s60 = vec4<f32>(0.0); var s61 = vec4<f32>(0.0);
  var s70 = vec4<f32>(0.0); var s71 = vec4<f32>(0.0);

  for (var s = 0u; s < slices; s++) {
    let cur = (s % 2u) * SLICE;
    let more = s + 1u < slices;
    if (more) {
      let n1 = (s + 1u) * STEP;
      pd0 = load_dout(m0 + dr, n1 / 4u + dc);
      pd1 = load_dout(m0 + dr + 64u, n1 / 4u + dc);
      pw0 = load_w(n1 + wn, kv0 + wc);
      pw1 = load_w(n1 + wn + 8u, kv0 + wc);
    }

    for (var n = 0u; n < STEP; n++) {
      let a0 = tile_dout[cur + slot(n, ty)];
      let a1 = tile_dout[cur + slot(n, ty + 16u)];
      let b0 = tile_w[cur + n * ROW4 + tx];
      let b1 = tile_w[cur + n * ROW4 + tx + 16u];
      s00 = fma(vec4<f32>(a0.x), b0, s00); s01 = fma(vec4<f32>(a0.x), b1, s01);
      s10 = fma(vec4<f32>(a0.y), b0, s10); s11 = fma(vec4<f32>(a0.y), b1, s11);
      s20 = fma(vec4<f32>(a0.z), b0, s20); s21 = fma(vec4<f32>(a0.z), b1, s21);
      s30 = fma(vec4<f32>(a0.w), b0, s30); s31 = fma(vec4<f32>(a0.w), b1, s31);
      s40 = fma(vec4<f32>(a1.x), b0, s40); s41 = fma(vec4<f32>(a1.x), b1, s41);
      s50 = fma(vec4<f32>(a1.y), b0, s50); s51 = fma(vec4<f32>(a1.y), b1, s51);
      s60 = fma(vec4<f32>(a1.z), b0, s60); s61 = fma(vec4<f32>(a1.z), b1, s61);
      s70 = fma(vec4<f32>(a1.w), b0, s70); s71 = fma(vec4<f32>(a1.w), b1, s71);
    }

    if (more) {
      let next = SLICE - cur;
      stage_dout(next, dr, dc, pd0);
      stage_dout(next, dr + 64u, dc, pd1);
      tile_w[next + wn * ROW4 + wc] = pw0;
      tile_w[next + (wn + 8u) * ROW4 + wc] = pw1;
    }
    workgroupBarrier();
  }

  let r = m0 + 4u * ty;
  let c0 = kv0 + tx;
  let c1 = c0 + 16u;
  store4(r, c0, s00); store4(r, c1, s01);
  store4(r + 1u, c0, s10); store4(r + 1u, c1, s11);
  store4(r + 2u, c0, s20); store4(r + 2u, c1, s21);
  store4(r + 3u, c0, s30); store4(r + 3u, c1, s31);
  store4(r + 64u, c0, s40); store4(r + 64u, c1, s41);
  store4(r + 65u, c0, s50); store4(r + 65u, c1, s51);
  store4(r + 66u, c0, s60); store4(r + 66u, c1, s61);
  store4(r + 67u, c0, s70); store4(r + 67u, c1, s71);
}
