// Matrix multiply against a Linear layer's weight, 128 x 128 tiles with 8 x 8 register blocks:
//   out[m, n] = scale * sum_k inp[m, k] * weight[n, k]  (+ bias[n] when HAS_BIAS)
// inp: [M, K]; weight: [N, K] (row-major, the Hugging Face nn.Linear layout, used as stored); bias: [N];
// out: [M, N]. K must be a positive multiple of 4 (rows are read as vec4); M and N are free.
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight4_at(i) is elements 4 i .. 4 i + 3 of the
// [N, K] weight, widened to f32 as read.
// The products and sums are f32 whatever the format.
//
// Work split. A workgroup of 256 invocations computes one 128 x 128 tile of out. Invocation
// (tx, ty), both in 0..15, holds 8 x 8 accumulators in 16 vec4 registers: rows 4 ty + i and
// 64 + 4 ty + i, columns 4 tx + j and 64 + 4 tx + j (i, j in 0..3). Per k it reads two vec4 of the
// inp slice and two vec4 of the weight slice from workgroup memory and makes 64 FMAs: 16 FMAs per
// 16-byte read. Within each 32-wide subgroup tx spans 8 values and ty 4 (see the mapping in main),
// so one k reads 8 distinct vec4 of weight (128 contiguous bytes, one shared-memory wavefront on
// NVIDIA) and 4 distinct vec4 of inp (broadcast), and the 8 tx of one row store 128 contiguous
// bytes of out. (The strided layout, rows ty + 16 i and columns tx + 16 j, would need 16 scalar
// reads per k for the same 64 FMAs; 8 contiguous columns per invocation would spread one vec4 read
// of a subgroup over 256 bytes, two wavefronts. Two 4-wide halves 64 apart keep both reads whole.)
//
// Staging. K walks in slices of STEP = 16. A slice of inp (128 rows x 16 k) and one of weight
// (128 rows x 16 k) are loaded with vec4 global loads along k: invocation t loads k values
// 4 (t % 4) .. + 3 of rows t / 4 and t / 4 + 64, so four neighbouring invocations read one row's 64
// contiguous bytes and every fetched sector is used. Both slices are stored k-major in workgroup
// memory (slot [k][row / 4] holds rows row..row+3 at one k as a vec4), so the inner loop reads vec4s
// along m and n. The transpose writes scalars; the vec4 column is swizzled as (row / 4) ^ 2 (k / 4)
// so that the 32 scalar stores of one subgroup hit 32 distinct banks (without it, four of them
// share a bank), while the reads of one k stay a permutation of the same 8 (or 4) vec4s.
// Rows past M or N and k past K are staged as zeros, so edges need no other check.
//
// Double buffering: two copies of each slice (2 x 2 x 8 KiB = 32 KiB of workgroup memory). While
// the FMAs run on slice s, the loads of slice s + 1 are already in flight into registers; they are
// stored into the other copy after the FMAs, and one barrier per slice separates the reads of one
// copy from the next writes to it.
//
// Tiles of out are addressed as column tile workgroup_id.x and row tile
// workgroup_id.y + workgroup_id.z * num_workgroups.y, so more than 65535 row tiles still fit.
// When HAS_BIAS is false the launcher binds the weight buffer again in the bias slot; it is never read.
//
// HAS_LORA adds a LoRA projection's low-rank update in the same launch, once u = x·Aᵀ is computed:
//   out[m, n] += lora_scale * sum_r lora_u[m, r] * lora_b[n, r]
// lora_u: [M, R]; lora_b: [N, R]; R a positive multiple of 4 (rows read as vec4). Each invocation
// adds it to its 64 outputs in the epilogue, straight from storage (R is 8 to 64: at most 2 % of
// the FMAs of the tile's main loop at K >= 576, and the rows of lora_b are shared by the whole
// grid). It gives the bits of the launch it replaces, matmul_regtile_forward with K = R,
// ACCUMULATE and scale = lora_scale (lora.ts): the same vec4 dot products added in the same
// order, t = lora_scale * l, then t + the stored value. Without HAS_LORA the launcher binds an
// operand already bound (at least one vec4) in the lora_u and lora_b slots; they are never read.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<vec4<f32>>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> lora_u: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> lora_b: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> params: Params;

override HAS_BIAS: bool = false;
override HAS_LORA: bool = false;

// TILE, STEP (k per staged slice), ROW4, SLICE, slot() and load_w() are lib/matmul_tile128.wgsl's.
var<workgroup> tile_inp: array<vec4<f32>, 2u * SLICE>;  // [copy][k][row / 4], swizzled
var<workgroup> tile_w: array<vec4<f32>, 2u * SLICE>;    // [copy][k][row / 4], swizzled

// inp[m, 4 kv .. 4 kv + 3], or zeros past M or K.
fn load_inp(m: u32, kv: u32) -> vec4<f32> {
  let K4 = params.K / 4u;
  if (m >= params.M || kv >= K4) { return vec4<f32>(0.0); }
  return inp[m * K4 + kv];
}

// Writes the four k of v (row `row` of a slice, k = 4 c .. 4 c + 3) into copy `base` of a tile.
fn stage_inp(base: u32, row: u32, c: u32, v: vec4<f32>) {
  for (var e = 0u; e < 4u; e++) { tile_inp[base + slot(4u * c + e, row / 4u)][row % 4u] = v[e]; }
}
fn stage_w(base: u32, row: u32, c: u32, v: vec4<f32>) {
  for (var e = 0u; e < 4u; e++) { tile_w[base + slot(4u * c + e, row / 4u)][row % 4u] = v[e]; }
}

// HAS_LORA: l[j] = sum_r lora_u[m, r] * lora_b[n + j, r] (columns past N clamped to the last),
// as vec4 dot products added in r order.
fn lora4(m: u32, n: u32) -> vec4<f32> {
  let R4 = params.R / 4u;
  let last = params.N - 1u;
  let b0 = min(n, last) * R4;
  let b1 = min(n + 1u, last) * R4;
  let b2 = min(n + 2u, last) * R4;
  let b3 = min(n + 3u, last) * R4;
  var l = vec4<f32>(0.0);
  for (var k = 0u; k < R4; k++) {
    let u = lora_u[m * R4 + k];
    l += vec4<f32>(dot(u, lora_b[b0 + k]), dot(u, lora_b[b1 + k]), dot(u, lora_b[b2 + k]), dot(u, lora_b[b3 + k]));
  }
  return l;
}

// out[m, n .. n + 3] = scale * v (+ bias) (+ the low-rank update), for the columns below N, when m < M.
fn store4(m: u32, n: u32, v: vec4<f32>) {
  if (m >= params.M) { return; }
  var l = vec4<f32>(0.0);
  if (HAS_LORA) { l = lora4(m, n); }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < params.N) {
      var y = params.scale * v[j];
      if (HAS_BIAS) { y += bias[n + j]; }
      if (HAS_LORA) {
        // As the separate update would: t = lora_scale * l, then t += the stored y.
        var t = params.lora_scale * l[j];
        t += y;
        y = t;
      }
      out[mn_index(m, n + j)] = y;
    }
  }
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lidx: u32,
) {
  let m0 = (wid.y + wid.z * nwg.y) * TILE;
  let n0 = wid.x * TILE;
  // Uniform per workgroup (workgroup_id, num_workgroups and params only), so barriers stay uniform.
  if (m0 >= params.M) { return; }

  // Compute mapping: within each 32 invocations, tx takes 8 values and ty 4.
  let lane = lidx % 32u;
  let sg = lidx / 32u;
  let tx = lane % 8u + 8u * (sg % 2u);
  let ty = lane / 8u + 4u * (sg / 2u);
  // Staging mapping: rows lr and lr + 64 of the slice, k vec4 lc.
  let lr = lidx / 4u;
  let lc = lidx % 4u;

  let slices = (params.K + STEP - 1u) / STEP;
  var pa0 = load_inp(m0 + lr, lc);
  var pa1 = load_inp(m0 + lr + 64u, lc);
  var pw0 = load_w(n0 + lr, lc);
  var pw1 = load_w(n0 + lr + 64u, lc);
  stage_inp(0u, lr, lc, pa0);
  stage_inp(0u, lr + 64u, lc, pa1);
  stage_w(0u, lr, lc, pw0);
  stage_w(0u, lr + 64u, lc, pw1);
  workgroupBarrier();

  // s<i><h>: out row (i < 4 ? 4 ty + i : 64 + 4 ty + i - 4), columns 4 tx + 64 h .. + 3.
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
      let kv = (s + 1u) * (STEP / 4u) + lc;
      pa0 = load_inp(m0 + lr, kv);
      pa1 = load_inp(m0 + lr + 64u, kv);
      pw0 = load_w(n0 + lr, kv);
      pw1 = load_w(n0 + lr + 64u, kv);
    }

    for (var k = 0u; k < STEP; k++) {
      let a0 = tile_inp[cur + slot(k, ty)];
      let a1 = tile_inp[cur + slot(k, ty + 16u)];
      let b0 = tile_w[cur + slot(k, tx)];
      let b1 = tile_w[cur + slot(k, tx + 16u)];
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
      stage_inp(next, lr, lc, pa0);
      stage_inp(next, lr + 64u, lc, pa1);
      stage_w(next, lr, lc, pw0);
      stage_w(next, lr + 64u, lc, pw1);
    }
    workgroupBarrier();
  }

  let r = m0 + 4u * ty;
  let c0 = n0 + 4u * tx;
  let c1 = c0 + 64u;
  store4(r, c0, s00); store4(r, c1, s01);
  store4(r + 1u, c0, s10); store4(r + 1u, c1, s11);
  store4(r + 2u, c0, s20); store4(r + 2u, c1, s21);
  store4(r + 3u, c0, s30); store4(r + 3u, c1, s31);
  store4(r + 64u, c0, s40); store4(r + 64u, c1, s41);
  store4(r + 65u, c0, s50); store4(r + 65u, c1, s51);
  store4(r + 66u, c0, s60); store4(r + 66u, c1, s61);
  store4(r + 67u, c0, s70); store4(r + 67u, c1, s71);
}
