// An error nobody catches, after the wasm backend started: what a person sees on stderr.
import { initBackend } from './node.js';

await initBackend('wasm');
setTimeout(() => {
  throw new Error('boom: an uncaught error after the wasm backend started');
}, 0);
