/**
 * Synthetic language-modelling tasks with controllable difficulty, generated on the fly
 * from a seeded `Rng` (an endless supply of fresh sequences, no dataset in memory).
 *
 * - `"modsum"`: s_0..s_{k−1} uniform in [0, V); afterwards s_t = (s_{t−1} + … + s_{t−k}) mod V.
 *   Every target from position k−1 on is a fixed function of the k tokens before it; the
 *   targets of the random prefix are −1. Difficulty grows with k and V.
 * - `"copy"` / `"reverse"`: L = T/2 uniform tokens a, a separator (id V), then a again
 *   (or reversed). Only the second half is predicted (targets −1 before it). Difficulty
 *   grows with V and L.
 *
 * A perfect model reaches zero loss on every non-ignored target.
 *
 * @module
 */

import { Rng } from "../nn/rng.ts";
import { allocateBatch, type Batch, type Batcher, type BatcherState } from "./batch.ts";

/**
 * Which synthetic sequence task.
 *
 * @example
 * ```ts
 * import type { SequenceTaskKind } from "./mod.ts";
 * const kinds: SequenceTaskKind[] = ["modsum", "copy", "reverse"];
 * ```
 */
export type SequenceTaskKind = "modsum" | "copy" | "reverse";

/**
 * Parameters of a {@linkcode SequenceTaskBatcher}.
 *
 * @example
 * ```ts
 * import { SequenceTaskBatcher, type SequenceTaskOptions } from "./mod.ts";
 * const options: SequenceTaskOptions = { kind: "reverse", vocabSize: 10, seqLen: 16, batchSize: 4 };
 * console.log(new SequenceTaskBatcher(options).vocabSize); // 11
 * ```
 */
export interface SequenceTaskOptions {
  /** The task. */
  kind: SequenceTaskKind;
  /** Token alphabet V ≥ 2 (copy/reverse add a separator, id V). */
  vocabSize: number;
  /** Tokens per row T (even for copy/reverse). */
  seqLen: number;
  /** Rows per batch B. */
  batchSize: number;
  /** For "modsum": how many previous tokens are summed, 1 ≤ k ≤ T (default 2). */
  k?: number;
  /** Seed (default 0). */
  seed?: number;
}

/** Writes one sequence s[0..T] of the task into `s` (length T+1); returns the first predicted position. */
function drawSequence(options: SequenceTaskOptions, rng: Rng, s: Int32Array): number {
  const V = options.vocabSize, T = options.seqLen;
  if (options.kind === "modsum") {
    const k = options.k ?? 2;
    for (let t = 0; t <= T; t++) {
      if (t < k) {
        s[t] = rng.int(V);
        continue;
      }
      let sum = 0;
      for (let j = 1; j <= k; j++) sum += s[t - j];
      s[t] = sum % V;
    }
    return k - 1;
  }
  const L = T / 2;
  for (let i = 0; i < L; i++) s[i] = rng.int(V);
  s[L] = V;
  for (let i = 0; i < L; i++) s[L + 1 + i] = s[options.kind === "copy" ? i : L - 1 - i];
  return L;
}

/** Checks the options. */
function validate(o: SequenceTaskOptions): void {
  const bad = (what: string) => {
    throw new RangeError(`gradscope: sequence task: ${what}`);
  };
  if (!Number.isInteger(o.vocabSize) || o.vocabSize < 2) {
    bad(`vocabSize must be an integer ≥ 2, got ${o.vocabSize}`);
  }
  if (!Number.isInteger(o.seqLen) || o.seqLen < 2) bad(`seqLen must be an integer ≥ 2, got ${o.seqLen}`);
  if (o.kind === "modsum") {
    const k = o.k ?? 2;
    if (!Number.isInteger(k) || k < 1 || k > o.seqLen) bad(`k must be in [1, ${o.seqLen}], got ${k}`);
  } else if (o.kind === "copy" || o.kind === "reverse") {
    if (o.seqLen % 2 !== 0) bad(`${o.kind} needs an even seqLen, got ${o.seqLen}`);
  } else {
    bad(`unknown kind "${o.kind}"`);
  }
}

/**
 * Batches of a synthetic sequence task: `tokens` [B·T] and next-token `targets` [B·T]
 * (−1 where the next token is random), refilled in place; seeded and resumable.
 *
 * @example
 * ```ts
 * import { SequenceTaskBatcher } from "./mod.ts";
 * const batcher = new SequenceTaskBatcher({ kind: "modsum", vocabSize: 7, k: 3, seqLen: 8, batchSize: 2, seed: 1 });
 * const { tokens, targets } = batcher.next();
 * console.log(targets[3] === (tokens[1] + tokens[2] + tokens[3]) % 7); // true
 * ```
 */
export class SequenceTaskBatcher implements Batcher {
  /** The batch that `next()` refills. */
  readonly batch: Batch;
  /** The generator; its `state` is the whole batcher state. */
  readonly rng: Rng;
  /** Vocabulary the model needs: V for modsum, V + 1 for copy/reverse. */
  readonly vocabSize: number;
  readonly #options: SequenceTaskOptions;
  readonly #sequence: Int32Array;
  #drawn = 0;

  /**
   * Validates the options and allocates the batch.
   * @param options task, vocabulary, shape and seed
   */
  constructor(options: SequenceTaskOptions) {
    validate(options);
    this.#options = { ...options };
    this.#sequence = new Int32Array(options.seqLen + 1);
    this.rng = new Rng(options.seed ?? 0);
    this.vocabSize = options.vocabSize + (options.kind === "modsum" ? 0 : 1);
    this.batch = allocateBatch({
      B: options.batchSize,
      tokensPerRow: options.seqLen,
      targetsPerRow: options.seqLen,
    });
  }

  /** Fills `batch` with B fresh sequences. */
  next(): Batch {
    const T = this.#options.seqLen, s = this.#sequence, { tokens, targets } = this.batch;
    for (let b = 0; b < this.batch.B; b++) {
      const firstPredicted = drawSequence(this.#options, this.rng, s);
      tokens!.set(s.subarray(0, T), b * T);
      for (let t = 0; t < T; t++) targets[b * T + t] = t < firstPredicted ? -1 : s[t + 1];
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
