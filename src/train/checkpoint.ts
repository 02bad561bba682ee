// The files of a training checkpoint, from which a run resumes exactly where it stopped:
//   adapter_config.json, adapter_model.safetensors   the adapter, as a PEFT folder (exportPeft)
//   optimizer.safetensors    AdamW's first and second moments of every lora_A / lora_B, under
//                            exp_avg.<PEFT key> and exp_avg_sq.<PEFT key> (torch's state names),
//                            F32, and `step` (I32 [1]): the optimizer steps taken (AdamW's t)
//   trainer_state.json       the config, the position (step, epoch, batch within the epoch), the
//                            data fingerprint, the losses and evaluations so far, the time spent
// The moments are stored per module, in PEFT's layouts, not in the GPU buffer's padded layout (which
// depends on the device's offset alignment), so a checkpoint moves between GPUs.
import type { GpuLora } from '../lora/gpu-lora.js';
import { peftKey } from '../lora/config.js';
import type { PeftFiles } from '../lora/peft.js';
import { readSafetensorsHeader, readTensorF32, readTensorI32, writeSafetensors, type TensorToWrite } from '../model/safetensors.js';
import { memorySource, type ModelSource } from '../model/source.js';
import { resolveTrainingConfig, type TrainingConfig } from './config.js';

export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE_FILE = 'trainer_state.json';
const STATE_FORMAT = 'webgpu-lora-trainer-state';

export interface CheckpointFiles extends PeftFiles {
  'optimizer.safetensors': Uint8Array;
  'trainer_state.json': Uint8Array;
}

export interface TrainerState {
  format: typeof STATE_FORMAT;
  version: 1;
  config: TrainingConfig;
  baseModel: string;
  /** Optimizer steps done, and of how many. */
  step: number;
  totalSteps: number;
  /** The epoch the next batch comes from (0-based), and that batch's index within the epoch. */
  epoch: number;
  batchInEpoch: number;
  /** Each epoch's order is epochOrder(train rows, epoch, orderSeed). */
  orderSeed: number;
  data: { train: number; validation: number; fingerprint: string };
  /** The loss of every step so far (null in the file for a loss that was NaN or infinite). */
  losses: number[];
  evaluations: Array<{ step: number; validationLoss: number }>;
  /** Time spent training (not paused), in milliseconds. */
  elapsedMs: number;
}

export interface OptimizerState {
  m: Float32Array;
  v: Float32Array;
  step: number;
}

/** Flat moments (the GPU layout of `lora`) → optimizer.safetensors. */
export function encodeOptimizer(lora: GpuLora, s: OptimizerState): Uint8Array {
  const tensors: TensorToWrite[] = [];
  for (const [name, flat] of [['exp_avg', s.m], ['exp_avg_sq', s.v]] as const) {
    for (const [key, shape, data] of perModule(lora, flat)) tensors.push({ name: `${name}.${key}`, dtype: 'F32', shape, data });
  }
  tensors.push({ name: 'step', dtype: 'I32', shape: [1], data: new Int32Array([s.step]) });
  return writeSafetensors(tensors, { format: 'webgpu-lora-adamw' });
}

/** optimizer.safetensors → flat moments in the GPU layout of `lora`; every tensor must be there. */
export async function decodeOptimizer(lora: GpuLora, source: ModelSource): Promise<OptimizerState> {
  const where = `${source.description}/${OPTIMIZER_FILE}`;
  const header = await readSafetensorsHeader(source, OPTIMIZER_FILE);
  const n = lora.params.size;
  const out = { m: new Float32Array(n), v: new Float32Array(n) };
  for (const [name, flat] of [['exp_avg', out.m], ['exp_avg_sq', out.v]] as const) {
    for (const [key, shape, data] of perModule(lora, new Float32Array(n))) {
      const info = header.tensors.get(`${name}.${key}`);
      if (!info || info.dtype !== 'F32' || info.shape.join() !== shape.join()) {
        throw new Error(`${where}: tensor '${name}.${key}' is missing or is not F32 [${shape.join(', ')}]; the checkpoint does not belong to this adapter`);
      }
      data.set(await readTensorF32(source, header, `${name}.${key}`));
      toFlat(lora, key, data, flat);
    }
  }
  if (!header.tensors.has('step')) throw new Error(`${where}: tensor 'step' is missing`);
  const step = (await readTensorI32(source, header, 'step'))[0];
  return { ...out, step };
}

/** [PEFT key, shape, values] of each lora_A / lora_B, cut out of a flat buffer of lora's layout. */
function perModule(lora: GpuLora, flat: Float32Array): Array<[string, number[], Float32Array]> {
  const r = lora.adapter.config.r;
  const out: Array<[string, number[], Float32Array]> = [];
  for (const m of lora.adapter.modules) {
    for (const factor of ['A', 'B'] as const) {
      const shape = factor === 'A' ? [r, m.inFeatures] : [m.outFeatures, r];
      const data = new Float32Array(shape[0] * shape[1]);
      for (const s of lora.segments) {
        if (s.module === m && s.factor === factor) data.set(flat.subarray(s.offset, s.offset + s.rows * s.cols), s.rowStart * s.cols);
      }
      out.push([peftKey(m, factor), shape, data]);
    }
  }
  return out;
}

/** Write one module factor's values (by PEFT key) into their segments of a flat buffer. */
function toFlat(lora: GpuLora, key: string, data: Float32Array, flat: Float32Array): void {
  for (const s of lora.segments) {
    if (peftKey(s.module, s.factor) === key) flat.set(data.subarray(s.rowStart * s.cols, (s.rowStart + s.rows) * s.cols), s.offset);
  }
}

export function encodeState(s: TrainerState): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(s, null, 2)}\n`);
}

/** trainer_state.json, checked field by field (its config through resolveTrainingConfig). */
export async function decodeState(source: ModelSource): Promise<TrainerState> {
  const where = `${source.description}/${TRAINER_STATE_FILE}`;
  if (!(await source.exists(TRAINER_STATE_FILE))) throw new Error(`${where} is missing; this is not a training checkpoint folder`);
  let s: TrainerState;
  try {
    s = JSON.parse(new TextDecoder().decode(await source.read(TRAINER_STATE_FILE)));
  } catch (e) {
    throw new Error(`${where} is not valid JSON: ${(e as Error).message}`);
  }
  if (s?.format !== STATE_FORMAT || s.version !== 1) throw new Error(`${where} is not a webgpu-lora trainer state (version 1)`);
  const ints = ['step', 'totalSteps', 'epoch', 'batchInEpoch', 'orderSeed'] as const;
  for (const k of ints) if (!Number.isSafeInteger(s[k]) || s[k] < 0) throw new Error(`${where}: ${k} must be an integer ≥ 0`);
  if (!Array.isArray(s.losses) || s.losses.length !== s.step || !s.losses.every((x) => typeof x === 'number' || x === null)) {
    throw new Error(`${where}: losses must list one number (null for one that was not finite) per step (${s.step})`);
  }
  s.losses = s.losses.map((x) => x ?? NaN); // JSON writes NaN and ±Infinity (a skipped step's loss) as null
  if (!Array.isArray(s.evaluations) || !s.evaluations.every((e) => Number.isSafeInteger(e?.step) && typeof e.validationLoss === 'number')) {
    throw new Error(`${where}: evaluations must be a list of {step, validationLoss}`);
  }
  if (typeof s.data?.fingerprint !== 'string' || !Number.isSafeInteger(s.data.train) || !Number.isSafeInteger(s.data.validation)) {
    throw new Error(`${where}: data must be {train, validation, fingerprint}`);
  }
  if (typeof s.baseModel !== 'string' || typeof s.elapsedMs !== 'number') throw new Error(`${where}: baseModel and elapsedMs are required`);
  try {
    s.config = resolveTrainingConfig(s.config);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  return s;
}

/** A checkpoint given as files in memory (file name → bytes) or as a folder-like source. */
export function checkpointSource(files: CheckpointFiles | Record<string, Uint8Array> | ModelSource): ModelSource {
  return 'read' in files && typeof files.read === 'function'
    ? (files as ModelSource)
    : memorySource(files as unknown as Record<string, Uint8Array>, 'checkpoint');
}
