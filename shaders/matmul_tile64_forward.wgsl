// Matrix multiply against a Linear layer's weight, register-tiled:
//   out[m, n] = sum_k inp[m, k] * weight[n, k]  (+ bias[n] when HAS_BIAS)
// inp: [M, K]; weight: [N, K] (row-major, the Hugging Face nn.Linear layout); bias: [N]; out: [M, N].
//
// Each workgroup computes one 64 x 64 tile of out with 16 x 16 invocations. Invocation (tx, ty)
// holds a 4 x 4 block of accumulators in registers: rows ty + 16 i and columns tx + 16 j of the
// tile (i, j in 0..3), so neighbouring invocations write neighbouring columns of out. Along K the
// tile walks in steps of 32: the 64 x 32 slices of inp and weight are staged in workgroup memory
// (2 x 8 KiB), zero-filled past M, N or K, so any M, N and K work.
//
// The slices are stored row-major (64 rows of 32 values), with the column swizzled as k ^ (row % 32).
// Staging writes 32 consecutive k of one row per 32 invocations, and the inner loop reads one k of
// 16 different weight rows; the swizzle sends both patterns to distinct banks without padding.
//
// Tiles of out are addressed as column tile workgroup_id.x and row tile
// workgroup_id.y + workgroup_id.z * num_workgroups.y, so more than 65535 row tiles still fit.
// When HAS_BIAS is false the launcher binds the weight buffer again in the bias slot; it is never read.
//
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight_at(i) is element i of the [N, K] weight, widened to f32 as read.
// The products and sums are f32 whatever the format.
//
// HAS_LORA adds a LoRA projection's low-rank update in the same launch, once u = x·Aᵀ is computed:
//   out[m, n] += lora_scale * sum_r lora_u[m, r] * lora_b[n, r]
// lora_u: [M, R]; lora_b: [N, R]; R a positive multiple of 4. Each invocation adds it to its 16
// outputs in the epilogue, straight from storage, with the bits of the launch it replaces
// (matmul_regtile_forward with K = R, ACCUMULATE and scale = lora_scale, see lora.ts): four-term
// dot products added in r order, t = lora_scale * l, then t + the stored value. Without HAS_LORA
// the launcher binds an operand already bound in the lora_u and lora_b slots; they are never read.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> lora_u: array<f32>;
@group(0) @binding(5) var<storage, read> lora_b: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

override HAS_BIAS: bool = false;
override HAS_LORA: bool = false;

const TILE: u32 = 64u;  // rows and columns of out per workgroup
const TK: u32 = 32u;    // K per staged slice; the swizzle below needs exactly 32
const SIDE: u32 = 16u;  // invocations per side of the workgroup
const LOADS: u32 = TILE * TK / (SIDE * SIDE);  // values of each slice staged by one invocation

var<workgroup> tile_inp: array<f32, TILE * TK>;
var<workgroup> tile_w: array<f32, TILE * TK>;


// HAS_LORA: sum_r lora_u[m, r] * lora_b[n, r], as four-term dot products added in r order.
fn lora_dot(m: u32, n: u32) -> f32 {
  let R = params.R;
  var l = 0.0;
  for (var r = 0u; r < R; r += 4u) {
    let u = vec4<f32>(lora_u[m * R + r], lora_u[m * R + r + 1u], lora_u[m * R + r + 2u], lora_u[m * R + r + 3u]);
    let b = vec4<f32>(lora_b[n * R + r], lora_b[n * R + r + 1u], lora_b[n * R + r + 2u], lora_b[n * R + r + 3u]);
    l += dot(u, b);
  }
  return l;
}

// Position of (row, k) inside a staged 64 x 32 slice.
fn slot(row: u32, k: u32) -> u32 {
  return row * TK + (k ^ (row & 31u));
}

@compute @workgroup_size(SIDE, SIDE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) lidx: u32,
) {
  let m0 = (wid.y + wid.z * nwg.y) * TILE;
  let n0 = wid.x * TILE;
  // Uniform per workgroup (workgroup_id, num_workgroups and params only), so barriers stay uniform.
  if (m0 >= params.M) { return; }
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tx = lid.x;
  let ty = lid.y;

  // While staging, invocation lidx copies column k = lidx % 32 of rows lidx / 32 + 8 l.
  let load_k = lidx % TK;
  let load_row = lidx / TK;

  var acc: array<vec4<f32>, 4>;  // acc[i][j]: out row m0 + ty + 16 i, column n0 + tx + 16 j
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < K; k0 += TK) {
    let gk = k0 + load_k;
    for (var l = 0u; l < LOADS; l++) {
      let row = load_row + l * (SIDE * SIDE / TK);
      var a = 0.0;
      if (m0 + row < M && gk < K) { a = inp[(m0 + row) * K + gk]; }
      tile_inp[slot(row, load_k)] = a;
      var w = 0.0;
      if (n0 + row < N && gk < K) { w = weight_at((n0 + row) * K + gk); }
      tile_w[slot(row, load_k)] = w;
    }
    workgroupBarrier();

    for (var k = 0u; k < TK; k++) {
      let b = vec4<f32>(
        tile_w[slot(tx, k)],
        tile_w[slot(tx + 16u, k)],
        tile_w[slot(tx + 32u, k)],
        tile_w[slot(tx + 48u, k)],
      );
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(tile_inp[slot(ty + 16u * i, k)]), b, acc[i]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty + 16u * i;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx + 16u * j;
      if (n < N) {
        var v = acc[i][j];
        if (HAS_BIAS) { v += bias[n]; }
        if (HAS_LORA) {
          // As the separate update would: t = lora_scale * l, then t += the stored v.
          var t = params.lora_scale * lora_dot(m, n);
          t += v;
          v = t;
        }
        out[mn_index(m, n)] = v;
      }
    }
  }
}
