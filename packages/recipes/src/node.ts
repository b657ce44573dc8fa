/** Ready-to-train tasks that wire a dataset, encoders and a loss; Node (they read their data from disk). */
export * from './index.js';
export { wordnetRetrievalTask } from './wordnet-retrieval.js';
export { mnistSimclrTask } from './mnist-simclr.js';
export { evaluatePairs, PAIR_LOSSES, pairsTask, type PairsTask, type PairsTaskOptions, type TextModel } from './pairs-task.js';
