// What every CLI command shares: usage errors, option parsing, and the GPU device (with the
// SwiftShader fallback on machines without a GPU).
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { WebGpuUnavailableError, type GpuContext } from '../gpu/device.js';
import { acquireNodeDevice } from '../gpu/node.js';
import { hasVulkanLoader, swiftShaderEnv } from '../gpu/swiftshader-env.js';

/** A mistake in the command line: printed with the usage text, exit code 2. */
export class UsageError extends Error {}

export function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${value}'`);
  return n;
}

export function integerOption(value: string | undefined, name: string, fallback: number, min = 0): number {
  const n = numberOption(value, name, fallback);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${value}'`);
  return n;
}

/**
 * --weights: how the model's large frozen matrices are stored on the GPU (default f32; nf4 and q8
 * quantize the layers' projections, model/gpu-weights.ts).
 */
/** --weights as a storage, or undefined when not given (the model's default: f32, or nf4 for a bitsandbytes 4-bit checkpoint). */
export function weightsOption(value: string | undefined): 'f32' | 'f16' | 'nf4' | 'q8' | undefined {
  if (value === undefined) return undefined;
  const w = value.toLowerCase();
  if (w !== 'f32' && w !== 'f16' && w !== 'nf4' && w !== 'q8') throw new UsageError(`--weights must be f32, f16, nf4 or q8, got '${value}'`);
  return w;
}

/** The help text of the access-token option, which every command that reads --model takes. */
export const HF_TOKEN_USAGE = `--hf-token <token> (or the environment variable HF_TOKEN) is the Hugging Face access token that
gated models (Gemma, Llama) need; it is sent only to huggingface.co (HF_ENDPOINT, when set, replaces
that address), never to other hosts.`;

let hfTokenOption: string | undefined;

/**
 * argv without \`--hf-token <token>\` / \`--hf-token=<token>\`, remembering the token for hfToken()
 * (each call starts afresh: a run without the option forgets an earlier run's token). The CLI's
 * entry takes the option out before a command parses the rest, so every command accepts it.
 */
export function takeHfTokenOption(argv: string[]): string[] {
  hfTokenOption = undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--hf-token') {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError('--hf-token needs a value: --hf-token <token>');
      hfTokenOption = value;
      i++;
    } else if (a.startsWith('--hf-token=')) hfTokenOption = a.slice('--hf-token='.length);
    else rest.push(a);
  }
  return rest;
}

/** The access token for the Hub: --hf-token, else HF_TOKEN, else none. */
export function hfToken(env: Record<string, string | undefined> = process.env): string | undefined {
  return hfTokenOption ?? (env.HF_TOKEN || undefined);
}

/** Set in the environment of a re-run on SwiftShader: the pid of the process that started it. */
const PARENT_ENV = 'WEBGPU_LORA_PARENT_PID';

/** The signals a process waiting for its re-run passes on to it. */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The GPU; or, where there is no Vulkan loader or no adapter and chromium's SwiftShader driver is
 * installed, a re-run of this process on SwiftShader (the environment must be set at start-up),
 * after which this process exits with the re-run's exit code.
 *
 * The two stay tied together. The re-run has a process group of its own, and this process, from
 * then on only its stand-in, passes SIGINT, SIGTERM and SIGHUP on to it (its own handlers are
 * dropped): a Ctrl-C reaches the re-run once, and a signal sent to this pid (a kill, a service
 * manager, an npx that is stopped) reaches the process that does the work, which then stops as
 * its command does on that signal (train: a checkpoint, then exit). The re-run watches this
 * process, and if it is gone (killed with SIGKILL), sends itself SIGTERM.
 */
export async function deviceOrRerun(): Promise<GpuContext> {
  const env = process.env.WEBGPU_LORA_SWIFTSHADER ? null : swiftShaderEnv();
  if (!env) watchParent();
  if (env && !hasVulkanLoader()) return rerun(env);
  try {
    return await acquireNodeDevice();
  } catch (e) {
    if (e instanceof WebGpuUnavailableError && env) return rerun(env);
    throw e;
  }
}

async function rerun(env: Record<string, string>): Promise<never> {
  process.stderr.write('webgpu-lora: no GPU adapter found; running on SwiftShader (a CPU Vulkan driver: correct, slow)\n');
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: 'inherit',
    detached: true,
    env: { ...process.env, ...env, WEBGPU_LORA_SWIFTSHADER: '1', [PARENT_ENV]: String(process.pid) },
  });
  for (const s of FORWARDED) {
    process.removeAllListeners(s);
    process.on(s, () => child.kill(s));
  }
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (status, signal) => resolve(status ?? 128 + (signal ? osConstants.signals[signal] : 1)));
  });
  process.exit(code);
}

/** In a re-run: SIGTERM to itself once the process that started it is gone. */
function watchParent(): void {
  const parent = Number(process.env[PARENT_ENV]);
  if (!parent) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, 1000);
  timer.unref();
}
