export { PretrainedError, type PretrainedErrorCode } from './errors.js';
export {
  loadPretrained,
  PretrainedModel,
  type LoadOptions,
  type LoadReport,
  type ModelSource,
  type PretrainedEncoder,
} from './pretrained-model.js';
export { fileSource, urlSource } from './sources.js';
export { PretrainedTokenizer, type TokenizeOptions } from './tokenizer.js';
export type { TokenBatch } from './transformer.js';
export { parseConfig, SUPPORTED_MODEL_TYPES, type ModelType, type TransformerConfig } from './config.js';
export { parameterSpecs, type ParameterSpec } from './weights.js';
export type { Pooling, PoolingMode } from './pooling.js';
export {
  FLOAT_DTYPES,
  fromFloat32,
  MAX_HEADER_BYTES,
  parseSafetensors,
  serializeSafetensors,
  toFloat32,
  type Safetensors,
  type SafetensorsDtype,
  type SafetensorsTensor,
} from './safetensors.js';
