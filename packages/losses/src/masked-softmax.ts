import * as tf from '@tensorflow/tfjs-core';
import { MASKED } from './ops.js';

/** Rows [begin, begin + size) of an anchor or candidate tensor. */
export type Tile = readonly [begin: number, size: number];

/** Consecutive [begin, size) tiles of n rows. */
export function tiles(n: number, size: number): Tile[] {
  const out: Tile[] = [];
  for (let begin = 0; begin < n; begin += size) out.push([begin, Math.min(size, n - begin)]);
  return out;
}

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
  return ([begin, size]) => {
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
    block: ([x, y], [rowBegin, rows], [colBegin, cols]) =>
      tf.equal(tf.expandDims(tf.slice(x as tf.Tensor1D, rowBegin, rows), 1), tf.expandDims(tf.slice(y as tf.Tensor1D, colBegin, cols), 0)),
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
    block: ([a, c, t], [rowBegin, rows], [colBegin, cols]) =>
      tf.greater(
        tf.matMul(tf.slice(a as tf.Tensor2D, rowBegin, rows), tf.slice(c as tf.Tensor2D, colBegin, cols), false, true),
        tf.expandDims(tf.slice(t as tf.Tensor1D, rowBegin, rows), 1),
      ),
  };
}

/** Integer keys offset … offset + n − 1 (step `step`): the row indices of a tensor within a list of candidates. */
export function indexKeys(n: number, offset = 0, step = 1): number[] {
  return Array.from({ length: n }, (_, i) => offset + i * step);
}

/** A mask's rules with their tensors in one flat list (what a kernel saves) and a way back from a saved copy. */
function flatten(rules: readonly (PairRule | undefined)[]): {
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
function excludedBlock(excludes: (tf.Tensor2D | undefined)[], keep: tf.Tensor2D | undefined): tf.Tensor2D | undefined {
  const parts = excludes.filter((b): b is tf.Tensor2D => b !== undefined);
  if (parts.length === 0) return undefined;
  const any = parts.reduce((x, y) => tf.logicalOr(x, y));
  return keep === undefined ? any : tf.logicalAnd<tf.Tensor2D>(any, tf.logicalNot(keep));
}

/** `logits` with the excluded pairs pushed to MASKED (exp → exactly 0). */
function applyMask(logits: tf.Tensor2D, excluded: tf.Tensor2D | undefined): tf.Tensor2D {
  return excluded === undefined ? logits : tf.add(logits, tf.mul(tf.cast(excluded, 'float32'), MASKED));
}

/**
 * Each anchor's log-sum-exp over its candidates, `lse_i = log Σ_{j not excluded} exp(s·a_i·c_j)`,
 * minus its `target` logits `Σ_{j: target(i, j)} s·a_i·c_j` when given (one target per anchor: a
 * cross-entropy; DCL's target may be excluded from the log-sum-exp) — as a [R] tensor. Untiled (no
 * `tileSize`): plain ops on the [R, N] logits. Tiled: a streaming log-sum-exp over tile×tile blocks
 * (running max and rescaled sum) and a custom gradient that recomputes each block's softmax from the
 * saved lse, `G_IJ = dy_I ⊙ (P_IJ − T_IJ)` — memory O((R + N)·k + tile²), never R×N. Gradients reach
 * a, c and s (a and c may be one tensor: NT-Xent's anchors are its candidates). Every anchor needs
 * at least one candidate left.
 */
export function maskedLogSumExp(
  a: tf.Tensor2D,
  c: tf.Tensor2D,
  scale: tf.Scalar,
  mask: PairMask,
  tileSize?: number,
  target?: PairRule,
): tf.Tensor1D {
  const rules = flatten([...mask.exclude, mask.keep, target]);
  const excluded = (blocks: (tf.Tensor2D | undefined)[]): tf.Tensor2D | undefined => excludedBlock(blocks.slice(0, -2), blocks.at(-2));
  if (tileSize === undefined) {
    return tf.tidy(() => {
      const blocks = rules.blocks(rules.tensors, [0, a.shape[0]], [0, c.shape[0]]);
      const logits = tf.mul<tf.Tensor2D>(tf.matMul(a, c, false, true), scale);
      const lse = tf.logSumExp<tf.Tensor1D>(applyMask(logits, excluded(blocks)), 1);
      const picked = blocks.at(-1);
      return picked === undefined ? lse : tf.sub<tf.Tensor1D>(lse, tf.sum(tf.mul(tf.cast(picked, 'float32'), logits), 1));
    });
  }
  const rowTiles = tiles(a.shape[0], tileSize);
  const colTiles = tiles(c.shape[0], tileSize);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a2, c2, s, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.GradSaveFunc];
    const parts = rowTiles.map((rows) =>
      tf.tidy(() => {
        const aI = tf.slice(a2, rows[0], rows[1]);
        let max: tf.Tensor1D | undefined;
        let sum: tf.Tensor1D | undefined;
        let picked = tf.zeros([rows[1]]) as tf.Tensor1D; // Σ target logits (stays 0 without a target)
        for (const cols of colTiles) {
          [max, sum, picked] = tf.tidy((): [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D] => {
            const blocks = rules.blocks(rules.tensors, rows, cols);
            const scaled = tf.mul<tf.Tensor2D>(tf.matMul(aI, tf.slice(c2, cols[0], cols[1]), false, true), s);
            const logits = applyMask(scaled, excluded(blocks));
            const tileMax = tf.max(logits, 1);
            const newMax = max === undefined ? tileMax : tf.maximum(max, tileMax);
            const tileSum = tf.sum(tf.exp(tf.sub(logits, tf.expandDims(newMax, 1))), 1);
            const newSum = sum === undefined ? tileSum : tf.add(tf.mul(sum, tf.exp(tf.sub(max as tf.Tensor1D, newMax))), tileSum);
            const t = blocks.at(-1);
            return [newMax, newSum, t === undefined ? picked : tf.add(picked, tf.sum(tf.mul(tf.cast(t, 'float32'), scaled), 1))] as [
              tf.Tensor1D,
              tf.Tensor1D,
              tf.Tensor1D,
            ];
          });
        }
        const lse = tf.add(max as tf.Tensor1D, tf.log(sum as tf.Tensor1D));
        return [lse, picked] as [tf.Tensor1D, tf.Tensor1D];
      }),
    );
    const lse = tf.concat(parts.map(([l]) => l)) as tf.Tensor1D;
    const value = tf.tidy(() => tf.sub(lse, tf.concat(parts.map(([, p]) => p)))) as tf.Tensor1D;
    tf.dispose(parts.flat());
    save([a2, c2, s, lse, ...rules.tensors]);
    lse.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [as, cs, ss, lses] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D];
        const ruleTensors = saved.slice(4);
        // d lse_i / d logit_ij = softmax_ij, less 1 at the target: G_IJ = dy_I ⊙ (P_IJ − T_IJ).
        return blockwiseGradients(as, cs, ss, rowTiles, colTiles, (rows, cols, raw) => {
          const blocks = rules.blocks(ruleTensors, rows, cols);
          const p = tf.exp(tf.sub(applyMask(tf.mul(raw, ss), excluded(blocks)), tf.expandDims(tf.slice(lses, rows[0], rows[1]), 1)));
          const t = blocks.at(-1);
          return tf.mul(
            t === undefined ? p : tf.sub(p, tf.cast(t, 'float32')),
            tf.expandDims(tf.slice(dy as tf.Tensor1D, rows[0], rows[1]), 1),
          );
        });
      },
    };
  });
  return f(a, c, scale) as tf.Tensor1D;
}

/**
 * Each anchor's mean logit over its positives — the pairs of `positives` that the mask does not
 * exclude — and their count: `mean_i = Σ_{j∈P(i)} s·a_i·c_j / max(|P(i)|, 1)` (0 without a
 * positive). Untiled or tiled as maskedLogSumExp; the counts get no gradient.
 */
export function maskedMeanLogit(
  a: tf.Tensor2D,
  c: tf.Tensor2D,
  scale: tf.Scalar,
  positives: PairRule,
  mask: PairMask,
  tileSize?: number,
): { mean: tf.Tensor1D; count: tf.Tensor1D } {
  const rules = flatten([positives, ...mask.exclude, mask.keep]);
  const matched = (saved: readonly tf.Tensor[], rows: Tile, cols: Tile): tf.Tensor2D => {
    const [match, ...rest] = rules.blocks(saved, rows, cols);
    if (match === undefined) return tf.zeros([rows[1], cols[1]]); // no positive here
    const out = excludedBlock(rest.slice(0, -1), rest.at(-1));
    return tf.cast(out === undefined ? match : tf.logicalAnd<tf.Tensor2D>(match, tf.logicalNot(out)), 'float32');
  };
  if (tileSize === undefined) {
    return tf.tidy(() => {
      const m = matched(rules.tensors, [0, a.shape[0]], [0, c.shape[0]]);
      const count = tf.sum(m, 1) as tf.Tensor1D;
      const logits = tf.mul(tf.matMul(a, c, false, true), scale);
      return { mean: tf.div(tf.sum(tf.mul(m, logits), 1), tf.maximum(count, 1)) as tf.Tensor1D, count };
    });
  }
  const rowTiles = tiles(a.shape[0], tileSize);
  const colTiles = tiles(c.shape[0], tileSize);
  // One output, [R, 2] = [mean, count]: work outside a custom gradient would be recorded on the
  // tape, which keeps every block it saw until the backward pass (O(R·N) memory).
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a2, c2, s, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.GradSaveFunc];
    // Per row [count, Σ matched raw scores], over column tiles in one pass: each block's mask is
    // built once, and only one block is alive at a time.
    const parts = rowTiles.map((rows) => {
      const aI = tf.slice(a2, rows[0], rows[1]);
      let total = tf.zeros([rows[1], 2]) as tf.Tensor2D;
      for (const cols of colTiles) {
        if (positives.mayMatch?.(rows, cols) === false) continue; // no positive in this block
        const next = tf.tidy(() => {
          const m = matched(rules.tensors, rows, cols);
          const raw = tf.matMul(aI, tf.slice(c2, cols[0], cols[1]), false, true);
          return tf.add(total, tf.stack([tf.sum(m, 1), tf.sum(tf.mul(m, raw), 1)], 1));
        }) as tf.Tensor2D;
        total.dispose();
        total = next;
      }
      aI.dispose();
      return total;
    });
    const [count, sums] = tf.tidy(() => {
      const both = tf.concat(parts);
      return [tf.reshape(tf.slice(both, [0, 0], [-1, 1]), [-1]), tf.reshape(tf.slice(both, [0, 1], [-1, 1]), [-1])] as [
        tf.Tensor1D,
        tf.Tensor1D,
      ];
    });
    tf.dispose(parts);
    const divisor = tf.maximum(count, 1) as tf.Tensor1D;
    const value = tf.tidy(() => tf.stack([tf.div(tf.mul(sums, s), divisor), count], 1)) as tf.Tensor2D;
    save([a2, c2, s, divisor, ...rules.tensors]);
    tf.dispose([sums, count, divisor]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [as, cs, ss, div] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D];
        const ruleTensors = saved.slice(4);
        const rowWeight = tf.tidy(() => tf.div(tf.reshape(tf.slice(dy, [0, 0], [-1, 1]), [-1]), div)) as tf.Tensor1D; // counts: no gradient
        const out = blockwiseGradients(
          as,
          cs,
          ss,
          rowTiles,
          colTiles,
          (rows, cols) => tf.mul(matched(ruleTensors, rows, cols), tf.expandDims(tf.slice(rowWeight, rows[0], rows[1]), 1)),
          positives.mayMatch,
        );
        rowWeight.dispose();
        return out;
      },
    };
  });
  return tf.tidy(() => {
    const both = f(a, c, scale) as tf.Tensor2D;
    return {
      mean: tf.reshape(tf.slice(both, [0, 0], [-1, 1]), [-1]) as tf.Tensor1D,
      count: tf.reshape(tf.slice(both, [0, 1], [-1, 1]), [-1]) as tf.Tensor1D,
    };
  });
}

/**
 * The gradients of `Σ_ij G_ij · s·a_i·c_j` for a, c and s, block by block, where `weights(rows,
 * cols, raw)` gives the block G_IJ from the raw scores a_I·c_Jᵀ: dA_I = s Σ_J G_IJ·c_J,
 * dC_J = s Σ_I G_IJᵀ·a_I, ds = Σ G ⊙ raw. Holds one block at a time and the [R, k] / [N, k] sums.
 * Blocks where `mayMatter` says G is zero are skipped.
 */
function blockwiseGradients(
  a: tf.Tensor2D,
  c: tf.Tensor2D,
  s: tf.Scalar,
  rowTiles: Tile[],
  colTiles: Tile[],
  weights: (rows: Tile, cols: Tile, raw: tf.Tensor2D) => tf.Tensor2D,
  mayMatter?: (rows: Tile, cols: Tile) => boolean,
): tf.Tensor[] {
  const dc = colTiles.map(([, size]) => tf.zeros([size, c.shape[1]]) as tf.Tensor2D);
  let ds: tf.Scalar = tf.scalar(0);
  const da = rowTiles.map((rows) => {
    const aI = tf.slice(a, rows[0], rows[1]);
    let daI = tf.zeros([rows[1], a.shape[1]]) as tf.Tensor2D;
    colTiles.forEach((cols, j) => {
      if (mayMatter?.(rows, cols) === false) return; // G is zero there
      const next = tf.tidy(() => {
        const cJ = tf.slice(c, cols[0], cols[1]);
        const raw = tf.matMul<tf.Tensor2D>(aI, cJ, false, true);
        const g = weights(rows, cols, raw);
        return [
          tf.add(daI, tf.matMul(g, cJ)),
          tf.add(dc[j] as tf.Tensor2D, tf.matMul(g, aI, true, false)),
          tf.add(ds, tf.sum(tf.mul(g, raw))),
        ] as [tf.Tensor2D, tf.Tensor2D, tf.Scalar];
      });
      tf.dispose([daI, dc[j] as tf.Tensor2D, ds]);
      [daI, dc[j], ds] = next;
    });
    aI.dispose();
    const finished = tf.mul(daI, s); // each tile finished when complete: no [R, k] intermediate outlives its use
    daI.dispose();
    return finished;
  });
  const outA = tf.concat(da, 0);
  tf.dispose(da);
  const finishedC = dc.map((t) => {
    const finished = tf.mul(t, s);
    t.dispose();
    return finished;
  });
  const outC = tf.concat(finishedC, 0);
  tf.dispose(finishedC);
  const outS = tf.reshape(ds, []);
  ds.dispose();
  return [outA, outC, outS];
}
