// The llama-family causal LM with LoRA, written in tfjs ops for the benchmark peer: the same math
// as the engine (see src/model/ and src/lora/config.ts), left to tfjs's autodiff for the backward.
//
// Dimension letters as in src/model/config.ts: B batch, T sequence, N = B·T positions, C model
// width, NH query heads, KV key/value heads, G = NH/KV query heads per KV head, HS head size,
// F MLP width, V vocabulary, R LoRA rank.
import type * as TF from '@tensorflow/tfjs';
import type { ModelSpec } from '../../src/model/config.js';
import type { LayerWeights, ModelWeights } from '../../src/model/weights.js';

export type Tf = typeof TF;

/** The frozen model on the tfjs backend: constants, never variables, so autodiff leaves them be. */
export interface FrozenModel {
  spec: ModelSpec;
  embed: TF.Tensor2D; // [V, C]
  lmHead: TF.Tensor2D; // [V, C]; the same tensor as embed when the embeddings are tied
  finalNorm: TF.Tensor1D; // [C]
  /** Each layer's tensors under its LayerWeights field names (q [NH·HS, C], qBias [NH·HS], ...). */
  layers: Array<Partial<Record<keyof LayerWeights, TF.Tensor>>>;
  cos: TF.Tensor3D; // [T, 1, HS] cos(t·θ_j), the HS/2 frequencies twice over (Hugging Face's layout)
  sin: TF.Tensor3D; // [T, 1, HS]
  mask: TF.Tensor2D; // [T, T] 0 where key ≤ query, -1e9 above the diagonal (causal)
}

/** A wrapped projection's trainable factors: A [R, in], B [out, R] (PEFT's lora_A / lora_B). */
export interface LoraFactorsTf {
  A: TF.Variable;
  B: TF.Variable;
}

/** Upload the frozen weights and the RoPE and mask tables for sequences of T tokens. */
export function uploadModel(tf: Tf, spec: ModelSpec, weights: ModelWeights, T: number): FrozenModel {
  const t = (c: { data: Float32Array; shape: number[] }) => tf.tensor(c.data, c.shape, 'float32');
  const embed = t(weights.embed) as TF.Tensor2D;
  const layers = weights.layers.map((layer) => {
    const out: Partial<Record<keyof LayerWeights, TF.Tensor>> = {};
    for (const [name, w] of Object.entries(layer)) if (w) out[name as keyof LayerWeights] = t(w);
    return out;
  });
  // RoPE as transformers computes it in float32: θ_j = 1 / base^(2j/HS), angle = fround(t·θ_j).
  const { HS } = spec;
  const half = HS / 2;
  const cos = new Float32Array(T * HS);
  const sin = new Float32Array(T * HS);
  for (let p = 0; p < T; p++) {
    for (let j = 0; j < half; j++) {
      const invFreq = Math.fround(1 / Math.fround(spec.ropeTheta ** Math.fround((2 * j) / HS)));
      const a = Math.fround(p * invFreq);
      cos[p * HS + j] = cos[p * HS + j + half] = Math.cos(a);
      sin[p * HS + j] = sin[p * HS + j + half] = Math.sin(a);
    }
  }
  const mask = new Float32Array(T * T);
  for (let q = 0; q < T; q++) mask.fill(-1e9, q * T + q + 1, (q + 1) * T);
  return {
    spec,
    embed,
    lmHead: weights.lmHead ? (t(weights.lmHead) as TF.Tensor2D) : embed,
    finalNorm: t(weights.finalNorm) as TF.Tensor1D,
    layers,
    cos: tf.tensor3d(cos, [T, 1, HS]),
    sin: tf.tensor3d(sin, [T, 1, HS]),
    mask: tf.tensor2d(mask, [T, T]),
  };
}

export function disposeModel(tf: Tf, m: FrozenModel): void {
  tf.dispose([m.embed, m.lmHead, m.finalNorm, m.cos, m.sin, m.mask, ...m.layers.flatMap((l) => Object.values(l))]);
}

export interface ForwardInputs {
  B: number;
  T: number;
  ids: TF.Tensor1D; // [N] int32 token ids
  /** [count] int32: n·V + label for every position n whose shifted label counts (see targetIndices). */
  targets: TF.Tensor1D;
  /** LoRA dropout probability on this pass (0 in evaluation). */
  dropout: number;
}

/**
 * The flat indices into the [N, V] log-probabilities picked by the loss: position t of row b
 * predicts labels[b, t+1] (Hugging Face's shift); positions whose next label is -100, and each
 * row's last position, do not count.
 */
export function targetIndices(labels: Int32Array, B: number, T: number, V: number): Int32Array {
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const label = labels[b * T + t + 1];
      if (label === -100) continue;
      if (!(Number.isInteger(label) && label >= 0 && label < V)) throw new Error(`label ${label} at [${b}, ${t + 1}] is neither -100 nor a token id below V=${V}`);
      out.push((b * T + t) * V + label);
    }
  }
  return Int32Array.from(out);
}

/**
 * The mean cross-entropy of the batch: embed → L × (RMSNorm, attention with LoRA, residual,
 * RMSNorm, SwiGLU MLP with LoRA, residual) → RMSNorm → LM head → log-softmax → mean of −log p at
 * the counted targets. `lora` maps `${layer}.${kind}` (kind q, k, v, o, gate, up, down) to factors;
 * `scale` is s = alpha/r (or alpha/√r). Call it inside tf.tidy or tf.variableGrads.
 */
export function forwardLoss(tf: Tf, m: FrozenModel, lora: Map<string, LoraFactorsTf>, scale: number, x: ForwardInputs): TF.Scalar {
  const { spec } = m;
  const { B, T } = x;
  const N = B * T;
  const { NH, KV, HS, normEps } = spec;
  const G = NH / KV;

  // y = x·Wᵀ (+ b) + s·(dropout(x)·Aᵀ)·Bᵀ   x [N, in], W [out, in], A [R, in], B [out, R].
  const linear = (layer: number, kind: string, inp: TF.Tensor2D, w: TF.Tensor, b?: TF.Tensor): TF.Tensor2D => {
    let y: TF.Tensor2D = tf.matMul(inp, w as TF.Tensor2D, false, true);
    if (b) y = tf.add(y, b);
    const f = lora.get(`${layer}.${kind}`);
    if (!f) return y;
    const loraIn = x.dropout > 0 ? tf.dropout(inp, x.dropout) : inp;
    const u = tf.mul(tf.matMul(loraIn, f.A as TF.Tensor2D, false, true), scale); // [N, R]
    return tf.add(y, tf.matMul(u, f.B as TF.Tensor2D, false, true));
  };
  // RMSNorm over the last axis: x / √(mean(x²) + eps) · w.
  const rmsNorm = <R extends TF.Rank>(inp: TF.Tensor<R>, w: TF.Tensor): TF.Tensor<R> =>
    tf.mul(tf.mul(inp, tf.rsqrt(tf.add(tf.mean(tf.square(inp), -1, true), normEps))), w);
  // Rotate-half RoPE on [B, T, H, HS]: x·cos + [−x₂, x₁]·sin, x₁ and x₂ the two halves of each head.
  const rope = (inp: TF.Tensor4D): TF.Tensor4D => {
    const [x1, x2] = tf.split(inp, 2, -1);
    return tf.add(tf.mul(inp, m.cos), tf.mul(tf.concat([tf.neg(x2), x1], -1), m.sin));
  };

  let h: TF.Tensor2D = tf.gather(m.embed, x.ids); // [N, C]
  m.layers.forEach((w, l) => {
    const a = rmsNorm(h, w.attnNorm!);
    let q = linear(l, 'q', a, w.q!, w.qBias).reshape([B, T, NH, HS]) as TF.Tensor4D;
    let k = linear(l, 'k', a, w.k!, w.kBias).reshape([B, T, KV, HS]) as TF.Tensor4D;
    const v = linear(l, 'v', a, w.v!, w.vBias).reshape([B, T, KV, HS]) as TF.Tensor4D;
    if (w.qNorm) q = rmsNorm(q, w.qNorm);
    if (w.kNorm) k = rmsNorm(k, w.kNorm);
    q = rope(q);
    k = rope(k);
    // GQA without repeating K and V: query head h = kv·G + g, so [B, NH, T, HS] is [B·KV, G·T, HS]
    // and each KV head's G query heads are one batched matmul against its keys.
    const qh = tf.mul(tf.transpose(q, [0, 2, 1, 3]), 1 / Math.sqrt(HS)).reshape([B * KV, G * T, HS]) as TF.Tensor3D;
    const kh = tf.transpose(k, [0, 2, 1, 3]).reshape([B * KV, T, HS]) as TF.Tensor3D;
    const vh = tf.transpose(v, [0, 2, 1, 3]).reshape([B * KV, T, HS]) as TF.Tensor3D;
    const scores = tf.add(tf.matMul(qh, kh, false, true).reshape([B * KV, G, T, T]), m.mask); // [B·KV, G, T, T]
    const probs = tf.softmax(scores).reshape([B * KV, G * T, T]) as TF.Tensor3D;
    const o = tf.transpose(tf.matMul(probs, vh).reshape([B, NH, T, HS]), [0, 2, 1, 3]).reshape([N, NH * HS]) as TF.Tensor2D;
    h = tf.add(h, linear(l, 'o', o, w.o!, w.oBias));

    const n = rmsNorm(h, w.mlpNorm!);
    const gate = linear(l, 'gate', n, w.gate!, w.gateBias);
    const act: TF.Tensor2D = tf.mul(tf.mul(gate, tf.sigmoid(gate)), linear(l, 'up', n, w.up!, w.upBias)); // silu(gate)·up [N, F]
    h = tf.add(h, linear(l, 'down', act, w.down!, w.downBias));
  });
  const logits = tf.matMul(rmsNorm(h, m.finalNorm), m.lmHead, false, true); // [N, V]
  const logp = tf.logSoftmax(logits).reshape([N * spec.V]);
  return tf.neg(tf.mean(tf.gather(logp, x.targets))) as TF.Scalar;
}
