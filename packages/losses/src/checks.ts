import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';

/** `[a, b]` as text. */
export const shapeOf = (t: tf.Tensor): string => `[${t.shape.join(', ')}]`;

/** Checks that `t` is a live float32 rank-2 tensor of reps with at least `minRows` rows. */
export function checkReps(loss: string, name: string, t: tf.Tensor, minRows = 1): asserts t is tf.Tensor2D {
  check(
    t instanceof tf.Tensor && !t.isDisposed && t.rank === 2 && t.dtype === 'float32',
    'INVALID_REPS',
    () =>
      `${loss}: ${name} must be a float32 [rows, d] tensor of reps, got ` +
      `${t instanceof tf.Tensor ? (t.isDisposed ? 'a disposed tensor' : `a ${t.dtype} tensor of shape ${shapeOf(t)}`) : String(t)}.`,
  );
  check((t.shape[0] as number) >= minRows, 'BATCH_TOO_SMALL', () => `${loss}: ${name} has ${t.shape[0]} rows; pass at least ${minRows}.`);
}

/** Checks the options argument: an object (required), or an object or left out (optional). */
export function checkOptions(loss: string, options: unknown, required: boolean): void {
  check(
    (typeof options === 'object' && options !== null) || (!required && options === undefined),
    'INVALID_OPTION',
    () => `${loss}: options must be an object${required ? ' such as { temperature: 0.07 }' : ' or left out'}, got ${String(options)}.`,
  );
}

/** Checks two views of one batch: both reps, same shape. */
export function checkViews(loss: string, z1: tf.Tensor, z2: tf.Tensor): void {
  checkReps(loss, 'z1', z1);
  checkReps(loss, 'z2', z2);
  check(
    tf.util.arraysEqual(z1.shape, z2.shape),
    'SHAPE_MISMATCH',
    () => `${loss}: z1 and z2 must have the same shape (two views of one batch), got ${shapeOf(z1)} and ${shapeOf(z2)}.`,
  );
}

/** Checks that a loss that estimates a variance or pairs has at least two rows. */
export function checkAtLeastTwoRows(loss: string, name: string, t: tf.Tensor): void {
  check(
    (t.shape[0] as number) >= 2,
    'BATCH_TOO_SMALL',
    () => `${loss}: ${name} has ${t.shape[0]} row; this loss needs at least 2 (it uses batch statistics or pairs).`,
  );
}

/** Checks a positive finite number option. */
export function checkPositive(loss: string, name: string, value: number): void {
  check(
    typeof value === 'number' && Number.isFinite(value) && value > 0,
    'INVALID_OPTION',
    () => `${loss}: ${name} must be a positive finite number, got ${String(value)}.`,
  );
}

/** Checks a temperature: a positive number, or a scalar tensor (learnable). */
export function checkTemperature(loss: string, temperature: number | tf.Scalar): void {
  if (temperature instanceof tf.Tensor) {
    check(!temperature.isDisposed, 'INVALID_OPTION', () => `${loss}: temperature is a disposed tensor; pass a live scalar.`);
    check(temperature.rank === 0, 'INVALID_OPTION', () => `${loss}: temperature must be a scalar, got shape ${shapeOf(temperature)}.`);
  } else {
    checkPositive(loss, 'temperature', temperature);
  }
}

/** Checks the optional tileSize of the tiled losses: a positive integer. */
export function checkTileSize(loss: string, tileSize: number | undefined): void {
  check(
    tileSize === undefined || (Number.isInteger(tileSize) && tileSize > 0),
    'INVALID_OPTION',
    () => `${loss}: tileSize must be a positive integer, got ${String(tileSize)}.`,
  );
}
