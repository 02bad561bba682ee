// The run a <lora-trainer> keeps in the browser (src/engine/saved-runs.ts), one per model: where it
// is kept, and whether Train resumes it (the same model, the same data, the same settings) or
// starts a new run in its place.
import { SavedRuns, type SavedRun } from '../../src/engine/saved-runs.js';
import type { Files, ModelInfo } from '../../src/engine/types.js';
import type { TrainingConfigInput } from '../../src/train/config.js';
import { resolveModel } from './format.js';

/** The runs kept for the model attribute `model` (null without OPFS or a model). */
export async function keptRuns(model: string | null, base: string): Promise<SavedRuns | null> {
  if (!model?.trim()) return null;
  return SavedRuns.open(`lora-trainer ${resolveModel(model, base)}`).catch(() => null);
}

/** Whether `kept` is a run of this model on this data with these settings: Train then continues it. */
export function resumes(kept: { run: SavedRun; files: Files } | null, info: ModelInfo, datasetText: string, config: TrainingConfigInput): kept is { run: SavedRun; files: Files } {
  return kept !== null && kept.run.model === info.description && kept.run.datasetText === datasetText && JSON.stringify(kept.run.config) === JSON.stringify(config);
}
