export { useBackend, type TestBackend } from './backend.js';
export { expectClose, expectGradsClose, readValues, relativeError } from './close.js';
export { expectNoLeaks } from './leaks.js';
export { testMlp, type Activation, type TestEncoder, type TestMlpSpec } from './mlp.js';
export { expectGradsMatchFiniteDifferences, finiteDifferences } from './finite-differences.js';
export { expectFiniteWithGrads } from './finite.js';
export { expectLinearCost, msPerCall } from './cost.js';
export { fcParameters } from './fast-check.js';
export { fullBatchReference, infoNceReference } from './references.js';
