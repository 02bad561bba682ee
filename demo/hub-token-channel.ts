// The Hugging Face access token, from the page to the demo's engine worker (./engine-worker.ts):
// before each model load the page posts { [HUB_TOKEN_MESSAGE]: token | null }, and the worker
// makes it the default token of its model sources (src/model/hub.ts), which send it to
// huggingface.co and to no other host. Comlink, which serves the engine on the same port, ignores
// messages without a type of its own.
import { normalizeHubToken, setHubDefaults } from '../src/model/hub.js';

export const HUB_TOKEN_MESSAGE = 'webgpu-lora:hf-token';

interface MessageTarget {
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
}

/** The page's side: the token the worker's next downloads use (null: none). Throws for a malformed token, before sending it. */
export function postHubToken(worker: Pick<Worker, 'postMessage'>, token: string | null): void {
  worker.postMessage({ [HUB_TOKEN_MESSAGE]: normalizeHubToken(token) });
}

/** The worker's side: takes the tokens the page posts. */
export function acceptHubTokens(scope: MessageTarget = globalThis as unknown as MessageTarget): void {
  scope.addEventListener('message', (e) => {
    const data: unknown = e.data;
    if (typeof data !== 'object' || data === null || !(HUB_TOKEN_MESSAGE in data)) return;
    const token = (data as Record<string, unknown>)[HUB_TOKEN_MESSAGE];
    try {
      setHubDefaults({ token: typeof token === 'string' ? token : null });
    } catch {
      setHubDefaults({ token: null }); // the page checks tokens before sending; never keep a malformed one
    }
  });
}
