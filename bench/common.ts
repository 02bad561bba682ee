// What both sides of the benchmark share: the LoRA and optimizer settings, the token batch, the
// timing rule (warm-up steps, then the median of the timed ones) and the shape of a result.
import { DEFAULT_LORA, type LoraConfig } from '../src/lora/config.js';
import type { WeightStorage } from '../src/model/gpu-weights.js';
import { mulberry32 } from '../src/train/batches.js';

/** r 16, alpha 32, all seven projections of every layer (q, k, v, o, gate, up, down), no dropout. */
export const BENCH_LORA: LoraConfig = { ...DEFAULT_LORA, r: 16, alpha: 32, targetModules: 'all-linear', dropout: 0 };
export const LEARNING_RATE = 1e-4;
/** The seed of the LoRA A matrices (both sides draw the same ones) and of the random weights. */
export const SEED = 0;

/** How the engine side runs: its weight storage and whether it checkpoints (the tfjs peer is always f32, no checkpointing). */
export interface EngineSettings {
  weightStorage: WeightStorage;
  gradientCheckpointing: boolean;
}

export const DEFAULT_ENGINE_SETTINGS: EngineSettings = { weightStorage: 'f32', gradientCheckpointing: false };

export interface Shape {
  batch: number;
  seq: number;
}

/** Random token ids in [0, V) for a B×T batch, labels = ids (the loss counts every position). */
export function randomBatch(B: number, T: number, V: number, seed = 1): { ids: Int32Array; labels: Int32Array } {
  const random = mulberry32(seed, 0);
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(random() * V));
  return { ids, labels: ids.slice() };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface Timing {
  warmup: number;
  steps: number;
}

/** Runs `step` warmup + steps times (each awaited to the end of its GPU work); the timed steps' wall-clock milliseconds. */
export async function timeSteps(step: () => Promise<number>, t: Timing, onLoss?: (loss: number, i: number) => void): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < t.warmup + t.steps; i++) {
    const start = performance.now();
    const loss = await step();
    const took = performance.now() - start;
    onLoss?.(loss, i);
    if (i >= t.warmup) ms.push(took);
  }
  return ms;
}

/** One side's figures for one (model, shape). */
export interface SideResult {
  /** Median wall-clock milliseconds of one optimizer step. */
  step_ms: number;
  /** batch·seq / step. */
  tokens_per_s: number;
  /** Most GPU memory held at once during set-up and training, weights included. */
  peak_bytes: number;
  /** Every timed step's milliseconds. */
  steps_ms: number[];
  /** The loss of the first step (both sides start from the same weights and adapter: these should agree). */
  first_loss: number;
  /** The loss of the last step. */
  last_loss: number;
}

export type SideOutcome = SideResult | { error: string };

export function failed(o: SideOutcome | undefined): o is { error: string } {
  return !!o && 'error' in o;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}
