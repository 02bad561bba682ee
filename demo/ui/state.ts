// The page's shared state: whether WebGPU works (and the adapter's buffer limits), the loaded model, the job the engine is running,
// the current adapter, the dataset and the training settings. Panels read it to enable or disable
// their buttons and subscribe to hear of changes; only the panel that owns a field writes it.
import type { AdapterInfo, ModelInfo } from '../../src/engine/types.js';
import type { TrainingConfigInput } from '../../src/train/config.js';

/** What the engine is busy with (it runs one job at a time). */
export type Job = 'loading' | 'training' | 'generating' | 'exporting' | 'importing' | 'merging';

export interface AppState {
  /** null while the adapter is being looked for. */
  gpuOk: boolean | null;
  /** The adapter's buffer limits (GpuInfo.limits), once the engine has found it. */
  gpuLimits: { maxBufferSize: number; maxStorageBufferBindingSize: number } | null;
  model: ModelInfo | null;
  job: Job | null;
  /** The current adapter (trained here or imported); null before one exists. */
  adapter: AdapterInfo | null;
  /** The dataset text, and what parsing it found. */
  datasetText: string;
  examples: number;
  datasetProblems: number;
  /** The training settings; null while a field is invalid. */
  config: TrainingConfigInput | null;
}

type Listener = (state: Readonly<AppState>) => void;

export class Store {
  private current: AppState = {
    gpuOk: null,
    gpuLimits: null,
    model: null,
    job: null,
    adapter: null,
    datasetText: '',
    examples: 0,
    datasetProblems: 0,
    config: null,
  };
  private readonly listeners: Listener[] = [];

  get state(): Readonly<AppState> {
    return this.current;
  }

  /** Applies `patch` and tells every listener. */
  set(patch: Partial<AppState>): void {
    this.current = { ...this.current, ...patch };
    for (const l of this.listeners) l(this.current);
  }

  /** Calls `l` now and after every change. */
  subscribe(l: Listener): void {
    this.listeners.push(l);
    l(this.current);
  }

  /** Whether the dataset can be trained on: it parsed without problems. */
  get datasetOk(): boolean {
    return this.current.datasetProblems === 0 && this.current.examples > 0;
  }

  /**
   * Runs `fn` as the engine's job `job`, so that buttons of every panel that would start
   * another job are disabled meanwhile. Throws (without running) when a job is already running.
   */
  async run<T>(job: Job, fn: () => Promise<T>): Promise<T> {
    if (this.current.job) throw new Error(`the engine is busy ${this.current.job}`);
    this.set({ job });
    try {
      return await fn();
    } finally {
      this.set({ job: null });
    }
  }
}
