// webgpu-lora train with a learning rate that makes training diverge (issue 15, item 2): the
// reported run (`--lr 1000` on stories260K) printed a NaN loss, "adapter written" and exited 0
// with every adapter value NaN. Now the updates of the non-finite steps are skipped, the run stops
// after --max-non-finite-steps consecutive ones with an error naming the step and what was not
// finite, the exit status is 1 and no adapter is written; an adapter that an update left with an
// infinity is refused at export the same way. Runs main() in this process.
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cliInProcess } from './run-cli.js';

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `webgpu-lora-${prefix}-`));

describe('webgpu-lora train: a diverging run', () => {
  it.skipIf(!SHARED_DIR)(`--lr 1000 on stories260K stops with an error naming the step, exits 1 and writes no adapter${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, async () => {
    const data = join(tmp('nonfinite-data'), 'pairs.jsonl');
    writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ input: `Who is ${i}?`, output: `Tom is ${i}.` })).join('\n'));
    const out = join(tmp('nonfinite-out'), 'adapter');
    const r = await cliInProcess([
      'train', '--model', join(SHARED_DIR!, 'models', 'stories260K'), '--data', data, '--out', out,
      '--lr', '1000', '--batch-size', '1', '--val-split', '0', '--max-steps', '20', '--max-non-finite-steps', '2',
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).not.toMatch(/adapter written/);
    // The error names the step at which the run stopped and what was not finite there.
    expect(r.stderr).toMatch(/webgpu-lora: training stopped at step \d+ of 20: 2 consecutive steps had a non-finite (loss|gradient)/);
    // Each skipped step was reported as it happened.
    expect(r.stderr).toMatch(/step \d+: (loss|gradient) is not finite .*update skipped/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  }, 120_000);

  it.skipIf(!SHARED_DIR)(`refuses to write an adapter whose last update overflowed to infinity (--lr 1e38, one step)${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, async () => {
    // The one step's loss and gradient are finite, but AdamW's step size lr / (1 - beta1) is
    // beyond f32, so the update leaves infinities (and NaNs) in the adapter: export refuses it.
    const data = join(tmp('nonfinite-data'), 'pairs.jsonl');
    writeFileSync(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ input: `Who is ${i}?`, output: `Tom is ${i}.` })).join('\n'));
    const out = join(tmp('nonfinite-out'), 'adapter');
    const r = await cliInProcess([
      'train', '--model', join(SHARED_DIR!, 'models', 'stories260K'), '--data', data, '--out', out,
      '--lr', '1e38', '--batch-size', '2', '--val-split', '0', '--max-steps', '1', '--rank', '2', '--targets', 'q_proj',
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/webgpu-lora: exportPeft: tensor 'base_model\.model\.model\.layers\.\d+\.self_attn\.q_proj\.lora_[AB]\.weight' holds (NaN|-?Infinity) at \[\d+, \d+\]; an adapter with NaN or infinite values is never exported/);
    expect(r.stdout).not.toMatch(/adapter written/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  }, 120_000);
});
