// The tfjs peer's side of `npm run bench`, one model and shape per child process of the bench
// (the same bench.mjs, run with --tfjs-child): the parent spawns it and reads its one JSON line.
import { spawnSync } from 'node:child_process';
import { loadModelSpec, loadWeights } from '../src/model/weights.js';
import { errorText, type Shape, type SideOutcome } from './common.js';
import { benchModel } from './models.js';
import { benchTfjs, tfjsAdapter } from './tfjs-step.js';

/**
 * The tfjs measurement of one model and shape, in a child process: tfjs-backend-webgpu keeps every
 * buffer it ever allocated pooled for the life of the process, so a second peer in one process
 * would count the first one's buffers (and a peer that runs out of memory cannot harm the rest).
 */
export function runTfjsChild(model: string, s: Shape, timing: { steps: number; warmup: number }, timeoutMs: number): { outcome: SideOutcome; adapter?: string } {
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
export async function tfjsChild(model: string, shapes: Shape[], timing: { steps: number; warmup: number }): Promise<number> {
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
