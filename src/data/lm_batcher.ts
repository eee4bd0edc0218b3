/**
 * Seeded random windows of a token stream, for language modelling.
 *
 * @module
 */

import { Rng } from "../nn/rng.ts";
import { allocateBatch, type Batch, type Batcher, type BatcherState } from "./batch.ts";

/**
 * Shape and seed of an {@linkcode LmBatcher}.
 *
 * @example
 * ```ts
 * import { LmBatcher, type LmBatcherOptions } from "./mod.ts";
 * const options: LmBatcherOptions = { batchSize: 8, seqLen: 64, seed: 1 };
 * const batcher = new LmBatcher(new Int32Array(1000), options);
 * ```
 */
export interface LmBatcherOptions {
  /** Rows per batch, B. */
  batchSize: number;
  /** Tokens per row, T. */
  seqLen: number;
  /** Seed of the window positions (default 0). */
  seed?: number;
}

/**
 * Draws B windows of T+1 consecutive tokens at uniform random offsets and writes
 * `tokens[b·T + t] = w_b[t]`, `targets[b·T + t] = w_b[t+1]` into one preallocated batch.
 * The offsets come from one `Rng`, so the same seed gives the same batches, and
 * `saveState()`/`restoreState()` (or `rng.state`) resume the sequence exactly. For a
 * fixed validation set, build a fresh batcher with a fixed seed each time.
 *
 * @example
 * ```ts
 * import { LmBatcher } from "./mod.ts";
 * const stream = Int32Array.from({ length: 100 }, (_, i) => i);
 * const batcher = new LmBatcher(stream, { batchSize: 2, seqLen: 4, seed: 7 });
 * const { tokens, targets } = batcher.next();
 * console.log(targets[0] === tokens[0] + 1); // true
 * ```
 */
export class LmBatcher implements Batcher {
  /** The batch that `next()` refills: `tokens` and `targets`, both [B·T]. */
  readonly batch: Batch;
  /** The generator of window offsets; its `state` is the whole batcher state. */
  readonly rng: Rng;
  readonly #stream: Int32Array;
  readonly #seqLen: number;
  #drawn = 0;

  /**
   * Allocates the batch.
   * @param stream the token stream (not copied), longer than T
   * @param options batch size, sequence length and seed
   */
  constructor(stream: Int32Array, options: LmBatcherOptions) {
    const { batchSize: B, seqLen: T } = options;
    if (!Number.isInteger(T) || T < 1) {
      throw new RangeError(`gradscope: seqLen must be a positive integer, got ${T}`);
    }
    if (stream.length < T + 1) {
      throw new RangeError(`gradscope: ${stream.length} tokens cannot fill a window of ${T + 1}`);
    }
    this.#stream = stream;
    this.#seqLen = T;
    this.rng = new Rng(options.seed ?? 0);
    this.batch = allocateBatch({ B, tokensPerRow: T, targetsPerRow: T });
  }

  /** Fills `batch` with B fresh random windows. */
  next(): Batch {
    const T = this.#seqLen, stream = this.#stream, { tokens, targets } = this.batch;
    const starts = stream.length - T;
    for (let b = 0; b < this.batch.B; b++) {
      const start = this.rng.int(starts);
      tokens!.set(stream.subarray(start, start + T), b * T);
      targets.set(stream.subarray(start + 1, start + T + 1), b * T);
    }
    this.#drawn++;
    return this.batch;
  }

  /** The generator state and the number of batches drawn. */
  saveState(): BatcherState {
    return { rng: this.rng.state, epoch: 0, cursor: this.#drawn };
  }

  /** Continues from a saved state. */
  restoreState(state: BatcherState): void {
    this.rng.state = state.rng >>> 0;
    this.#drawn = state.cursor;
  }
}
