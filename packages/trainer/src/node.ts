/** Node-only parts of the trainer: checkpoints on disk, terminal progress, a JSONL log. */
export { hasCheckpoint, loadCheckpoint, saveCheckpoint, writeFileAtomic, type CheckpointState } from './checkpoint.js';
export { consoleProgress, formatStep, jsonlLog } from './progress.js';
export { wordnetRetrievalTask, type WordNetTask, type WordNetTaskOptions } from './recipes/wordnet-retrieval.js';
export { mnistSimclrTask, type MnistTask, type MnistTaskOptions } from './recipes/mnist-simclr.js';
