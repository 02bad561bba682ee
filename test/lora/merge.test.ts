// Merging an adapter into its base model, against PEFT's merge_and_unload (../shared/golden).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loraScale } from '../../src/lora/config.js';
import { configWithDtype, COPIED_MODEL_FILES, mergedModelFiles, mergeIntoTensor } from '../../src/lora/merge.js';
import { importPeft } from '../../src/lora/peft.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { memorySource, type ModelSource } from '../../src/model/source.js';
import { NO_SHARED_REASON, randomArray, SHARED_DIR } from '../helpers.js';
import { after5Adapter, GOLDEN_CASES, goldenCase } from './golden-cases.js';

if (!SHARED_DIR) console.warn(`skipping the golden tests of merge.test.ts: ${NO_SHARED_REASON}`);

/** Every tensor of a safetensors file as f32, by name. */
async function allTensors(source: ModelSource, file: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const h = await readSafetensorsHeader(source, file);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of h.tensors) out.set(name, { shape: info.shape, data: await readTensorF32(source, h, name) });
  return out;
}

describe('mergeIntoTensor', () => {
  const [out, inF, r, s] = [5, 7, 3, 1.75];
  const W = randomArray(out * inF, 1);
  const A = randomArray(r * inF, 2);
  const B = randomArray(out * r, 3);
  /** W + s·B·A by the definition, in float64, [out, in]. */
  const reference = () => {
    const ref = new Float64Array(out * inF);
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inF; i++) {
        let d = 0;
        for (let k = 0; k < r; k++) d += B[o * r + k] * A[k * inF + i];
        ref[o * inF + i] = W[o * inF + i] + s * d;
      }
    }
    return ref;
  };

  it('adds s·B·A to an nn.Linear weight [out, in]', () => {
    const got = mergeIntoTensor(W, [out, inF], A, B, s, false);
    const ref = reference();
    for (let j = 0; j < got.length; j++) expect(Math.abs(got[j] - ref[j])).toBeLessThan(1e-5);
    expect(W).toEqual(randomArray(out * inF, 1)); // the input is left alone
  });

  it('adds (s·B·A)ᵀ to a Conv1D weight [in, out]', () => {
    const Wt = new Float32Array(inF * out);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) Wt[i * out + o] = W[o * inF + i];
    const got = mergeIntoTensor(Wt, [inF, out], A, B, s, true);
    const linear = mergeIntoTensor(W, [out, inF], A, B, s, false);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) expect(got[i * out + o]).toBe(linear[o * inF + i]);
  });

  it('refuses factors that do not fit the weight', () => {
    expect(() => mergeIntoTensor(W, [out, inF], A.subarray(1), B, s, false)).toThrow(/do not fit/);
    expect(() => mergeIntoTensor(W, [inF, out], A, B, s, false)).toThrow(/do not fit/);
  });
});

describe.skipIf(!SHARED_DIR)('mergedModelFiles against PEFT merge_and_unload', () => {
  for (const name of GOLDEN_CASES) {
    it(`${name}: base + after5 adapter reproduces merged_after5.safetensors`, async () => {
      const c = await goldenCase(name);
      const adapter = await importPeft(await after5Adapter(c), c.spec);
      const files = await mergedModelFiles(c.model, c.spec, adapter);
      const merged = memorySource(files, 'merged');
      const header = await readSafetensorsHeader(merged, 'model.safetensors');
      expect(header.metadata).toEqual({ format: 'pt' });
      expect([...header.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
      const got = await allTensors(merged, 'model.safetensors');
      const want = await allTensors(c.source, 'merged_after5.safetensors');
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      let worst = 0;
      let worstName = '';
      for (const [key, w] of want) {
        const g = got.get(key)!;
        expect(g.shape, key).toEqual(w.shape);
        const scale = w.data.reduce((m, x) => Math.max(m, Math.abs(x)), 0) || 1;
        let err = 0;
        for (let i = 0; i < w.data.length; i++) err = Math.max(err, Math.abs(g.data[i] - w.data[i]));
        expect(err / scale, `${key}: max error ${err} relative to max |element| ${scale}`).toBeLessThanOrEqual(1e-6);
        if (err / scale > worst) [worst, worstName] = [err / scale, key];
      }
      console.log(`${name}: max merge error ${worst.toExponential(3)} of the largest |element| (${worstName || 'all exact'}), scale ${loraScale(adapter.config)}`);
      // The other files of the folder are the base model's, byte for byte, but config.json's
      // dtype, which says float32: the merged weights' (a bf16 checkpoint's config said bfloat16).
      for (const file of COPIED_MODEL_FILES) {
        const base = (await c.model.exists(file)) ? await c.model.read(file) : undefined;
        const want = base && file === 'config.json' ? configWithDtype(base, 'float32') : base;
        if (want) expect(Buffer.compare(Buffer.from(files[file]), Buffer.from(want)), file).toBe(0);
        else expect(files[file]).toBeUndefined();
      }
    });
  }

  it('reads sharded checkpoints and keeps names without the model prefix', async () => {
    const c = await goldenCase('gpt2-attn-mlp');
    const adapter = await importPeft(await after5Adapter(c), c.spec);
    const single = await mergedModelFiles(c.model, c.spec, adapter);
    // The same checkpoint in two shards, with GPT-2's old unprefixed names (h.0..., wte).
    const base = await allTensors(c.model, 'model.safetensors');
    const shards: TensorToWrite[][] = [[], []];
    const weightMap: Record<string, string> = {};
    [...base].forEach(([n, t], i) => {
      const name = n.replace(/^transformer\./, '');
      shards[i % 2].push({ name, dtype: 'F32', shape: t.shape, data: t.data });
      weightMap[name] = `model-0000${(i % 2) + 1}-of-00002.safetensors`;
    });
    const files: Record<string, Uint8Array> = {
      'config.json': readFileSync(join(SHARED_DIR!, 'models', 'tiny-random-gpt2', 'config.json')),
      'model-00001-of-00002.safetensors': writeSafetensors(shards[0]),
      'model-00002-of-00002.safetensors': writeSafetensors(shards[1]),
      'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap })),
    };
    const sharded = await mergedModelFiles(memorySource(files, 'sharded'), c.spec, adapter);
    expect(Object.keys(sharded).sort()).toEqual(['config.json', 'model.safetensors']);
    const a = await allTensors(memorySource(single), 'model.safetensors');
    const b = await allTensors(memorySource(sharded), 'model.safetensors');
    expect([...b.keys()].sort()).toEqual([...a.keys()].map((n) => n.replace(/^transformer\./, '')).sort());
    for (const [n, t] of a) expect(b.get(n.replace(/^transformer\./, ''))!.data, n).toEqual(t.data);
  });

  it('refuses a checkpoint that lacks a targeted weight', async () => {
    const c = await goldenCase('qwen2-attn');
    const adapter = await importPeft(await after5Adapter(c), c.spec);
    const base = await allTensors(c.model, 'model.safetensors');
    base.delete('model.layers.1.self_attn.k_proj.weight');
    const files = {
      'config.json': new Uint8Array(await c.model.read('config.json')),
      'model.safetensors': writeSafetensors([...base].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data }))),
    };
    await expect(mergedModelFiles(memorySource(files, 'broken'), c.spec, adapter)).rejects.toThrow(
      /broken: tensor 'model\.layers\.1\.self_attn\.k_proj\.weight' \(or 'layers\.1\.self_attn\.k_proj\.weight'\), the weight of LoRA module .* is missing/,
    );
  });
});
