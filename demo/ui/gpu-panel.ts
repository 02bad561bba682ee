// The GPU panel: the WebGPU adapter the engine's worker found (name, features, limits), or a
// clear explanation of why there is none. Its buffer limits go to the store (the weights format
// is judged by them). The rest of the page stays usable for editing data.
import type { LoraEngine } from '../../src/engine/types.js';
import { BROWSER_HELP } from '../../src/gpu/device.js';
import { $, errorMessage, show } from './dom.js';
import type { Store } from './state.js';

const STILL_USABLE = 'You can still edit and check a dataset here.';

/**
 * The explanation, once: `what` went wrong, the engine's reason (which already carries the advice
 * of BROWSER_HELP when it found no WebGPU), the advice where the reason lacks it, and what still
 * works. Command-line flags are shown as <code> that does not wrap at their hyphens.
 */
function explain(el: HTMLElement, what: string, reason: string): void {
  const sentence = (t: string) => (/[.!?]$/.test(t.trim()) ? t.trim() : `${t.trim()}.`);
  const text = [sentence(reason ? `${what}: ${reason}` : what), reason.includes(BROWSER_HELP) ? '' : BROWSER_HELP, STILL_USABLE].filter(Boolean).join(' ');
  el.dataset.state = 'error';
  el.replaceChildren(
    ...text.split(/(--[\w-]+(?:=[\w,-]+)?)/).map((part, k) => {
      if (k % 2 === 0) return document.createTextNode(part);
      const code = document.createElement('code');
      code.className = 'flag';
      code.textContent = part;
      return code;
    }),
  );
}

export async function initGpuPanel(engine: LoraEngine, store: Store): Promise<void> {
  const info = $('gpu-info');
  const badges = $('gpu-features');
  if (!('gpu' in navigator) || navigator.gpu === undefined) {
    explain(info, 'WebGPU is not available in this browser', '');
    store.set({ gpuOk: false });
    return;
  }
  try {
    const gpu = await engine.gpuInfo();
    show(info, 'ready', gpu.summary);
    badges.replaceChildren(
      ...Object.entries({ 'shader-f16': gpu.features.shaderF16, subgroups: gpu.features.subgroups, 'timestamp-query': gpu.features.timestampQuery }).map(
        ([name, on]) => {
          const b = document.createElement('span');
          b.className = on ? 'badge on' : 'badge off';
          b.textContent = `${name} ${on ? '✓' : '✗'}`;
          return b;
        },
      ),
    );
    const { maxBufferSize, maxStorageBufferBindingSize } = gpu.limits;
    store.set({ gpuOk: true, gpuLimits: { maxBufferSize, maxStorageBufferBindingSize } });
  } catch (e) {
    explain(info, 'No usable WebGPU adapter', errorMessage(e));
    store.set({ gpuOk: false });
  }
}
