// Node-only: reading and writing model directories. The main entry runs in browsers.
export * from './index.js';
export { loadModel, saveModel } from './save-load.js';
