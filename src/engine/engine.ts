// Engine: the LoraEngine (./types.ts) running in this thread. It owns one GPU device, at most one
// model with its tokenizer, and the current adapter (trained here or imported), kept on the GPU
// for generation. Node uses it directly (createEngine in ../node.ts); in a browser it lives in
// the worker (workers/engine.worker.ts) and the page talks to it through connectEngine.
//
// One job at a time: training, evaluation, generation and exports do not overlap (a second call
// while one runs fails with a message saying what is running); pause, resume, cancel and
// checkpoint act on a running train() (checkpoint also on the last one).
//
// Checkpoints: train()'s `checkpoint` option hands a checkpoint (Files) to its write() every N
// steps and waits for it; checkpoint() takes one on demand (the CLI's Ctrl-C); `resumeFrom`
// continues from one, bit for bit (../train/trainer.ts and ../train/checkpoint.ts do the work).
// evaluate() is a loss-only forward pass (./loss-pass.ts): no optimizer state, no gradients.
// exportGguf() writes a GGUF file (./gguf-export.ts), in a browser to its private file system.
import { acquireDevice, describeGpu, DeviceLostError, deviceLostWithin, type GpuContext } from '../gpu/device.js';
import { gpuMemory } from '../gpu/tensor.js';
import { generateTextFromIds } from '../generate/text.js';
import { loraParameterCount, type LoraAdapter } from '../lora/adapter.js';
import { targetableNames } from '../lora/config.js';
import { GpuLora } from '../lora/gpu-lora.js';
import { mergedModelFiles } from '../lora/merge.js';
import { exportPeft, importPeft } from '../lora/peft.js';
import { cachedUrlSource, hasCacheStorage } from '../model/cached-source.js';
import { normalizeHubToken } from '../model/hub.js';
import { assertWeightStorage } from '../model/gpu-weights.js';
import { LanguageModel } from '../model/model.js';
import { directoryHandleSource, fileListSource, memorySource, urlSource, type ModelSource } from '../model/source.js';
import { TextTokenizer } from '../tokenize/tokenizer.js';
import { resolveTrainingConfig, type TrainingConfigInput } from '../train/config.js';
import { parseDataset, type Example } from '../train/dataset.js';
import { formatPrompt } from '../train/format.js';
import { estimateTrainingMemory, modelParameterCount } from '../train/memory.js';
import { prepareExamples, type PartFormatter } from '../train/prepare.js';
import { checkAdapterFits, Trainer } from '../train/trainer.js';
import { trlExportFiles } from '../train/trl-export.js';
import { checkGgufRequest, writeGgufExport } from './gguf-export.js';
import { meanLoss } from './loss-pass.js';
import { bindingLimit } from '../model/vocab-blocks.js';
import type {
  AdapterInfo, DatasetInput, DatasetOptions, EvaluateOptions, EvaluateResult, Files, GenerateReply, GenerateRequest, GgufExport, GgufExportProgress, GgufExportRequest, GpuInfo,
  LoadModelOptions, LoadModelProgress, LoraEngine, MemoryReport, ModelInfo, ModelInput, TrainCallbacks, TrainOptions, TrainSummary,
} from './types.js';

export interface EngineOptions {
  /** The device to use; default one from `gpu`. */
  ctx?: GpuContext;
  /** The WebGPU entry point (default navigator.gpu). */
  gpu?: GPU;
  /** What to tell the user when there is no WebGPU adapter (default: the browser advice). */
  gpuHelp?: string;
  /** Turns a string that is not a URL or Hugging Face id into a source (Node: a folder path). */
  resolvePath?: (path: string) => ModelSource;
  /** Keep downloaded model files in Cache Storage where it exists (default true). */
  cacheModels?: boolean;
  /** Formats training examples elsewhere (the CLI: worker threads, ../cli/format-workers.ts); default in this thread. */
  formatter?: PartFormatter;
}

interface Loaded {
  model: LanguageModel;
  tokenizer: TextTokenizer;
  /** The name exported adapters give as base_model_name_or_path. */
  name: string;
}

/** A LoraAdapter rather than Files (whose values are all Uint8Arrays). */
const isAdapter = (x: Files | LoraAdapter): x is LoraAdapter => x.weights instanceof Map && Array.isArray(x.modules);

/** A Hugging Face id: owner/name, nothing else. */
const HF_ID = /^[\w.-]+\/[\w.-]+$/;

/** A path on the page's own site: /models/x/, ./x/, ../x/ (resolved against the page's or the worker's address). */
const SITE_PATH = /^\.{0,2}\//;

export class Engine implements LoraEngine {
  private ctx: GpuContext | null;
  private loaded: Loaded | null = null;
  /** The current adapter on the GPU (a trainer's, or an imported one) and its CPU copy when known. */
  private lora: GpuLora | null = null;
  private adapter: LoraAdapter | null = null;
  private trainer: Trainer | null = null;
  private job: { what: string; done: Promise<void> } | null = null;
  /** pause() or cancel() asked for while a train() was still preparing its trainer. */
  private early: { pause: boolean; cancel: boolean } = { pause: false, cancel: false };

  constructor(private readonly opts: EngineOptions = {}) {
    this.ctx = opts.ctx ?? null;
  }

  private async device(): Promise<GpuContext> {
    this.ctx ??= await acquireDevice(this.opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined), this.opts.gpuHelp);
    return this.ctx;
  }

  async gpuInfo(): Promise<GpuInfo> {
    const ctx = await this.device();
    const a = ctx.adapterInfo;
    const l = ctx.limits;
    return {
      name: [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ') || '(unnamed adapter)',
      features: { ...ctx.features },
      limits: {
        maxBufferSize: l.maxBufferSize,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      },
      summary: describeGpu(ctx),
    };
  }

  async loadModel(input: ModelInput, onProgress?: (p: LoadModelProgress) => void, opts: LoadModelOptions = {}): Promise<ModelInfo> {
    // Checked before the current model is unloaded; none given: the model's default (LanguageModel.load).
    const storage = opts.weightStorage === undefined ? undefined : assertWeightStorage(opts.weightStorage);
    return this.exclusive('loading a model', async () => {
      const ctx = await this.device();
      const download = (item: string, done: number, total: number) => onProgress?.({ phase: 'download', item, done, total });
      const source = this.source(input, download, opts.hfToken);
      const tokenizer = await TextTokenizer.load(source);
      this.unload();
      const before = gpuMemory(ctx).current;
      const model = await LanguageModel.load(ctx, source, (p) => onProgress?.({ phase: 'upload', item: p.tensor, done: p.done, total: p.total }), { weightStorage: storage });
      const name = opts.name ?? (typeof input === 'string' ? input.trim() : source.description);
      this.loaded = { model, tokenizer, name };
      const s = model.spec;
      return {
        description: source.description,
        modelType: s.modelType,
        layers: s.L,
        width: s.C,
        heads: s.NH,
        kvHeads: s.KV,
        vocabulary: s.V,
        maxPositions: s.maxPositions,
        parameters: modelParameterCount(s),
        gpuBytes: gpuMemory(ctx).current - before,
        weightStorage: model.weightStorage,
        chatTemplate: tokenizer.chatTemplate !== null,
        targetModules: targetableNames(s),
      };
    });
  }

  async train(data: DatasetInput, config: TrainingConfigInput = {}, callbacks: TrainCallbacks = {}, opts: TrainOptions = {}): Promise<TrainSummary> {
    const { model, tokenizer, name } = this.requireModel();
    const examples = this.examples(data, opts);
    if (opts.continueAdapter && !this.adapter && !this.trainer) throw new Error('there is no adapter to continue: train or import one first');
    const { resumeFrom, checkpoint } = opts;
    if (resumeFrom !== undefined) {
      const given = Object.keys(config).filter((k) => (config as Record<string, unknown>)[k] !== undefined);
      if (given.length) throw new Error(`resumeFrom continues with the checkpoint's own settings: give no config (got ${given.join(', ')})`);
      if (opts.continueAdapter) throw new Error('resumeFrom continues the checkpoint\'s adapter: leave out continueAdapter');
    }
    if (checkpoint !== undefined) {
      if (!Number.isSafeInteger(checkpoint.every) || checkpoint.every < 1) throw new Error(`checkpoint.every must be an integer ≥ 1, got ${checkpoint.every}`);
      if (typeof checkpoint.write !== 'function') throw new Error('checkpoint.write must be a function that keeps the checkpoint\'s files');
    }
    return this.exclusive('training', async () => {
      this.early = { pause: false, cancel: false };
      const ctx = await this.device();
      const start = opts.continueAdapter ? await this.currentAdapter() : undefined;
      // A trained adapter names the model it was trained on (also when continuing one made elsewhere).
      const trainer = resumeFrom !== undefined
        ? await Trainer.fromCheckpoint(ctx, model, tokenizer, examples, resumeFrom, { onPrepare: callbacks.onPrepare, formatter: this.opts.formatter })
        : await Trainer.create(ctx, model, tokenizer, examples, config, { adapter: start, baseModel: name, onPrepare: callbacks.onPrepare, formatter: this.opts.formatter });
      this.dropAdapter();
      this.trainer = trainer;
      this.lora = trainer.lora;
      if (this.early.pause) trainer.pause();
      if (this.early.cancel) trainer.cancel();
      callbacks.onStart?.({
        totalSteps: trainer.totalSteps,
        stepsPerEpoch: trainer.stepsPerEpoch,
        step: trainer.step,
        trainExamples: trainer.data.train.length,
        validationExamples: trainer.data.validation.length,
        truncated: trainer.truncated,
        skipped: trainer.skipped,
        truncatedLines: [...trainer.data.truncatedLines],
        skippedLines: [...trainer.data.skippedLines],
        trainableParameters: trainer.lora.trainableParameters,
        config: trainer.config,
      });
      const r = await trainer.run({
        onStep: async (e) => {
          await callbacks.onStep?.(e);
          // After the step's report, before the next step: the checkpoint holds this step's state.
          if (checkpoint && e.step % checkpoint.every === 0 && e.step < e.totalSteps) await checkpoint.write({ ...(await trainer.checkpoint()) }, e.step);
        },
        onEval: callbacks.onEval,
      });
      this.adapter = r.adapter;
      const { adapter: _, ...summary } = r;
      return { ...summary, adapter: this.describeAdapter(r.adapter) };
    });
  }

  async pause(): Promise<void> {
    if (this.job?.what !== 'training') return;
    if (this.trainer) this.trainer.pause();
    else this.early.pause = true;
  }

  async resume(): Promise<void> {
    if (this.job?.what !== 'training') return;
    this.trainer?.resume();
    this.early.pause = false;
  }

  async cancel(): Promise<void> {
    if (this.job?.what !== 'training') return;
    if (this.trainer) this.trainer.cancel();
    else this.early.cancel = true;
  }

  async checkpoint(): Promise<Files> {
    const trainer = this.trainer;
    if (!trainer) throw new Error('there is no training run to checkpoint: train an adapter first (an imported adapter has no optimizer state)');
    // During a train() the trainer takes it between two steps; otherwise it is a job of its own.
    if (this.job?.what === 'training') return { ...(await trainer.checkpoint()) };
    return this.exclusive('checkpointing', async () => ({ ...(await trainer.checkpoint()) }));
  }

  async evaluate(data: DatasetInput, opts: EvaluateOptions = {}): Promise<EvaluateResult> {
    const { model, tokenizer } = this.requireModel();
    const examples = this.examples(data, opts);
    return this.exclusive('evaluating', async () => {
      // The rows and batches a trainer with the default settings (and no validation split) would
      // evaluate, through the loss-only pass: the current adapter's GPU copy, or none (the base model).
      const c = resolveTrainingConfig({ valSplit: 0, maxLength: opts.maxLength ?? 512 });
      const lora = (opts.adapter ?? true) && this.lora ? this.lora : undefined;
      const maxLength = Math.min(c.maxLength, model.spec.maxPositions);
      const data = prepareExamples(examples, tokenizer, { maxLength, trainOnInputs: c.trainOnInputs, valSplit: 0, seed: c.seed });
      const padId = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
      const loss = await meanLoss(await this.device(), model.weights, lora, data.train, { batchSize: c.batchSize, longest: data.longest, padId });
      return { loss, examples: data.train.length };
    });
  }

  async generate(prompt: string, request: GenerateRequest = {}): Promise<GenerateReply> {
    const { model, tokenizer } = this.requireModel();
    return this.exclusive('generating', async () => {
      const { mode = 'input', adapter = true, onText, ...sampling } = request;
      let promptIds: number[];
      let eosTokenIds = model.eosTokenIds;
      if (mode === 'input') {
        promptIds = formatPrompt(prompt, tokenizer);
        // Training ends every answer with the tokenizer's EOS: stop there too.
        if (tokenizer.eosTokenId !== null) eosTokenIds = [...new Set([...eosTokenIds, tokenizer.eosTokenId])];
      } else {
        promptIds = tokenizer.encode(prompt);
      }
      const lora = adapter && this.lora ? this.lora : undefined;
      const r = await generateTextFromIds(model, tokenizer, promptIds, { maxNewTokens: 128, temperature: 0, ...sampling, eosTokenIds, lora, onText, splitReasoning: mode === 'input' });
      return { text: r.text, tokens: r.ids.length, stopReason: r.stopReason, ...(r.reasoning === undefined ? {} : { reasoning: r.reasoning }) };
    });
  }

  async exportAdapter(opts: { dtype?: 'F32' | 'F16' } = {}): Promise<Files> {
    const { model } = this.requireModel();
    const adapter = await this.exclusive('exporting', () => this.currentAdapter());
    return { ...exportPeft(adapter, model.spec, opts) };
  }

  /**
   * Makes a PEFT adapter folder's files the current adapter; in-process callers may also give an
   * adapter already read for this model (importPeft).
   */
  async importAdapter(files: Files | LoraAdapter): Promise<AdapterInfo> {
    const { model } = this.requireModel();
    return this.exclusive('importing an adapter', async () => {
      if (isAdapter(files)) checkAdapterFits(files, model.spec, 'the adapter'); // (importPeft checks the files)
      const adapter = isAdapter(files) ? files : await importPeft(memorySource(files, 'the imported adapter'), model.spec);
      const lora = GpuLora.create(await this.device(), adapter);
      this.dropAdapter();
      this.adapter = adapter;
      this.lora = lora;
      return this.describeAdapter(adapter);
    });
  }

  async mergeAdapter(): Promise<Files> {
    const { model } = this.requireModel();
    return this.exclusive('merging', async () => mergedModelFiles(model.source, model.spec, await this.currentAdapter()));
  }

  async exportGguf(request: GgufExportRequest, onProgress?: (p: GgufExportProgress) => void): Promise<GgufExport> {
    const { model, tokenizer } = this.requireModel();
    const checked = checkGgufRequest(request);
    return this.exclusive('exporting GGUF', async () => writeGgufExport(model, tokenizer, await this.currentAdapter(), checked, onProgress));
  }

  async exportTrl(data: DatasetInput, config: TrainingConfigInput = {}, opts: DatasetOptions = {}): Promise<Files> {
    const { tokenizer, name } = this.requireModel();
    const examples = this.examples(data, opts);
    const eos = tokenizer.eosTokenId;
    return trlExportFiles(examples, resolveTrainingConfig(config), {
      baseModel: name,
      hasChatTemplate: tokenizer.chatTemplate !== null,
      eosToken: eos === null ? undefined : tokenizer.decode([eos], { skipSpecialTokens: false }),
    });
  }

  async estimateMemory(config: TrainingConfigInput = {}, data?: DatasetInput, opts: DatasetOptions = {}): Promise<MemoryReport> {
    const { model, tokenizer } = this.requireModel();
    const ctx = await this.device();
    const c = resolveTrainingConfig(config);
    const maxLength = Math.min(c.maxLength, model.spec.maxPositions);
    // The buffers are planned for the longest formatted example; without data, for maxLength.
    const T = data === undefined ? maxLength : prepareExamples(this.examples(data, opts), tokenizer, { maxLength, trainOnInputs: c.trainOnInputs, valSplit: 0, seed: c.seed }).longest;
    const estimate = estimateTrainingMemory(model.spec, c.lora, c.batchSize, T, {
      gradientCheckpointing: c.gradientCheckpointing,
      weightStorage: model.weightStorage,
      storageOffsetAlignment: ctx.limits.minStorageBufferOffsetAlignment,
      maxBindingBytes: bindingLimit(ctx),
    });
    const limits = { maxBufferSize: ctx.limits.maxBufferSize, maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize };
    const fits = estimate.largestBufferBytes <= Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    return { estimate, batchSize: c.batchSize, sequenceLength: T, limits, fits };
  }

  /** Stops a running training after its current step, waits for any job to end, and frees everything. */
  async dispose(): Promise<void> {
    await this.cancel();
    await this.job?.done;
    this.unload();
    if (this.ctx !== this.opts.ctx) this.ctx?.device.destroy(); // only a device the engine made
    this.ctx = null;
  }

  /** The loaded model, for in-process callers that need more than ModelInfo (the CLI: its spec); null before loadModel. */
  get model(): LanguageModel | null {
    return this.loaded?.model ?? null;
  }

  // ---- helpers ------------------------------------------------------------------------------

  private source(input: ModelInput, onProgress: (file: string, done: number, total: number) => void, hfToken?: string): ModelSource {
    if (typeof input !== 'string') {
      if (Array.isArray(input)) return fileListSource(input);
      if ('getDirectoryHandle' in input) return directoryHandleSource(input as FileSystemDirectoryHandle);
      return input as ModelSource;
    }
    const s = input.trim();
    if (!s) throw new Error('no model given: enter a Hugging Face id (owner/name), a URL of a model folder, or pick a folder');
    let url: string | null = null;
    if (/^https?:\/\//.test(s)) url = s;
    else if (HF_ID.test(s) && !this.opts.resolvePath) url = `https://huggingface.co/${s}/resolve/main/`;
    else if (this.opts.resolvePath) return this.opts.resolvePath(s);
    else if (SITE_PATH.test(s) && typeof location !== 'undefined' && /^(https?|file):/.test(location.href)) url = new URL(s, location.href).href; // a path on this site
    if (url === null) {
      throw new Error(`'${s}' is not a model: give a Hugging Face id (owner/name), the URL of a model folder (https://...), or a path on this site starting with /, ./ or ../`);
    }
    const base = url.endsWith('/') ? url : `${url}/`;
    // config.json is looked for first, so that an address that is not a model folder is reported as such.
    const options = { onProgress, requireFile: 'config.json', ...(hfToken === undefined ? {} : { hfToken: normalizeHubToken(hfToken) }) };
    return this.opts.cacheModels !== false && hasCacheStorage() ? cachedUrlSource(base, options) : urlSource(base, options);
  }

  private examples(data: DatasetInput, opts: DatasetOptions): Example[] {
    return typeof data === 'string' ? parseDataset(data, opts.format ?? 'auto', opts.fileName ?? 'dataset') : data;
  }

  private requireModel(): Loaded {
    if (!this.loaded) throw new Error('no model is loaded: call loadModel first');
    return this.loaded;
  }

  private async currentAdapter(): Promise<LoraAdapter> {
    if (this.trainer) this.adapter = await this.trainer.adapter();
    if (!this.adapter) throw new Error('there is no adapter yet: train one or import one');
    return this.adapter;
  }

  private describeAdapter(a: LoraAdapter): AdapterInfo {
    const c = a.config;
    return {
      r: c.r,
      alpha: c.alpha,
      useRslora: c.useRslora,
      targetModules: c.targetModules,
      baseModel: a.baseModel,
      trainableParameters: loraParameterCount(a),
    };
  }

  /** Frees the current adapter (and the trainer that holds it). */
  private dropAdapter(): void {
    if (this.trainer) this.trainer.destroy();
    else this.lora?.destroy();
    this.trainer = null;
    this.lora = null;
    this.adapter = null;
  }

  private unload(): void {
    this.dropAdapter();
    this.loaded?.model.destroy();
    this.loaded = null;
  }

  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.job) throw new Error(`cannot start ${what} while ${this.job.what}`);
    let finished!: () => void;
    this.job = { what, done: new Promise<void>((resolve) => (finished = resolve)) };
    try {
      return await fn();
    } catch (e) {
      // A GPU operation that fails because the device was lost fails with a vague error (or none:
      // Dawn's is empty). The device says so itself within moments: then everything on it is gone.
      const lost = this.ctx ? await deviceLostWithin(this.ctx, 200) : null;
      if (!lost) throw e;
      this.forgetDevice();
      throw new DeviceLostError(
        `the GPU device was lost while ${what} (${lost.reason || 'no reason given'}${lost.message ? `: ${lost.message}` : ''}); ` +
          'load the model again to go on (a training run continues from its last checkpoint)',
      );
    } finally {
      this.job = null;
      finished();
    }
  }

  /** After a device loss: the model, the adapter on the GPU and the device are gone; the next call gets a new device. */
  private forgetDevice(): void {
    this.unload();
    this.ctx = null;
  }
}
