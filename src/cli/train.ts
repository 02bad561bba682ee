// webgpu-lora train: fine-tune a LoRA adapter on a JSONL or CSV file and write it as a PEFT folder.
//
// Order matters: the options and the whole data file are checked before the model is loaded or
// anything is written, so a bad file costs nothing and leaves --out untouched. The adapter is
// written once, at the end, with writeFolderAtomic (never half a folder); checkpoints go to
// --out/checkpoint-<step>/ and --resume continues from one, exactly where it stopped. The training
// itself is the engine's (src/engine/engine.ts), as in the demo and the widget.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../engine/engine.js';
import { countOf } from '../text/count.js';
import { tokenizeThreads, workerFormatter } from './format-workers.js';
import { checkpointFolders } from '../engine/node-engine.js';
import type { TrainStartEvent } from '../engine/types.js';
import { writeFolderAtomic } from '../io/atomic-node.js';
import { folderSource } from '../model/source-node.js';
import { decodeState } from '../train/checkpoint.js';
import { resolveTrainingConfig, TrainingConfigError, type TrainingConfigInput } from '../train/config.js';
import { DatasetError, decodeDataset, describeProblem, parseDataset, type Example } from '../train/dataset.js';
import { deviceOrRerun, integerOption, numberOption, UsageError, weightsOption } from './common.js';
import { readAdapter } from './adapter-source.js';
import { resolveModelSource } from './model-source.js';
import { prepareOutFolder } from './out-folder.js';
import { CountPrinter, describeEval, formatDuration, ProgressPrinter } from './progress.js';

export const TRAIN_USAGE = `  webgpu-lora train --model <dir|url|hf-id> --data <file.jsonl|file.csv> --out <dir>
                    [--epochs N] [--max-steps N] [--lr X] [--rank R] [--alpha A]
                    [--targets all-linear|<name,name,...>] [--batch-size B] [--grad-accum N]
                    [--max-length T] [--seed S] [--val-split F] [--schedule linear|cosine|constant]
                    [--warmup N] [--eval-every N] [--dropout P] [--rslora] [--train-on-inputs]
                    [--gradient-checkpointing] [--max-non-finite-steps N] [--adapter <dir>] [--dtype f32|f16]
                    [--weights f32|f16|nf4|q8] [--checkpoint-every N] [--resume <checkpoint-dir>]
                    [--overwrite]
      Trains a LoRA adapter on input → output pairs and writes it to --out as a PEFT folder
      (adapter_config.json, adapter_model.safetensors; --dtype f16 halves it). Defaults: 3 epochs,
      lr 2e-4, rank 16, alpha 32, all-linear, batch 4, max length 512, 10% held out for
      validation, linear schedule. --adapter continues training a PEFT adapter (its own rank,
      alpha and modules). --gradient-checkpointing keeps one layer's activations instead of
      all layers' and recomputes them in the backward pass (less memory at long sequences, about
      a third more compute, the same adapter). --weights f16 stores the model's frozen matrices
      as f16 on the GPU (half their memory; compute stays f32, so results differ from f32 only by
      the rounding of those weights); --weights nf4|q8 quantizes the layers' projections (QLoRA:
      NF4 or Q8_0, dequantized inside the matmuls) and keeps the embedding and head f16.
      --checkpoint-every N saves --out/checkpoint-<step>/ every N steps; --resume continues one
      with its own settings. Ctrl-C stops after the current step and saves a checkpoint.
      An adapter already in --out is kept (an error before training) unless --overwrite is
      given; --out is checked writable before the model is loaded.
      A step whose loss or gradient is NaN or infinite changes nothing and is reported; after
      --max-non-finite-steps of them in a row (default 3) training stops with an error, exit 1
      and no adapter written.`;

/** The options that set a training setting (not allowed with --resume, which has its own). */
export const SETTINGS = ['epochs', 'max-steps', 'lr', 'rank', 'alpha', 'targets', 'batch-size', 'grad-accum', 'max-length', 'seed', 'val-split', 'schedule', 'warmup', 'eval-every', 'dropout', 'rslora', 'train-on-inputs', 'gradient-checkpointing', 'max-non-finite-steps', 'adapter'] as const;
/** The options that are switches (no value). */
const SWITCHES = new Set(['rslora', 'train-on-inputs', 'gradient-checkpointing', 'overwrite']);

/** TrainingConfig field → the option that sets it, for error messages. */
const FLAG_OF: Record<string, string> = {
  epochs: 'epochs', maxSteps: 'max-steps', learningRate: 'lr', 'lora.r': 'rank', 'lora.alpha': 'alpha', 'lora.targetModules': 'targets',
  batchSize: 'batch-size', gradientAccumulationSteps: 'grad-accum', maxLength: 'max-length', seed: 'seed', valSplit: 'val-split',
  lrSchedule: 'schedule', warmupSteps: 'warmup', evalEvery: 'eval-every', 'lora.dropout': 'dropout',
  maxNonFiniteSteps: 'max-non-finite-steps',
};

export async function trainCommand(argv: string[]): Promise<number> {
  const v = parseOptions(argv, [...SETTINGS, 'model', 'data', 'out', 'checkpoint-every', 'resume', 'dtype', 'weights', 'overwrite']);
  const dtype = (v.dtype ?? 'f32').toLowerCase();
  if (dtype !== 'f32' && dtype !== 'f16') throw new UsageError(`--dtype must be f32 or f16, got '${v.dtype}'`);
  weightsOption(v.weights); // checked before anything is loaded
  for (const k of ['model', 'data', 'out'] as const) if (!v[k]) throw new UsageError(`train needs --${k}`);
  if (existsSync(v.out!) && !statSync(v.out!).isDirectory()) throw new Error(`--out '${v.out}' is a file; give a folder for the adapter`);
  const checkpointEvery = v['checkpoint-every'] === undefined ? null : integerOption(v['checkpoint-every'], 'checkpoint-every', 0, 1);

  // 1. Settings, the checkpoint to resume (if any), and the data: all before the GPU and the model.
  let input: TrainingConfigInput | null = null;
  const resumeDir = v.resume;
  if (resumeDir !== undefined) {
    const given = SETTINGS.filter((k) => v[k] !== undefined);
    if (given.length) throw new UsageError(`--resume continues with the checkpoint's own settings; leave out ${given.map((k) => `--${k}`).join(', ')}`);
    if (!existsSync(resumeDir) || !statSync(resumeDir).isDirectory()) throw new Error(`--resume '${resumeDir}' is not a folder`);
    await decodeState(folderSource(resumeDir)); // fails early on a folder that is not a checkpoint
  } else {
    input = configFromOptions(v);
  }
  const examples = readExamples(v.data!);
  if (examples === null) return 1;
  // --out: writable, and no adapter in it that --overwrite does not allow to replace.
  await prepareOutFolder(v.out!, { files: ['adapter_config.json', 'adapter_model.safetensors'], what: 'an adapter', overwrite: v.overwrite === 'true' });

  // Ctrl-C or SIGTERM: before training, quit; while training, stop after the current step and
  // save a checkpoint (a second signal quits at once). (On SwiftShader the process that re-runs
  // this one passes both signals on to it: common.ts deviceOrRerun.)
  let engine: Engine | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!engine) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopListening();
    process.stderr.write(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping after the current step (again to quit at once)...\n`);
    void engine.cancel();
  };
  const stopListening = () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await train(v, examples, input, resumeDir, checkpointEvery, dtype === 'f16' ? 'F16' : 'F32', (e) => (engine = e));
  } finally {
    stopListening();
  }
}

async function train(
  v: Record<string, string | undefined>,
  examples: Example[],
  input: TrainingConfigInput | null,
  resumeDir: string | undefined,
  checkpointEvery: number | null,
  dtype: 'F32' | 'F16',
  started: (engine: Engine) => void,
): Promise<number> {
  // 2. The GPU, the model (named as given, for the adapter's base_model_name_or_path) and the adapter to continue.
  const ctx = await deviceOrRerun();
  const source = resolveModelSource(v.model!);
  const engine = new Engine({ ctx, formatter: workerFormatter(source, tokenizeThreads()) });
  try {
    const info = await engine.loadModel(source, undefined, { weightStorage: weightsOption(v.weights), name: v.model });
    if (v.adapter !== undefined) await engine.importAdapter(await readAdapter(v.adapter, engine.model!.spec, source));

    // 3. Train, with progress, checkpoints and Ctrl-C.
    const out = v.out!;
    let progress: ProgressPrinter | undefined;
    const saveCheckpoint = checkpointFolders(out);
    const written = (dir: string) => progress!.line(`checkpoint written to ${dir}`);
    let result;
    const tokenizing = new CountPrinter(process.stderr, 'tokenizing', 'examples');
    try {
      result = await engine.train(examples, input ?? undefined, {
        onPrepare: (p) => tokenizing.update(p.done, p.total),
        onStart: (e) => {
          const c = e.config;
          console.log(
            `${e.trainExamples.toLocaleString('en-US')} training and ${countOf(e.validationExamples, 'validation example')}; ${countOf(e.totalSteps, 'step')} ` +
              `(${e.stepsPerEpoch} per epoch, batch ${c.batchSize}×${c.gradientAccumulationSteps}); ` +
              `LoRA r ${c.lora.r}, alpha ${c.lora.alpha}, ${e.trainableParameters} trainable parameters` +
              (e.step > 0 ? `; resuming after step ${e.step}` : ''),
          );
          reportDataCuts(e, Math.min(c.maxLength, info.maxPositions));
          progress = new ProgressPrinter(process.stderr, e.totalSteps);
          started(engine);
        },
        onStep: (e) => {
          progress!.step(e);
          // A skipped update is said as it happens; the stop after too many is the engine's error.
          if (e.nonFinite) progress!.line(`step ${e.step}: ${e.nonFinite.what} is not finite (${e.nonFinite.value}); update skipped, the adapter is unchanged`);
        },
        onEval: (e) => progress!.line(describeEval(e)),
      }, {
        continueAdapter: v.adapter !== undefined,
        checkpoint: checkpointEvery === null ? undefined : { every: checkpointEvery, write: async (files, step) => written(await saveCheckpoint(files, step)) },
        resumeFrom: resumeDir === undefined ? undefined : folderSource(resumeDir),
      });
    } finally {
      progress?.finish();
    }
    if (result.cancelled) {
      const dir = await saveCheckpoint(await engine.checkpoint(), result.steps);
      written(dir);
      console.log(`stopped after step ${result.steps} of ${result.totalSteps}; continue with --resume ${dir}`);
      return 130;
    }

    // 4. The adapter, and the summary.
    await writeFolderAtomic(out, await engine.exportAdapter({ dtype }));
    console.log(`train loss ${result.trainLoss.toFixed(4)} (mean over the last epoch's steps)`);
    if (result.validationLoss !== null) {
      const before = result.initialValidationLoss === null ? '' : `${result.initialValidationLoss.toFixed(4)} before training, `;
      console.log(`validation loss: ${before}${result.validationLoss.toFixed(4)} after`);
    }
    console.log(`truncated examples: ${result.truncated}; skipped examples: ${result.skipped}`);
    console.log(`adapter written to ${out} (${countOf(result.steps, 'step')} in ${formatDuration(result.elapsedMs)})`);
    return 0;
  } finally {
    await engine.dispose();
    ctx.device.destroy();
  }
}

/** argv parsed for the options `names`: a switch is 'true' or absent, any other option its string. */
export function parseOptions(argv: string[], names: readonly string[]): Record<string, string | undefined> {
  const options = Object.fromEntries(names.map((k) => [k, { type: SWITCHES.has(k) ? ('boolean' as const) : ('string' as const) }]));
  const { values } = parseArgs({ args: argv, options });
  return Object.fromEntries(Object.entries(values).map(([k, x]) => [k, x === true ? 'true' : x === false ? undefined : x])) as Record<string, string | undefined>;
}

/** The TrainingConfig the options describe; a bad value is a UsageError naming its option. */
export function configFromOptions(v: Record<string, string | undefined>): TrainingConfigInput {
  const num = (k: string) => (v[k] === undefined ? undefined : numberOption(v[k], k, 0));
  const targets = v.targets === undefined || v.targets === 'all-linear' ? v.targets : v.targets.split(',').map((s) => s.trim()).filter(Boolean);
  const input: TrainingConfigInput = {
    epochs: num('epochs'),
    maxSteps: num('max-steps'),
    learningRate: num('lr'),
    batchSize: num('batch-size'),
    gradientAccumulationSteps: num('grad-accum'),
    maxLength: num('max-length'),
    seed: num('seed'),
    valSplit: num('val-split'),
    lrSchedule: v.schedule as TrainingConfigInput['lrSchedule'],
    warmupSteps: num('warmup'),
    evalEvery: num('eval-every'),
    trainOnInputs: v['train-on-inputs'] === 'true' ? true : undefined,
    gradientCheckpointing: v['gradient-checkpointing'] === 'true' ? true : undefined,
    maxNonFiniteSteps: num('max-non-finite-steps'),
    lora: {
      r: num('rank'),
      alpha: num('alpha'),
      targetModules: targets as string[] | 'all-linear' | undefined,
      dropout: num('dropout'),
      useRslora: v.rslora === 'true' ? true : undefined,
    },
  };
  try {
    resolveTrainingConfig(input);
  } catch (e) {
    if (!(e instanceof TrainingConfigError)) throw e;
    const flag = FLAG_OF[e.field];
    throw flag ? new UsageError(`--${flag}: ${e.message.replace(/^training config: \S+ /, '')}`) : e;
  }
  return input;
}

/** The examples of the data file, or null after printing every problem in it to stderr and what `nothing` says. */
export function readExamples(file: string, nothing = 'nothing was trained or written'): Example[] | null {
  if (!existsSync(file) || !statSync(file).isFile()) throw new Error(`--data '${file}' is not a file`);
  const ext = extname(file).toLowerCase();
  const format = ext === '.csv' ? 'csv' : ext === '.jsonl' || ext === '.json' ? 'jsonl' : 'auto';
  const name = basename(file);
  // The bytes are decoded strictly (invalid UTF-8 names its lines); a large file shows how far the check has come.
  const checking = new CountPrinter(process.stderr, `checking ${name}`, format === 'csv' ? 'rows' : 'lines');
  try {
    return parseDataset(decodeDataset(readFileSync(file), name), format, name, (p) => checking.update(p.done, p.total));
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    for (const p of e.problems) process.stderr.write(`${describeProblem(e.fileName, p)}\n`);
    const n = e.problems.length;
    process.stderr.write(`webgpu-lora: ${file} has ${n} problem${n === 1 ? '' : 's'}; fix ${n === 1 ? 'it' : 'them'} and run again (${nothing})\n`);
    return null;
  }
}

/** The examples cut at `max` tokens and the ones skipped, by line. */
function reportDataCuts(e: TrainStartEvent, max: number): void {
  const { truncatedLines, skippedLines } = e;
  const lines = (l: number[]) => `line${l.length === 1 ? '' : 's'} ${l.slice(0, 20).join(', ')}${l.length > 20 ? ', ...' : ''}`;
  if (truncatedLines.length) console.log(`${truncatedLines.length} examples cut to ${max} tokens (${lines(truncatedLines)})`);
  if (skippedLines.length) console.log(`${skippedLines.length} examples skipped: nothing of their reply fits in ${max} tokens (${lines(skippedLines)})`);
}
