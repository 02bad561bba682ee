// webgpu-lora golden: run a PyTorch + PEFT golden case folder and compare every tensor.
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../io/atomic-node.js';
import { writeSafetensors } from '../model/safetensors.js';
import { folderSource } from '../model/source-node.js';
import { runGoldenCase } from '../train/golden.js';
import { deviceOrRerun, UsageError } from './common.js';

export const GOLDEN_USAGE = `  webgpu-lora golden <case-dir> --model <model-dir> [--out <file.safetensors>]
      Runs a golden case (case.json, adapter, expected.safetensors, as in ../shared/golden):
      prints the error of every tensor, exits 0 only when all are within tolerance; --out
      writes every computed tensor under expected.safetensors' names, as float32. A case with
      case.json "quantization" (../shared/golden-quant) runs with the layers' projections
      quantized that way (nf4, q8) and the rest float32, and also checks (and --out writes)
      dequantized.<weight name> for every quantized weight.`;

export async function goldenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string' }, out: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('golden needs exactly one case folder');
  if (!values.model) throw new UsageError('golden needs --model <model-dir>');
  const ctx = await deviceOrRerun();
  const run = await runGoldenCase(ctx, folderSource(positionals[0]), folderSource(values.model), (s) => process.stderr.write(`${s}\n`));
  ctx.device.destroy();

  const width = Math.max(...run.results.map((r) => r.name.length));
  for (const r of run.results) {
    const of = r.measure === 'largest' ? 'of largest' : 'of lr/step';
    console.log(`${r.pass ? 'ok  ' : 'FAIL'} ${r.name.padEnd(width)} [${r.shape.join(', ')}] error ${r.error.toExponential(2)} ${of} (tolerance ${r.tolerance.toExponential(0)})`);
  }
  for (const name of run.missing) console.log(`note ${name}: computed, but not in the expected files`);
  const failed = run.results.filter((r) => !r.pass);
  console.log(`${run.results.length - failed.length} passed, ${failed.length} failed`);
  if (values.out) {
    const tensors = [...run.computed].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data }));
    await writeFileAtomic(values.out, writeSafetensors(tensors));
  }
  return failed.length === 0 && run.results.length > 0 ? 0 : 1;
}
