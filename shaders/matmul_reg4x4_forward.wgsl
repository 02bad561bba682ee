// Matrix multiply against a Linear layer's weight, register-tiled from storage with vec4 loads,
// no workgroup memory and no barriers (the variant for CPU Vulkan drivers, where barriers are slow):
//   out[m, n] = scale * sum_k inp[m, k] * weight[n, k]  (+ bias[n] when HAS_BIAS)
//   (+ the old out[m, n] when ACCUMULATE: with scale s, inp = u and weight = lora_B this is LoRA's
//   low-rank update out += s·u·Bᵀ, which lora.ts launches here when the rank is a multiple of 4)
//   (+ lora_scale * sum_r lora_u[m, r] * lora_b[n, r] when HAS_LORA: a LoRA projection's base
//   product and low-rank update in one dispatch, once u = x·Aᵀ is computed; see below)
// inp: [M, K]; weight: [N, K] (row-major, the Hugging Face nn.Linear layout); bias: [N]; out: [M, N];
// lora_u: [M, R]; lora_b: [N, R].
// K (and R, with HAS_LORA) must be a multiple of 4: inp, weight, lora_u and lora_b are read as rows
// of vec4 values.
//
// Each invocation owns a 4 x 4 block of out: rows 4 r .. 4 r + 3 and columns 4 c .. 4 c + 3. Per
// step of four k it loads one vec4 of each of its four inp rows and four weight rows (8 loads) and
// makes 16 four-term dot products. Rows and columns past M or N are clamped to the last valid one
// while reading and skipped when writing, so the loop needs no bounds checks.
// Invocation index i (the entry point of lib/grid_1d.wgsl) covers c = i % ceil(N / 4),
// r = i / ceil(N / 4). When HAS_BIAS is false the launcher binds the weight buffer again in the
// bias slot, and when HAS_LORA is false an operand already bound (at least one vec4) in the lora_u
// and lora_b slots; they are never read.
//
// HAS_LORA gives the same bits as the two launches it replaces: this kernel without HAS_LORA
// (y = fl(scale * acc), then fl(y + bias)), then this kernel again with K = R, inp = u,
// weight = lora_b, scale = lora_scale and ACCUMULATE (t = fl(lora_scale * acc_ub), then
// fl(t + y)). The R loop below is the K loop over the other operands (same clamping, same vec4
// dot products added in the same order), and the epilogue rounds in the same order.
//
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight4_at(i) is elements 4 i .. 4 i + 3 of the
// [N, K] weight, widened to f32 as read.
// The products and sums are f32 whatever the format. lora_u and lora_b are f32.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<vec4<f32>>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> lora_u: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> lora_b: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> params: Params;

override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override HAS_LORA: bool = false;

// One step of a 4 x 4 block product: row vec4 r against the vec4s b0 .. b3 of four columns.
fn dots4(r: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot(r, b0), dot(r, b1), dot(r, b2), dot(r, b3));
}

fn invocations() -> u32 { return ((params.N + 3u) / 4u) * ((params.M + 3u) / 4u); }

fn element(i: u32) {
  let M = params.M;
  let N = params.N;
  let K4 = params.K / 4u;
  let col_blocks = (N + 3u) / 4u;
  let n0 = (i % col_blocks) * 4u;
  let m0 = (i / col_blocks) * 4u;

  let w0 = min(n0, N - 1u) * K4;
  let w1 = min(n0 + 1u, N - 1u) * K4;
  let w2 = min(n0 + 2u, N - 1u) * K4;
  let w3 = min(n0 + 3u, N - 1u) * K4;
  let x0 = min(m0, M - 1u) * K4;
  let x1 = min(m0 + 1u, M - 1u) * K4;
  let x2 = min(m0 + 2u, M - 1u) * K4;
  let x3 = min(m0 + 3u, M - 1u) * K4;

  var a0 = vec4<f32>(0.0);  // a<r>[j]: out row m0 + r, column n0 + j
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var k = 0u; k < K4; k++) {
    let b0 = weight4_at(w0 + k);
    let b1 = weight4_at(w1 + k);
    let b2 = weight4_at(w2 + k);
    let b3 = weight4_at(w3 + k);
    let r0 = inp[x0 + k];
    let r1 = inp[x1 + k];
    let r2 = inp[x2 + k];
    let r3 = inp[x3 + k];
    a0 += dots4(r0, b0, b1, b2, b3);
    a1 += dots4(r1, b0, b1, b2, b3);
    a2 += dots4(r2, b0, b1, b2, b3);
    a3 += dots4(r3, b0, b1, b2, b3);
  }

  // HAS_LORA: l<i>[j] = dot(lora_u[m0 + i, :], lora_b[n0 + j, :]), the loop above with K = R.
  var l0 = vec4<f32>(0.0);
  var l1 = vec4<f32>(0.0);
  var l2 = vec4<f32>(0.0);
  var l3 = vec4<f32>(0.0);
  if (HAS_LORA) {
    let R4 = params.R / 4u;
    let v0 = min(n0, N - 1u) * R4;
    let v1 = min(n0 + 1u, N - 1u) * R4;
    let v2 = min(n0 + 2u, N - 1u) * R4;
    let v3 = min(n0 + 3u, N - 1u) * R4;
    let u0 = min(m0, M - 1u) * R4;
    let u1 = min(m0 + 1u, M - 1u) * R4;
    let u2 = min(m0 + 2u, M - 1u) * R4;
    let u3 = min(m0 + 3u, M - 1u) * R4;
    for (var k = 0u; k < R4; k++) {
      let b0 = lora_b[v0 + k];
      let b1 = lora_b[v1 + k];
      let b2 = lora_b[v2 + k];
      let b3 = lora_b[v3 + k];
      let r0 = lora_u[u0 + k];
      let r1 = lora_u[u1 + k];
      let r2 = lora_u[u2 + k];
      let r3 = lora_u[u3 + k];
      l0 += dots4(r0, b0, b1, b2, b3);
      l1 += dots4(r1, b0, b1, b2, b3);
      l2 += dots4(r2, b0, b1, b2, b3);
      l3 += dots4(r3, b0, b1, b2, b3);
    }
  }

  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  let lacc = array<vec4<f32>, 4>(l0, l1, l2, l3);
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + r;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= N) { break; }
      var y = params.scale * acc[r][j];
      if (HAS_BIAS) { y += bias[n]; }
      if (ACCUMULATE) { y += out[mn_index(m, n)]; }
      if (HAS_LORA) {
        // As the separate update would: t = lora_scale * acc, then t += the stored y.
        var t = params.lora_scale * lacc[r][j];
        t += y;
        y = t;
      }
      out[mn_index(m, n)] = y;
    }
  }
}
