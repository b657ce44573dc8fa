export { useBackend, type TestBackend } from './backend.js';
export { expectClose, expectGradsClose, relativeError } from './close.js';
export { expectNoLeaks } from './leaks.js';
export { testMlp, type Activation, type TestEncoder, type TestMlpSpec } from './mlp.js';
