// The GPU panel: the WebGPU adapter the engine's worker found (name, features, limits), or a
// clear explanation of why there is none. Its buffer limits go to the store (the weights format
// is judged by them). The rest of the page stays usable for editing data.
import type { LoraEngine } from '../../src/engine/types.js';
import { $, errorMessage, show } from './dom.js';
import type { Store } from './state.js';

const NEEDS_WEBGPU =
  'This page needs WebGPU: use a recent Chrome or Edge (or another browser with WebGPU turned on), ' +
  'and open the page over https or on localhost. You can still edit and check a dataset here.';

export async function initGpuPanel(engine: LoraEngine, store: Store): Promise<void> {
  const info = $('gpu-info');
  const badges = $('gpu-features');
  if (!('gpu' in navigator) || navigator.gpu === undefined) {
    show(info, 'error', `WebGPU is not available in this browser. ${NEEDS_WEBGPU}`);
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
    show(info, 'error', `No usable WebGPU adapter: ${errorMessage(e)}. ${NEEDS_WEBGPU}`);
    store.set({ gpuOk: false });
  }
}
