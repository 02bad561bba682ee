// Which keys a query may attend and what the score of a (query, key) pair is: part of every
// attention kernel but attention_backward_prep.wgsl. `params` is the kernel's uniform
// (attention_forward_io.wgsl or attention_backward_io.wgsl), of which window (and, for
// query_end, T) are read.
//
// The causal mask with a sliding window: the query at absolute position p attends the key
// positions j with p - W < j <= p, W = params.window (the W most recent positions, p itself
// included); W = 0 is no window (0 <= j <= p). This is Hugging Face transformers' sliding window
// (masking_utils.py: sliding_window_overlay keeps kv_idx > q_idx - sliding_window, and'ed with
// causal_mask_function's kv_idx <= q_idx), so a key exactly W positions back is not attended.
// The launchers pass W <= S, so j + W never wraps. The key padding mask is the kernels' own test.
//
// Logit softcapping (attn_logit_softcapping, Gemma 2): with SOFTCAP = c > 0 the score of a raw
// score r = scale * (q . k) is c * tanh(r / c), taken before the mask and the softmax; the
// backward multiplies the gradient of the score by d score / d r = 1 - tanh^2(r / c). SOFTCAP = 0
// is none. It is an override constant, so a kernel's `if (SOFTCAP > 0.0)` is settled when the
// pipeline is built: a pipeline without softcapping is the kernel as it was before it existed.

override SOFTCAP: f32 = 0.0;

// The first key position that the query at position p may attend: p + 1 - W with a window of W
// keys when p + 1 > W, else 0. The last is p (the kernels also clamp it to the cache).
fn first_key(p: u32) -> u32 {
  let w = params.window;
  return select(0u, p + 1u - w, w > 0u && p + 1u > w);
}

// One past the last query position t < T that attends key position j (training layout, queries
// and keys the same T positions): j + W with a window of W keys, at most T; T without one. The
// first is j (causal).
fn query_end(j: u32) -> u32 {
  let w = params.window;
  return select(params.T, min(params.T, j + w), w > 0u);
}

// tanh(r / SOFTCAP), its argument clamped to [-15, 15] (where tanh is 1 to f32 precision) so that
// no implementation's tanh, which WGSL lets overflow through sinh / cosh, returns NaN for a large r.
fn softcap_tanh(r: f32) -> f32 {
  return tanh(clamp(r / SOFTCAP, -15.0, 15.0));
}

// The softcapped score SOFTCAP * tanh(r / SOFTCAP) of the raw score r (call only with SOFTCAP > 0).
fn capped_score(r: f32) -> f32 {
  return SOFTCAP * softcap_tanh(r);
}

// (capped score, d capped score / d r) = (SOFTCAP * th, 1 - th * th) with th = tanh(r / SOFTCAP);
// without softcapping (r, 1), so that `score_grad(r).y` multiplies by exactly 1.
fn score_grad(r: f32) -> vec2<f32> {
  if (SOFTCAP > 0.0) {
    let th = softcap_tanh(r);
    return vec2<f32>(SOFTCAP * th, 1.0 - th * th);
  }
  return vec2<f32>(r, 1.0);
}
