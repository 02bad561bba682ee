// A real llama.cpp (node-llama-cpp's prebuilt CPU binary), offline, for the GGUF export tests:
// greedy generation from token ids with an optional GGUF LoRA, and llama.cpp's tokenization.
// One thread: tiny models run in tens of milliseconds that way (more threads were slower here).
import { getLlama, LlamaLogLevel, type Llama, type Token } from 'node-llama-cpp';

/**
 * Why llama.cpp cannot run here, or null: the project installs node-llama-cpp's Linux x64 CPU
 * binary only (package.json's overrides put tools/no-op-package in the other platforms' place).
 */
export const NO_LLAMA_CPP_REASON: string | null =
  process.platform === 'linux' && process.arch === 'x64' ? null : `node-llama-cpp's only installed binary is for Linux x64, not ${process.platform} ${process.arch} (package.json overrides)`;

let llamaPromise: Promise<Llama> | undefined;

/** node-llama-cpp's CPU build, never built or downloaded. */
export function llamaCpp(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: LlamaLogLevel.error });
  return llamaPromise;
}

/**
 * The first n tokens llama.cpp generates greedily (temperature 0) after `promptIds`, with the
 * GGUF LoRA at `loraPath` applied at scale 1 when given.
 */
export async function llamaCppGreedy(modelPath: string, promptIds: number[], n: number, loraPath?: string): Promise<number[]> {
  const llama = await llamaCpp();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  try {
    const context = await model.createContext({ threads: 1, contextSize: 128, ...(loraPath ? { lora: { adapters: [{ filePath: loraPath, scale: 1 }] } } : {}) });
    try {
      const out: number[] = [];
      for await (const t of context.getSequence().evaluate(promptIds as Token[], { temperature: 0 })) {
        out.push(t);
        if (out.length >= n) break;
      }
      return out;
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** llama.cpp's token ids of each text (special tokens as text, no BOS added). */
export async function llamaCppTokenize(modelPath: string, texts: string[]): Promise<number[][]> {
  const llama = await llamaCpp();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  try {
    return texts.map((t) => [...model.tokenize(t)]);
  } finally {
    await model.dispose();
  }
}
