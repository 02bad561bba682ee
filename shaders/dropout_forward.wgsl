// Inverted dropout with a counter-based mask, one invocation per element:
//   out[i] = keep(i) ? inp[i] · scale : 0              (ACCUMULATE: out[i] += that)
//   scale  = 1 / (1 - p)                               (so E[out] = inp)
// inp, out: [n] (a LoRA input x [M, K], row-major, n = M·K); out may not alias inp.
//
// The mask needs no stored random state: it is a hash of the element's index and three numbers
// that identify the draw, the run's seed, the training pass (step) and the projection (stream):
//   key     = mix(mix(mix(seed ^ 0x9e3779b9) ^ step) ^ stream)
//   h(i)    = mix(mix(i) ^ key)
//   keep(i) = h(i) >= threshold,    threshold = floor(p · 2³²)   (so P(keep) = 1 - p)
// where mix is MurmurHash3's 32-bit finalizer (xor-shifts and multiplies, all mod 2³²; a
// bijection of u32). The same (seed, step, stream) gives the same mask, so backward regenerates
// it rather than saving it; and since dropout is a diagonal linear map, its backward is this same
// kernel applied to the gradient (with ACCUMULATE, added into the input's gradient).
// The step is read from a one-element storage buffer (`pass_step`) rather than from the uniform
// params, so that a launch's bind group stays the same from pass to pass: the training pass
// writes the new step into that buffer before recording (src/model/train-pass.ts).
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.

struct Params {
  n: u32,
  seed: u32,
  stream: u32,
  threshold: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> pass_step: array<u32>;  // [1]: the step
@group(0) @binding(3) var<uniform> params: Params;

override ACCUMULATE: bool = false;

fn mix(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u;
  x *= 0x85ebca6bu;
  x ^= x >> 13u;
  x *= 0xc2b2ae35u;
  x ^= x >> 16u;
  return x;
}

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  let key = mix(mix(mix(params.seed ^ 0x9e3779b9u) ^ pass_step[0]) ^ params.stream);
  let keep = mix(mix(i) ^ key) >= params.threshold;
  let y = select(0.0, inp[i] * params.scale, keep);
  if (ACCUMULATE) {
    out[i] += y;
  } else {
    out[i] = y;
  }
}
