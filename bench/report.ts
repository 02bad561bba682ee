// The benchmark's output: a table for people, and one JSON object for programs.
import { failed, type SideOutcome } from './common.js';
import type { EngineOutcome, MemoryPlan } from './engine-step.js';

export interface BenchResult {
  model: string;
  /** 'real' (stories260K) or 'random' (random weights in the model's exact shapes). */
  weights: string;
  /** The engine's storage of the frozen weights in this row: one of --weights' formats. */
  engine_weights: string;
  parameters: number;
  batch: number;
  seq: number;
  engine: EngineOutcome;
  tfjs: SideOutcome;
  /** engine / tfjs, when both ran: above 1 the engine is faster, below 1 it needs less memory. */
  ratio: { tokens_per_s: number; peak_bytes: number } | null;
  /**
   * This row's engine step_ms ÷ that of the first --weights format at the same model and shape
   * (1 in that format's own row; null when either failed). The formats' steps were interleaved.
   */
  step_ratio: number | null;
}

/** --memory-only's rows: one per model, format and shape, or the error that stopped a model in a format. */
export type MemoryRow = MemoryPlan | { model: string; engine_weights: string; error: string };

export interface BenchReport {
  adapter: string;
  /** The adapter the tfjs peer ran on (its own device), when it ran. */
  tfjs_adapter?: string;
  swiftshader: boolean;
  date: string;
  steps: number;
  warmup: number;
  /** The engine's settings: --weights as given (one format, or a comma list) and --checkpoint. */
  engine: { weights: string; gradient_checkpointing: boolean };
  results: BenchResult[];
}

export function ratioOf(engine: EngineOutcome, tfjs: SideOutcome): BenchResult['ratio'] {
  if (failed(engine) || failed(tfjs)) return null;
  return { tokens_per_s: engine.tokens_per_s / tfjs.tokens_per_s, peak_bytes: engine.peak_bytes / tfjs.peak_bytes };
}

export function stepRatio(engine: EngineOutcome, first: EngineOutcome): number | null {
  if (failed(engine) || failed(first)) return null;
  return engine.step_ms / first.step_ms;
}

/** Whether the run timed more than one weight format (a list in --weights). */
const manyFormats = (r: BenchReport) => r.engine.weights.includes(',');

const mib = (b: number) => (b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 2 : 0);
const fixed = (x: number, d = 1) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

function pad(rows: string[][], left = 2): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c < left ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

function side(o: SideOutcome): string[] {
  if (failed(o)) return ['error', '', ''];
  return [fixed(o.step_ms), fixed(o.tokens_per_s, o.tokens_per_s < 100 ? 2 : 0), mib(o.peak_bytes)];
}

/** The results table, then each result's errors and the engine's top kernels. */
export function formatReport(r: BenchReport, topKernels = 8): string {
  const lines = [`adapter: ${r.adapter}${r.swiftshader ? ' (SwiftShader: a CPU driver, not a GPU)' : ''}`];
  if (r.tfjs_adapter) lines.push(`tfjs adapter: ${r.tfjs_adapter}`);
  lines.push(`${r.warmup} warm-up step(s), then the median of ${r.steps}; LoRA r 16, alpha 32, all 7 projections, AdamW, fp32 compute`);
  lines.push(`${engineSettings(r)}; the tfjs peer: f32 weights, no checkpointing`, '');
  const rows = [['model', 'B x T', 'engine ms', 'tok/s', 'peak MiB', 'tfjs ms', 'tok/s', 'peak MiB', 'speed x', 'memory x']];
  for (const x of r.results) {
    rows.push([
      `${x.model}${x.weights === 'random' ? ' (random)' : ''}${manyFormats(r) ? `, ${x.engine_weights}` : ''}`,
      `${x.batch} x ${x.seq}`,
      ...side(x.engine),
      ...side(x.tfjs),
      x.ratio ? fixed(x.ratio.tokens_per_s, 2) : '',
      x.ratio ? fixed(x.ratio.peak_bytes, 2) : '',
    ]);
  }
  lines.push(pad(rows));
  lines.push('speed x = engine tokens/s ÷ tfjs tokens/s; memory x = engine peak ÷ tfjs peak (both with the weights)');
  if (manyFormats(r)) lines.push(...formatComparison(r));
  for (const x of r.results) {
    const head = `${x.model} ${x.batch} x ${x.seq}${manyFormats(r) ? ` ${x.engine_weights}` : ''}`;
    if (failed(x.engine)) lines.push(`${head}: engine error: ${x.engine.error}`);
    if (failed(x.tfjs)) lines.push(`${head}: tfjs error: ${x.tfjs.error}`);
    if (!failed(x.engine) && !failed(x.tfjs)) {
      lines.push(`${head}: first loss engine ${x.engine.first_loss.toFixed(4)}, tfjs ${x.tfjs.first_loss.toFixed(4)}`);
    }
    if (failed(x.engine)) continue;
    const e = x.engine;
    lines.push(
      `${head}: engine recording of one step: ${e.submits_per_step} submits, ${e.dispatches_per_step} dispatches, ${e.bind_groups_created_per_step} new bind groups, ${fixed(e.record_ms, 2)} ms of CPU`,
    );
    if (x.engine.kernels) {
      const total = x.engine.kernels_total_ms ?? 0;
      lines.push(
        `${head}: engine kernels of one profiled step: ${fixed(total, 2)} ms of GPU time; the profiled step took ${fixed(x.engine.profiled_step_ms ?? 0, 1)} ms (unprofiled: ${fixed(x.engine.step_ms, 1)} ms)`,
      );
      const krows = [['kernel', 'calls', 'ms', 'share']];
      for (const k of x.engine.kernels.slice(0, topKernels)) {
        krows.push([k.name, String(k.calls), fixed(k.ms, 3), `${fixed((100 * k.ms) / (total || 1), 1)}%`]);
      }
      lines.push(pad(krows.map((row) => ['  ' + row[0], ...row.slice(1)]), 1));
    } else if (x.engine.kernels_reason) lines.push(`${head}: no kernel times: ${x.engine.kernels_reason}`);
  }
  return lines.join('\n');
}

/** With several formats: each one's median and spread, and its median ÷ the first format's. */
function formatComparison(r: BenchReport): string[] {
  const first = r.engine.weights.split(',')[0];
  const rows = [['model', 'B x T', 'weights', 'median ms', 'min ms', 'max ms', `÷ ${first}`, 'first loss', 'weights MiB']];
  for (const x of r.results) {
    const e = x.engine;
    const figures = failed(e)
      ? ['error', '', '', '', '', '']
      : [fixed(e.step_ms), fixed(e.step_ms_range[0]), fixed(e.step_ms_range[1]), x.step_ratio === null ? '' : fixed(x.step_ratio, 2), e.first_loss.toFixed(4), mib(e.weights_bytes)];
    rows.push([x.model, `${x.batch} x ${x.seq}`, x.engine_weights, ...figures]);
  }
  return ['', `the formats in one run, their timed steps interleaved (step 1 of each in turn, then step 2, ...); ${r.steps} each:`, pad(rows, 3)];
}

function engineSettings(r: BenchReport): string {
  return `engine: ${r.engine.weights.split(',').join(', ')} weights${r.engine.gradient_checkpointing ? ', gradient checkpointing' : ''}`;
}

/** --memory-only: each shape's tracked training memory and the estimate for it. */
export function formatMemoryPlans(r: BenchReport, plans: MemoryRow[]): string {
  const lines = [`adapter: ${r.adapter}`, `${engineSettings(r)}; memory allocated for one training step, no step run`, ''];
  const many = manyFormats(r);
  const rows = [['model', 'B x T', ...(many ? ['weights'] : []), 'weights MiB', 'peak MiB', 'estimate MiB']];
  for (const p of plans) {
    if ('error' in p) lines.push(`${p.model}${many ? ` ${p.engine_weights}` : ''}: error: ${p.error}`);
    else rows.push([p.model, `${p.batch} x ${p.seq}`, ...(many ? [p.engine_weights] : []), mib(p.weights_bytes), mib(p.peak_bytes), mib(p.estimated_bytes)]);
  }
  lines.push(pad(rows, many ? 3 : 2));
  return lines.join('\n');
}
