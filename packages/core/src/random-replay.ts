import seedrandom from 'seedrandom';

/**
 * The seed of one chunk's forward: a function of the base seed, the batch index, the encoder's
 * position and the chunk's position, so every chunk and batch draws different values and the re-forward of a
 * chunk draws the same ones as its first forward.
 */
export function chunkSeed(seed: number, batchIndex: number, encoderIndex: number, chunkIndex: number): string {
  return `gradcache:${seed}:${batchIndex}:${encoderIndex}:${chunkIndex}`;
}

/**
 * Runs `f` with `Math.random` replaced by a generator seeded with `seed`, then puts it back.
 *
 * tfjs ops that take no explicit seed (dropout, randomUniform, randomNormal, …) draw their seed
 * from `Math.random`, so every random value inside `f` becomes a function of `seed`: running `f`
 * twice with one seed gives bit-identical results. `f` must be synchronous — anything after an
 * `await` would run with the real `Math.random`, or would see the seeded one from outside.
 *
 * ```ts
 * const a = withSeededRandom('s', () => tf.dropout(x, 0.5));
 * const b = withSeededRandom('s', () => tf.dropout(x, 0.5)); // same mask as a
 * ```
 */
export function withSeededRandom<T>(seed: string, f: () => T): T {
  const original = Math.random;
  Math.random = seedrandom.alea(seed);
  try {
    return f();
  } finally {
    Math.random = original;
  }
}
