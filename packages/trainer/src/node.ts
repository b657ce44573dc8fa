/** Node-only parts of the trainer: checkpoints on disk, terminal progress, a JSONL log. */
export { hasCheckpoint, loadCheckpoint, readCheckpointState, saveCheckpoint, writeFileAtomic, type CheckpointState } from './checkpoint.js';
export { consoleProgress, formatStep, jsonlLog } from './progress.js';
