import * as tf from '@tensorflow/tfjs-core';

/**
 * Which variables the loss itself trains (a learnable temperature, a CLIP logit scale), as
 * `lossVariables` says: a list — exactly these; 'none'; or 'auto' — every registered trainable
 * variable is offered to phase 2's gradient, and those the loss was seen to read (other than the
 * encoders') are remembered, in the order first seen. Shared by GradCache and ParallelGradCache.
 */
export class LossVariables {
  private readonly seenVariables: tf.Variable[] = [];

  constructor(
    readonly setting: 'auto' | 'none' | readonly tf.Variable[],
    /** Variables trained through the encoders: an 'auto' loss that reads one adds to its gradient but does not list it. */
    private readonly encoderVariables: ReadonlySet<tf.Variable> = new Set(),
  ) {}

  /** The loss's variables, in the order they are trained: the list, or those seen so far. */
  get list(): tf.Variable[] {
    const { setting } = this;
    return setting === 'none' ? [] : setting === 'auto' ? [...this.seenVariables] : [...setting];
  }

  /** The variables phase 2 differentiates the loss for. */
  offered(): tf.Variable[] {
    const { setting } = this;
    if (setting === 'none') return [];
    if (setting !== 'auto') return [...setting];
    return Object.values(tf.engine().registeredVariables).filter((v) => v.trainable);
  }

  /** Records that the loss read `variable` (it got a gradient in phase 2). */
  seen(variable: tf.Variable): void {
    if (this.setting === 'auto' && !this.encoderVariables.has(variable) && !this.seenVariables.includes(variable)) {
      this.seenVariables.push(variable);
    }
  }

  /** Forgets seen variables that were disposed (a temperature replaced between steps). */
  forgetDisposed(): void {
    const live = this.seenVariables.filter((v) => !v.isDisposed);
    this.seenVariables.splice(0, this.seenVariables.length, ...live);
  }
}
