// `webgpu-lora export-gguf`: through the binary once (the stories260K golden adapter as a GGUF
// LoRA, read back: llama.cpp's keys, tensor names and orientation), the other two kinds and the
// usage errors in this process, and a failed export that leaves no file behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomicStream } from '../../src/io/atomic-node.js';
import { importPeft } from '../../src/lora/peft.js';
import { loadModelSpec } from '../../src/model/config.js';
import { folderSource } from '../../src/model/source-node.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { cli, cliInProcess } from '../cli/run-cli.js';
import { f32Of, readGguf, tensorData } from './gguf-reader.js';
import { parseModelfile } from './modelfile-parser.js';

const MODEL = join(SHARED_DIR ?? '', 'models', 'stories260K');
const ADAPTER = join(SHARED_DIR ?? '', 'golden', 'stories260K-all-linear');

describe.skipIf(!SHARED_DIR)(`webgpu-lora export-gguf${SHARED_DIR ? '' : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'webgpu-lora-gguf-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes the GGUF LoRA adapter (binary): llama.cpp keys, names blk.N.<module>.weight.lora_a/b, PEFT data as {in, r} / {r, out}', async () => {
    const out = join(tmp, 'lora.gguf');
    const r = cli(['export-gguf', '--model', MODEL, '--adapter', ADAPTER, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*lora\.gguf: the LoRA adapter \(35 modules, r 4\) of .*stories260K as GGUF f32, 70 tensors, \d+ bytes$/m);
    // Without --base-gguf an adapter gets no Modelfile (it needs its base's file), only the hint.
    expect(r.stdout).toMatch(/give --base-gguf/);
    expect(existsSync(join(tmp, 'lora.Modelfile'))).toBe(false);
    const file = new Uint8Array(readFileSync(out));
    const g = readGguf(file);
    const v = (k: string) => g.kvs.get(k)?.value;
    expect([v('general.type'), v('general.architecture'), v('adapter.type'), v('adapter.lora.alpha')]).toEqual(['adapter', 'llama', 'lora', 8]);
    expect(g.tensors).toHaveLength(70);
    const { spec } = await loadModelSpec(folderSource(MODEL));
    const adapter = await importPeft(folderSource(ADAPTER), spec);
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(byName.get('blk.0.attn_q.weight.lora_a')!.dims).toEqual([64, 4]);
    expect(byName.get('blk.0.attn_q.weight.lora_b')!.dims).toEqual([4, 64]);
    expect(byName.get('blk.4.ffn_down.weight.lora_a')!.dims).toEqual([172, 4]);
    expect(byName.get('blk.4.ffn_down.weight.lora_b')!.dims).toEqual([4, 64]);
    expect(byName.get('blk.2.attn_k.weight.lora_b')!.dims).toEqual([4, 32]);
    // v is not permuted: its lora_b is PEFT's B as is; q's rows are permuted (head 0, row 1 ← row HS/2 = 4).
    const vB = adapter.weights.get('model.layers.1.self_attn.v_proj')!.B;
    expect([...f32Of(tensorData(file, g, 'blk.1.attn_v.weight.lora_b'))]).toEqual([...vB]);
    const qB = adapter.weights.get('model.layers.1.self_attn.q_proj')!.B;
    const qGguf = f32Of(tensorData(file, g, 'blk.1.attn_q.weight.lora_b'));
    expect([...qGguf.subarray(4, 8)]).toEqual([...qB.subarray(4 * 4, 5 * 4)]);
    expect([...qGguf.subarray(0, 4)]).toEqual([...qB.subarray(0, 4)]);
    const qA = adapter.weights.get('model.layers.1.self_attn.q_proj')!.A;
    expect([...f32Of(tensorData(file, g, 'blk.1.attn_q.weight.lora_a'))]).toEqual([...qA]);
  });

  it('writes the base model and the merged model (q8_0) with the tokenizer embedded', async () => {
    for (const [name, extra] of [['base.gguf', []], ['merged.gguf', ['--adapter', ADAPTER, '--merged']]] as const) {
      const out = join(tmp, name);
      const r = await cliInProcess(['export-gguf', '--model', MODEL, ...extra, '--type', 'q8_0', '--out', out]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(name === 'base.gguf' ? /the model of .* as GGUF q8_0, 47 tensors/ : /the model with the adapter merged in of .* as GGUF q8_0, 47 tensors/);
      const g = readGguf(new Uint8Array(readFileSync(out)));
      const types = new Map(g.tensors.map((t) => [t.name, t.type]));
      expect([types.get('token_embd.weight'), types.get('blk.0.attn_q.weight'), types.get('blk.0.ffn_down.weight'), types.get('blk.0.attn_norm.weight')]).toEqual([8, 8, 1, 0]);
      expect(types.has('output.weight')).toBe(false); // tied to the embedding
      const v = (k: string) => g.kvs.get(k)?.value;
      expect([v('general.type'), v('general.file_type'), v('tokenizer.ggml.model'), v('tokenizer.ggml.bos_token_id'), v('tokenizer.ggml.add_bos_token')]).toEqual(['model', 7, 'llama', 1, true]);
      expect((v('tokenizer.ggml.tokens') as string[]).length).toBe(512);
      expect([v('llama.block_count'), v('llama.attention.head_count_kv'), v('llama.feed_forward_length'), v('llama.rope.dimension_count')]).toEqual([5, 4, 172, 8]);
      // The Ollama Modelfile beside it: FROM the file; stories260K has no chat template, so the
      // Modelfile carries webgpu-lora's plain template (### Input: / ### Output:), and its EOS as a stop.
      const modelfile = parseModelfile(readFileSync(join(tmp, name.replace('.gguf', '.Modelfile')), 'utf8'));
      expect([modelfile.from, modelfile.adapter, modelfile.parameters.stop]).toEqual([`./${name}`, null, ['</s>', '### Input:']]);
      expect(modelfile.template).toContain('### Input:');
    }
  });

  it('writes a Modelfile that applies an adapter export to its base file with --base-gguf', async () => {
    const r = await cliInProcess(['export-gguf', '--model', MODEL, '--adapter', ADAPTER, '--base-gguf', 'base.gguf', '--out', join(tmp, 'tuned-lora.gguf')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*tuned-lora\.Modelfile: for Ollama/);
    const modelfile = parseModelfile(readFileSync(join(tmp, 'tuned-lora.Modelfile'), 'utf8'));
    expect([modelfile.from, modelfile.adapter]).toEqual(['./base.gguf', './tuned-lora.gguf']);
    expect(modelfile.template).toContain('### Output:');
  });

  it('refuses bad options and leaves no file behind when the export fails', async () => {
    const bad = async (args: string[], message: RegExp) => {
      const r = await cliInProcess(['export-gguf', ...args]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(message);
    };
    const out = join(tmp, 'x.gguf');
    await bad(['--out', out], /export-gguf needs --model/);
    await bad(['--model', MODEL], /export-gguf needs --out/);
    await bad(['--model', MODEL, '--merged', '--out', out], /--merged needs --adapter/);
    await bad(['--model', MODEL, '--type', 'q4_0', '--out', out], /--type must be f32, f16, q8_0, got 'q4_0'/);
    await bad(['--model', MODEL, '--out', join(tmp, 'x.bin')], /--out must name a .gguf file/);
    await bad(['--model', MODEL, '--base-gguf', 'base.gguf', '--out', out], /--base-gguf is for an adapter export/);
    await bad(['--model', MODEL, '--adapter', ADAPTER, '--base-gguf', '../base.gguf', '--out', out], /--base-gguf must be the file name of a .gguf/);
    await bad(['--model', join(SHARED_DIR!, 'models', 'tiny-random-smollm3'), '--out', out], /model_type 'smollm3' is not supported/);
    // A checkpoint that ends early: the export fails on its last tensors, and neither x.gguf nor a temporary file remains.
    const broken = join(tmp, 'broken');
    rmSync(broken, { recursive: true, force: true });
    mkdirSync(broken);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) writeFileSync(join(broken, f), readFileSync(join(MODEL, f)));
    const weights = readFileSync(join(MODEL, 'model.safetensors'));
    writeFileSync(join(broken, 'model.safetensors'), weights.subarray(0, weights.length - 1000));
    await bad(['--model', broken, '--out', out], /model.safetensors.*(truncated|past the end|expected)/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.startsWith('x.gguf'))).toEqual([]);
    // A failure half-way through the stream keeps the previous file whole and removes the temporary one.
    writeFileSync(out, 'old');
    await expect(writeFileAtomicStream(out, async (sink) => {
      await sink.write(new Uint8Array(100));
      throw new Error('tensor 3 failed');
    })).rejects.toThrow('tensor 3 failed');
    expect(readFileSync(out, 'utf8')).toBe('old');
    expect(readdirSync(tmp).filter((f) => f.startsWith('x.gguf'))).toEqual(['x.gguf']);
  });
});
