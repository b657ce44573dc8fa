import * as tf from '@tensorflow/tfjs-core';
import { MASKED } from './ops.js';
import type { Tile } from './tiles.js';

/**
 * A set of (anchor i, candidate j) pairs, built block by block from tensors the tiled kernels keep
 * for their backward pass (a closure's tensors would be freed by the caller's tidy before it runs).
 */
export interface PairRule {
  readonly tensors: readonly tf.Tensor[];
  /** The rule's pairs among anchors `rows` × candidates `cols`: a bool [rows.size, cols.size] tensor. */
  block(tensors: readonly tf.Tensor[], rows: Tile, cols: Tile): tf.Tensor2D;
  /** False when the block surely holds none of the rule's pairs (known on the CPU): the kernels skip it. */
  mayMatch?(rows: Tile, cols: Tile): boolean;
}

/** Which candidates each anchor leaves out: pairs of any `exclude` rule, unless they are `keep`'s. */
export interface PairMask {
  readonly exclude: readonly PairRule[];
  readonly keep?: PairRule;
}

/** Keys of anchors or candidates: numbers (known on the CPU, so blocks without a match are skipped) or a tensor. */
export type Keys = readonly number[] | tf.Tensor1D;

/** Numbers as a tensor that compares them exactly: int32 when they are 32-bit integers, else float32. */
export function keysTensor(keys: Keys): tf.Tensor1D {
  if (keys instanceof tf.Tensor) return keys;
  const integers = keys.every((k) => Number.isInteger(k) && Math.abs(k) < 2 ** 31);
  return tf.tensor1d(keys as number[], integers ? 'int32' : 'float32');
}

/** Keys one after the other: numbers while all are numbers, else one tensor (float32 if the dtypes differ). */
export function concatKeys(parts: readonly Keys[]): Keys {
  if (parts.every((p) => !(p instanceof tf.Tensor))) return (parts as (readonly number[])[]).flat();
  const tensors = parts.map(keysTensor);
  const same = tensors.every((t) => t.dtype === tensors[0]?.dtype);
  return tf.concat(same ? tensors : tensors.map((t) => tf.cast(t, 'float32')));
}

/** Per tile, the set of its keys (for mayMatch). */
function tileSets(keys: readonly number[]): (tile: Tile) => Set<number> {
  const cache = new Map<string, Set<number>>();
  return ({ begin, size }) => {
    const id = `${begin}:${size}`;
    let set = cache.get(id);
    if (set === undefined) cache.set(id, (set = new Set(keys.slice(begin, begin + size))));
    return set;
  };
}

/** The pairs where `anchorKeys[i] === candidateKeys[j]`: self-similarity, a positive's index, a shared id or label. */
export function sameKey(anchorKeys: Keys, candidateKeys: Keys): PairRule {
  const [a, c] = [keysTensor(anchorKeys), keysTensor(candidateKeys)];
  const [ca, cc] = a.dtype === c.dtype ? [a, c] : [tf.cast(a, 'float32'), tf.cast(c, 'float32')];
  const rule: PairRule = {
    tensors: [ca, cc],
    block: ([x, y], rows, cols) =>
      tf.equal(
        tf.expandDims(tf.slice(x as tf.Tensor1D, rows.begin, rows.size), 1),
        tf.expandDims(tf.slice(y as tf.Tensor1D, cols.begin, cols.size), 0),
      ),
  };
  if (anchorKeys instanceof tf.Tensor || candidateKeys instanceof tf.Tensor) return rule;
  const [rowSet, colSet] = [tileSets(anchorKeys), tileSets(candidateKeys)];
  return {
    ...rule,
    mayMatch: (rows, cols) => {
      const [x, y] = [rowSet(rows), colSet(cols)];
      const [small, large] = x.size < y.size ? [x, y] : [y, x];
      for (const k of small) if (large.has(k)) return true;
      return false;
    },
  };
}

/** The pairs a guide model scores above the anchor's positive: `anchorGuide_i·candidateGuide_j > threshold_i` (GISTEmbed). */
export function guideAbove(anchorGuide: tf.Tensor2D, candidateGuide: tf.Tensor2D, threshold: tf.Tensor1D): PairRule {
  return {
    tensors: [anchorGuide, candidateGuide, threshold],
    block: ([a, c, t], rows, cols) =>
      tf.greater(
        tf.matMul(tf.slice(a as tf.Tensor2D, rows.begin, rows.size), tf.slice(c as tf.Tensor2D, cols.begin, cols.size), false, true),
        tf.expandDims(tf.slice(t as tf.Tensor1D, rows.begin, rows.size), 1),
      ),
  };
}

/** Integer keys offset … offset + n − 1 (step `step`): the row indices of a tensor within a list of candidates. */
export function indexKeys(n: number, offset = 0, step = 1): number[] {
  return Array.from({ length: n }, (_, i) => offset + i * step);
}

/** A mask's rules with their tensors in one flat list (what a kernel saves) and a way back from a saved copy. */
export function flatten(rules: readonly (PairRule | undefined)[]): {
  tensors: tf.Tensor[];
  blocks: (saved: readonly tf.Tensor[], rows: Tile, cols: Tile) => (tf.Tensor2D | undefined)[];
} {
  const offsets: number[] = [];
  const tensors: tf.Tensor[] = [];
  for (const rule of rules) {
    offsets.push(tensors.length);
    if (rule) tensors.push(...rule.tensors);
  }
  return {
    tensors,
    blocks: (saved, rows, cols) =>
      rules.map((rule, k) =>
        rule === undefined || rule.mayMatch?.(rows, cols) === false
          ? undefined
          : rule.block(saved.slice(offsets[k], (offsets[k] as number) + rule.tensors.length), rows, cols),
      ),
  };
}

/** The bool block of excluded pairs, or undefined when the mask has no rule. */
export function excludedBlock(excludes: (tf.Tensor2D | undefined)[], keep: tf.Tensor2D | undefined): tf.Tensor2D | undefined {
  const parts = excludes.filter((b): b is tf.Tensor2D => b !== undefined);
  if (parts.length === 0) return undefined;
  const any = parts.reduce((x, y) => tf.logicalOr(x, y));
  return keep === undefined ? any : tf.logicalAnd<tf.Tensor2D>(any, tf.logicalNot(keep));
}

/** `logits` with the excluded pairs pushed to MASKED (exp → exactly 0). */
export function applyMask(logits: tf.Tensor2D, excluded: tf.Tensor2D | undefined): tf.Tensor2D {
  return excluded === undefined ? logits : tf.add(logits, tf.mul(tf.cast(excluded, 'float32'), MASKED));
}
