// `npm run bench`: this engine's LoRA training step against the same step in tfjs (autodiff on its
// WebGPU backend), on the same GPU, in one process: step time, tokens per second, peak GPU memory,
// and the engine's per-kernel GPU time. Built by vite.bench.config.ts into dist/bench/bench.mjs,
// which runs with nothing but Node and Dawn (see BENCHMARKS.md).
//
//   node dist/bench/bench.mjs [--models a,b] [--shapes 1x256,8x256] [--steps N] [--warmup N]
//                             [--weights f32|f16|nf4|q8[,...]] [--checkpoint] [--memory-only]
//                             [--no-tfjs] [--tfjs-timeout S] [--no-profile] [--matmul [SIZES]] [--json]
import { parseArgs } from 'node:util';
import { deviceOrRerun, integerOption, UsageError } from '../src/cli/common.js';
import type { GpuContext } from '../src/gpu/device.js';
import { loadModelSpec } from '../src/model/weights.js';
import type { WeightStorage } from '../src/model/gpu-weights.js';
import { errorText, SEED, type EngineSettings, type Shape } from './common.js';
import { loadEngineModel, planEngineMemory, type EngineOutcome } from './engine-step.js';
import { benchEngines, type FormatRun } from './interleave.js';
import { benchMatmul, formatMatmul, matmulFailed, matmulSizes, withBareMatmul } from './matmul.js';
import { benchModel, DEFAULT_MODEL_NAMES, MODEL_NAMES, modelName, parameterCount } from './models.js';
import { formatMemoryPlans, formatReport, ratioOf, stepRatio, type BenchReport, type BenchResult, type MemoryRow } from './report.js';
import { runTfjsChild, tfjsChild } from './tfjs-child.js';

/** What --weights takes: LanguageModel.load's weightStorage (src/model/gpu-weights.ts). */
const WEIGHT_STORAGES: readonly WeightStorage[] = ['f32', 'f16', 'nf4', 'q8'];

const USAGE = `usage: node dist/bench/bench.mjs [options]
  --models a,b      of ${MODEL_NAMES.join(', ')}
                    (default: ${DEFAULT_MODEL_NAMES.join(', ')} on a GPU, stories260K on SwiftShader);
                    all but stories260K are random weights in the exact shapes of the real models
                    (bench/hub-configs.ts); a shape whose architecture the engine does not take
                    yet reports its config's error in its rows
  --shapes BxT,...  batch x sequence length (default: 1x256,8x256 on a GPU, 2x32 on SwiftShader)
  --steps N         timed steps, reported as their median (default: 10 on a GPU, 3 on SwiftShader)
  --warmup N        untimed steps first, which compile the pipelines (default: 2 on a GPU, 1 on SwiftShader)
  --weights f32|f16|nf4|q8[,...]
                    the engine's storage of the frozen weight matrices: f32 (default), f16, or
                    nf4 / q8 (QLoRA's frozen base: the seven projections of every layer quantized,
                    the embedding f16); compute is f32 either way; the tfjs peer always runs f32.
                    A list (f16,nf4) times every format in one run: each model loaded once per
                    format, the timed steps taken in turn (step 1 of each format, then step 2,
                    ...), each format's median compared with the first's; the tfjs peer once
  --checkpoint      the engine trains with gradient checkpointing
  --memory-only     allocate each shape's training buffers and report the engine's memory, without
                    steps (the random models' tensors repeat their first 65,536 values, and with
                    --weights nf4 their projections are random NF4 blocks of a bitsandbytes
                    checkpoint, not quantized floats, which loads them faster: the bytes do not
                    depend on the values)
  --no-tfjs         measure the engine only
  --tfjs-timeout S  stop a tfjs measurement (one model and shape) after S seconds and report that
                    as its error (default: none)
  --no-profile      skip the profiled step that times each kernel
  --matmul [SIZES]  time the matmul kernels alone, forward and backward, at each size: M x N x K
                    or S (= S x S x S), comma-separated (default 1024,2048,4096 on a GPU, 256 on
                    SwiftShader); without --models, only that
  --json            print the results as one JSON object on the last line`;

function parseShapes(text: string): Shape[] {
  return text.split(',').map((s) => {
    const m = /^\s*(\d+)\s*x\s*(\d+)\s*$/i.exec(s);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 2) throw new UsageError(`--shapes: '${s}' is not BxT with B ≥ 1 and T ≥ 2 (e.g. 8x256)`);
    return { batch: Number(m[1]), seq: Number(m[2]) };
  });
}

/** --weights: one format or a comma list of distinct ones, in the order given. */
function parseWeights(text: string): WeightStorage[] {
  const list = text.split(',').map((w) => w.trim());
  for (const w of list) {
    if (!WEIGHT_STORAGES.includes(w as WeightStorage)) throw new UsageError(`--weights: '${w}' is not one of ${WEIGHT_STORAGES.join(', ')}`);
  }
  const twice = list.find((w, i) => list.indexOf(w) !== i);
  if (twice) throw new UsageError(`--weights: '${twice}' is listed twice`);
  return list as WeightStorage[];
}

/** The adapter's name from what the device reports (vendor, architecture, device, description). */
export function adapterName(ctx: GpuContext): string {
  const a = ctx.adapterInfo;
  const parts = [a.vendor, a.architecture, a.device, a.description].filter(Boolean);
  return [...new Set(parts)].join(' ') || '(unnamed adapter)';
}

export function isSwiftShader(ctx: GpuContext): boolean {
  const a = ctx.adapterInfo;
  return /swiftshader/i.test([a.vendor, a.architecture, a.device, a.description].join(' '));
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: withBareMatmul(argv),
      options: {
        models: { type: 'string' },
        shapes: { type: 'string' },
        steps: { type: 'string' },
        warmup: { type: 'string' },
        weights: { type: 'string' },
        checkpoint: { type: 'boolean' },
        'memory-only': { type: 'boolean' },
        'no-tfjs': { type: 'boolean' },
        'tfjs-timeout': { type: 'string' },
        'no-profile': { type: 'boolean' },
        json: { type: 'boolean' },
        matmul: { type: 'string' },
        'tfjs-child': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
    if (args.help) {
      console.log(USAGE);
      return 0;
    }
    if (args.shapes !== undefined) parseShapes(args.shapes);
    if (args.weights !== undefined) parseWeights(args.weights);
    if (args.matmul !== undefined) matmulSizes(args.matmul, false);
    const unknown = (args.models ?? '').split(',').filter((m) => m.trim() && modelName(m) === null);
    if (unknown.length) throw new UsageError(`--models: unknown ${unknown.join(', ')}; the benchmark knows ${MODEL_NAMES.join(', ')}`);
    integerOption(args.steps, 'steps', 1, 1);
    integerOption(args.warmup, 'warmup', 0, 0);
    integerOption(args['tfjs-timeout'], 'tfjs-timeout', 0, 0);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }

  if (args['tfjs-child']) return tfjsChild(args.models ?? '', parseShapes(args.shapes ?? ''), {
    steps: integerOption(args.steps, 'steps', 1, 1),
    warmup: integerOption(args.warmup, 'warmup', 0, 0),
  });

  const ctx = await deviceOrRerun();
  const swiftshader = isSwiftShader(ctx);
  const matmulOnly = args.matmul !== undefined && args.models === undefined;
  const models = matmulOnly ? [] : (args.models ?? (swiftshader ? 'stories260K' : DEFAULT_MODEL_NAMES.join(','))).split(',').map((s) => s.trim()).filter(Boolean);
  const shapes = parseShapes(args.shapes ?? (swiftshader ? '2x32' : '1x256,8x256'));
  const timing = { steps: integerOption(args.steps, 'steps', swiftshader ? 3 : 10, 1), warmup: integerOption(args.warmup, 'warmup', swiftshader ? 1 : 2, 0) };
  const engines: EngineSettings[] = parseWeights(args.weights ?? 'f32').map((w) => ({ weightStorage: w, gradientCheckpointing: !!args.checkpoint }));
  const report: BenchReport = {
    adapter: adapterName(ctx),
    swiftshader,
    date: new Date().toISOString(),
    ...timing,
    engine: { weights: engines.map((e) => e.weightStorage).join(','), gradient_checkpointing: !!args.checkpoint },
    results: [],
  };
  log(`adapter: ${report.adapter}; ${matmulOnly ? 'matmul only' : `models ${models.join(', ')}; shapes ${shapes.map((s) => `${s.batch}x${s.seq}`).join(', ')}`}`);
  if (args['memory-only']) {
    // One format's model at a time (no steps to interleave): each model's rows, format by format.
    const memory: MemoryRow[] = [];
    for (const name of models) for (const engine of engines) memory.push(...(await planOneModel(ctx, name, shapes, engine)));
    console.log(formatMemoryPlans(report, memory));
    if (args.json) console.log(JSON.stringify({ ...report, memory }));
    return memory.every((m) => !('error' in m)) ? 0 : 1;
  }
  const tfjsTimeoutMs = 1000 * integerOption(args['tfjs-timeout'], 'tfjs-timeout', 0, 0);
  const plan: Plan = { shapes, timing, tfjs: !args['no-tfjs'], tfjsTimeoutMs, profile: !args['no-profile'], engines };
  for (const name of models) {
    for (const r of await benchOneModel(ctx, name, plan)) {
      report.results.push(r.result);
      report.tfjs_adapter ??= r.tfjsAdapter;
      // Each row as it is done, so a run stopped from outside still leaves what it measured.
      log(`result: ${JSON.stringify(r.result)}`);
    }
  }

  const matmul = args.matmul === undefined ? undefined : await benchMatmul(ctx, matmulSizes(args.matmul, swiftshader), { swiftshader, steps: args.steps, warmup: args.warmup, log });

  if (!matmulOnly) console.log(formatReport(report));
  if (matmul) console.log(`${matmulOnly ? `adapter: ${report.adapter}\n` : ''}${formatMatmul(matmul)}`);
  if (args.json) console.log(JSON.stringify(matmul ? { ...report, matmul } : report));
  return report.results.every((r) => !('error' in r.engine)) && !matmulFailed(matmul ?? []) ? 0 : 1;
}

interface Plan {
  shapes: Shape[];
  timing: { steps: number; warmup: number };
  tfjs: boolean;
  /** Milliseconds one tfjs child may run; 0: no limit. */
  tfjsTimeoutMs: number;
  profile: boolean;
  /** One per --weights format, in its order. */
  engines: EngineSettings[];
}

/** --memory-only: each shape's planned training memory (no steps), or the error that stopped it. */
async function planOneModel(ctx: GpuContext, name: string, shapes: Shape[], settings: EngineSettings): Promise<MemoryRow[]> {
  try {
    // Tiled random values, and with nf4 storage random NF4 blocks read as they are (bench/random-nf4.ts):
    // the allocated bytes do not depend on the values, and these load many times faster.
    const bm = benchModel(name, SEED, settings.weightStorage === 'nf4' ? 'nf4' : 'tiled');
    log(`${bm.name}: engine: loading the model (${settings.weightStorage} weights)`);
    const loaded = await loadEngineModel(ctx, bm.source, settings);
    try {
      return shapes.map((s) => planEngineMemory(ctx, bm.name, loaded, s, settings));
    } finally {
      loaded.model.destroy();
      // Dawn frees destroyed buffers (host memory, on SwiftShader) once the queue has caught up:
      // without this wait three Qwen2.5-0.5B models in one run held 5.4 GB of host memory, with it 3.3 GB.
      await ctx.device.queue.onSubmittedWorkDone();
    }
  } catch (e) {
    return [{ model: name, engine_weights: settings.weightStorage, error: errorText(e) }];
  }
}

/**
 * Every shape of one model: the engine first (the model loaded once per --weights format, all
 * formats held together so that their steps can be interleaved, then freed), then tfjs (f32, once
 * per shape whatever the formats), each shape in a process of its own. Rows go shape by shape,
 * format by format. Whatever fails becomes an error in its results.
 */
async function benchOneModel(ctx: GpuContext, name: string, plan: Plan): Promise<Array<{ result: BenchResult; tfjsAdapter?: string }>> {
  const { shapes, timing, engines } = plan;
  const rows = (weights: string, parameters: number, engine: (s: Shape, i: number) => EngineOutcome, tfjs: (s: Shape) => { outcome: BenchResult['tfjs']; adapter?: string }) =>
    shapes.flatMap((s) => {
      const outcomes = engines.map((_, i) => engine(s, i));
      const t = tfjs(s);
      return outcomes.map((e, i) => ({
        result: { model: name, weights, engine_weights: engines[i].weightStorage, parameters, batch: s.batch, seq: s.seq, engine: e, tfjs: t.outcome, ratio: ratioOf(e, t.outcome), step_ratio: stepRatio(e, outcomes[0]) },
        tfjsAdapter: t.adapter,
      }));
    });
  let bm;
  let spec;
  try {
    bm = benchModel(name);
    spec = (await loadModelSpec(bm.source)).spec;
  } catch (e) {
    // A model whose files are not here (stories260K without ../shared) fails its rows, not the run.
    const outcome = { error: errorText(e) };
    return rows(bm?.weights ?? '', 0, () => outcome, () => ({ outcome }));
  }

  const engine = new Map<Shape, EngineOutcome[]>();
  const runs: Array<FormatRun | { error: string }> = [];
  try {
    for (const settings of engines) {
      log(`${bm.name}: engine: loading the model (${settings.weightStorage} weights)`);
      try {
        runs.push({ loaded: await loadEngineModel(ctx, bm.source, settings), settings });
      } catch (e) {
        runs.push({ error: errorText(e) }); // this format's rows fail; the others are measured
      }
    }
    const loaded = runs.filter((r): r is FormatRun => !('error' in r));
    for (const s of shapes) {
      log(`${bm.name} ${s.batch}x${s.seq}: engine${engines.length > 1 ? ` (${engines.map((e) => e.weightStorage).join(', ')} interleaved)` : ''}`);
      const measured = loaded.length ? await benchEngines(ctx, loaded, s, timing, plan.profile) : [];
      engine.set(s, runs.map((r) => ('error' in r ? r : measured[loaded.indexOf(r)])));
    }
  } catch (e) {
    for (const s of shapes) if (!engine.has(s)) engine.set(s, engines.map(() => ({ error: errorText(e) })));
  } finally {
    for (const r of runs) if (!('error' in r)) r.loaded.model.destroy();
    await ctx.device.queue.onSubmittedWorkDone(); // the models' buffers freed before the next one (planOneModel)
  }

  const tfjs = (s: Shape) => {
    if (!plan.tfjs) return { outcome: { error: 'not run (--no-tfjs)' } };
    log(`${bm.name} ${s.batch}x${s.seq}: tfjs (in a process of its own)`);
    return runTfjsChild(bm.name, s, timing, plan.tfjsTimeoutMs);
  };
  return rows(bm.weights, spec.arch !== 'gpt2' ? parameterCount(spec) : 0, (s, i) => engine.get(s)![i], tfjs);
}

const code = await main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  return 1;
});
// Dawn's and tfjs's handles can keep the event loop alive: leave once the output is written.
process.stdout.write('', () => process.exit(code));
