// A training run kept in the browser's origin-private file system (OPFS), so that it survives a
// reload, a closed tab or a lost GPU: what was trained (the model's name, the dataset's text, the
// settings) and its latest checkpoint (the Files of TrainOptions.checkpoint.write, which
// TrainOptions.resumeFrom continues bit for bit).
//
//   <OPFS>/webgpu-lora-runs/<key>/run.json            SavedRun, naming the latest complete checkpoint
//   <OPFS>/webgpu-lora-runs/<key>/checkpoint-<step>/  that checkpoint's files
//
// One run is kept per key (the demo's, each widget model's); starting another replaces it. A checkpoint folder is written whole before
// run.json names it (a file written through createWritable() is replaced only when the stream
// closes), and the folder it replaces is removed afterwards, so a reload at any moment finds
// run.json naming a complete checkpoint, or none yet. When the browser's storage quota is
// exhausted, the partial folder is removed and saveCheckpoint throws a StorageFullError that says
// how much was needed and how much is in use: the caller reports it (and training may go on).
import { checkpointSource, decodeState } from '../train/checkpoint.js';
import type { TrainingConfigInput } from '../train/config.js';
import type { CheckpointOptions, Files } from './types.js';

const FOLDER = 'webgpu-lora-runs';
const RECORD = 'run.json';
const FORMAT = 'webgpu-lora-saved-run';

export interface SavedRunInfo {
  /** The model's description (ModelInfo.description): the run resumes on that model only. */
  model: string;
  /** The dataset's text, as given to train(). */
  datasetText: string;
  config: TrainingConfigInput;
  /** Steps between checkpoints. */
  every: number;
}

export interface SavedRun extends SavedRunInfo {
  format: typeof FORMAT;
  startedAt: number;
  /** The latest complete checkpoint: after `step` of `totalSteps`, in folder `checkpoint-<step>`; null before the first. */
  checkpoint: { step: number; totalSteps: number; savedAt: number } | null;
}

/** The browser's storage quota was exhausted while a checkpoint was written; nothing of it was kept. */
export class StorageFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageFullError';
  }
}

const isQuotaError = (e: unknown) => e instanceof DOMException && e.name === 'QuotaExceededError';
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** The run kept in OPFS under a key (open() it; null where the browser has no OPFS). */
export class SavedRuns {
  private constructor(private readonly dir: FileSystemDirectoryHandle) {}

  static async open(key: string): Promise<SavedRuns | null> {
    if (typeof navigator === 'undefined' || !navigator.storage?.getDirectory) return null;
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle(FOLDER, { create: true });
    return new SavedRuns(await root.getDirectoryHandle(encodeURIComponent(key), { create: true }));
  }

  /** Starts keeping a new run (replacing any kept one): its record, with no checkpoint yet. */
  async begin(info: SavedRunInfo): Promise<void> {
    await this.clear();
    await this.writeRecord({ format: FORMAT, ...info, startedAt: Date.now(), checkpoint: null });
  }

  /**
   * The TrainOptions.checkpoint that keeps every `every`-th step's checkpoint here, calling
   * `report(step, null)` when it was kept and `report(step, error)` when it was not (the storage
   * is full: StorageFullError); training goes on either way.
   */
  checkpointOption(every: number, report: (step: number, error: Error | null) => void): CheckpointOptions {
    return {
      every,
      write: async (files, step) => {
        try {
          await this.saveCheckpoint(files, step);
          report(step, null);
        } catch (e) {
          report(step, e instanceof Error ? e : new Error(String(e)));
        }
      },
    };
  }

  /**
   * Keeps `files` as the run's checkpoint after `step`, replacing the one before. Throws
   * StorageFullError when the quota is exhausted (the new checkpoint is then not kept; the one
   * before stays).
   */
  async saveCheckpoint(files: Files, step: number): Promise<void> {
    const record = await this.readRecord();
    if (!record) throw new Error('no run is being kept: call begin() first');
    const { totalSteps } = await decodeState(checkpointSource(files));
    const name = `checkpoint-${step}`;
    try {
      const folder = await this.dir.getDirectoryHandle(name, { create: true });
      for (const [file, bytes] of Object.entries(files)) await writeFile(folder, file, bytes);
      await this.writeRecord({ ...record, checkpoint: { step, totalSteps, savedAt: Date.now() } });
    } catch (e) {
      await this.dir.removeEntry(name, { recursive: true }).catch(() => undefined);
      if (!isQuotaError(e)) throw e;
      const size = Object.values(files).reduce((n, b) => n + b.length, 0);
      const estimate = await navigator.storage.estimate?.().catch(() => null);
      const use = estimate?.usage !== undefined && estimate.quota !== undefined ? `; ${mb(estimate.usage)} of this site's ${mb(estimate.quota)} are in use` : '';
      throw new StorageFullError(`the browser's storage is full: the checkpoint after step ${step} (${mb(size)}) was not saved${use}`);
    }
    // The checkpoint before is no longer named by run.json.
    for await (const entry of this.entries()) {
      if (entry.startsWith('checkpoint-') && entry !== name) await this.dir.removeEntry(entry, { recursive: true });
    }
  }

  /** The kept run with its latest checkpoint's files; null when none is kept, or it has no complete checkpoint. */
  async saved(): Promise<{ run: SavedRun; files: Files } | null> {
    const run = await this.readRecord();
    if (!run?.checkpoint) return null;
    try {
      const folder = await this.dir.getDirectoryHandle(`checkpoint-${run.checkpoint.step}`);
      const files: Files = {};
      for await (const [name, handle] of folder.entries()) {
        if (handle.kind === 'file') files[name] = new Uint8Array(await (await (handle as FileSystemFileHandle).getFile()).arrayBuffer());
      }
      return { run, files };
    } catch {
      return null; // run.json names a folder that is gone: nothing to resume
    }
  }

  /** Forgets the kept run (it finished, or the person discarded it). */
  async clear(): Promise<void> {
    for await (const entry of this.entries()) await this.dir.removeEntry(entry, { recursive: true });
  }

  private async *entries(): AsyncGenerator<string> {
    const names: string[] = [];
    for await (const name of this.dir.keys()) names.push(name);
    yield* names;
  }

  private async readRecord(): Promise<SavedRun | null> {
    try {
      const file = await (await this.dir.getFileHandle(RECORD)).getFile();
      const run = JSON.parse(await file.text()) as SavedRun;
      return run.format === FORMAT ? run : null;
    } catch {
      return null; // none, or not ours
    }
  }

  private writeRecord(run: SavedRun): Promise<void> {
    return writeFile(this.dir, RECORD, new TextEncoder().encode(JSON.stringify(run)));
  }
}

/** Writes `name` in `folder`; the file changes only when the stream closes (all or nothing). */
async function writeFile(folder: FileSystemDirectoryHandle, name: string, bytes: Uint8Array): Promise<void> {
  const stream = await (await folder.getFileHandle(name, { create: true })).createWritable();
  try {
    await stream.write(bytes as Uint8Array<ArrayBuffer>);
    await stream.close();
  } catch (e) {
    await stream.abort().catch(() => undefined);
    throw e;
  }
}
