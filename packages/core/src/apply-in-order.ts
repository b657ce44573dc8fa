import * as tf from '@tensorflow/tfjs-core';
import { adamByVariable, isAdam } from './adam-by-variable.js';
import { check } from './errors.js';
import { snapshotState } from './state-snapshot.js';

/** What `applyInOrder` knows about the gradients (read with them, in one go). */
export interface ApplyOptions {
  /** Names of the gradients that hold NaN or ±Infinity: any refuses the update (GRADS_NOT_FINITE). */
  nonFinite?: readonly string[];
  /** The gradients' global L2 norm, for clipping. */
  gradNorm?: number;
  /** Scale the gradients so their global norm is at most this. Default: no clipping. */
  clipNorm?: number;
  /** The loss of the batch, for messages. */
  loss?: number;
  /** Who is applying, for messages. Default 'applyInOrder'. */
  caller?: string;
}

/**
 * Applies `grads` (by variable name) to `variables` in exactly that order, clipped to `clipNorm`.
 * tfjs optimizers — Adam, RMSProp, Adamax — key their slot variables by position, so a subset or
 * another order would mix moment estimates between same-shaped variables: pass the full variable
 * set, in one fixed order, every time. All or nothing: non-finite gradients are refused before
 * anything is applied, and if the update throws (out of memory) every variable and optimizer slot
 * is put back as it was, so the step can be retried. Adam is applied variable by variable
 * (`adamByVariable`: the same bits, one variable's temporaries at a time); other optimizers by
 * their own `applyGradients`. Frees nothing it is given.
 *
 * The one place gradients meet an optimizer: `step`, the trainer's `fit` and `@gradcache/parallel`'s
 * replicas all call it.
 */
export function applyInOrder(
  optimizer: tf.Optimizer,
  variables: readonly tf.Variable[],
  grads: tf.NamedTensorMap,
  options: ApplyOptions = {},
): void {
  const { nonFinite = [], gradNorm, clipNorm, loss, caller = 'applyInOrder' } = options;
  check(
    nonFinite.length === 0,
    'GRADS_NOT_FINITE',
    () =>
      `${caller}: the gradients of ${nonFinite.join(', ')} hold NaN or Infinity${loss === undefined ? '' : ` (the loss, ${loss}, is finite)`}; ` +
      'nothing was applied. Check the inputs for Infinity, and lower the learning rate.',
  );
  const missing = variables.filter((v) => grads[v.name] === undefined).map((v) => v.name);
  check(missing.length === 0, 'INVALID_OPTION', () => `${caller}: no gradient for ${missing.join(', ')}; pass one per variable.`);
  check(
    clipNorm === undefined || (Number.isFinite(clipNorm) && clipNorm > 0),
    'INVALID_OPTION',
    () => `${caller}: clipNorm must be a positive number, got ${clipNorm}.`,
  );
  check(
    clipNorm === undefined || (gradNorm !== undefined && Number.isFinite(gradNorm)),
    'INVALID_OPTION',
    () => `${caller}: clipNorm needs the gradients' finite global norm (gradNorm), got ${gradNorm}.`,
  );
  const scale = clipNorm !== undefined && (gradNorm as number) > clipNorm ? clipNorm / (gradNorm as number) : 1;
  const gradient = (v: tf.Variable): tf.Tensor => {
    const g = grads[v.name] as tf.Tensor;
    return scale === 1 ? g : tf.mul(g, scale);
  };
  if (isAdam(optimizer)) {
    adamByVariable(optimizer, variables, (i) => gradient(variables[i] as tf.Variable));
    return;
  }
  // Any other optimizer: its own update, with the weights and its slots saved to put back.
  const before = new Set(optimizerVariables(optimizer));
  const saved = snapshotState([...variables, ...before]);
  try {
    tf.tidy(() => optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: gradient(v) }))));
  } catch (error) {
    saved.restore();
    // Slots this update created began at zero; they may hold part of it now.
    for (const v of optimizerVariables(optimizer)) if (!before.has(v)) tf.tidy(() => v.assign(tf.zerosLike(v)));
    throw error;
  } finally {
    saved.dispose();
  }
}

/** The variables a tfjs optimizer keeps (its slots, as `{ variable }` lists, and scalar state such as Adamax's). */
function optimizerVariables(optimizer: tf.Optimizer): tf.Variable[] {
  return Object.values(optimizer).flatMap((field: unknown) => {
    if (field instanceof tf.Variable) return [field];
    if (!Array.isArray(field)) return [];
    return field.flatMap((entry: unknown) => {
      const variable = (entry as { variable?: unknown } | null)?.variable;
      return variable instanceof tf.Variable ? [variable] : [];
    });
  });
}
