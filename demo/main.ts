// The demo page: WebGPU adapter info, loading a model from a URL or Hugging Face id, and text
// generation. (Training, the dataset editor and the worker arrive with the trainer.)
import {
  acquireDevice,
  describeGpu,
  generateText,
  LanguageModel,
  TextTokenizer,
  urlSource,
  type GpuContext,
} from '../src/index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const gpuInfo = $<HTMLPreElement>('gpu-info');
const status = $<HTMLDivElement>('model-status');
const progress = $<HTMLProgressElement>('load-progress');
const generateButton = $<HTMLButtonElement>('generate');
const output = $<HTMLPreElement>('output');

let ctx: GpuContext | null = null;
let loaded: { model: LanguageModel; tokenizer: TextTokenizer } | null = null;

function setStatus(state: string, text: string) {
  status.dataset.state = state;
  status.textContent = text;
}

/** A Hugging Face id (owner/name) becomes its resolve URL; anything else is used as a base URL. */
function baseUrl(input: string): string {
  const s = input.trim();
  if (/^[\w.-]+\/[\w.-]+$/.test(s)) return `https://huggingface.co/${s}/resolve/main/`;
  return new URL(s.endsWith('/') ? s : `${s}/`, location.href).href;
}

async function init() {
  try {
    ctx = await acquireDevice(navigator.gpu);
    gpuInfo.textContent = describeGpu(ctx);
  } catch (e) {
    gpuInfo.textContent = (e as Error).message;
    gpuInfo.dataset.state = 'error';
  }
}

$('load-model').addEventListener('click', async () => {
  if (!ctx) return;
  const input = $<HTMLInputElement>('model-source').value;
  setStatus('loading', `Loading ${input}…`);
  generateButton.disabled = true;
  loaded?.model.destroy();
  loaded = null;
  try {
    const source = urlSource(baseUrl(input), {
      onProgress: (file, done, total) => {
        progress.max = total || 1;
        progress.value = done;
        setStatus('loading', `Downloading ${file}: ${(done / 2 ** 20).toFixed(1)} / ${(total / 2 ** 20).toFixed(1)} MiB`);
      },
    });
    const tokenizer = await TextTokenizer.load(source);
    const model = await LanguageModel.load(ctx, source);
    loaded = { model, tokenizer };
    const s = model.spec;
    setStatus('ready', `${s.modelType}: ${s.L} layers, width ${s.C}, ${s.NH} heads (${s.KV} kv), vocabulary ${s.V}`);
    generateButton.disabled = false;
  } catch (e) {
    setStatus('error', (e as Error).message);
  }
});

generateButton.addEventListener('click', async () => {
  if (!loaded) return;
  generateButton.disabled = true;
  output.textContent = '';
  try {
    await generateText(loaded.model, loaded.tokenizer, $<HTMLTextAreaElement>('prompt').value, {
      maxNewTokens: Number($<HTMLInputElement>('max-new-tokens').value),
      temperature: Number($<HTMLInputElement>('temperature').value),
      onText: (t) => (output.textContent += t),
    });
  } catch (e) {
    output.textContent += `\n[error] ${(e as Error).message}`;
  } finally {
    generateButton.disabled = false;
  }
});

void init();
