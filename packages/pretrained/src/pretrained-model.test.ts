import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { GradCache, verify } from '@gradcache/core';
import { initBackend } from '@gradcache/backend/node';
import { expectClose, expectNoLeaks } from '@gradcache/testing';
import { EXPECTED, type Expected, MODELS, memorySource } from './fixtures.test-helper.js';
import { loadPretrained } from './pretrained-model.js';

// wasm with the backend's kernel fixes, as users train (tfjs-cpu's embedding gradient is O(vocabulary × rows)).
beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});

/** The fixture batch (ids and mask as PyTorch saw them). */
function fixtureBatch(e: Expected) {
  return {
    inputIds: tf.tensor2d(e.batch.input_ids, undefined, 'int32'),
    attentionMask: tf.tensor2d(e.batch.attention_mask, undefined, 'int32'),
  };
}

/** A tfjs gradient in checkpoint layout (Linear weights back to [out, in]). */
function inCheckpointLayout(name: string, g: tf.Tensor): tf.Tensor {
  return /(query|key|value|dense)\.weight$/.test(name) ? tf.transpose(g) : g;
}

describe.each(MODELS)('%s against PyTorch (fixtures/generate.py)', (name) => {
  const e = EXPECTED[name];

  test('token states and pooled embeddings of a padded batch match within 1e-4', async () => {
    const model = await loadPretrained(memorySource(name));
    expect(model.pooling).toEqual({ modes: [e.pooling.mode], normalize: e.pooling.normalize });
    const batch = fixtureBatch(e);
    expectNoLeaks(() => {
      const states = model.forward(batch, { training: false });
      const pooled = model.encoder.encode(batch, { training: false });
      tf.tidy(() => {
        // Padded positions are not compared: PyTorch computes them too, but nothing reads them.
        const mask = tf.cast(tf.expandDims(batch.attentionMask, 2), 'float32');
        expectClose(tf.mul(states, mask), tf.mul(tf.tensor3d(e.states), mask), 1e-4, 'token states');
        expectClose(pooled, tf.tensor2d(e.pooled), 1e-4, 'pooled');
      });
      tf.dispose([states, pooled]);
    }, 'forward');
    tf.dispose(batch);
    model.dispose();
  });

  test("the gradients of sum(pooled ⊙ M) match PyTorch's float64 ones within 1e-4", async () => {
    const model = await loadPretrained(memorySource(name));
    const batch = fixtureBatch(e);
    const M = tf.tensor2d(e.loss_matrix);
    const names = Object.keys(e.grads);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(model.encoder.encode(batch, { training: false }), M)),
      names.map((n) => model.variables.get(n) as tf.Variable),
    );
    expect(value.dataSync()[0]).toBeCloseTo(e.loss, 4);
    for (const n of names) {
      const g = inCheckpointLayout(n, grads[(model.variables.get(n) as tf.Variable).name] as tf.Tensor);
      expectClose(g, tf.tensor(e.grads[n] as number[]), 1e-4, `grad of ${n}`);
    }
    tf.dispose([value, grads, batch, M]);
    model.dispose();
  });

  test('the tokenizer gives the reference ids: accents, punctuation, unknown words, truncation', async () => {
    const model = await loadPretrained(memorySource(name));
    e.sentences.forEach((s, i) => expect(model.tokenizer.ids(s), s).toEqual(e.ids[i]));
    e.sentences.forEach((s, i) => expect(model.tokenizer.ids(s, { maxLength: e.truncate_at }), s).toEqual(e.ids_truncated[i]));
    const batch = model.tokenizer.encode(e.sentences.slice(0, 4));
    expect(batch.inputIds.arraySync()).toEqual(e.batch.input_ids);
    expect(batch.attentionMask.arraySync()).toEqual(e.batch.attention_mask);
    tf.dispose(batch);
    model.dispose();
  });
});

describe('loaded models', () => {
  test('padding changes nothing: a text alone and padded in a batch get the same rep', async () => {
    for (const name of MODELS) {
      const model = await loadPretrained(memorySource(name), { pooling: 'max' });
      const texts = EXPECTED[name].sentences;
      const alone = model.embed([texts[0] as string]);
      const padded = model.embed(texts.slice(0, 4));
      expectClose(alone, tf.slice(padded, 0, 1), 1e-5, `${name}: rep of text 0`);
      tf.dispose([alone, padded]);
      model.dispose();
    }
  });

  test('verify passes with dropout on: GradCache replays the masks, so the cached gradient is the full-batch one', async () => {
    for (const name of MODELS) {
      const model = await loadPretrained(memorySource(name));
      const texts = EXPECTED[name].sentences;
      const a = model.tokenizer.encode(texts.slice(0, 4));
      const b = model.tokenizer.encode(texts.slice(1, 5));
      const loss = ([q, d]: tf.Tensor2D[]): tf.Scalar =>
        tf.tidy(() => {
          const logits = tf.div(tf.matMul(q as tf.Tensor2D, d as tf.Tensor2D, false, true), 0.1);
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.range(0, 4, 1, 'int32'), 4), logits) as tf.Scalar;
        });
      const report = verify({ encoders: [model.encoder, model.encoder], chunkSize: 2, loss, seed: 3 }, [a, b]);
      expect(report.pass, report.summary).toBe(true);
      expect(report.fixedRandomness).toEqual([]);
      // Dropout is on: the two chunks of one text do differ from the inference rep.
      const train = model.encoder.encode(a, { training: true });
      const infer = model.encoder.encode(a, { training: false });
      expect(tf.max(tf.abs(tf.sub(train, infer))).dataSync()[0]).toBeGreaterThan(1e-3);
      tf.dispose([a, b, train, infer]);
      model.dispose();
    }
  });

  test('a few GradCache steps fine-tune a loaded model: the loss falls, and no tensor leaks per step', async () => {
    const model = await loadPretrained(memorySource('bert-tiny'), { dropout: false });
    const texts = EXPECTED['bert-tiny'].sentences;
    const queries = model.tokenizer.encode(texts);
    const docs = model.tokenizer.encode(texts.map((t) => t.toUpperCase()));
    const loss = ([q, d]: tf.Tensor2D[]): tf.Scalar =>
      tf.tidy(
        () =>
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(tf.range(0, 5, 1, 'int32'), 5),
            tf.div(tf.matMul(q!, d!, false, true), 0.05),
          ) as tf.Scalar,
      );
    const gradCache = new GradCache({ encoders: [model.encoder, model.encoder], chunkSize: 2, loss });
    const optimizer = tf.train.adam(5e-3);
    const first = gradCache.step(optimizer, [queries, docs]).loss;
    const before = tf.memory().numTensors;
    let last = first;
    for (let k = 0; k < 15; k++) last = gradCache.step(optimizer, [queries, docs]).loss;
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first * 0.5);
    tf.dispose([queries, docs]);
    optimizer.dispose();
    model.dispose();
  });

  test('the report names the prefix and the heads left out; the variables keep the checkpoint names', async () => {
    const bert = await loadPretrained(memorySource('bert-tiny'), { name: 'report_bert' });
    expect(bert.report.prefix).toBe('bert.');
    expect(bert.report.heads.sort()).toEqual(['cls.predictions.bias', 'cls.predictions.transform.dense.weight']);
    expect(bert.report.unexpected).toEqual([]);
    expect(bert.variables.get('encoder.layer.1.output.LayerNorm.weight')?.name).toBe('report_bert/encoder.layer.1.output.LayerNorm.weight');
    expect(bert.encoder.trainableVariables).toHaveLength(5 + 2 * 16);
    bert.dispose();
    const roberta = await loadPretrained(memorySource('roberta-tiny'), { frozen: true });
    expect(roberta.report.prefix).toBe('');
    expect(roberta.encoder.frozen).toBe(true);
    expect(roberta.encoder.trainableVariables).toEqual([]);
    roberta.dispose();
  });

  test('embed, tokenizer.encode and toFiles leak nothing: the caller owns exactly what it gets', async () => {
    const model = await loadPretrained(memorySource('roberta-tiny'));
    const before = tf.memory().numTensors;
    const reps = model.embed(EXPECTED['roberta-tiny'].sentences, { batchSize: 2 });
    expect(reps.shape).toEqual([5, 32]);
    const batch = model.tokenizer.encode(['one', 'two words']);
    expect(tf.memory().numTensors).toBe(before + 3);
    await model.toFiles();
    tf.dispose([reps, batch]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
