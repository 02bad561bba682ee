// The global L2 norm of all gradients, as torch.nn.utils.clip_grad_norm_ computes it:
//   norm[0] = sqrt(sum_i grads[i]^2),   0 <= i < n,
// in two deterministic passes (no atomics; the split depends on n only).
//   partial_sums: G = params.partials workgroups; workgroup w, invocation k sums grads[i]^2 over
//     i = w·WG + k, then every G·WG further, and the workgroup tree-adds its WG sums into scratch[w].
//   finish: one workgroup adds scratch[0 .. G) the same way and writes the square root into norm[0].
// Where barriers are slow (CPU Vulkan drivers; src/gpu/kernels/barrier-policy.ts) the launcher
// takes the barrier-free pair instead, with the same scratch:
//   partial_sums_flat: G invocations (64 per workgroup); invocation t sums grads[i]^2 over
//     i = t, t + G, t + 2 G, ... into scratch[t].
//   finish_serial: one invocation adds scratch[0 .. G) in order and writes the square root.
// grads: [n] (the flat buffer of every LoRA gradient); scratch: [G] with G = gradNormScratchSize(n)
// (adamw.ts); norm: [1], read by the AdamW kernel when clipping, never by the CPU during a step.
// Both entry points share one binding layout, each using the bindings it needs.

struct Params {
  n: u32,
  partials: u32,
}

@group(0) @binding(0) var<storage, read_write> norm: array<f32>;
@group(0) @binding(1) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

// Tree-adds partial[0 .. WG) into partial[0]; every invocation of the workgroup must call it.
fn workgroup_sum(lid: u32) -> f32 {
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WG)
fn partial_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let stride = params.partials * WG;
  var sum = 0.0;
  for (var i = wid.x * WG + lid; i < params.n; i += stride) {
    let g = grads[i];
    sum += g * g;
  }
  partial[lid] = sum;
  let total = workgroup_sum(lid);
  if (lid == 0u) { scratch[wid.x] = total; }
}

@compute @workgroup_size(WG)
fn finish(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = lid; i < params.partials; i += WG) {
    sum += scratch[i];
  }
  partial[lid] = sum;
  let total = workgroup_sum(lid);
  if (lid == 0u) { norm[0] = sqrt(total); }
}

@compute @workgroup_size(64)
fn partial_sums_flat(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= params.partials) { return; }
  var sum = 0.0;
  for (var i = t; i < params.n; i += params.partials) {
    let g = grads[i];
    sum += g * g;
  }
  scratch[t] = sum;
}

@compute @workgroup_size(1)
fn finish_serial() {
  var sum = 0.0;
  for (var i = 0u; i < params.partials; i++) {
    sum += scratch[i];
  }
  norm[0] = sqrt(sum);
}
