/**
 * Epoch-based, seeded batches of a classification dataset.
 *
 * @module
 */

import { Rng } from "../nn/rng.ts";
import { allocateBatch, type Batch, type Batcher, type BatcherState } from "./batch.ts";
import { type ClassificationDataset, rowSize } from "./dataset.ts";
import { shuffleInto } from "./split.ts";

/**
 * How a {@linkcode ClassBatcher} walks its dataset.
 *
 * @example
 * ```ts
 * import type { ClassBatcherOptions } from "./mod.ts";
 * const evaluation: ClassBatcherOptions = { batchSize: 64, shuffle: false, dropLast: false };
 * ```
 */
export interface ClassBatcherOptions {
  /** Rows per batch, B. */
  batchSize: number;
  /** Seed of the shuffles (default 0). */
  seed?: number;
  /** Reshuffle at the start of every epoch (default true); false walks examples in order. */
  shuffle?: boolean;
  /**
   * Drop the incomplete last batch of an epoch (default true). With false, the last batch
   * is filled up with padding rows whose target is −1, so every example is seen once per
   * epoch and B stays fixed (use this for evaluation).
   */
  dropLast?: boolean;
}

/**
 * Seeded epoch iteration over a {@linkcode ClassificationDataset}: each epoch is a fresh
 * Fisher–Yates permutation drawn from the batcher's `Rng`, cut into batches of B. Batches
 * are copied into one preallocated {@linkcode Batch}: `tokens` [B·T] and `lengths` [B] for
 * sequences, `images` [B·C·H·W] for images, `targets` [B].
 *
 * @example
 * ```ts
 * import { ClassBatcher, zipfClassificationTask } from "./mod.ts";
 * const { train } = zipfClassificationTask({ nClasses: 10, seqLen: 8, vocabSize: 32, nTrain: 100, nTest: 0 });
 * const batcher = new ClassBatcher(train, { batchSize: 16, seed: 1 });
 * const saved = batcher.saveState();
 * const first = batcher.next().targets.slice();
 * batcher.restoreState(saved);
 * console.log(batcher.next().targets.every((t, i) => t === first[i])); // true
 * ```
 */
export class ClassBatcher implements Batcher {
  /** The batch that `next()` refills. */
  readonly batch: Batch;
  /** Batches per epoch: ⌊n/B⌋ with `dropLast`, ⌈n/B⌉ without. */
  readonly batchesPerEpoch: number;
  readonly #data: ClassificationDataset;
  readonly #rowSize: number;
  readonly #shuffle: boolean;
  readonly #rng: Rng;
  readonly #order: Int32Array;
  #epochStart = 0;
  #epoch = 0;
  #cursor = 0;

  /**
   * Draws the first epoch's order.
   * @param data the examples (not copied; do not modify while iterating)
   * @param options batch size, seed, shuffling and last-batch policy
   */
  constructor(data: ClassificationDataset, options: ClassBatcherOptions) {
    const B = options.batchSize, dropLast = options.dropLast ?? true;
    if (dropLast && data.n < B) {
      throw new RangeError(`gradscope: ${data.n} examples cannot fill a batch of ${B}`);
    }
    if (data.n < 1) throw new RangeError("gradscope: cannot batch an empty dataset");
    this.#data = data;
    this.#rowSize = rowSize(data);
    this.#shuffle = options.shuffle ?? true;
    this.#rng = new Rng(options.seed ?? 0);
    this.#order = new Int32Array(data.n);
    this.batchesPerEpoch = dropLast ? Math.floor(data.n / B) : Math.ceil(data.n / B);
    this.batch = data.kind === "tokens"
      ? allocateBatch({ B, tokensPerRow: this.#rowSize, lengths: true, targetsPerRow: 1 })
      : allocateBatch({ B, pixelsPerRow: this.#rowSize, targetsPerRow: 1 });
    this.#startEpoch(this.#rng.state);
  }

  /** Completed epochs. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Fills `batch` with the next B examples of the epoch, starting a new epoch when needed. */
  next(): Batch {
    if (this.#cursor === this.batchesPerEpoch) {
      this.#epoch++;
      this.#startEpoch(this.#rng.state);
    }
    const { B } = this.batch, first = this.#cursor * B;
    for (let r = 0; r < B; r++) this.#copyRow(r, first + r < this.#data.n ? this.#order[first + r] : -1);
    this.#cursor++;
    return this.batch;
  }

  /** The generator state at the start of this epoch, the epoch, and batches drawn in it. */
  saveState(): BatcherState {
    return { rng: this.#epochStart, epoch: this.#epoch, cursor: this.#cursor };
  }

  /** Rebuilds the epoch's order from the saved generator state and continues after `cursor` batches. */
  restoreState(state: BatcherState): void {
    if (!(state.cursor >= 0 && state.cursor <= this.batchesPerEpoch)) {
      throw new RangeError(`gradscope: batcher cursor ${state.cursor} outside [0, ${this.batchesPerEpoch}]`);
    }
    this.#startEpoch(state.rng);
    this.#epoch = state.epoch;
    this.#cursor = state.cursor;
  }

  /** Sets the generator to `rngState` and draws this epoch's order from it. */
  #startEpoch(rngState: number): void {
    this.#rng.state = rngState;
    this.#epochStart = rngState;
    this.#cursor = 0;
    if (this.#shuffle) shuffleInto(this.#order, this.#rng);
    else this.#order.forEach((_, i, order) => order[i] = i);
  }

  /** Copies example `i` into batch row `r`; i = −1 writes a padding row: example 0's input, target −1. */
  #copyRow(r: number, i: number): void {
    const data = this.#data, batch = this.batch, size = this.#rowSize;
    const src = Math.max(i, 0) * size;
    if (data.kind === "tokens") {
      batch.tokens!.set(data.tokens.subarray(src, src + size), r * size);
      batch.lengths![r] = i < 0 ? 1 : data.lengths[i];
    } else {
      batch.images!.set(data.images.subarray(src, src + size), r * size);
    }
    batch.targets[r] = i < 0 ? -1 : data.labels[i];
  }
}
