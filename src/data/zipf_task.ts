/**
 * A synthetic many-class sequence classification task with Zipf-distributed class
 * frequencies and a known, recoverable labelling.
 *
 * Generator (all draws from one `Rng(seed)`, in this order):
 * 1. Prototypes: for each class c, a sequence of L tokens drawn uniformly from [0, V),
 *    redrawn if it equals an earlier prototype, so noiseless inputs determine the class.
 *    L = T, or T − 1 with a CLS token.
 * 2. Each example (training set first, then test set): its class c is drawn with
 *    probability p_c = (c+1)^−s / Σ_j (j+1)^−s (class 0 is the most frequent); its tokens
 *    are prototype c with each token independently replaced, with probability `noise`, by
 *    a uniform token from [0, V) (which may equal the original).
 *
 * The Bayes-optimal classifier picks the class maximising p_c · Π_t P(x_t | prototype c)
 * where P = 1 − noise + noise/V on a match and noise/V otherwise; with low noise the
 * nearest prototype in Hamming distance is almost always right. V, L, noise and s set the
 * difficulty; s sets how heavy-tailed the classes are (s = 0: uniform).
 *
 * @module
 */

import { Rng } from "../nn/rng.ts";
import type { SequenceDataset } from "./dataset.ts";
import { packRow } from "./sequences.ts";

/**
 * Parameters of {@linkcode zipfClassificationTask}.
 *
 * @example
 * ```ts
 * import { zipfClassificationTask, type ZipfTaskOptions } from "./mod.ts";
 * const options: ZipfTaskOptions = { nClasses: 100, seqLen: 12, vocabSize: 32, nTrain: 5000, nTest: 500, exponent: 1.2 };
 * const task = zipfClassificationTask(options);
 * ```
 */
export interface ZipfTaskOptions {
  /** Classes C ≥ 2 (tested up to 1000). */
  nClasses: number;
  /** Row length T (CLS included). */
  seqLen: number;
  /** Token vocabulary V ≥ 2 (the CLS id, if any, is V). */
  vocabSize: number;
  /** Training examples. */
  nTrain: number;
  /** Test examples. */
  nTest: number;
  /** Zipf exponent s ≥ 0 (default 1). */
  exponent?: number;
  /** Probability that a token is replaced by a uniform random one, in [0, 1] (default 0.1). */
  noise?: number;
  /** Put a CLS token (id V) at position 0. */
  cls?: boolean;
  /** Seed of everything (default 0). */
  seed?: number;
}

/**
 * The generated task.
 *
 * @example
 * ```ts
 * import { zipfClassificationTask, type ZipfTask } from "./mod.ts";
 * const task: ZipfTask = zipfClassificationTask({ nClasses: 5, seqLen: 6, vocabSize: 8, nTrain: 50, nTest: 10 });
 * console.log(task.classProbabilities[0] > task.classProbabilities[4]); // true
 * ```
 */
export interface ZipfTask {
  /** Training examples. */
  train: SequenceDataset;
  /** Test examples, from the same distribution. */
  test: SequenceDataset;
  /** The class prototypes [C·L], row c for class c. */
  prototypes: Int32Array;
  /** Prototype length L (T, or T − 1 with CLS). */
  prototypeLength: number;
  /** p_c [C], summing to 1. */
  classProbabilities: Float64Array;
}

/**
 * Zipf probabilities p_c ∝ (c+1)^−s for c in [0, C).
 *
 * @example
 * ```ts
 * import { zipfProbabilities } from "./mod.ts";
 * console.log(zipfProbabilities(3, 1)); // Float64Array [0.545…, 0.272…, 0.181…]
 * ```
 */
export function zipfProbabilities(nClasses: number, exponent: number): Float64Array {
  const p = Float64Array.from({ length: nClasses }, (_, c) => (c + 1) ** -exponent);
  const total = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / total);
}

/** Index of the first cumulative probability above u (inverse-CDF sampling). */
function sampleIndex(cumulative: Float64Array, u: number): number {
  let lo = 0, hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Checks that the options describe a task that can be generated. */
function validate(o: ZipfTaskOptions, length: number): void {
  const bad = (what: string) => {
    throw new RangeError(`gradscope: zipf task: ${what}`);
  };
  if (!Number.isInteger(o.nClasses) || o.nClasses < 2) {
    bad(`nClasses must be an integer ≥ 2, got ${o.nClasses}`);
  }
  if (!Number.isInteger(o.vocabSize) || o.vocabSize < 2) {
    bad(`vocabSize must be an integer ≥ 2, got ${o.vocabSize}`);
  }
  if (!Number.isInteger(length) || length < 1) bad(`seqLen ${o.seqLen} leaves no room for tokens`);
  if (length * Math.log(o.vocabSize) < Math.log(2 * o.nClasses)) {
    bad(`${o.vocabSize}^${length} sequences are too few for ${o.nClasses} distinct prototypes`);
  }
  const noise = o.noise ?? 0.1, exponent = o.exponent ?? 1;
  if (!(noise >= 0 && noise <= 1)) bad(`noise must be in [0, 1], got ${noise}`);
  if (!(exponent >= 0)) bad(`exponent must be ≥ 0, got ${exponent}`);
}

/** C distinct uniform prototypes of length L. */
function drawPrototypes(rng: Rng, C: number, L: number, V: number): Int32Array {
  const prototypes = new Int32Array(C * L), seen = new Set<string>();
  for (let c = 0; c < C; c++) {
    const row = prototypes.subarray(c * L, (c + 1) * L);
    do row.forEach((_, t) => row[t] = rng.int(V)); while (seen.has(row.join(",")));
    seen.add(row.join(","));
  }
  return prototypes;
}

/** n noisy examples: Zipf class, prototype with tokens replaced with probability `noise`. */
function drawExamples(rng: Rng, n: number, task: Omit<ZipfTask, "train" | "test">, o: ZipfTaskOptions) {
  const L = task.prototypeLength, V = o.vocabSize, noise = o.noise ?? 0.1;
  let sum = 0;
  const cumulative = task.classProbabilities.map((p) => sum += p);
  const clsId = o.cls ? V : undefined, sequence = new Int32Array(L);
  const data: SequenceDataset = {
    kind: "tokens",
    n,
    seqLen: o.seqLen,
    vocabSize: V + (o.cls ? 1 : 0),
    nClasses: o.nClasses,
    tokens: new Int32Array(n * o.seqLen),
    lengths: new Int32Array(n),
    labels: new Int32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const c = sampleIndex(cumulative, rng.uniform());
    for (let t = 0; t < L; t++) sequence[t] = rng.uniform() < noise ? rng.int(V) : task.prototypes[c * L + t];
    data.labels[i] = c;
    data.lengths[i] = packRow(data.tokens, i, sequence, { seqLen: o.seqLen, clsId });
  }
  return data;
}

/**
 * Generates the Zipf classification task described in this module's documentation.
 *
 * @example
 * ```ts
 * import { zipfClassificationTask } from "./mod.ts";
 * const task = zipfClassificationTask({
 *   nClasses: 1000, exponent: 1.1, seqLen: 16, vocabSize: 64, noise: 0.2, nTrain: 20000, nTest: 2000, seed: 3,
 * });
 * console.log(task.train.labels.filter((c) => c === 0).length); // about 20000 · p_0
 * ```
 */
export function zipfClassificationTask(options: ZipfTaskOptions): ZipfTask {
  const L = options.seqLen - (options.cls ? 1 : 0);
  validate(options, L);
  const rng = new Rng(options.seed ?? 0);
  const task = {
    prototypes: drawPrototypes(rng, options.nClasses, L, options.vocabSize),
    prototypeLength: L,
    classProbabilities: zipfProbabilities(options.nClasses, options.exponent ?? 1),
  };
  const train = drawExamples(rng, options.nTrain, task, options);
  const test = drawExamples(rng, options.nTest, task, options);
  return { ...task, train, test };
}
