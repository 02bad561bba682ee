// The tfjs side of the benchmark: the same training step (LoRA r 16 on all seven projections,
// AdamW, the same weights, adapter initialisation and token batch) written with tfjs's autodiff on
// its WebGPU backend (./tfjs-peer.ts), timed the same way as the engine.
import type { ModelSpec } from '../src/model/config.js';
import type { ModelWeights } from '../src/model/weights.js';
import { DEFAULT_OPTIMIZER } from '../src/train/step.js';
import { BENCH_LORA, errorText, LEARNING_RATE, median, randomBatch, SEED, timeSteps, type Shape, type SideOutcome, type Timing } from './common.js';
import { createTfjsPeer, tfjsOnWebGpu, type TfjsPeer } from './tfjs-peer.js';

/** tfjs with its WebGPU backend, once per process; the adapter it runs on. */
export async function tfjsAdapter(): Promise<string> {
  const tf = await tfjsOnWebGpu();
  const info = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
  return [info?.vendor, info?.architecture].filter(Boolean).join(' ') || tf.getBackend();
}

/**
 * Warm-up steps, then the median of the timed ones; peak_bytes is the peer's GPU high-water mark
 * (its weights included). Failures, running out of GPU memory among them, become the result's error.
 */
export async function benchTfjs(spec: ModelSpec, weights: ModelWeights, shape: Shape, timing: Timing): Promise<SideOutcome> {
  const { batch: B, seq: T } = shape;
  let peer: TfjsPeer | undefined;
  try {
    peer = await createTfjsPeer(spec, weights, {
      batch: B,
      seq: T,
      lora: BENCH_LORA,
      learningRate: LEARNING_RATE,
      seed: SEED,
      maxGradNorm: DEFAULT_OPTIMIZER.maxGradNorm,
    });
    const { ids, labels } = randomBatch(B, T, spec.V);
    const p = peer;
    const losses: number[] = [];
    const ms = await timeSteps(() => p.step(ids, labels), timing, (loss) => losses.push(loss));
    const stepMs = median(ms);
    if (!losses.every(Number.isFinite)) throw new Error(`tfjs peer: a loss is not finite (${losses.join(', ')})`);
    return {
      step_ms: stepMs,
      tokens_per_s: (B * T) / (stepMs / 1000),
      peak_bytes: peer.peakBytes(),
      steps_ms: ms,
      first_loss: losses[0],
      last_loss: losses[losses.length - 1],
    };
  } catch (e) {
    return { error: errorText(e) };
  } finally {
    try {
      peer?.dispose();
    } catch {
      // A peer that failed half-way may not dispose cleanly; the next shape starts a new one.
    }
  }
}
