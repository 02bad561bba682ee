// The demo's engine worker: the Engine that workers/engine.worker.ts serves, plus the Hugging
// Face access token that the page hands over before each model load (./hub-token-channel.ts).
import { Engine } from '../src/engine/engine.js';
import { exposeEngine } from '../src/engine/worker-host.js';
import { acceptHubTokens } from './hub-token-channel.js';

acceptHubTokens();
exposeEngine(new Engine());
