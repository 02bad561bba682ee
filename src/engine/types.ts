// The product's API in one interface, LoraEngine: load a model, train an adapter on a dataset,
// evaluate, generate (base or tuned), export / import PEFT adapters, merge, and write the
// "train this on a GPU server" folder. Two implementations share it: Engine (./engine.ts), which
// runs in the calling thread (Node, or inside the browser's worker), and the proxy that
// connectEngine (./worker-client.ts) returns for a worker. Everything that crosses the interface
// is plain data (strings, numbers, Uint8Arrays, Files) or a callback, so it survives postMessage.
import type { DatasetFormat, Example } from '../train/dataset.js';
import type { EvalEvent, StepEvent, TrainResult } from '../train/events.js';
import type { TrainingConfig, TrainingConfigInput } from '../train/config.js';
import type { MemoryEstimate } from '../train/memory.js';
import type { ModelSource, PickedFile } from '../model/source.js';

/**
 * A model folder: a URL, a path on the page's site (starting with / or .), or a Hugging Face id
 * (owner/name); in Node also a folder path; in a browser also the Files of a picked folder (or
 * PickedFiles) or a directory handle; or any ModelSource (in-process engines only: a source
 * cannot be sent to a worker).
 */
export type ModelInput = string | Array<File | PickedFile> | FileSystemDirectoryHandle | ModelSource;

export interface GpuInfo {
  /** Vendor, architecture, device and description, joined. */
  name: string;
  /** The optional features this engine uses, each with whether the adapter has it. */
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  /** The adapter's limits that matter for training. */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number };
  /** describeGpu's multi-line summary. */
  summary: string;
}

export interface LoadModelProgress {
  /** 'download': bytes of a file arriving; 'upload': tensors going to the GPU. */
  phase: 'download' | 'upload';
  /** The file (download) or tensor (upload). */
  item: string;
  done: number;
  total: number;
}

export interface LoadModelOptions {
  /**
   * A Hugging Face access token for a gated model (Gemma, Llama), sent only to the Hub with this
   * load's downloads (src/model/hub.ts); default none (or the realm's default, HF_TOKEN in Node).
   */
  hfToken?: string;
  /**
   * How the large frozen matrices are stored on the GPU: 'f32' (default; for a bitsandbytes 4-bit
   * checkpoint 'nf4', its codes as they are) or 'f16', which halves
   * their memory; compute stays f32, and results differ from f32 by the f16 rounding of those weights.
   * 'nf4' and 'q8' (QLoRA) quantize the layers' projections (NF4, blocks of 64; Q8_0, blocks of 32
   * along rows, only where rows are a multiple of 32 long) and keep the embedding and head f16;
   * the matmuls dequantize as they read.
   */
  weightStorage?: 'f32' | 'f16' | 'nf4' | 'q8';
  /**
   * The name adapters trained on this model give as base_model_name_or_path (default: the model
   * argument as given when it is a string, else the source's description).
   */
  name?: string;
}

export interface ModelInfo {
  description: string;
  modelType: string;
  layers: number;
  width: number;
  heads: number;
  kvHeads: number;
  vocabulary: number;
  maxPositions: number;
  parameters: number;
  /** GPU memory the weights take. */
  gpuBytes: number;
  /** How the large frozen matrices are stored on the GPU. */
  weightStorage: 'f32' | 'f16' | 'nf4' | 'q8';
  /** Whether training and `input` prompts use the tokenizer's chat template (else the plain template). */
  chatTemplate: boolean;
  /** The module names LoRA can target in this model. */
  targetModules: string[];
}

export interface AdapterInfo {
  r: number;
  alpha: number;
  useRslora: boolean;
  targetModules: string[] | 'all-linear';
  baseModel: string;
  trainableParameters: number;
}

/** A dataset: the text of a JSONL or CSV file, or examples already parsed. */
export type DatasetInput = string | Example[];

export interface DatasetOptions {
  /** How to read text (default 'auto': JSONL when the first line starts with '{'). */
  format?: DatasetFormat;
  /** The name used in error messages (default 'dataset'). */
  fileName?: string;
}

export interface TrainCallbacks {
  /** While the examples are tokenized, before onStart: `done` of `total`, about every 1 % and at the end. */
  onPrepare?: (p: { done: number; total: number }) => void;
  /** Once the data is prepared, before the first step. */
  onStart?: (e: TrainStartEvent) => void;
  onStep?: (e: StepEvent) => void;
  onEval?: (e: EvalEvent) => void;
}

export interface TrainStartEvent {
  totalSteps: number;
  /** Optimizer steps per epoch (a step never crosses an epoch's end). */
  stepsPerEpoch: number;
  /** Steps already done: 0, or the checkpoint's step when resuming. */
  step: number;
  trainExamples: number;
  validationExamples: number;
  truncated: number;
  skipped: number;
  /** The dataset lines of the examples cut at maxLength (they are trained on), ascending. */
  truncatedLines: number[];
  /** The dataset lines of the examples with no reply token left after the cut (not used), ascending. */
  skippedLines: number[];
  trainableParameters: number;
  /** The run's settings (when resuming, the checkpoint's). */
  config: TrainingConfig;
}

/**
 * Checkpoints of a training run. A checkpoint is a Files folder: the adapter as PEFT writes it
 * (adapter_config.json, adapter_model.safetensors), AdamW's moments (optimizer.safetensors) and
 * the trainer's position, losses and evaluations (trainer_state.json); resuming from it
 * (TrainOptions.resumeFrom) continues the run bit for bit.
 */
export interface CheckpointOptions {
  /** Write a checkpoint after every `every`-th step (an integer ≥ 1), except after the last one (the adapter is the result then). */
  every: number;
  /**
   * Keeps one checkpoint (in Node e.g. checkpointFolders(dir) of ./node-engine.ts; in a page,
   * IndexedDB or a download). Training waits for it before the next step; if it throws, train()
   * rejects with its error (the steps done so far stay the current adapter).
   */
  write: (files: Files, step: number) => void | Promise<void>;
}

export interface TrainOptions extends DatasetOptions {
  /** Continue training the current adapter (trained or imported) instead of starting a new one. */
  continueAdapter?: boolean;
  /** Checkpoints every N steps. */
  checkpoint?: CheckpointOptions;
  /**
   * Continue the run a checkpoint was taken of, with the checkpoint's own settings (give no
   * config) on the same data: the result is bit for bit that of the uninterrupted run. Files from
   * a checkpoint's write() or from checkpoint(); in-process engines also take a ModelSource
   * (Node: folderSource(dir) of a checkpoint folder).
   */
  resumeFrom?: Files | ModelSource;
}

/** The trainer's result, with the adapter described rather than its weights (they stay in the engine). */
export type TrainSummary = Omit<TrainResult, 'adapter'> & { adapter: AdapterInfo };

export interface EvaluateOptions extends DatasetOptions {
  /** Use the current adapter (default true when there is one); false: the base model. */
  adapter?: boolean;
  /** Cut examples at this many tokens (default 512, at most the model's positions). */
  maxLength?: number;
}

export interface EvaluateResult {
  /** Mean cross-entropy over every target token. */
  loss: number;
  examples: number;
}

export interface GenerateRequest {
  /** 'input' (default): format the prompt as a training input and answer it, stopping at EOS. 'text': continue the raw text. */
  mode?: 'input' | 'text';
  /** Apply the current adapter (default true when there is one). */
  adapter?: boolean;
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Each newly decoded piece of text, as it is generated. */
  onText?: (text: string) => void;
}

export interface GenerateReply {
  text: string;
  tokens: number;
  stopReason: 'eos' | 'length' | 'max-positions';
  /**
   * In mode 'input', the reasoning block the model wrote before its answer (a chat template such
   * as Qwen3's has it write '<think>…</think>' first), when it wrote a non-empty one; `text` and
   * onText never include the block.
   */
  reasoning?: string;
}

export interface MemoryReport {
  estimate: MemoryEstimate;
  /** The micro-batch shape the estimate is for. */
  batchSize: number;
  sequenceLength: number;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  /** Whether the largest buffer fits the adapter's limits. */
  fits: boolean;
}

/** What exportGguf writes. */
export interface GgufExportRequest {
  /**
   * 'adapter': the current adapter as a GGUF LoRA file (llama.cpp --lora, Ollama's ADAPTER);
   * 'merged': the model with the current adapter merged into its weights, with an Ollama Modelfile.
   */
  kind: 'adapter' | 'merged';
  /** The matrices' type (default 'f16'; q8_0 rows that are not a multiple of 32 long are f16; 1-D tensors stay f32). */
  type?: 'f32' | 'f16' | 'q8_0';
}

export interface GgufExportProgress {
  /** The tensor just written, and how many of the file's tensors are written. */
  tensor: string;
  done: number;
  total: number;
}

export interface GgufExport {
  kind: 'adapter' | 'merged';
  type: 'f32' | 'f16' | 'q8_0';
  /**
   * The GGUF file, named for what it holds (adapter-f16.gguf, merged-model-f16.gguf). In a
   * browser with an origin-private file system it is backed by a file there, written tensor by
   * tensor as the export ran (it stays readable for a minute, then a later export deletes it);
   * elsewhere its bytes were gathered in memory.
   */
  file: File;
  /** Where the file's bytes were written: 'opfs' (on disk, as they were produced) or 'memory'. */
  storage: 'opfs' | 'memory';
  /** Why the bytes were gathered in memory (only when storage is 'memory'). */
  storageNote?: string;
  bytes: number;
  tensors: number;
  /** For a merged model: the Ollama Modelfile (FROM ./<file's name>), and its file name. */
  modelfile?: { name: string; text: string };
}

/** A folder as file name → bytes (names may contain '/'). */
export type Files = Record<string, Uint8Array>;

export interface LoraEngine {
  gpuInfo(): Promise<GpuInfo>;
  loadModel(model: ModelInput, onProgress?: (p: LoadModelProgress) => void, opts?: LoadModelOptions): Promise<ModelInfo>;
  /** Trains an adapter; it becomes the current adapter (also when cancelled: the steps done so far). */
  train(data: DatasetInput, config?: TrainingConfigInput, callbacks?: TrainCallbacks, opts?: TrainOptions): Promise<TrainSummary>;
  /** Between steps of a running train(); no effect when nothing is training. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  /**
   * The checkpoint of the current training run after its last completed step (during a train(),
   * taken between steps; after one, also a cancelled one, its last state). Fails when the current
   * adapter was not trained here (an imported adapter has no optimizer state).
   */
  checkpoint(): Promise<Files>;
  /**
   * Mean loss of the model (with the current adapter when there is one) on a dataset's targets:
   * forward passes only, with no optimizer state or gradient buffers.
   */
  evaluate(data: DatasetInput, opts?: EvaluateOptions): Promise<EvaluateResult>;
  generate(prompt: string, request?: GenerateRequest): Promise<GenerateReply>;
  /** adapter_config.json and adapter_model.safetensors, as PEFT writes them. */
  exportAdapter(opts?: { dtype?: 'F32' | 'F16' }): Promise<Files>;
  /** Makes a PEFT adapter folder's files the current adapter. */
  importAdapter(files: Files): Promise<AdapterInfo>;
  /** The full model folder with the current adapter merged into its weights. */
  mergeAdapter(): Promise<Files>;
  /**
   * The current adapter as a GGUF file for llama.cpp and Ollama, or the model with it merged in,
   * written tensor by tensor (in a browser to its origin-private file system where there is one),
   * with progress after each tensor. Fails with the exporter's message for an architecture GGUF
   * export does not support, and with a storage error (quota) as the browser reports it.
   */
  exportGguf(request: GgufExportRequest, onProgress?: (p: GgufExportProgress) => void): Promise<GgufExport>;
  /** The "train this on a GPU server" folder: the dataset as TRL JSONL, train.py, README.md. */
  exportTrl(data: DatasetInput, config?: TrainingConfigInput, opts?: DatasetOptions): Promise<Files>;
  /** GPU memory a training run with these settings needs on the loaded model. */
  estimateMemory(config?: TrainingConfigInput, data?: DatasetInput, opts?: DatasetOptions): Promise<MemoryReport>;
  /** Frees the model, the adapter and the device. */
  dispose(): Promise<void>;
}
