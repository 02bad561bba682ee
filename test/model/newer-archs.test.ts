// The newer architectures of ../shared/golden-arch (Gemma 3 with sliding-window layers, Llama with
// Llama-3 RoPE scaling, SmolLM3 with NoPE layers) wherever attention runs:
// - generation with the KV cache: a prefill of a few positions, then one position per call, gives
//   logits.base position by position (Gemma's window of 5 < T = 16 slides over the cache), and the
//   same as the whole sequence in one call;
// - evaluation (the loss-only pass) and training with gradient checkpointing: the loss equals
//   loss.trajectory[0], and the recomputed backward pass gives the saved one's gradients bit for bit;
// - greedy generation through generateTokens takes the argmax of those logits;
// - final logit softcapping (final_logit_softcapping, none in the fixture): the capped logits, the
//   loss of the capped logits and a directional derivative of the LoRA gradient through the cap.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateTokens } from '../../src/generate/generate.js';
import { readTensor } from '../../src/gpu/tensor.js';
import { GpuLora } from '../../src/lora/gpu-lora.js';
import { importPeft } from '../../src/lora/peft.js';
import { destroyInferenceState, forward } from '../../src/model/forward.js';
import { LanguageModel } from '../../src/model/model.js';
import { readSafetensorsHeader, readTensorF32, readTensorI32 } from '../../src/model/safetensors.js';
import { folderSource } from '../../src/model/source-node.js';
import { memorySource } from '../../src/model/source.js';
import { crossEntropyRef } from '../ref/crossentropy.js';
import { softcapRef } from '../ref/softcap.js';
import { DEFAULT_OPTIMIZER, TrainStep } from '../../src/train/step.js';
import { gpu, NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';

const CASES = ['gemma3-all-linear', 'llama3-rope-all-linear', 'smollm3-attn-mlp'];

async function load(name: string) {
  const ctx = await gpu();
  const dir = join(SHARED_DIR!, 'golden-arch', name);
  const caseJson = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  const model = await LanguageModel.load(ctx, folderSource(join(SHARED_DIR!, 'models', caseJson.model)));
  const source = folderSource(dir);
  const header = await readSafetensorsHeader(source, 'expected.safetensors');
  const [B, T] = header.tensors.get('input_ids')!.shape;
  return {
    ctx,
    model,
    source,
    B,
    T,
    ids: await readTensorI32(source, header, 'input_ids'),
    mask: await readTensorI32(source, header, 'attention_mask'),
    labels: await readTensorI32(source, header, 'labels'),
    want: await readTensorF32(source, header, 'logits.base'),
    losses: await readTensorF32(source, header, 'loss.trajectory'),
  };
}

/** max |a − b| over the positions (of V logits each) whose mask is 1, and the largest |b| there. */
function compare(a: ArrayLike<number>, b: ArrayLike<number>, mask: ArrayLike<number>, V: number) {
  let worst = 0;
  let largest = 0;
  for (let r = 0; r < mask.length; r++) {
    if (mask[r] !== 1) continue;
    for (let v = 0; v < V; v++) {
      worst = Math.max(worst, Math.abs(a[r * V + v] - b[r * V + v]));
      largest = Math.max(largest, Math.abs(b[r * V + v]));
    }
  }
  return { worst, largest };
}

describe.skipIf(!SHARED_DIR)(`the golden-arch models wherever attention runs${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  for (const name of CASES) {
    it(`${name}: KV-cache decoding, one position per call, gives logits.base position by position`, async () => {
      const { ctx, model, B, T, ids, mask, want } = await load(name);
      const V = model.spec.V;
      const whole = model.createState(B, T);
      const all = await forward(ctx, model.weights, whole, ids, T, { mask, allLogits: true });
      destroyInferenceState(whole);

      // A prefill of 3 positions, then one per call; each call's logits go to their positions.
      const state = model.createState(B, T);
      const stepwise = new Float32Array(B * T * V);
      const prefill = 3;
      for (let t0 = 0; t0 < T; ) {
        const n = t0 === 0 ? prefill : 1;
        const part = Array.from({ length: B * n }, (_, i) => ids[Math.floor(i / n) * T + t0 + (i % n)]);
        const logits = await forward(ctx, model.weights, state, part, n, { mask, allLogits: true });
        for (let b = 0; b < B; b++) stepwise.set(logits.subarray(b * n * V, (b + 1) * n * V), (b * T + t0) * V);
        t0 += n;
      }
      destroyInferenceState(state);

      const vsTorch = compare(stepwise, want, mask, V);
      const vsWhole = compare(stepwise, all, mask, V);
      console.log(`${name}: decoding vs PyTorch max |Δ| ${vsTorch.worst.toExponential(2)} (largest ${vsTorch.largest.toFixed(3)}), vs one call ${vsWhole.worst.toExponential(2)}`);
      expect(vsTorch.worst).toBeLessThanOrEqual(2e-4 * vsTorch.largest);
      expect(vsWhole.worst).toBeLessThanOrEqual(1e-5 * vsWhole.largest);
      if (name.startsWith('gemma3')) {
        // The sliding window matters here: T is past the window, and without it the logits are not PyTorch's.
        expect(model.spec.layers.some((l) => l.window !== null && l.window < T)).toBe(true);
        const unwindowed = { ...model.weights, spec: { ...model.spec, layers: model.spec.layers.map((l) => ({ ...l, window: null })) } };
        const st = model.createState(B, T);
        const full = await forward(ctx, unwindowed, st, ids, T, { mask, allLogits: true });
        destroyInferenceState(st);
        expect(compare(full, want, mask, V).worst).toBeGreaterThan(100 * 2e-4 * vsTorch.largest);
      }
      model.destroy();
    });

    it(`${name}: greedy generation continues with the argmax of the model's logits`, async () => {
      const { model, ids, T } = await load(name);
      const prompt = Array.from(ids.subarray(0, T - 4));
      const r = await generateTokens(model, prompt, { maxNewTokens: 4, eosTokenIds: [] });
      // The same tokens, one full forward pass per token (no cache reuse across calls).
      const expected: number[] = [];
      const seq = [...prompt];
      for (let i = 0; i < 4; i++) {
        const st = model.createState(1, seq.length);
        const logits = await forward(model.ctx, model.weights, st, seq, seq.length);
        destroyInferenceState(st);
        let best = 0;
        for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
        expected.push(best);
        seq.push(best);
      }
      expect(r.ids).toEqual(expected);
      model.destroy();
    });

    it(`${name}: evaluation and checkpointed training give loss.trajectory[0] and the saved pass's gradients`, async () => {
      const { ctx, model, source, B, T, ids, mask, labels, losses } = await load(name);
      const adapter = await importPeft(source, model.spec);
      const batch = { B, T, ids, labels, attentionMask: mask };
      const run = async (gradientCheckpointing: boolean) => {
        const lora = GpuLora.create(ctx, adapter);
        const step = new TrainStep(ctx, model, lora, B, T, DEFAULT_OPTIMIZER, { gradientCheckpointing });
        const evalLoss = (await step.loss(batch)).loss;
        const loss = await step.gradients([batch]);
        const grads = await readTensor(ctx, lora.grads);
        step.destroy();
        lora.destroy();
        return { evalLoss, loss, grads };
      };
      const saved = await run(false);
      const recomputed = await run(true);
      expect(Math.abs(saved.loss - losses[0])).toBeLessThanOrEqual(2e-4 * Math.abs(losses[0]));
      expect(saved.evalLoss).toBe(saved.loss);
      expect(recomputed.loss).toBe(saved.loss);
      expect(recomputed.grads).toEqual(saved.grads);
      expect(saved.grads.some((g) => g !== 0)).toBe(true);
      model.destroy();
    });
  }

  it('gemma3 with final_logit_softcapping: capped logits, their loss, and the gradient through the cap', async () => {
    const { ctx, model: plain, source, B, T, ids, mask, labels, want } = await load('gemma3-all-linear');
    const cap = 1.5; // below the largest |logit| (1.69), so the cap bends the loss
    const dir = join(SHARED_DIR!, 'models', 'tiny-random-gemma3');
    const config = { ...JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), final_logit_softcapping: cap };
    const files = { 'config.json': new TextEncoder().encode(JSON.stringify(config)), 'model.safetensors': new Uint8Array(readFileSync(join(dir, 'model.safetensors'))) };
    const model = await LanguageModel.load(ctx, memorySource(files, 'gemma3-softcapped'));
    expect(model.spec.finalSoftcap).toBe(cap);
    const V = model.spec.V;
    const st = model.createState(B, T);
    const logits = await forward(ctx, model.weights, st, ids, T, { mask, allLogits: true });
    destroyInferenceState(st);
    const capped = softcapRef(want, cap);
    expect(compare(logits, capped, mask, V).worst).toBeLessThanOrEqual(2e-4 * cap);

    // The loss of the base model (no adapter) is cross-entropy of the capped logits.
    const batch = { B, T, ids, labels, attentionMask: mask };
    const adapter = await importPeft(source, model.spec);
    const zeroB = { ...adapter, weights: new Map([...adapter.weights].map(([k, w]) => [k, { A: w.A, B: new Float32Array(w.B.length) }])) };
    const lossOf = async (a: typeof adapter) => {
      const lora = GpuLora.create(ctx, a);
      const step = new TrainStep(ctx, model, lora, B, T, DEFAULT_OPTIMIZER);
      const loss = await step.gradients([batch]);
      const grads = await readTensor(ctx, lora.grads);
      const downloaded = await lora.download(lora.grads);
      step.destroy();
      lora.destroy();
      return { loss, grads, downloaded };
    };
    const base = await lossOf(zeroB);
    const ref = crossEntropyRef(capped, labels, B, T, V).mean;
    expect(Math.abs(base.loss - ref)).toBeLessThanOrEqual(1e-5 * ref);

    // Along the gradient g of one module's lora_B: (L(B + h·ĝ) − L(B − h·ĝ)) / 2h = |g|.
    const path = 'model.layers.2.mlp.down_proj';
    const at = await lossOf(adapter);
    const g = at.downloaded.weights.get(path)!.B;
    const norm = Math.hypot(...g);
    const h = 1e-2;
    const moved = (sign: number) => ({
      ...adapter,
      weights: new Map([...adapter.weights].map(([k, w]) => [k, k === path ? { A: w.A, B: w.B.map((x, i) => x + (sign * h * g[i]) / norm) } : w])),
    });
    const numeric = ((await lossOf(moved(1))).loss - (await lossOf(moved(-1))).loss) / (2 * h);
    console.log(`softcapped gemma3: |dL/dB| ${norm.toExponential(4)}, finite difference ${numeric.toExponential(4)}`);
    expect(Math.abs(numeric - norm)).toBeLessThanOrEqual(2e-2 * norm);
    expect(plain.spec.finalSoftcap).toBeNull(); // the fixture itself has none
    model.destroy();
    plain.destroy();
  });
});
