/**
 * Seeded permutations and train/test index splits.
 *
 * @module
 */

import { Rng } from "../nn/rng.ts";

/**
 * Fills `order` with 0..n−1 in a Fisher–Yates order drawn from `rng`. The result depends
 * only on the generator's state, not on what `order` held before, which is what lets an
 * epoch batcher rebuild its order from a saved state.
 *
 * @example
 * ```ts
 * import { Rng, shuffleInto } from "./mod.ts";
 * console.log(shuffleInto(new Int32Array(5), new Rng(1))); // a permutation of 0..4
 * ```
 */
export function shuffleInto(order: Int32Array, rng: Rng): Int32Array {
  for (let i = 0; i < order.length; i++) order[i] = i;
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * Disjoint, sorted index sets that together cover 0..n−1.
 *
 * @example
 * ```ts
 * import { type IndexSplit, splitIndices } from "./mod.ts";
 * const split: IndexSplit = splitIndices(100, 0.1, 0);
 * console.log(split.test.length); // 10
 * ```
 */
export interface IndexSplit {
  /** Training indices, ascending. */
  train: Int32Array;
  /** Test indices, ascending. */
  test: Int32Array;
}

/**
 * A seeded random split of n examples: `round(n·testFraction)` go to the test set.
 * The train indices are sorted (batchers shuffle them anyway); the test indices stay in their
 * seeded random order, because evaluation reads the first batches of the test split and the
 * source files are grouped by class (WordNet's lexicographer files).
 *
 * @example
 * ```ts
 * import { splitIndices } from "./mod.ts";
 * const { train, test } = splitIndices(10, 0.3, 0);
 * console.log(train.length, test.length); // 7 3
 * ```
 */
export function splitIndices(n: number, testFraction: number, seed: number): IndexSplit {
  if (!(testFraction >= 0 && testFraction <= 1)) {
    throw new RangeError(`gradscope: testFraction must be in [0, 1], got ${testFraction}`);
  }
  const order = shuffleInto(new Int32Array(n), new Rng(seed));
  const nTest = Math.round(n * testFraction);
  return { train: order.slice(nTest).sort(), test: order.slice(0, nTest) };
}
