import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, useBackend } from '@gradcache/testing';
import { layersEncoder } from './layers-encoder.js';

beforeAll(() => useBackend('cpu'));

function twoInputModel(): tfl.LayersModel {
  const a = tfl.input({ shape: [3], name: 'left' });
  const b = tfl.input({ shape: [2], name: 'right' });
  const joined = tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization().apply(tfl.layers.dense({ units: 4 }).apply(joined)) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [a, b], outputs: bn });
}

describe('layersEncoder', () => {
  test('takes trainable weights as variables and BatchNorm statistics as state', () => {
    const model = twoInputModel();
    const encoder = layersEncoder(model);
    expect(encoder.trainableVariables.map((v) => v.name)).toEqual(model.trainableWeights.map((w) => (w.read() as tf.Variable).name));
    expect(encoder.trainableVariables.every((v) => v instanceof tf.Variable)).toBe(true);
    expect(encoder.stateVariables?.length).toBe(2); // moving mean and variance
    model.dispose();
  });

  test('maps array batches by input order and record batches by input name', () => {
    const model = twoInputModel();
    const encoder = layersEncoder(model);
    const left = tf.randomNormal([5, 3], 0, 1, 'float32', 1);
    const right = tf.randomNormal([5, 2], 0, 1, 'float32', 2);
    expectNoLeaks(() => {
      const byOrder = encoder.encode([left, right], { training: false });
      const byName = encoder.encode({ right, left }, { training: false });
      expect(byOrder.shape).toEqual([5, 4]);
      expect(Array.from(byName.dataSync())).toEqual(Array.from(byOrder.dataSync()));
      tf.dispose([byOrder, byName]);
    }, 'encode');
    tf.dispose([left, right]);
    model.dispose();
  });

  test('pools a sequence output with getRep, which also sees the input', () => {
    const input = tfl.input({ shape: [6, 4], name: 'tokens' });
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3 }).apply(input) as tfl.SymbolicTensor });
    const encoder = layersEncoder(model, {
      getRep: (out, batch) => tf.add(tf.mean(out as tf.Tensor, 1), tf.zeros([(batch as tf.Tensor).shape[0] as number, 1])),
    });
    const x = tf.ones([2, 6, 4]);
    const rep = encoder.encode(x, { training: false });
    expect(rep.shape).toEqual([2, 3]);
    tf.dispose([x, rep]);
    model.dispose();
  });

  test('a frozen model is a frozen encoder (no trainable variables); refuses a record key that names no input and a rep that is not rank 2', () => {
    const model = twoInputModel();
    model.trainable = false;
    expect(layersEncoder(model).trainableVariables).toEqual([]);
    model.trainable = true;
    const encoder = layersEncoder(model);
    const x = tf.ones([2, 3]);
    expectNoLeaks(() =>
      expect(() => encoder.encode({ left: x, middle: x }, { training: false })).toThrow(
        /the batch key "middle" names no model input; the inputs are "left", "right"/,
      ),
    );
    const seq = tfl.input({ shape: [6, 4] });
    const seqModel = tfl.model({ inputs: seq, outputs: tfl.layers.dense({ units: 3 }).apply(seq) as tfl.SymbolicTensor });
    const seqEncoder = layersEncoder(seqModel);
    const tokens = tf.ones([2, 6, 4]);
    expect(() => tf.tidy(() => seqEncoder.encode(tokens, { training: false }))).toThrow(
      /the rep must be a \[rows, d\] tensor, got shape \[2, 6, 3\] \(pass getRep to pool it\)/,
    );
    tf.dispose([x, tokens]);
    model.dispose();
    seqModel.dispose();
  });
});
