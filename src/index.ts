// The public API (browser-safe; Node-only helpers are in ./node.ts).
//
//   const ctx = await acquireDevice(navigator.gpu);                 // or acquireNodeDevice() in Node
//   const source = urlSource('https://huggingface.co/<id>/resolve/main/');
//   const model = await LanguageModel.load(ctx, source);
//   const tokenizer = await TextTokenizer.load(source);
//   const { text } = await generateText(model, tokenizer, 'Once upon a time', { maxNewTokens: 40 });
//
//   const trainer = await Trainer.create(ctx, model, tokenizer, parseDataset(jsonlText, 'auto'), { epochs: 3 });
//   const { adapter } = await trainer.run({ onStep: (e) => console.log(e.step, e.loss) });
//   const files = exportPeft(adapter, model.spec);                   // adapter_config.json + adapter_model.safetensors
export { Engine, type EngineOptions } from './engine/engine.js';
export { connectEngine, type WorkerEngine } from './engine/worker-client.js';
export type * from './engine/types.js';
export { estimateTrainingMemory, type MemoryEstimate, type MemoryEstimateOptions } from './train/memory.js';
export { zipFiles, unzipFiles, type UnzipOptions } from './io/zip.js';
export { trlExportFiles } from './train/trl-export.js';
export { cachedUrlSource, MODEL_CACHE } from './model/cached-source.js';
export { gpuMemory, resetPeak, type GpuMemory } from './gpu/tensor.js';
export { acquireDevice, describeGpu, WebGpuUnavailableError, type GpuContext, type GpuFeatures } from './gpu/device.js';
export { parseModelConfig, SUPPORTED_MODEL_TYPES, type ModelSpec, type ModelType } from './model/config.js';
export { LanguageModel, type LoadOptions, type LoadProgress } from './model/model.js';
export type { WeightStorage } from './model/gpu-weights.js';
export { forward, createInferenceState, destroyInferenceState, type InferenceState } from './model/forward.js';
export { SafetensorsError, readSafetensorsHeader, readTensorF32, writeSafetensors } from './model/safetensors.js';
export { urlSource, fileListSource, directoryHandleSource, type ModelSource } from './model/source.js';
export { TextTokenizer, StreamDecoder, type ChatMessage } from './tokenize/tokenizer.js';
export { generateTokens, type GenerateOptions, type GenerateResult } from './generate/generate.js';
export { generateText, generateTextFromIds, type GenerateTextOptions, type GenerateTextResult } from './generate/text.js';
export { sampleToken, SeededRandom, type SamplingOptions } from './generate/sampling.js';
export { parseDataset, DatasetError, type Example, type DatasetProblem } from './train/dataset.js';
export { NonFiniteTrainingError, type NonFiniteValue } from './train/trainer.js';
export { Trainer, type TrainerOptions, type RunCallbacks, type StepEvent, type EvalEvent, type TrainResult, type CheckpointFiles } from './train/trainer.js';
export { DEFAULT_TRAINING_CONFIG, resolveTrainingConfig, TrainingConfigError, type TrainingConfig, type TrainingConfigInput, type LrSchedule } from './train/config.js';
export { learningRateAt, lrFactor } from './train/schedule.js';
export { DEFAULT_LORA, type LoraConfig } from './lora/config.js';
export type { LoraAdapter } from './lora/adapter.js';
export { exportPeft, importPeft, checkAdapterFinite, type PeftFiles } from './lora/peft.js';
export { GpuLora } from './lora/gpu-lora.js';
export { mergedModelFiles } from './lora/merge.js';
export { ollamaModelfile, type OllamaModelfileOptions } from './export/modelfile.js';
export { exportGguf, collectBytes, GGUF_EXPORT_TYPES, type ExportGgufOptions, type ExportGgufResult, type GgufExportType, type ByteSink } from './export/gguf/export.js';
export { formatConversation, formatExample, formatPrompt } from './train/format.js';
