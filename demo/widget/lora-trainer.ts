// <lora-trainer>: an embeddable card that fine-tunes a LoRA adapter on the visitor's GPU and
// hands the adapter back as PEFT files. Each element owns one engine worker (created on first
// use, disposed when the element leaves the page), so several can share a page.
//
//   <script type="module" src="lora-trainer.js"></script>
//   <lora-trainer model="/models/stories260K/" dataset-src="data.jsonl" epochs="8" rank="8"></lora-trainer>
//
// Attributes: model, weights (f32, f16, q8 or nf4), dataset-src, rank, alpha, epochs, learning-rate,
// batch-size, val-split, gradient-checkpointing, checkpoint-every (./attributes.ts). Properties and
// methods: datasetText, engine, train(), exportAdapter(), generate(prompt). Events (bubbling,
// composed CustomEvents): progress (StepEvent), trained (TrainSummary; also after Stop, with
// cancelled: true), exported ({ files, zip }), error ({ message }), checkpoint ({ step, kept, message? }),
// resumable ({ step, totalSteps }).
//
// A run keeps a checkpoint every checkpoint-every steps in the browser's origin-private file system
// (src/engine/saved-runs.ts, one run per model). When a run stopped before its end (a reload, a
// closed tab, a lost GPU), the element says so and emits resumable; Train then resumes it, when
// the dataset and the settings are the same (else it starts over). A checkpoint the browser cannot
// keep (its storage is full) is reported in a checkpoint event and in the status line.
import EngineWorker from '../../workers/engine.worker.ts?worker&inline';
import { connectEngine, type WorkerEngine } from '../../src/engine/worker-client.js';
import type { LoadModelProgress, LoraEngine, ModelInfo, TrainStartEvent, TrainSummary } from '../../src/engine/types.js';
import { zipFiles } from '../../src/io/zip.js';
import type { StepEvent } from '../../src/train/events.js';
import type { SavedRuns } from '../../src/engine/saved-runs.js';
import type { CheckpointOptions } from '../../src/engine/types.js';
import { AttributeError, checkpointEveryAttribute, SWITCH_ATTRIBUTES, TRAINING_ATTRIBUTES, trainingConfigFromAttributes, weightsAttribute } from './attributes.js';
import { datasetFileName, fetchDatasetSrc, type FetchedDataset } from './dataset-src.js';
import { formatBytes, formatDuration, modelLabel, resolveModel } from './format.js';
import { keptRuns, resumes } from './kept-run.js';
import { drawSparkline, STYLES, TEMPLATE } from './template.js';

let styles: CSSStyleSheet | null = null;
/** One constructed stylesheet for every <lora-trainer> of the page. */
function widgetStyles(): CSSStyleSheet {
  if (!styles) {
    styles = new CSSStyleSheet();
    styles.replaceSync(STYLES);
  }
  return styles;
}

export type WidgetState = 'idle' | 'loading' | 'training' | 'done' | 'error';
export interface ExportedDetail { files: Record<string, Uint8Array>; zip: Blob }

export class LoraTrainerElement extends HTMLElement {
  static readonly observedAttributes = ['model', 'weights', 'dataset-src', 'checkpoint-every', ...Object.keys(TRAINING_ATTRIBUTES), ...SWITCH_ATTRIBUTES];

  /**
   * The dataset's text (JSONL or CSV), used instead of dataset-src when set (null: use dataset-src).
   * (Not `dataset`: every element's dataset is its data-* attributes.)
   */
  datasetText: string | null = null;

  private readonly root: ShadowRoot;
  private readonly el: Record<'model' | 'progress' | 'bar' | 'metrics' | 'status', HTMLElement>;
  private readonly buttons: Record<'train' | 'pause' | 'stop' | 'export', HTMLButtonElement>;
  private readonly download: HTMLAnchorElement;
  private readonly canvas: HTMLCanvasElement;
  private workerEngine: WorkerEngine | null = null;
  private worker: Worker | null = null;
  /** Rejects every pending call when the engine is disposed (a terminated worker never answers). */
  private abort: { promise: Promise<never>; reject: (e: Error) => void } | null = null;
  private loaded: { key: string; info: ModelInfo } | null = null;
  private busy: string | null = null;
  private stepping = false;
  private paused = false;
  private hasAdapter = false;
  private losses: number[] = [];
  /** Why the run's last checkpoint was not kept ('' when it was), for the status line. */
  private checkpointProblem = '';
  private downloadUrl: string | null = null;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.adoptedStyleSheets = [widgetStyles()];
    this.root.innerHTML = TEMPLATE;
    const q = <E extends HTMLElement = HTMLElement>(id: string) => this.root.querySelector(`[data-testid="${id}"]`) as E;
    this.el = { model: q('model'), progress: q('progress'), bar: this.root.querySelector('.bar') as HTMLElement, metrics: q('metrics'), status: q('status') };
    this.buttons = { train: q('train'), pause: q('pause'), stop: q('stop'), export: q('export') };
    this.download = q('download');
    this.canvas = q('sparkline');
    // Failures are shown and dispatched by fail(); the buttons need not see them.
    this.buttons.train.addEventListener('click', () => void this.train().catch(() => {}));
    this.buttons.pause.addEventListener('click', () => void this.togglePause());
    this.buttons.stop.addEventListener('click', () => void this.stop());
    this.buttons.export.addEventListener('click', () => void this.exportAdapter().catch(() => {}));
  }

  /** The engine this element trains with (its own worker), created on first use. */
  get engine(): LoraEngine {
    if (!this.workerEngine) {
      let reject!: (e: Error) => void;
      const promise = new Promise<never>((_, r) => (reject = r));
      promise.catch(() => {});
      this.abort = { promise, reject };
      this.worker = new EngineWorker();
      this.workerEngine = connectEngine(this.worker);
    }
    return this.workerEngine;
  }

  connectedCallback(): void {
    this.renderModel();
    if (!this.busy && this.state !== 'done') this.checkAttributes();
    void this.offerResume();
  }

  disconnectedCallback(): void {
    // A move within the page disconnects and reconnects in the same task: keep the engine then.
    queueMicrotask(() => {
      if (!this.isConnected) void this.teardown();
    });
  }

  attributeChangedCallback(name: string): void {
    if (name === 'model' || name === 'weights') this.renderModel();
    if (!this.busy && this.isConnected) this.checkAttributes();
  }

  /** Loads the model (if not loaded yet), trains an adapter on the dataset and resolves with the run's summary. */
  async train(): Promise<TrainSummary> {
    if (this.busy) throw new Error(`<lora-trainer> cannot train while ${this.busy}`);
    this.busy = 'training';
    this.update();
    try {
      const config = trainingConfigFromAttributes((n) => this.getAttribute(n));
      const every = checkpointEveryAttribute(this.getAttribute('checkpoint-every'));
      const data = await this.fetchDataset();
      const info = await this.ensureModel();
      this.losses = [];
      this.setProgress(0);
      this.el.metrics.textContent = '';
      drawSparkline(this.canvas, [], '');
      this.setState('training', 'preparing the data…');
      // The kept run of this model resumes when it trained this data with these settings; else a new run replaces it.
      const runs = await keptRuns(this.getAttribute('model'), document.baseURI);
      const kept = runs ? await runs.saved().catch(() => null) : null;
      const resume = resumes(kept, info, data.text, config);
      if (runs && !resume) await runs.begin({ model: info.description, datasetText: data.text, config, every });
      this.checkpointProblem = '';
      const checkpoint = runs ? this.keeping(runs, resume ? kept.run.every : every) : undefined;
      const summary = await this.call(this.engine.train(data.text, resume ? undefined : config, {
        onStart: (e) => this.onStart(e),
        onStep: (e) => this.onStep(e),
      }, { fileName: data.fileName, format: data.format, checkpoint, ...(resume ? { resumeFrom: kept.files } : {}) }));
      this.hasAdapter = true; // the run's adapter is the engine's current one, also when stopped early
      await runs?.clear().catch(() => undefined);
      this.buttons.train.textContent = 'Train';
      const loss = Number.isFinite(summary.trainLoss) ? ` · loss ${summary.trainLoss.toFixed(3)}` : '';
      const val = summary.validationLoss === null ? '' : ` · validation ${summary.validationLoss.toFixed(3)}`;
      this.setState('done', `${summary.cancelled ? 'stopped after' : 'trained'} ${summary.steps}/${summary.totalSteps} steps in ${formatDuration(summary.elapsedMs)}${loss}${val}${this.checkpointProblem}`);
      this.emit('trained', summary);
      return summary;
    } catch (e) {
      // A lost GPU took the model (and the adapter) with it: the next Train loads it again and resumes.
      if (/GPU device was lost/.test((e as Error).message)) {
        this.loaded = null;
        this.hasAdapter = false;
      }
      const error = this.fail(e);
      void this.offerResume(false);
      throw error;
    } finally {
      this.busy = null;
      this.stepping = false;
      this.paused = false;
      this.update();
    }
  }

  /** The current adapter as PEFT files; also dispatches `exported` and offers them as a zip download. */
  async exportAdapter(): Promise<Record<string, Uint8Array>> {
    if (this.busy) throw new Error(`<lora-trainer> cannot export while ${this.busy}`);
    this.busy = 'exporting';
    this.update();
    try {
      const files = await this.call(this.engine.exportAdapter());
      const zip = new Blob([zipFiles(files) as Uint8Array<ArrayBuffer>], { type: 'application/zip' });
      if (this.downloadUrl) URL.revokeObjectURL(this.downloadUrl);
      this.downloadUrl = URL.createObjectURL(zip);
      const link = this.download;
      link.href = this.downloadUrl;
      link.download = `${modelLabel(this.getAttribute('model') ?? 'model')}-lora-adapter.zip`;
      link.textContent = `Download adapter (.zip, ${formatBytes(zip.size)})`;
      link.hidden = false;
      this.setState('done', `exported ${Object.keys(files).join(', ')}`);
      this.emit('exported', { files, zip } satisfies ExportedDetail);
      return files;
    } catch (e) {
      throw this.fail(e);
    } finally {
      this.busy = null;
      this.update();
    }
  }

  /** Answers `prompt` as a training input (mode 'input') with the current adapter, loading the model first if needed. */
  async generate(prompt: string): Promise<string> {
    if (this.busy) throw new Error(`<lora-trainer> cannot generate while ${this.busy}`);
    this.busy = 'generating';
    this.update();
    try {
      await this.ensureModel();
      if (this.state === 'loading') this.settle('model loaded');
      const reply = await this.call(this.engine.generate(prompt, { mode: 'input', adapter: true }));
      return reply.text;
    } catch (e) {
      throw this.fail(e);
    } finally {
      this.busy = null;
      this.update();
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** The checkpoint option that keeps each checkpoint in `runs`, reporting one that cannot be kept. */
  private keeping(runs: SavedRuns, every: number): CheckpointOptions {
    return runs.checkpointOption(every, (step, error) => {
      if (error) this.checkpointProblem = ` · checkpoint not kept: ${error.message}`;
      this.emit('checkpoint', error ? { step, kept: false, message: error.message } : { step, kept: true });
    });
  }

  /** When a run of this model stopped before its end: says so (unless `say` is false), labels Train "Resume" and emits resumable. */
  private async offerResume(say = true): Promise<void> {
    const kept = await (await keptRuns(this.getAttribute('model'), document.baseURI))?.saved().catch(() => null);
    const c = kept?.run.checkpoint;
    if (!c || this.busy) return;
    this.buttons.train.textContent = 'Resume';
    if (say) this.setState(this.hasAdapter ? 'done' : 'idle', `a run stopped after step ${c.step} of ${c.totalSteps}: Resume continues it`);
    this.emit('resumable', { step: c.step, totalSteps: c.totalSteps });
  }

  private get state(): WidgetState {
    return this.el.status.dataset.state as WidgetState;
  }

  private setState(state: WidgetState, text: string): void {
    this.el.status.dataset.state = state;
    this.el.status.textContent = text;
  }

  /** Back to 'done' when there is an adapter, else 'idle'. */
  private settle(text: string): void {
    this.setState(this.hasAdapter ? 'done' : 'idle', text);
  }

  private setProgress(fraction: number): void {
    const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
    this.el.bar.style.width = `${(f * 100).toFixed(1)}%`;
    this.el.progress.setAttribute('aria-valuenow', f.toFixed(3));
  }

  private update(): void {
    const b = this.buttons;
    b.train.disabled = this.busy !== null;
    b.pause.disabled = !this.stepping;
    b.stop.disabled = !this.stepping;
    b.export.disabled = this.busy !== null || !this.hasAdapter;
    b.pause.textContent = this.paused ? 'Resume' : 'Pause';
  }

  /**
   * The model line: the model's name and, unless f32, the weights format the weights attribute
   * asks for (the next load uses it); data-weights holds the format the engine loaded ('' before a load).
   */
  private renderModel(): void {
    const model = this.getAttribute('model');
    let weights: string | null;
    try {
      weights = weightsAttribute(this.getAttribute('weights'));
    } catch {
      weights = null; // checkAttributes shows the error
    }
    this.el.model.textContent = model ? `${modelLabel(model)}${weights && weights !== 'f32' ? ` · ${weights} weights` : ''}` : '(no model attribute)';
    this.el.model.title = model ?? '';
    this.el.model.dataset.weights = this.loaded?.info.weightStorage ?? '';
  }

  /** Shows a malformed attribute as an error right away, and clears that error once fixed. */
  private checkAttributes(): void {
    try {
      trainingConfigFromAttributes((n) => this.getAttribute(n));
      weightsAttribute(this.getAttribute('weights'));
      if (this.state === 'error' && this.el.status.dataset.cause === 'attribute') this.settle('ready');
      else if (this.state === 'idle' && !this.el.status.textContent) this.settle('ready');
    } catch (e) {
      this.setState('error', (e as Error).message);
      this.el.status.dataset.cause = 'attribute';
    }
  }

  /** Shows and dispatches an error; returns it for rethrowing. */
  private fail(e: unknown): Error {
    const error = e instanceof Error ? e : new Error(String(e));
    this.setState('error', error.message);
    this.el.status.dataset.cause = error instanceof AttributeError ? 'attribute' : 'run';
    this.emit('error', { message: error.message });
    return error;
  }

  private emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** `p`, or a rejection once the engine is disposed. */
  private call<T>(p: Promise<T>): Promise<T> {
    return this.abort ? Promise.race([p, this.abort.promise]) : p;
  }

  /** The datasetText property, else dataset-src fetched. */
  private async fetchDataset(): Promise<FetchedDataset> {
    if (this.datasetText !== null) return { text: this.datasetText, fileName: 'dataset', format: 'auto' };
    const src = this.getAttribute('dataset-src');
    if (!src) throw new Error('no dataset: set the dataset-src attribute or the dataset property');
    this.setState('loading', `fetching ${datasetFileName(src, document.baseURI)}…`);
    return fetchDatasetSrc(src, document.baseURI);
  }

  /** Loads the model attribute's model unless it is the one loaded; shows the download. */
  private async ensureModel(): Promise<ModelInfo> {
    const model = this.getAttribute('model');
    if (!model?.trim()) throw new Error('no model: set the model attribute (a Hugging Face id or the URL of a model folder)');
    const url = resolveModel(model, document.baseURI);
    const weightStorage = weightsAttribute(this.getAttribute('weights'));
    const key = `${url} (${weightStorage} weights)`;
    if (this.loaded?.key === key) return this.loaded.info;
    this.loaded = null;
    this.renderModel();
    this.hasAdapter = false; // loading a model drops the adapter of the previous one
    this.setState('loading', 'loading the model…');
    this.setProgress(0);
    const info = await this.call(this.engine.loadModel(url, (p) => this.onLoadProgress(p), { weightStorage }));
    this.loaded = { key, info };
    this.renderModel();
    this.setProgress(1);
    return info;
  }

  private onLoadProgress(p: LoadModelProgress): void {
    if (p.phase === 'download') {
      const known = p.total > 0 && Number.isFinite(p.total);
      this.setProgress(known ? p.done / p.total : 0);
      this.setState('loading', `downloading ${p.item} ${known ? `${Math.round((100 * p.done) / p.total)}% of ${formatBytes(p.total)}` : formatBytes(p.done)}`);
    } else {
      this.setProgress(p.done / p.total);
      this.setState('loading', `uploading weights to the GPU ${p.done}/${p.total}`);
    }
  }

  private onStart(e: TrainStartEvent): void {
    this.stepping = true;
    this.update();
    const val = e.validationExamples ? ` (+${e.validationExamples} validation)` : '';
    this.setState('training', `training on ${e.trainExamples} examples${val}: ${e.totalSteps} steps`);
    this.el.metrics.textContent = `step 0/${e.totalSteps}`;
  }

  private onStep(e: StepEvent): void {
    this.losses.push(e.loss);
    this.setProgress(e.step / e.totalSteps);
    const eta = e.step < e.totalSteps ? ` · ETA ${formatDuration(e.etaMs)}` : '';
    this.el.metrics.textContent = `step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(3)} · ${Math.round(e.tokensPerSecond)} tok/s${eta}`;
    drawSparkline(this.canvas, this.losses, getComputedStyle(this.el.bar).backgroundColor);
    if (!this.paused) this.setState('training', `training: epoch ${e.epoch.toFixed(2)}, learning rate ${e.learningRate.toPrecision(3)}`);
    this.emit('progress', e);
  }

  private async togglePause(): Promise<void> {
    if (!this.stepping) return;
    this.paused = !this.paused;
    this.update();
    try {
      if (this.paused) {
        await this.call(this.engine.pause());
        this.setState('training', 'paused (after the current step)');
      } else {
        await this.call(this.engine.resume());
        this.setState('training', 'resumed');
      }
    } catch (e) {
      this.fail(e);
    }
  }

  private async stop(): Promise<void> {
    if (!this.stepping) return;
    this.setState('training', 'stopping after the current step…');
    try {
      await this.call(this.engine.cancel());
    } catch (e) {
      this.fail(e);
    }
  }

  /** Disposes the engine and ends its worker (after 5 s at most), and fails every pending call. */
  private async teardown(): Promise<void> {
    const engine = this.workerEngine;
    const worker = this.worker;
    this.worker = null;
    this.abort?.reject(new Error('<lora-trainer> was removed from the page'));
    this.workerEngine = null;
    this.abort = null;
    this.loaded = null;
    this.hasAdapter = false;
    this.stepping = false;
    this.paused = false;
    if (this.downloadUrl) URL.revokeObjectURL(this.downloadUrl);
    this.downloadUrl = null;
    this.download.hidden = true;
    this.update();
    if (!engine) return;
    // A worker busy in a long GPU step answers dispose() late, or never if it is stuck: end it anyway.
    const timeout = new Promise<void>((done) => setTimeout(done, 5000));
    await Promise.race([engine.dispose().catch(() => {}), timeout]);
    worker?.terminate();
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'lora-trainer': LoraTrainerElement;
  }
}

if (!customElements.get('lora-trainer')) customElements.define('lora-trainer', LoraTrainerElement);
