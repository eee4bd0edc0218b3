/**
 * The one batch type that every batcher fills and the model consumes.
 *
 * @module
 */

/**
 * A batch of B examples in flat typed arrays, laid out row-major so they upload to GPU
 * tensors as they are.
 *
 * - Token models: `tokens` [B·T]; `lengths` [B] when sequences are padded.
 * - Image models: `images` [B·C·H·W].
 * - `targets`: language modelling [B·T] (next token; −1 = ignored, and always −1 at
 *   positions t ≥ lengths[b]); classification [B] (class id; −1 marks a padding row).
 *
 * Batchers allocate one `Batch` and refill it on every `next()`, so a training loop
 * allocates nothing per step.
 *
 * @example
 * ```ts
 * import { allocateBatch, type Batch } from "./mod.ts";
 * const batch: Batch = allocateBatch({ B: 2, tokensPerRow: 4, targetsPerRow: 4 });
 * console.log(batch.tokens!.length, batch.targets.length); // 8 8
 * ```
 */
export interface Batch {
  /** Number of rows. */
  B: number;
  /** Token ids [B·T]. */
  tokens?: Int32Array;
  /** Pixels [B·C·H·W]. */
  images?: Float32Array;
  /** Valid length of each row [B]; positions past it are padding. */
  lengths?: Int32Array;
  /** Next-token targets [B·T] or class ids [B]; −1 is ignored by the loss. */
  targets: Int32Array;
}

/**
 * Sizes per row of the arrays {@linkcode allocateBatch} creates; a 0 or missing size omits the array.
 *
 * @example
 * ```ts
 * import { allocateBatch, type BatchShape } from "./mod.ts";
 * const lm: BatchShape = { B: 8, tokensPerRow: 64, targetsPerRow: 64 };
 * console.log(allocateBatch(lm).targets.length); // 512
 * ```
 */
export interface BatchShape {
  /** Rows. */
  B: number;
  /** Tokens per row (T). */
  tokensPerRow?: number;
  /** Floats per row (C·H·W). */
  pixelsPerRow?: number;
  /** Allocate `lengths` [B]. */
  lengths?: boolean;
  /** Targets per row: T for language modelling, 1 for classification. */
  targetsPerRow: number;
}

/**
 * Allocates a zeroed {@linkcode Batch} once, for a batcher to refill.
 *
 * @example
 * ```ts
 * import { allocateBatch } from "./mod.ts";
 * const batch = allocateBatch({ B: 3, pixelsPerRow: 784, targetsPerRow: 1 });
 * console.log(batch.images!.length, batch.targets.length); // 2352 3
 * ```
 */
export function allocateBatch(shape: BatchShape): Batch {
  const { B } = shape;
  if (!Number.isInteger(B) || B < 1) {
    throw new RangeError(`gradscope: batch size must be a positive integer, got ${B}`);
  }
  const batch: Batch = { B, targets: new Int32Array(B * shape.targetsPerRow) };
  if (shape.tokensPerRow) batch.tokens = new Int32Array(B * shape.tokensPerRow);
  if (shape.pixelsPerRow) batch.images = new Float32Array(B * shape.pixelsPerRow);
  if (shape.lengths) batch.lengths = new Int32Array(B);
  return batch;
}

/**
 * Where a batcher stands, as plain numbers for a checkpoint's JSON metadata. Restoring it
 * makes the batcher continue with exactly the batches it would have produced.
 *
 * @example
 * ```ts
 * import type { BatcherState } from "./mod.ts";
 * const saved: BatcherState = { rng: 12345, epoch: 0, cursor: 7 };
 * console.log(JSON.stringify(saved));
 * ```
 */
export interface BatcherState {
  /** The u32 state of the batcher's `Rng` (for epoch batchers: at the start of the epoch). */
  rng: number;
  /** Completed epochs (0 for batchers that draw random windows). */
  epoch: number;
  /** Batches drawn so far in this epoch (or in total, for window batchers). */
  cursor: number;
}

/**
 * A seeded source of batches that refills one preallocated {@linkcode Batch}.
 *
 * @example
 * ```ts
 * import type { Batcher } from "./mod.ts";
 * function take(batcher: Batcher, steps: number): number[] {
 *   return Array.from({ length: steps }, () => batcher.next().targets[0]);
 * }
 * ```
 */
export interface Batcher {
  /** The batch that `next()` refills and returns. */
  readonly batch: Batch;
  /** Fills `batch` with the next examples and returns it. */
  next(): Batch;
  /** The state to store in a checkpoint. */
  saveState(): BatcherState;
  /** Continues from a state returned by `saveState()`. */
  restoreState(state: BatcherState): void;
}
