// The activation gradient of a Linear layer, register-tiled from storage with vec4 loads, no
// workgroup memory and no barriers (the variant for CPU Vulkan drivers, where barriers are slow):
//   dinp[m, k] = (ACCUMULATE ? dinp[m, k] : 0) + scale * sum_n dout[m, n] * weight[n, k]
//                (+ lora_scale * sum_r du[m, r] * lora_a[r, k] when HAS_LORA)
// dout: [M, N]; weight: [N, K] (row-major, the nn.Linear layout, used as stored: "NN"); dinp: [M, K];
// du: [M, R]; lora_a: [R, K]. With HAS_LORA this is a LoRA projection's whole input gradient,
// dx (+)= dy·W + du·A (lora_scale = 1), in one dispatch once du is computed.
// K must be a multiple of 4: weight and lora_a are read as rows of K / 4 vec4 values.
//
// Each invocation owns a 4 x 4 block of dinp: rows 4 r .. 4 r + 3 and columns 4 c .. 4 c + 3. Per
// n it loads one vec4 of the weight row (columns 4 c .. 4 c + 3) and four dout values, and adds
// their 16 products. When N is a multiple of 4 (DOUT_VEC4), dout's rows are read four values at a
// time through `dout4`, the same buffer bound as vec4 values (the launcher binds it twice; otherwise
// dout4 holds any other operand and is never read): per four n, four vec4 loads of dout and four
// of the weight for 64 products, the same fused multiply-adds in the same order as the scalar loop. Rows past M are clamped to the last valid one while reading and skipped when
// writing, so the loop needs no bounds checks.
// Invocation index i (the entry point of lib/grid_1d.wgsl) covers c = i % (K / 4),
// r = i / (K / 4). When HAS_LORA is false the launcher binds operands already bound in the du and
// lora_a slots (lora_a's at least one vec4); they are never read.
//
// HAS_LORA gives the same bits as the two launches it replaces: this kernel without HAS_LORA
// (v = fl(scale * acc), then fl(v + the old dinp) when ACCUMULATE), then this kernel again with
// N = R, dout = du, weight = lora_a, scale = lora_scale and ACCUMULATE (t = fl(lora_scale * acc_da),
// then fl(t + v)). The R loop below is the N loop over the other operands (same clamping, same
// fused multiply-adds in the same order), and the epilogue rounds in the same order; lora_scale is
// a uniform, not the constant 1, so that its multiply is not folded away where the separate
// launch's is not.
//
// The weight is read through the reader of its storage format, composed into this module
// (shaders/weights/, src/gpu/kernels/weight-format.ts): weight4_at(i) is elements 4 i .. 4 i + 3 of the
// [N, K] weight, widened to f32 as read.
// The products and sums are f32 whatever the format. du and lora_a are f32.
//
// CONTINUE_SUM (with ACCUMULATE and scale 1): dinp holds this product's sum over an earlier block
// of n (a split LM head's earlier blocks of the vocabulary, src/model/ends.ts), and the sum goes on
// from it instead of from zero, so that the blocks, launched in order, give the bits of the whole
// product in one launch.

// Params: lib/matmul_params.wgsl.
@group(0) @binding(0) var<storage, read_write> dinp: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
const WEIGHT_BINDING: u32 = 2u;  // the weight: its format's reader declares it (weight-format.ts)
@group(0) @binding(3) var<storage, read> du: array<f32>;
@group(0) @binding(4) var<storage, read> lora_a: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> dout4: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> params: Params;

override ACCUMULATE: bool = false;
override HAS_LORA: bool = false;
override DOUT_VEC4: bool = false;
override CONTINUE_SUM: bool = false;

fn invocations() -> u32 { return (params.K / 4u) * ((params.M + 3u) / 4u); }

fn element(i: u32) {
  let M = params.M;
  let N = params.N;
  let K4 = params.K / 4u;
  let c = i % K4;
  let m0 = (i / K4) * 4u;

  let d0 = mn_index(min(m0, M - 1u), 0u);
  let d1 = mn_index(min(m0 + 1u, M - 1u), 0u);
  let d2 = mn_index(min(m0 + 2u, M - 1u), 0u);
  let d3 = mn_index(min(m0 + 3u, M - 1u), 0u);

  var a0 = vec4<f32>(0.0);  // a<r>: dinp row m0 + r, columns 4 c .. 4 c + 3
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  if (CONTINUE_SUM) {
    a0 = dinp[min(m0, M - 1u) * K4 + c];
    a1 = dinp[min(m0 + 1u, M - 1u) * K4 + c];
    a2 = dinp[min(m0 + 2u, M - 1u) * K4 + c];
    a3 = dinp[min(m0 + 3u, M - 1u) * K4 + c];
  }
  if (DOUT_VEC4) {
    // Rows start at whole vec4s of dout4 (N, ld and col0 are multiples of 4 under DOUT_VEC4).
    let q0 = d0 / 4u;
    let q1 = d1 / 4u;
    let q2 = d2 / 4u;
    let q3 = d3 / 4u;
    for (var n4 = 0u; n4 < N / 4u; n4++) {
      let n = 4u * n4;
      let w0 = weight4_at(n * K4 + c);
      let w1 = weight4_at((n + 1u) * K4 + c);
      let w2 = weight4_at((n + 2u) * K4 + c);
      let w3 = weight4_at((n + 3u) * K4 + c);
      let x0 = dout4[q0 + n4];
      let x1 = dout4[q1 + n4];
      let x2 = dout4[q2 + n4];
      let x3 = dout4[q3 + n4];
      a0 = fma(vec4<f32>(x0.w), w3, fma(vec4<f32>(x0.z), w2, fma(vec4<f32>(x0.y), w1, fma(vec4<f32>(x0.x), w0, a0))));
      a1 = fma(vec4<f32>(x1.w), w3, fma(vec4<f32>(x1.z), w2, fma(vec4<f32>(x1.y), w1, fma(vec4<f32>(x1.x), w0, a1))));
      a2 = fma(vec4<f32>(x2.w), w3, fma(vec4<f32>(x2.z), w2, fma(vec4<f32>(x2.y), w1, fma(vec4<f32>(x2.x), w0, a2))));
      a3 = fma(vec4<f32>(x3.w), w3, fma(vec4<f32>(x3.z), w2, fma(vec4<f32>(x3.y), w1, fma(vec4<f32>(x3.x), w0, a3))));
    }
  } else {
    for (var n = 0u; n < N; n++) {
      let w = weight4_at(n * K4 + c);
      a0 = fma(vec4<f32>(dout[d0 + n]), w, a0);
      a1 = fma(vec4<f32>(dout[d1 + n]), w, a1);
      a2 = fma(vec4<f32>(dout[d2 + n]), w, a2);
      a3 = fma(vec4<f32>(dout[d3 + n]), w, a3);
    }
  }

  // HAS_LORA: l<i> = sum_j du[m0 + i, j] * lora_a[j, 4 c .. 4 c + 3], the loop above with N = R.
  var l0 = vec4<f32>(0.0);
  var l1 = vec4<f32>(0.0);
  var l2 = vec4<f32>(0.0);
  var l3 = vec4<f32>(0.0);
  if (HAS_LORA) {
    let R = params.R;
    let e0 = min(m0, M - 1u) * R;
    let e1 = min(m0 + 1u, M - 1u) * R;
    let e2 = min(m0 + 2u, M - 1u) * R;
    let e3 = min(m0 + 3u, M - 1u) * R;
    for (var n = 0u; n < R; n++) {
      let w = lora_a[n * K4 + c];
      l0 = fma(vec4<f32>(du[e0 + n]), w, l0);
      l1 = fma(vec4<f32>(du[e1 + n]), w, l1);
      l2 = fma(vec4<f32>(du[e2 + n]), w, l2);
      l3 = fma(vec4<f32>(du[e3 + n]), w, l3);
    }
  }

  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  let lacc = array<vec4<f32>, 4>(l0, l1, l2, l3);
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + r;
    if (m >= M) { break; }
    var v = params.scale * acc[r];
    if (ACCUMULATE && !CONTINUE_SUM) { v += dinp[m * K4 + c]; }
    if (HAS_LORA) {
      // As the separate launch would: t = lora_scale * acc, then t += the stored v.
      var t = params.lora_scale * lacc[r];
      t += v;
      v = t;
    }
    dinp[m * K4 + c] = v;
  }
}
