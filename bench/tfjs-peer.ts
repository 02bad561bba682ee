// The benchmark peer: the same LoRA training step as the engine (src/train/step.ts), written as a
// tfjs user would write it: the model in tfjs ops (./tfjs/model.ts), gradients from tfjs's
// autodiff (tf.variableGrads), global-norm clipping and tf.train.adam, on tfjs-backend-webgpu
// on the same WebGPU adapter. Frozen weights are tf.tensor constants; only LoRA's A and B are
// variables. Every step runs inside tidy scopes, so nothing but the variables and Adam's moments
// outlives it.
//
// Llama family only (llama, qwen2 with q/k/v biases, qwen3 with per-head q/k RMSNorm).
import type * as TF from '@tensorflow/tfjs';
import { initLoraA, type LoraFactors } from '../src/lora/adapter.js';
import { loraScale, resolveLoraModules, type LoraConfig } from '../src/lora/config.js';
import type { ModelSpec } from '../src/model/config.js';
import type { ModelWeights } from '../src/model/weights.js';
import { gpuPeaks, resetGpuPeaks } from './tfjs/memory.js';
import { disposeModel, forwardLoss, targetIndices, uploadModel, type LoraFactorsTf } from './tfjs/model.js';

export interface PeerOptions {
  batch: number;
  seq: number;
  lora: LoraConfig;
  learningRate: number;
  /** Seeds A's initialisation (initLoraA: PEFT's kaiming-uniform bound, the engine's generator). */
  seed: number;
  /** Clip the global gradient norm to this before Adam (torch's clip_grad_norm_), or null. */
  maxGradNorm: number | null;
  /** Start A and B here instead (keyed by PEFT module path, e.g. model.layers.0.self_attn.q_proj). */
  initial?: Map<string, LoraFactors>;
}

export interface TfjsPeer {
  /**
   * One training step on ids/labels ([batch*seq] row-major int32, labels -100 = ignored, Hugging
   * Face shift: position t predicts labels[t+1]); returns the loss before the update.
   */
  step(ids: Int32Array, labels: Int32Array): Promise<number>;
  /** The loss of a batch without updating anything. */
  loss(ids: Int32Array, labels: Int32Array): Promise<number>;
  /**
   * The most GPU bytes tfjs held at once since this peer was created: the high-water mark of
   * tfjs-backend-webgpu's buffer manager's allocated bytes (WebGPUBackend.memory()'s
   * numBytesAllocatedInGPU): frozen weights, variables, Adam's moments, and every activation and
   * gradient buffer, counting freed buffers that tfjs keeps pooled for reuse, since they stay
   * allocated on the GPU. The backend's pool is process-wide, so run one peer per process for a
   * clean figure (a disposed peer's buffers stay in the pool).
   */
  peakBytes(): number;
  /** The same high-water mark over buffers in use only (numBytesInGPU): the live tensors' peak. */
  peakUsedBytes(): number;
  dispose(): void;
}

let tfjs: Promise<typeof TF> | undefined;

/**
 * tfjs on its WebGPU backend, set up once per process. In Node, Dawn's GPU object (the `webgpu`
 * package, through src/gpu/node.ts) becomes navigator.gpu before tfjs-backend-webgpu is loaded,
 * since the backend reads navigator.gpu to find its adapter; in a browser navigator.gpu is used as is.
 */
export function tfjsOnWebGpu(): Promise<typeof TF> {
  tfjs ??= (async () => {
    const g = globalThis as { navigator?: { gpu?: GPU } };
    if (!g.navigator?.gpu) {
      const { nodeGpu } = await import('../src/gpu/node.js');
      const gpu = await nodeGpu();
      if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    }
    // The full package, not tfjs-core alone: the gradients of the ops are registered by it.
    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend (navigator.gpu gave no adapter or device)');
    await tf.ready();
    gpuPeaks(tf.backend());
    return tf;
  })();
  return tfjs;
}

let peers = 0;

export async function createTfjsPeer(spec: ModelSpec, weights: ModelWeights, opts: PeerOptions): Promise<TfjsPeer> {
  if (spec.arch !== 'llama') {
    throw new Error(`tfjs peer: ${spec.modelType} models are not supported; the peer implements the llama family only (llama, qwen2, qwen3)`);
  }
  const { batch: B, seq: T } = opts;
  if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(T) && T >= 2)) throw new Error(`tfjs peer: batch ${B} × seq ${T}: need integers, batch ≥ 1, seq ≥ 2`);
  if (T > spec.maxPositions) throw new Error(`tfjs peer: seq ${T} is past the model's ${spec.maxPositions} positions`);
  const tf = await tfjsOnWebGpu();
  const backend = tf.backend();
  resetGpuPeaks(backend);
  const peaks = gpuPeaks(backend);

  const model = uploadModel(tf, spec, weights, T);
  const modules = resolveLoraModules(spec, opts.lora);
  const R = opts.lora.r;
  const prefix = `tfjsPeer${peers++}`;
  const lora = new Map<string, LoraFactorsTf>();
  for (const m of modules) {
    const given = opts.initial?.get(m.path);
    if (opts.initial && !given) throw new Error(`tfjs peer: initial has no A and B for ${m.path}`);
    const A = given?.A ?? initLoraA(R, m.inFeatures, opts.seed, m.path);
    const Bm = given?.B ?? new Float32Array(m.outFeatures * R);
    if (A.length !== R * m.inFeatures || Bm.length !== m.outFeatures * R) {
      throw new Error(`tfjs peer: ${m.path}: A must be [${R}, ${m.inFeatures}] and B [${m.outFeatures}, ${R}]`);
    }
    // tidy frees the initial tensors; the variables, which take over their data, survive it.
    lora.set(
      `${m.layer}.${m.kind}`,
      tf.tidy(() => ({
        A: tf.variable(tf.tensor2d(A, [R, m.inFeatures]), true, `${prefix}/${m.path}/A`),
        B: tf.variable(tf.tensor2d(Bm, [m.outFeatures, R]), true, `${prefix}/${m.path}/B`),
      })),
    );
  }
  const vars = [...lora.values()].flatMap((f) => [f.A, f.B]);
  const scale = loraScale(opts.lora);
  // tfjs's Adam is PyTorch's (bias-corrected moments, eps added to √v̂); weight decay 0.
  const optimizer = tf.train.adam(opts.learningRate, 0.9, 0.999, 1e-8);

  const inputs = (ids: Int32Array, labels: Int32Array) => {
    if (ids.length !== B * T || labels.length !== B * T) throw new Error(`tfjs peer: ids and labels must each hold batch·seq = ${B * T} entries`);
    for (const id of ids) if (!(id >= 0 && id < spec.V)) throw new Error(`tfjs peer: token id ${id} is outside the vocabulary (V=${spec.V})`);
    const targets = targetIndices(labels, B, T, spec.V);
    if (targets.length === 0) throw new Error('tfjs peer: the batch has no label to learn (every shifted label is -100)');
    return { B, T, ids: tf.tensor1d(ids, 'int32'), targets: tf.tensor1d(targets, 'int32') };
  };

  // The one read-back of a step: it waits for the step's GPU work, the update included.
  const readLoss = async (value: TF.Scalar) => {
    try {
      return (await value.data())[0];
    } finally {
      value.dispose();
    }
  };

  return {
    async step(ids, labels) {
      const x = inputs(ids, labels);
      let value: TF.Scalar;
      try {
        const { value: v, grads } = tf.variableGrads(() => forwardLoss(tf, model, lora, scale, { ...x, dropout: opts.lora.dropout }), vars);
        value = v;
        tf.tidy(() => {
          let g: Array<{ name: string; tensor: TF.Tensor }> = vars.map((v) => ({ name: v.name, tensor: grads[v.name] }));
          if (opts.maxGradNorm !== null) {
            // torch.nn.utils.clip_grad_norm_: g · min(max_norm / (‖g‖ + 1e-6), 1), the norm over
            // every gradient at once, kept on the GPU. tf.stack, not tf.addN: addN binds every input
            // at once, past WebGPU's storage-buffer limit for a real model's hundreds of factors.
            const norm = tf.sqrt(tf.sum(tf.stack(vars.map((v) => tf.sum(tf.square(grads[v.name]))))));
            const coef = tf.minimum(tf.div(opts.maxGradNorm, tf.add(norm, 1e-6)), 1);
            g = g.map(({ name, tensor }) => ({ name, tensor: tf.mul(tensor, coef) }));
          }
          optimizer.applyGradients(g);
        });
        tf.dispose(Object.values(grads));
      } finally {
        tf.dispose([x.ids, x.targets]);
      }
      return readLoss(value);
    },

    async loss(ids, labels) {
      const x = inputs(ids, labels);
      try {
        return await readLoss(tf.tidy(() => forwardLoss(tf, model, lora, scale, { ...x, dropout: 0 })));
      } finally {
        tf.dispose([x.ids, x.targets]);
      }
    },

    peakBytes: () => peaks.allocated,
    peakUsedBytes: () => peaks.used,

    dispose() {
      optimizer.dispose();
      tf.dispose(vars);
      disposeModel(tf, model);
    },
  };
}
