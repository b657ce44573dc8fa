import * as tf from '@tensorflow/tfjs-core';

/** The fields of tfjs's AdamOptimizer (4.x) an update reads and writes. */
interface AdamFields {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  incrementIterations(): void;
}

/** Whether `optimizer` is tfjs's Adam, with the fields `adamByVariable` uses. */
export function isAdam(optimizer: tf.Optimizer): boolean {
  const o = optimizer as unknown as Partial<AdamFields>;
  return (
    typeof optimizer.getClassName === 'function' &&
    optimizer.getClassName() === 'Adam' &&
    o.accBeta1 instanceof tf.Variable &&
    o.accBeta2 instanceof tf.Variable &&
    Array.isArray(o.accumulatedFirstMoment) &&
    Array.isArray(o.accumulatedSecondMoment) &&
    typeof o.incrementIterations === 'function'
  );
}

/**
 * One Adam update, variable by variable: the same operations in the same order as tfjs's
 * `AdamOptimizer.applyGradients` (so the same bits), but each variable's temporaries die before the
 * next one's are made — the update's peak is one variable's, not the model's. All or nothing: each
 * variable's value and moments are kept until the update has finished, and put back if anything
 * throws (moments it creates stay, as zeros). `gradient(i)` gives variable i's gradient, made inside
 * that variable's tidy.
 */
export function adamByVariable(optimizer: tf.Optimizer, variables: readonly tf.Variable[], gradient: (i: number) => tf.Tensor): void {
  const adam = optimizer as unknown as AdamFields;
  const slot = (list: AdamFields['accumulatedFirstMoment'], i: number, suffix: string): tf.Variable => {
    if (list[i] === undefined) {
      const value = variables[i] as tf.Variable;
      list[i] = { originalName: `${value.name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
    }
    return (list[i] as { variable: tf.Variable }).variable;
  };
  const [oneMinusAccBeta1, oneMinusAccBeta2] = tf.tidy(() => [tf.sub(1, adam.accBeta1), tf.sub(1, adam.accBeta2)]);
  const undo: { target: tf.Variable; old: tf.Tensor }[] = [];
  try {
    variables.forEach((value, i) => {
      const firstMoment = slot(adam.accumulatedFirstMoment, i, 'm');
      const secondMoment = slot(adam.accumulatedSecondMoment, i, 'v');
      // Each intermediate dies as soon as the next is made (nested tidies): a variable's update holds
      // about four of its size at once, not tfjs's ten.
      tf.tidy(() => {
        const g = gradient(i);
        const newFirstMoment = tf.tidy(() => tf.add(tf.mul(firstMoment, adam.beta1), tf.mul(g, 1 - adam.beta1)));
        const newSecondMoment = tf.tidy(() => tf.add(tf.mul(secondMoment, adam.beta2), tf.mul(tf.square(g), 1 - adam.beta2)));
        const newValue = tf.tidy(() => {
          const biasCorrectedFirstMoment = tf.div(newFirstMoment, oneMinusAccBeta1 as tf.Tensor);
          const denominator = tf.tidy(() => tf.add(tf.sqrt(tf.div(newSecondMoment, oneMinusAccBeta2 as tf.Tensor)), adam.epsilon));
          const step = tf.tidy(() => tf.mul(tf.div(biasCorrectedFirstMoment, denominator), -adam.learningRate));
          return tf.add(step, value);
        });
        for (const target of [firstMoment, secondMoment, value]) undo.push({ target, old: tf.keep(tf.clone(target)) });
        firstMoment.assign(newFirstMoment);
        secondMoment.assign(newSecondMoment);
        value.assign(newValue);
      });
    });
    tf.tidy(() => {
      adam.accBeta1.assign(tf.mul(adam.accBeta1, adam.beta1));
      adam.accBeta2.assign(tf.mul(adam.accBeta2, adam.beta2));
    });
  } catch (error) {
    for (const { target, old } of undo.reverse()) target.assign(old);
    throw error;
  } finally {
    tf.dispose([oneMinusAccBeta1 as tf.Tensor, oneMinusAccBeta2 as tf.Tensor, ...undo.map((u) => u.old)]);
  }
  adam.incrementIterations();
}
