// `npm run bench`: this engine's LoRA training step against the same step in tfjs (autodiff on its
// WebGPU backend), on the same GPU, in one process: step time, tokens per second, peak GPU memory,
// and the engine's per-kernel GPU time. Built by vite.bench.config.ts into dist/bench/bench.mjs,
// which runs with nothing but Node and Dawn (see BENCHMARKS.md).
//
//   node dist/bench/bench.mjs [--models a,b] [--shapes 1x256,8x256] [--steps N] [--warmup N]
//                             [--weights f32|f16|nf4|q8] [--checkpoint] [--memory-only]
//                             [--no-tfjs] [--tfjs-timeout S] [--no-profile] [--matmul [SIZES]] [--json]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { deviceOrRerun, integerOption, UsageError } from '../src/cli/common.js';
import type { GpuContext } from '../src/gpu/device.js';
import { loadModelSpec, loadWeights } from '../src/model/weights.js';
import type { WeightStorage } from '../src/model/gpu-weights.js';
import { errorText, SEED, type EngineSettings, type Shape, type SideOutcome } from './common.js';
import { benchEngine, loadEngineModel, planEngineMemory, type EngineOutcome, type MemoryPlan } from './engine-step.js';
import { benchMatmul, formatMatmul, matmulFailed, matmulSizes, withBareMatmul } from './matmul.js';
import { benchModel, DEFAULT_MODEL_NAMES, MODEL_NAMES, modelName, parameterCount } from './models.js';
import { formatMemoryPlans, formatReport, ratioOf, type BenchReport, type BenchResult } from './report.js';
import { benchTfjs, tfjsAdapter } from './tfjs-step.js';

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
  --weights f32|f16|nf4|q8
                    the engine's storage of the frozen weight matrices: f32 (default), f16, or
                    nf4 / q8 (QLoRA's frozen base: the seven projections of every layer quantized,
                    the embedding f16); compute is f32 either way; the tfjs peer always runs f32
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
    if (args.weights !== undefined && !WEIGHT_STORAGES.includes(args.weights as WeightStorage)) {
      throw new UsageError(`--weights: '${args.weights}' is not one of ${WEIGHT_STORAGES.join(', ')}`);
    }
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
  const engine: EngineSettings = { weightStorage: (args.weights ?? 'f32') as WeightStorage, gradientCheckpointing: !!args.checkpoint };
  const report: BenchReport = {
    adapter: adapterName(ctx),
    swiftshader,
    date: new Date().toISOString(),
    ...timing,
    engine: { weights: engine.weightStorage, gradient_checkpointing: engine.gradientCheckpointing },
    results: [],
  };
  log(`adapter: ${report.adapter}; ${matmulOnly ? 'matmul only' : `models ${models.join(', ')}; shapes ${shapes.map((s) => `${s.batch}x${s.seq}`).join(', ')}`}`);
  if (args['memory-only']) {
    const memory: Array<MemoryPlan | { model: string; error: string }> = [];
    for (const name of models) memory.push(...(await planOneModel(ctx, name, shapes, engine)));
    console.log(formatMemoryPlans(report, memory));
    if (args.json) console.log(JSON.stringify({ ...report, memory }));
    return memory.every((m) => !('error' in m)) ? 0 : 1;
  }
  const tfjsTimeoutMs = 1000 * integerOption(args['tfjs-timeout'], 'tfjs-timeout', 0, 0);
  const plan: Plan = { shapes, timing, tfjs: !args['no-tfjs'], tfjsTimeoutMs, profile: !args['no-profile'], engine };
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
  engine: EngineSettings;
}

/** --memory-only: each shape's planned training memory (no steps), or the error that stopped it. */
async function planOneModel(ctx: GpuContext, name: string, shapes: Shape[], settings: EngineSettings): Promise<Array<MemoryPlan | { model: string; error: string }>> {
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
    return [{ model: name, error: errorText(e) }];
  }
}

/**
 * Every shape of one model: the engine first (the model loaded once for all shapes, then freed),
 * then tfjs, each shape in a process of its own. Whatever fails becomes an error in its results.
 */
async function benchOneModel(ctx: GpuContext, name: string, plan: Plan): Promise<Array<{ result: BenchResult; tfjsAdapter?: string }>> {
  const { shapes, timing } = plan;
  const rows = (weights: string, parameters: number, engine: (s: Shape) => EngineOutcome, tfjs: (s: Shape) => { outcome: SideOutcome; adapter?: string }) =>
    shapes.map((s) => {
      const e = engine(s);
      const t = tfjs(s);
      return { result: { model: name, weights, parameters, batch: s.batch, seq: s.seq, engine: e, tfjs: t.outcome, ratio: ratioOf(e, t.outcome) }, tfjsAdapter: t.adapter };
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

  const engine = new Map<Shape, EngineOutcome>();
  log(`${bm.name}: engine: loading the model`);
  try {
    const loaded = await loadEngineModel(ctx, bm.source, plan.engine);
    try {
      for (const s of shapes) {
        log(`${bm.name} ${s.batch}x${s.seq}: engine`);
        engine.set(s, await benchEngine(ctx, loaded, s, timing, plan.profile, plan.engine));
      }
    } finally {
      loaded.model.destroy();
      await ctx.device.queue.onSubmittedWorkDone(); // the model's buffers freed before the next one (planOneModel)
    }
  } catch (e) {
    for (const s of shapes) if (!engine.has(s)) engine.set(s, { error: errorText(e) });
  }

  const tfjs = (s: Shape) => {
    if (!plan.tfjs) return { outcome: { error: 'not run (--no-tfjs)' } };
    log(`${bm.name} ${s.batch}x${s.seq}: tfjs (in a process of its own)`);
    return runTfjsChild(bm.name, s, timing, plan.tfjsTimeoutMs);
  };
  return rows(bm.weights, spec.arch !== 'gpt2' ? parameterCount(spec) : 0, (s) => engine.get(s)!, tfjs);
}

/**
 * The tfjs measurement of one model and shape, in a child process: tfjs-backend-webgpu keeps every
 * buffer it ever allocated pooled for the life of the process, so a second peer in one process
 * would count the first one's buffers (and a peer that runs out of memory cannot harm the rest).
 */
function runTfjsChild(model: string, s: Shape, timing: { steps: number; warmup: number }, timeoutMs: number): { outcome: SideOutcome; adapter?: string } {
  const argv = [process.argv[1], '--tfjs-child', '--models', model, '--shapes', `${s.batch}x${s.seq}`, '--steps', String(timing.steps), '--warmup', String(timing.warmup)];
  const child = spawnSync(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26, timeout: timeoutMs || undefined, killSignal: 'SIGKILL' });
  const last = (child.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as { outcome: SideOutcome; adapter?: string };
  } catch {
    const timedOut = timeoutMs > 0 && child.signal === 'SIGKILL';
    const how = timedOut
      ? `was stopped after the ${timeoutMs / 1000} s of --tfjs-timeout`
      : child.error
        ? child.error.message
        : child.signal
          ? `was killed by ${child.signal}`
          : `exited with code ${child.status}`;
    return { outcome: { error: `the tfjs process ${how} without a result${last ? `; its last output: ${last.slice(0, 300)}` : ''}` } };
  }
}

/** The child's side of runTfjsChild: prints {"outcome", "adapter"} as its last line. */
async function tfjsChild(model: string, shapes: Shape[], timing: { steps: number; warmup: number }): Promise<number> {
  let result: { outcome: SideOutcome; adapter?: string };
  try {
    const { source } = benchModel(model);
    const { spec } = await loadModelSpec(source);
    const adapter = await tfjsAdapter();
    const weights = await loadWeights(source, spec);
    result = { outcome: await benchTfjs(spec, weights, shapes[0], timing), adapter };
  } catch (e) {
    result = { outcome: { error: errorText(e) } };
  }
  console.log(JSON.stringify(result));
  return 0;
}

const code = await main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  return 1;
});
// Dawn's and tfjs's handles can keep the event loop alive: leave once the output is written.
process.stdout.write('', () => process.exit(code));
