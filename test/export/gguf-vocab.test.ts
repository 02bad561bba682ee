// The tokenizer embedded in exported GGUF models, checked by a real llama.cpp: for the real
// vocabularies of ../shared/models/*-vocab (Qwen 2.5, whose tokenizer Qwen 3 shares: byte-level BPE, pre-tokenizer
// "qwen2"; Llama 3: "llama-bpe"; Gemma 3: SentencePiece-style BPE with byte fallback and no
// space prefix; tiny-random-gpt2: a GPT-2 byte-level BPE of 1,000 tokens, pre-tokenizer "gpt-2") llama.cpp turns test strings into the same ids as this project's tokenizer, and
// the file carries the chat template and the special-token ids. (stories260K's SentencePiece
// vocabulary is checked in ./gguf-stories.test.ts.)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportGguf } from '../../src/export/gguf/export.js';
import { writeFileAtomicStream } from '../../src/io/atomic-node.js';
import { folderSource } from '../../src/model/source-node.js';
import { TextTokenizer } from '../../src/tokenize/tokenizer.js';
import { NO_SHARED_REASON, SHARED_DIR } from '../helpers.js';
import { readGguf } from './gguf-reader.js';
import { llamaCppTokenize, NO_LLAMA_CPP_REASON } from './llama-cpp.js';

const TEXTS = [
  'Hello world',
  ' leading space and  two spaces',
  "It's 2024: 12345 apples, don't they?",
  'new\nlines\n\n and\ttabs',
  'Unicode: café, naïve, 日本語, emoji 🙂',
  'code: def f(x):\n    return x**2  # square',
];

describe.skipIf(!SHARED_DIR || NO_LLAMA_CPP_REASON)(`GGUF tokenizers in llama.cpp${SHARED_DIR ? (NO_LLAMA_CPP_REASON ? ` (skipped: ${NO_LLAMA_CPP_REASON})` : '') : ` (skipped: ${NO_SHARED_REASON})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-vocab-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [model, pre, tokenizerModel] of [
    ['qwen2.5-vocab', 'qwen2', 'gpt2'],
    ['llama3-vocab', 'llama-bpe', 'gpt2'],
    ['gemma3-vocab', 'default', 'llama'],
    ['tiny-random-gpt2', 'gpt-2', 'gpt2'],
  ] as const) {
    it(`${model}: llama.cpp tokenizes as this project does (${tokenizerModel}, pre ${pre}), template and special ids embedded`, async () => {
      const source = folderSource(join(SHARED_DIR!, 'models', model));
      const path = join(dir, `${model}.gguf`);
      const tokenizer = await TextTokenizer.load(source);
      const result = await writeFileAtomicStream(path, (sink) => exportGguf(sink, source, { type: 'f16', tokenizer }));
      const got = await llamaCppTokenize(path, TEXTS);
      const want = TEXTS.map((t) => tokenizer.encode(t, { addSpecialTokens: false }));
      for (let i = 0; i < TEXTS.length; i++) expect(got[i], JSON.stringify(TEXTS[i])).toEqual(want[i]);

      const g = readGguf(new Uint8Array(readFileSync(path)));
      const v = (k: string) => g.kvs.get(k)?.value;
      expect(v('tokenizer.ggml.model')).toBe(tokenizerModel);
      expect(v('tokenizer.ggml.pre')).toBe(pre);
      expect(v('tokenizer.chat_template')).toBe(tokenizer.chatTemplate ?? undefined);
      expect(v('tokenizer.ggml.eos_token_id')).toBe(tokenizer.eosTokenId ?? undefined);
      if (tokenizer.bosTokenId !== null) expect(v('tokenizer.ggml.bos_token_id')).toBe(tokenizer.bosTokenId);
      expect(v('tokenizer.ggml.add_bos_token')).toBe(tokenizer.bosTokenId !== null && tokenizer.encode('a')[0] === tokenizer.bosTokenId);
      // What the export reports for a Modelfile beside the file.
      expect(result.tokenizer!.chatTemplate).toBe(tokenizer.chatTemplate);
      expect(result.tokenizer!.addsBos).toBe(v('tokenizer.ggml.add_bos_token'));
      expect(result.tokenizer!.specialTokens.eos_token).toBe(tokenizer.idToToken(tokenizer.eosTokenId!));
    });
  }
});
