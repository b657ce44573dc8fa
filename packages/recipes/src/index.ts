// The recipes read their data from disk (WordNet, MNIST): they live behind `@gradcache/recipes/node`.
// The main entry holds the error class and the recipes' types.
export { RecipeError, type RecipeErrorCode } from './errors.js';
export type { WordNetTask, WordNetTaskOptions } from './wordnet-retrieval.js';
export type { MnistTask, MnistTaskOptions } from './mnist-simclr.js';
export { bm25Retrieval } from './bm25.js';
