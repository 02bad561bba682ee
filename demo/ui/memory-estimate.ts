// The memory estimate: once a model is loaded, whenever the settings or the dataset change (after
// a pause in typing), the engine's estimate of the GPU memory a training run would take: the
// model (in the weights format it was loaded with), the adapter with its optimizer state, the
// activations, the total, and whether the largest buffer fits the adapter's maxStorageBufferBindingSize; with gradient checkpointing off,
// also what turning it on would bring the total to.
import type { LoraEngine, MemoryReport } from '../../src/engine/types.js';
import { $, count, debounce, errorMessage, mib, show } from './dom.js';
import type { AppState, Store } from './state.js';

function describe(r: MemoryReport, checkpointed: MemoryReport | null, weights: string): string {
  const e = r.estimate;
  const limit = Math.min(r.limits.maxBufferSize, r.limits.maxStorageBufferBindingSize);
  return [
    `model ${mib(e.modelBytes)} MiB (${weights} weights) · adapter + optimizer ${mib(e.adapterBytes)} MiB · activations ${mib(e.activationBytes)} MiB`,
    `total ${mib(e.total)} MiB for batches of ${r.batchSize} × ${r.sequenceLength} tokens, ${count(e.trainableParameters)} trainable parameters`,
    ...(checkpointed ? [`with gradient checkpointing: ${mib(checkpointed.estimate.total)} MiB (activations ${mib(checkpointed.estimate.activationBytes)} MiB)`] : []),
    r.fits
      ? `largest buffer ${mib(e.largestBufferBytes)} MiB of ${mib(limit, 0)} MiB allowed per buffer: fits`
      : `⚠ largest buffer ${mib(e.largestBufferBytes)} MiB exceeds this GPU's ${mib(limit, 0)} MiB per buffer: lower the batch size or max length`,
  ].join('\n');
}

export function initMemoryEstimate(engine: LoraEngine, store: Store): void {
  const el = $('memory-estimate');
  let request = 0;

  const estimate = debounce(async () => {
    const s = store.state;
    if (!s.model || s.job === 'loading') return;
    if (!s.config) {
      show(el, 'idle', 'Fix the settings above to see the memory estimate.');
      return;
    }
    const mine = ++request;
    try {
      // With a bad dataset, the estimate is for examples of the maximum length.
      const data = store.datasetOk ? s.datasetText : undefined;
      const r = await engine.estimateMemory(s.config, data);
      const checkpointed = s.config.gradientCheckpointing ? null : await engine.estimateMemory({ ...s.config, gradientCheckpointing: true }, data);
      if (mine === request) show(el, r.fits ? 'fits' : 'warning', describe(r, checkpointed, s.model.weightStorage));
    } catch (e) {
      if (mine === request) show(el, 'error', `No estimate: ${errorMessage(e)}`);
    }
  }, 400);

  let seen: Pick<AppState, 'model' | 'config' | 'datasetText'> | null = null;
  store.subscribe((s) => {
    if (!s.model) {
      request++;
      show(el, 'idle', 'Load a model to see how much GPU memory training takes.');
      seen = null;
      return;
    }
    if (seen && seen.model === s.model && seen.config === s.config && seen.datasetText === s.datasetText) return;
    seen = { model: s.model, config: s.config, datasetText: s.datasetText };
    show(el, 'pending', 'Estimating…');
    estimate();
  });
}
