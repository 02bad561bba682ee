// The engine's timed steps of one shape in one or more weight formats (--weights f16,nf4): each
// format's session is set up and warmed up in turn, then the timed steps go round the formats,
// step 1 of each in the order given, then step 2, and so on, so that whatever else loads the
// machine meanwhile (a shared CI host, SwiftShader's threads) slows every format alike and the
// ratio of their medians holds even where the absolute times drift. With one format this is the
// plain warm-up-then-timed-steps run.
import type { GpuContext } from '../src/gpu/device.js';
import { errorText, type EngineSettings, type Shape, type Timing } from './common.js';
import { EngineSession, type EngineOutcome, type LoadedModel } from './engine-step.js';

/** One format to time: its model, loaded in that format, and the engine's settings for it. */
export interface FormatRun {
  loaded: LoadedModel;
  settings: EngineSettings;
}

/**
 * Runs `fn` inside out-of-memory and validation error scopes; a GPU error they catch is thrown as
 * "GPU error: ..." (ahead of whatever `fn` threw, which it usually caused).
 */
async function withGpuErrors<T>(ctx: GpuContext, fn: () => T | Promise<T>): Promise<T> {
  const { device } = ctx;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let value: T | undefined;
  let thrown: unknown;
  let threw = false;
  try {
    value = await fn();
  } catch (e) {
    threw = true;
    thrown = e;
  }
  const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((e): e is GPUError => e !== null);
  if (errors.length) throw new Error(`GPU error: ${errors.map((e) => e.message.split('\n')[0]).join('; ')}`);
  if (threw) throw thrown;
  return value as T;
}

/**
 * Each format's outcome at `shape`, in the order of `runs`: its median step time over
 * `timing.steps` interleaved timed steps (after `timing.warmup` untimed ones of its own, which
 * compile the pipelines), its memory, its losses, and with `profile` one extra step with kernel
 * timing on. A format that fails (a GPU error, a loss that is not finite) gets its error as its
 * outcome and drops out of the rotation; the others go on.
 */
export async function benchEngines(ctx: GpuContext, runs: FormatRun[], shape: Shape, timing: Timing, profile: boolean): Promise<EngineOutcome[]> {
  const outcomes: Array<EngineOutcome | undefined> = runs.map(() => undefined);
  const sessions: Array<EngineSession | undefined> = runs.map(() => undefined);
  const fail = (i: number, e: unknown) => {
    outcomes[i] = { error: errorText(e) };
    sessions[i]?.destroy();
    sessions[i] = undefined;
  };
  try {
    for (const [i, run] of runs.entries()) {
      try {
        await withGpuErrors(ctx, async () => {
          sessions[i] = EngineSession.open(ctx, run.loaded, shape, run.settings);
          for (let w = 0; w < timing.warmup; w++) await sessions[i]!.train(false);
        });
      } catch (e) {
        fail(i, e);
      }
    }
    for (let rep = 0; rep < timing.steps; rep++) {
      for (const [i, session] of sessions.entries()) {
        if (!session) continue;
        try {
          await withGpuErrors(ctx, () => session.train(true));
        } catch (e) {
          fail(i, e);
        }
      }
    }
    for (const [i, session] of sessions.entries()) {
      if (!session) continue;
      try {
        outcomes[i] = await withGpuErrors(ctx, () => session.result(profile));
      } catch (e) {
        fail(i, e);
      }
    }
  } finally {
    for (const s of sessions) s?.destroy();
  }
  return outcomes.map((o) => o ?? { error: 'not measured' });
}
