// The training panel: Train / Pause-Resume / Stop, a status line from each step's event (step,
// epoch, loss, learning rate, tokens/s, elapsed, ETA), the live loss chart, and the summary of the
// finished run. The status element's data-state is one of empty, loading, ready, training, done,
// error; it also carries data-first-loss and data-last-loss (and <body> data-last-loss) for tests.
import type { AdapterInfo, LoraEngine, TrainOptions, TrainSummary } from '../../src/engine/types.js';
import type { TrainingConfigInput } from '../../src/train/config.js';
import { countOf } from '../../src/text/count.js';
import type { StepEvent } from '../../src/train/events.js';
import type { DatasetPanel } from './dataset-panel.js';
import { $, count, duration, errorMessage, loss, show } from './dom.js';
import { LossChart } from './loss-chart.js';
import { initSavedRunPanel } from './saved-run-panel.js';
import type { Store } from './state.js';

export function describeAdapter(a: AdapterInfo): string {
  const modules = a.targetModules === 'all-linear' ? 'all linear layers' : a.targetModules.join(', ');
  return `rank ${a.r}, alpha ${a.alpha}${a.useRslora ? ' (rsLoRA)' : ''}, on ${modules} · ${count(a.trainableParameters)} trainable parameters`;
}

function describeStep(e: StepEvent): string {
  return [
    `step ${e.step}/${e.totalSteps}`,
    `epoch ${e.epoch.toFixed(2)}`,
    `loss ${loss(e.loss)}`,
    `lr ${e.learningRate.toExponential(1)}`,
    `${Math.round(e.tokensPerSecond)} tokens/s`,
    `elapsed ${duration(e.elapsedMs)}`,
    `ETA ${duration(e.etaMs)}`,
  ].join(' · ');
}

/** The run's summary; `evaluatedAfter` says whether validation ran after the first step (a run stopped early may not). */
function describeSummary(s: TrainSummary, evaluatedAfter: boolean): string {
  const validation = s.validationLoss === null ? 'no validation set'
    : evaluatedAfter ? `validation loss ${loss(s.initialValidationLoss)} → ${loss(s.validationLoss)}`
    : `validation loss ${loss(s.initialValidationLoss)} before training (not evaluated since)`;
  const notes = [
    s.truncated ? `${countOf(s.truncated, 'example')} cut at the max length` : '',
    s.skipped ? `${countOf(s.skipped, 'example')} skipped (no target tokens left)` : '',
  ].filter(Boolean);
  return (
    `${s.cancelled ? 'Stopped' : 'Finished'}: train loss ${loss(s.trainLoss)} · ${validation} · ${s.steps}/${countOf(s.totalSteps, 'step')} · ${duration(s.elapsedMs)}` +
    (notes.length ? ` · ${notes.join(', ')}` : '')
  );
}


export function initTrainPanel(engine: LoraEngine, store: Store, dataset: DatasetPanel): void {
  const trainButton = $<HTMLButtonElement>('train');
  const pauseButton = $<HTMLButtonElement>('pause');
  const stopButton = $<HTMLButtonElement>('stop');
  const continueBox = $<HTMLInputElement>('continue-adapter');
  const hint = $('train-hint');
  const status = $('train-status');
  const summaryEl = $('train-summary');
  const chart = new LossChart($<HTMLCanvasElement>('loss-chart'));

  let running = false;
  /** Whether the engine's trainer exists (pause and cancel act only on it: before onStart they would be lost). */
  let started = false;
  let paused = false;
  let stopping = false;
  let error: string | null = null;
  /** The adapter this panel trained, with its summary (an adapter that differs was imported). */
  let trained: { adapter: AdapterInfo; text: string } | null = null;
  let lastStep: StepEvent | null = null;
  let evaluatedAfter = false;
  let preparing = '';

  function render(): void {
    const s = store.state;
    // Why Train cannot start now ('' when it can); also the status line when nothing else is to be said.
    const why = !s.model ? 'Load a model first.'
      : s.datasetProblems > 0 ? `Fix the ${countOf(s.datasetProblems, 'dataset problem')} first.`
      : s.examples === 0 ? 'Add some examples first.'
      : !s.config ? 'Fix the settings first.'
      : s.job && !running ? `Waiting: the engine is ${s.job}.`
      : '';
    let saidWhy = false;
    if (s.job === 'loading') show(status, 'loading', 'Loading the model…');
    else if (running) {
      const text = lastStep ? describeStep(lastStep) : preparing || 'Preparing the data…';
      show(status, 'training', `${text}${paused ? ' · paused' : ''}${stopping ? ' · stopping after this step…' : ''}`);
    } else if (error) show(status, 'error', error); // (also when the error took the model: a lost GPU)
    else if (!s.model) show(status, 'empty', 'Load a model to train an adapter.');
    else if (s.adapter && trained?.adapter === s.adapter) show(status, 'done', trained.text);
    else if (s.adapter) show(status, 'done', `Adapter imported: ${describeAdapter(s.adapter)}`);
    else if (why) {
      show(status, 'empty', why);
      saidWhy = true;
    }
    else show(status, 'ready', `Ready to train on ${countOf(s.examples, 'example')}.`);
    trainButton.disabled = running || why !== '';
    hint.textContent = running || saidWhy ? '' : why;
    pauseButton.disabled = !started || stopping;
    stopButton.disabled = !started || stopping;
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    continueBox.disabled = running || !s.adapter;
    if (!s.adapter) continueBox.checked = false;
  }

  function setLoss(attr: 'firstLoss' | 'lastLoss', value: number): void {
    status.dataset[attr] = String(value);
    if (attr === 'lastLoss') document.body.dataset.lastLoss = String(value);
  }

  /** Runs engine.train with the panel's progress, summary and errors; the kept run follows it (./saved-run-panel.ts). */
  async function runTraining(datasetText: string, config: TrainingConfigInput | undefined, opts: TrainOptions): Promise<void> {
    running = true;
    paused = stopping = false;
    error = null;
    lastStep = null;
    evaluatedAfter = false;
    preparing = 'Tokenizing the examples and planning GPU buffers…';
    delete status.dataset.firstLoss;
    delete status.dataset.lastLoss;
    summaryEl.textContent = '';
    chart.reset(0);
    render();
    try {
      const summary = await store.run('training', () =>
        engine.train(datasetText, config, {
          onStart: (e) => {
            started = true;
            chart.reset(e.totalSteps);
            const run = `${countOf(e.trainExamples, 'training example')} and ${countOf(e.validationExamples, 'validation example')}, ${countOf(e.totalSteps, 'step')}, ${count(e.trainableParameters)} trainable parameters` +
              (e.step > 0 ? `; resuming after step ${e.step}` : '');
            preparing = `${run}; measuring the starting loss…`;
            summaryEl.textContent = run;
            render();
          },
          onStep: (e) => {
            if (lastStep === null) setLoss('firstLoss', e.loss);
            setLoss('lastLoss', e.loss);
            lastStep = e;
            chart.addStep(e.step, e.loss);
            render();
          },
          onEval: (e) => {
            if (e.step > 0) evaluatedAfter = true;
            chart.addEval(e.step, e.validationLoss);
          },
        }, opts),
      );
      const text = describeSummary(summary, evaluatedAfter);
      trained = { adapter: summary.adapter, text: `${text}. Adapter: ${describeAdapter(summary.adapter)}` };
      summaryEl.textContent = text;
      running = started = false;
      store.set({ adapter: summary.adapter });
      await keeper.ended();
    } catch (e) {
      // A lost GPU took the model with it: it must be loaded again (then the run can resume). (First:
      // a change of model clears the panel's error.)
      if (/GPU device was lost/.test(errorMessage(e))) store.set({ model: null, adapter: null });
      error = `Training failed: ${errorMessage(e)}`;
      summaryEl.textContent = '';
      await keeper.failed();
    } finally {
      running = started = false;
      paused = stopping = false;
      render();
    }
  }

  const keeper = initSavedRunPanel(store, (run, files, checkpoint) => {
    dataset.setText(run.datasetText);
    void runTraining(run.datasetText, undefined, { resumeFrom: files, checkpoint });
  });

  trainButton.addEventListener('click', async () => {
    dataset.flush();
    const s = store.state;
    if (!s.model || !s.config || !store.datasetOk || s.job) return render();
    let checkpoint;
    try {
      checkpoint = await keeper.begin({ model: s.model.description, datasetText: s.datasetText, config: s.config });
    } catch (e) {
      error = errorMessage(e);
      return render();
    }
    await runTraining(s.datasetText, s.config, { continueAdapter: continueBox.checked, checkpoint });
  });

  pauseButton.addEventListener('click', async () => {
    try {
      if (paused) await engine.resume();
      else await engine.pause();
      paused = !paused;
    } catch (e) {
      summaryEl.textContent = `Could not ${paused ? 'resume' : 'pause'}: ${errorMessage(e)}`;
    }
    render();
  });

  stopButton.addEventListener('click', async () => {
    stopping = true;
    render();
    try {
      // The trainer stops at the next step boundary (a paused run is resumed to get there).
      await engine.cancel();
    } catch (e) {
      summaryEl.textContent = `Could not stop: ${errorMessage(e)}`;
    }
  });

  let lastModel = store.state.model;
  store.subscribe((s) => {
    if (s.model !== lastModel) {
      // A new model (or none): its adapter and any earlier error are gone.
      lastModel = s.model;
      error = null;
      trained = null;
      summaryEl.textContent = '';
      if (s.model) chart.reset(0);
    }
    render();
  });
}
