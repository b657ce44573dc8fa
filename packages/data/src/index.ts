export { augmentViews, imageBatch, type AugmentOptions } from './augment.js';
export { batchCount, epochBatches, epochOrder, type BatchOptions } from './batching.js';
export { DataError, type DataErrorCode } from './errors.js';
export { parseIdx, type IdxArray } from './idx.js';
export { imagesFromIdx, splitImages, subset, type ImageSet } from './images.js';
export { fnv1a, hashedNgrams, ngramFeatures, normalizeText, type HashedNgramOptions } from './text.js';
export {
  PARTS_OF_SPEECH,
  parseWordNetData,
  splitOf,
  takeSplit,
  wordnetPairs,
  type PartOfSpeech,
  type Split,
  type SplitOptions,
  type Synset,
  type TextPair,
} from './wordnet.js';
export { formatOf, PAIR_COLUMNS, pairFromRecord, type PairsFormat, type TrainingPair } from './pairs.js';
