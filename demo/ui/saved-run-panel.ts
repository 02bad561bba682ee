// The training run kept in the browser (src/engine/saved-runs.ts, in the origin-private file
// system): checkpoints every N steps while the train panel trains, and, when a run stopped before
// its end (a reload, a closed tab, a lost GPU, a crash), a line offering to resume it (once the
// same model is loaded) or to discard it. A checkpoint that cannot be kept (the storage quota is
// exhausted) is said in the note under the buttons; training goes on.
import type { CheckpointOptions, Files } from '../../src/engine/types.js';
import { SavedRuns, type SavedRun, type SavedRunInfo } from '../../src/engine/saved-runs.js';
import { $, errorMessage } from './dom.js';
import type { Store } from './state.js';

export interface RunKeeper {
  /** Starts keeping a new run; the checkpoint option for its train() (undefined where nothing can be kept). */
  begin(info: Omit<SavedRunInfo, 'every'>): Promise<CheckpointOptions | undefined>;
  /** The run ended as asked (finished or stopped): nothing to resume. */
  ended(): Promise<void>;
  /** The run failed: what was kept is offered again. */
  failed(): Promise<void>;
}

export function initSavedRunPanel(store: Store, resume: (run: SavedRun, files: Files, checkpoint: CheckpointOptions) => void): RunKeeper {
  const box = $('saved-run');
  const text = $('saved-run-text');
  const resumeButton = $<HTMLButtonElement>('resume-run');
  const discardButton = $<HTMLButtonElement>('discard-run');
  const every = $<HTMLInputElement>('checkpoint-every');
  const note = $('checkpoint-note');

  const opened = SavedRuns.open('demo').catch(() => null);
  let saved: { run: SavedRun; files: Files } | null = null;

  const say = (state: 'idle' | 'error', message: string) => {
    note.dataset.state = state;
    note.textContent = message;
  };

  function render(): void {
    box.hidden = saved === null;
    if (!saved) return;
    const { run } = saved;
    const c = run.checkpoint!;
    const when = new Date(c.savedAt).toLocaleString();
    const here = store.state.model?.description === run.model;
    box.dataset.state = here ? 'ready' : 'empty';
    text.textContent = `A training run on ${run.model} stopped after step ${c.step} of ${c.totalSteps} (checkpoint saved ${when}).` + (here ? ' ' : ` Load ${run.model} to resume it. `);
    resumeButton.disabled = !here || store.state.job !== null;
    discardButton.disabled = store.state.job !== null;
  }

  async function refresh(): Promise<void> {
    const runs = await opened;
    saved = runs ? await runs.saved().catch(() => null) : null;
    render();
  }

  /** The checkpoint option that keeps each checkpoint in `runs`, saying under the buttons whether it was kept. */
  const keeping = (runs: SavedRuns, stepsEvery: number): CheckpointOptions =>
    runs.checkpointOption(stepsEvery, (step, error) =>
      error ? say('error', `Checkpoint not kept: ${errorMessage(error)}.`) : say('idle', `Checkpoint after step ${step} kept in this browser: a reload or a lost GPU can resume from it.`),
    );

  resumeButton.addEventListener('click', () => {
    if (!saved) return;
    const { run, files } = saved;
    void opened.then((runs) => {
      saved = null;
      render();
      if (runs) resume(run, files, keeping(runs, run.every));
    });
  });
  discardButton.addEventListener('click', async () => {
    await (await opened)?.clear();
    saved = null;
    say('idle', '');
    render();
  });
  store.subscribe(render);
  void refresh();

  return {
    async begin(info) {
      const runs = await opened;
      const n = Number(every.value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`checkpoint every: give a whole number of steps ≥ 1, not '${every.value}'`);
      if (!runs) {
        say('error', 'This browser cannot keep checkpoints (it has no origin-private file system): a reload loses the run.');
        return undefined;
      }
      try {
        await runs.begin({ ...info, every: n });
      } catch (e) {
        say('error', `Checkpoints will not be kept: ${errorMessage(e)}.`);
        return undefined;
      }
      saved = null;
      say('idle', '');
      render();
      return keeping(runs, n);
    },
    async ended() {
      await (await opened)?.clear().catch(() => undefined);
      saved = null;
      render();
    },
    failed: refresh,
  };
}
