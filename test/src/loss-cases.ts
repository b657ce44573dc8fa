import * as tf from '@tensorflow/tfjs-core';
import type { LossFunction } from '@gradcache/core';
import {
  alignment,
  barlowTwins,
  dcl,
  dclw,
  infoNCE,
  ntXent,
  queueInfoNCE,
  sigmoidLoss,
  matryoshka,
  distillation,
  spectralContrastive,
  supCon,
  symmetricInfoNCE,
  uniformity,
  vicReg,
  swav,
  simSiam,
  byol,
  nnclr,
} from '@gradcache/losses';

/** The batch size of the loss cases, and the labels supCon reads from `extra`. */
export const B = 10;
export const labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 3];

/** A teacher's [rows, cols] scores, fixed (made inside the loss, as constants of the step). */
const teacherScores = (rows: number, cols: number): tf.Tensor2D =>
  tf.tensor2d(
    Array.from({ length: rows * cols }, (_, k) => Math.cos(3 * k)),
    [rows, cols],
  );

/** A rep split in two halves side by side: the projection z and the prediction p of SimSiam and BYOL. */
const halves = (r: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] => tf.split(r, 2, 1) as [tf.Tensor2D, tf.Tensor2D];

/** Every loss of @gradcache/losses, each with the batch sizes its two encoders take (InfoNCE with hard negatives: d has 2B rows). */
export function cases(logitScale: tf.Variable, queue: tf.Tensor2D, prototypes?: tf.Variable): [string, LossFunction<number[]>, number][] {
  const pair =
    (f: (a: tf.Tensor2D, b: tf.Tensor2D, extra: number[] | undefined) => tf.Scalar): LossFunction<number[]> =>
    ([a, b], extra) =>
      f(a as tf.Tensor2D, b as tf.Tensor2D, extra);
  return [
    ['infoNCE with a hard negative', pair((q, d) => infoNCE(q, d, { temperature: 0.2, hardNegatives: 1 })), 2],
    ['tiled infoNCE with a hard negative', pair((q, d) => infoNCE(q, d, { temperature: 0.2, hardNegatives: 1, tileSize: 3 })), 2],
    ['symmetricInfoNCE with a learnable logit scale', pair((q, d) => symmetricInfoNCE(q, d, { logitScale: logitScale as tf.Scalar })), 1],
    [
      'tiled symmetricInfoNCE with a learnable logit scale',
      pair((q, d) => symmetricInfoNCE(q, d, { logitScale: logitScale as tf.Scalar, tileSize: 4 })),
      1,
    ],
    ['ntXent', pair((a, b) => ntXent(a, b, { temperature: 0.5 })), 1],
    ['dcl', pair((a, b) => dcl(a, b, { temperature: 0.5 })), 1],
    ['dclw', pair((a, b) => dclw(a, b, { temperature: 0.5 })), 1],
    ['barlowTwins', pair((a, b) => barlowTwins(a, b)), 1],
    ['vicReg', pair((a, b) => vicReg(a, b)), 1],
    ['spectralContrastive', pair((a, b) => spectralContrastive(a, b)), 1],
    ['alignment + uniformity', pair((a, b) => tf.add(alignment(a, b), tf.mul(tf.add(uniformity(a), uniformity(b)), 0.5))), 1],
    [
      'supCon over both views, labels through extra',
      pair((a, b, extra) => supCon(tf.concat([a, b]), [...(extra ?? []), ...(extra ?? [])], { temperature: 0.5 })),
      1,
    ],
    ['queueInfoNCE', pair((q, k) => queueInfoNCE(q, k, queue, { temperature: 0.2 })), 1],
    [
      'sigmoidLoss (SigLIP) with a learnable logit scale',
      pair((q, d) => sigmoidLoss(q, d, { logitScale: logitScale as tf.Scalar, bias: -2 })),
      1,
    ],
    [
      'matryoshka over infoNCE on prefixes of 2 and 4 dimensions',
      pair((q, d) =>
        matryoshka(([a, b]: tf.Tensor2D[]) => infoNCE(a!, b!, { temperature: 0.3 }), { dims: [2, 4], weights: [1, 0.5] })(
          [q, d],
          undefined,
        ),
      ),
      1,
    ],
    ['distillation from fixed teacher scores', pair((q, d) => distillation(q, d, teacherScores(B, B), { temperature: 0.3 })), 1],
    ['tiled ntXent', pair((a, b) => ntXent(a, b, { temperature: 0.5, tileSize: 3 })), 1],
    ['tiled dcl', pair((a, b) => dcl(a, b, { temperature: 0.5, tileSize: 3 })), 1],
    ['tiled dclw', pair((a, b) => dclw(a, b, { temperature: 0.5, tileSize: 7 })), 1],
    [
      'tiled supCon, labels through extra',
      pair((a, b, extra) => supCon(tf.concat([a, b]), [...(extra ?? []), ...(extra ?? [])], { temperature: 0.5, tileSize: 6 })),
      1,
    ],
    [
      "infoNCE with GTE's four directions, false-negative ids (labels through extra) and a hard negative, tiled",
      pair((q, d, extra) =>
        infoNCE(q, d, {
          temperature: 0.3,
          hardNegatives: 1,
          directions: ['qd', 'qq', 'dq', 'dd'],
          ids: { queries: extra ?? [], documents: (extra ?? []).flatMap((id) => [id, -1 - id]) },
          tileSize: 4,
        }),
      ),
      2,
    ],
    [
      'swav with learnable prototypes: Sinkhorn codes over the whole batch',
      pair((a, b) => swav(a, b, (prototypes ?? queue) as tf.Tensor2D, { temperature: 0.5, epsilon: 0.5 })),
      1,
    ],
    [
      'swav with a queue in the codes',
      pair((a, b) => swav(a, b, (prototypes ?? queue) as tf.Tensor2D, { temperature: 0.5, epsilon: 0.5, queue })),
      1,
    ],
    [
      'simSiam (z and p side by side in each rep)',
      pair((a, b) => {
        const [[z1, p1], [z2, p2]] = [halves(a), halves(b)];
        return simSiam(p1, z1, p2, z2);
      }),
      1,
    ],
    [
      'byol (the second tower as target)',
      pair((a, b) => {
        const [[, p1], [t2]] = [halves(a), halves(b)];
        const [[, p2], [t1]] = [halves(b), halves(a)];
        return byol(p1, t1, p2, t2);
      }),
      1,
    ],
    ['nnclr with a support queue', pair((a, b) => nnclr(a, b, queue, { temperature: 0.3 })), 1],
    [
      'tiled sigmoidLoss (SigLIP) with a learnable logit scale',
      pair((q, d) => sigmoidLoss(q, d, { logitScale: logitScale as tf.Scalar, bias: -2, tileSize: 3 })),
      1,
    ],
  ];
}
