/**
 * In-memory classification datasets: padded token sequences or images, with labels.
 *
 * @module
 */

/**
 * Token sequences padded to `seqLen`, with a class label each.
 *
 * @example
 * ```ts
 * import type { SequenceDataset } from "./mod.ts";
 * const data: SequenceDataset = {
 *   kind: "tokens", n: 1, seqLen: 3, vocabSize: 4, nClasses: 2,
 *   tokens: new Int32Array([1, 2, 0]), lengths: new Int32Array([2]), labels: new Int32Array([1]),
 * };
 * ```
 */
export interface SequenceDataset {
  /** Discriminator. */
  kind: "tokens";
  /** Examples. */
  n: number;
  /** Padded length T. */
  seqLen: number;
  /** Ids are in [0, vocabSize), including any CLS id. */
  vocabSize: number;
  /** Labels are in [0, nClasses). */
  nClasses: number;
  /** Token ids [n·T]; positions at or past `lengths[i]` hold the pad id. */
  tokens: Int32Array;
  /** Valid tokens per example [n], in [1, T]. */
  lengths: Int32Array;
  /** Class per example [n]. */
  labels: Int32Array;
}

/**
 * Images as floats [n, C, H, W], with a class label each.
 *
 * @example
 * ```ts
 * import type { ImageDataset } from "./mod.ts";
 * const data: ImageDataset = {
 *   kind: "images", n: 1, channels: 1, height: 2, width: 2, nClasses: 10,
 *   images: new Float32Array(4), labels: new Int32Array([3]),
 * };
 * ```
 */
export interface ImageDataset {
  /** Discriminator. */
  kind: "images";
  /** Examples. */
  n: number;
  /** Channels C. */
  channels: number;
  /** Height H. */
  height: number;
  /** Width W. */
  width: number;
  /** Labels are in [0, nClasses). */
  nClasses: number;
  /** Pixels [n·C·H·W]. */
  images: Float32Array;
  /** Class per example [n]. */
  labels: Int32Array;
}

/**
 * Either kind of classification dataset.
 *
 * @example
 * ```ts
 * import type { ClassificationDataset } from "./mod.ts";
 * const rows = (d: ClassificationDataset) => d.n;
 * ```
 */
export type ClassificationDataset = SequenceDataset | ImageDataset;

/**
 * Number of input values per example: T for sequences, C·H·W for images.
 *
 * @example
 * ```ts
 * import { rowSize } from "./mod.ts";
 * console.log(rowSize({ kind: "images", n: 0, channels: 1, height: 28, width: 28, nClasses: 10,
 *   images: new Float32Array(0), labels: new Int32Array(0) })); // 784
 * ```
 */
export function rowSize(data: ClassificationDataset): number {
  return data.kind === "tokens" ? data.seqLen : data.channels * data.height * data.width;
}

/** Copies rows `indices` of a flat [n·size] array. */
function gatherRows<A extends Int32Array | Float32Array>(
  src: A,
  size: number,
  indices: Int32Array,
  dst: A,
): A {
  for (let i = 0; i < indices.length; i++) {
    dst.set(src.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
  }
  return dst;
}

/**
 * The examples `indices` of a dataset, copied into a new dataset of the same kind.
 *
 * @example
 * ```ts
 * import { splitIndices, subsetDataset, zipfClassificationTask } from "./mod.ts";
 * const { train } = zipfClassificationTask({ nClasses: 4, seqLen: 8, vocabSize: 16, nTrain: 10, nTest: 0 });
 * const half = subsetDataset(train, splitIndices(train.n, 0.5, 0).test);
 * console.log(half.n); // 5
 * ```
 */
export function subsetDataset<D extends ClassificationDataset>(data: D, indices: Int32Array): D {
  for (const i of indices) {
    if (!(i >= 0 && i < data.n)) throw new RangeError(`gradscope: subset index ${i} outside [0, ${data.n})`);
  }
  const size = rowSize(data), n = indices.length;
  const labels = gatherRows(data.labels, 1, indices, new Int32Array(n));
  if (data.kind === "tokens") {
    const tokens = gatherRows(data.tokens, size, indices, new Int32Array(n * size));
    const lengths = gatherRows(data.lengths, 1, indices, new Int32Array(n));
    return { ...data, n, tokens, lengths, labels };
  }
  return { ...data, n, images: gatherRows(data.images, size, indices, new Float32Array(n * size)), labels };
}
