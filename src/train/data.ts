/**
 * The data of a run: the configured dataset loaded once, a seeded training batcher, fresh
 * validation batches for each evaluation, and a check that the model fits the data.
 *
 * @module
 */

import type { Batch, Batcher } from "../data/batch.ts";
import { ClassBatcher } from "../data/class_batcher.ts";
import type { ClassificationDataset } from "../data/dataset.ts";
import { subsetDataset } from "../data/dataset.ts";
import { loadFashionMnist } from "../data/fashion_mnist.ts";
import { loadGpt2Tokenizer } from "../data/gpt2_bpe.ts";
import { LmBatcher } from "../data/lm_batcher.ts";
import { mobyDickCorpus } from "../data/moby_dick.ts";
import { SequenceTaskBatcher } from "../data/sequence_task.ts";
import { loadWordNet } from "../data/wordnet.ts";
import { zipfClassificationTask } from "../data/zipf_task.ts";
import type { TransformerConfig } from "../nn/config.ts";
import { type DataConfig, type RunConfig, RunConfigError } from "./config.ts";

/** What a dataset requires of the model's input and head. */
export type ModelNeeds =
  | { input: "tokens"; vocabSize: number; head: "lm" }
  | { input: "tokens"; vocabSize: number; head: "classify"; nClasses: number }
  | { input: "patches"; imageSize: number; channels: number; head: "classify"; nClasses: number };

/**
 * A loaded dataset, ready to batch.
 *
 * @example
 * ```ts ignore
 * const data = await loadRunData(config);
 * const batcher = data.trainBatcher(config.seed);
 * ```
 */
export interface RunData {
  /** A short description for logs, e.g. `"sequence copy V=10"`. */
  readonly description: string;
  /** The model input and head this data needs. */
  readonly needs: ModelNeeds;
  /** Training batches per epoch; null for endless streams. */
  readonly batchesPerEpoch: number | null;
  /** A new training batcher drawing from `seed`. */
  trainBatcher(seed: number): Batcher;
  /** Up to `max` validation batches, the same ones on every call for the same seed. */
  validBatches(max: number, seed: number): Iterable<Batch>;
}

/**
 * Loads the configured dataset (from npm, Debian package files, or generated) for a model
 * of sequence length `config.model.seqLen`.
 *
 * @example
 * ```ts ignore
 * const data = await loadRunData(parseRunConfig(raw));
 * ```
 */
export function loadRunData(config: RunConfig): Promise<RunData> {
  const d = config.data, T = config.model.seqLen;
  switch (d.dataset) {
    case "sequence":
      return Promise.resolve(sequenceData(d, T));
    case "moby_dick":
      return mobyDickData(d, T);
    case "wordnet":
      return loadWordNet({ seqLen: T, cls: d.cls, testFraction: d.test_fraction, seed: config.seed })
        .then((task) => classData(`wordnet T=${T}`, limited(task.train, d.limit), task.test, d.batch_size));
    case "fashion_mnist":
      return Promise.all([
        loadFashionMnist({ split: "train", normalize: d.normalize, limit: d.limit }),
        loadFashionMnist({ split: "test", normalize: d.normalize }),
      ]).then(([train, test]) => classData("fashion_mnist", train, test, d.batch_size));
    case "zipf": {
      const task = zipfClassificationTask({
        nClasses: d.n_classes,
        seqLen: T,
        vocabSize: d.vocab_size,
        nTrain: d.n_train,
        nTest: d.n_test,
        exponent: d.exponent,
        noise: d.noise,
        cls: d.cls,
        seed: config.seed,
      });
      return Promise.resolve(
        classData(`zipf C=${d.n_classes} s=${d.exponent}`, task.train, task.test, d.batch_size),
      );
    }
  }
}

function limited<D extends ClassificationDataset>(data: D, limit: number | undefined): D {
  if (limit === undefined || limit >= data.n) return data;
  return subsetDataset(data, Int32Array.from({ length: limit }, (_, i) => i));
}

function sequenceData(d: Extract<DataConfig, { dataset: "sequence" }>, T: number): RunData {
  const options = { kind: d.kind, vocabSize: d.vocab_size, k: d.k, seqLen: T, batchSize: d.batch_size };
  let vocabSize: number;
  try {
    vocabSize = new SequenceTaskBatcher(options).vocabSize; // validates k and T against the task
  } catch (error) {
    throw new RunConfigError([`data: ${(error as Error).message.replace(/^gradscope: /, "")}`]);
  }
  return {
    description: `sequence ${d.kind} V=${d.vocab_size}${d.kind === "modsum" ? ` k=${d.k}` : ""}`,
    needs: { input: "tokens", vocabSize, head: "lm" },
    batchesPerEpoch: null,
    trainBatcher: (seed) => new SequenceTaskBatcher({ ...options, seed }),
    validBatches: (max, seed) => take(new SequenceTaskBatcher({ ...options, seed }), max),
  };
}

async function mobyDickData(d: Extract<DataConfig, { dataset: "moby_dick" }>, T: number): Promise<RunData> {
  const tokenizer = d.tokenizer === "bpe" ? await loadGpt2Tokenizer() : undefined;
  const corpus = await mobyDickCorpus({ tokenizer, validFraction: d.valid_fraction });
  const B = d.batch_size;
  return {
    description: `moby_dick ${corpus.tokenizer}`,
    needs: { input: "tokens", vocabSize: corpus.vocabSize, head: "lm" },
    batchesPerEpoch: Math.max(1, Math.floor(corpus.train.length / (B * T))),
    trainBatcher: (seed) => new LmBatcher(corpus.train, { batchSize: B, seqLen: T, seed }),
    validBatches: (max, seed) => take(new LmBatcher(corpus.valid, { batchSize: B, seqLen: T, seed }), max),
  };
}

function classData(
  description: string,
  train: ClassificationDataset,
  test: ClassificationDataset,
  B: number,
): RunData {
  const nClasses = train.nClasses;
  const needs: ModelNeeds = train.kind === "tokens"
    ? { input: "tokens", vocabSize: train.vocabSize, head: "classify", nClasses }
    : { input: "patches", imageSize: train.height, channels: train.channels, head: "classify", nClasses };
  if (train.kind === "images" && train.height !== train.width) {
    throw new RunConfigError([`data: images must be square, got ${train.height}×${train.width}`]);
  }
  if (train.n < B) {
    throw new RunConfigError([`data.batch_size: ${train.n} training examples cannot fill ${B}`]);
  }
  return {
    description,
    needs,
    batchesPerEpoch: Math.floor(train.n / B),
    trainBatcher: (seed) => new ClassBatcher(train, { batchSize: B, seed }),
    // The whole test split in order (padding rows fill the last batch), from the start each time.
    validBatches: (max) =>
      take(new ClassBatcher(test, { batchSize: B, shuffle: false, dropLast: false }), max, true),
  };
}

/** Up to `max` batches; with `oneEpoch`, stops at the end of the batcher's first epoch. */
function* take(batcher: Batcher, max: number, oneEpoch = false): Iterable<Batch> {
  const limit = oneEpoch ? Math.min(max, (batcher as ClassBatcher).batchesPerEpoch) : max;
  for (let i = 0; i < limit; i++) yield batcher.next();
}

/**
 * Checks that the model's input and head fit the data, throwing a {@linkcode RunConfigError}
 * that says what the data needs.
 *
 * @example
 * ```ts ignore
 * checkModelFitsData(config.model, data.needs); // e.g. "model.input.vocabSize: the data needs 11, got 10"
 * ```
 */
export function checkModelFitsData(model: TransformerConfig, needs: ModelNeeds): void {
  const issues: string[] = [];
  const expect = (path: string, want: unknown, got: unknown) => {
    if (want !== got) {
      issues.push(`model.${path}: the data needs ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    }
  };
  expect("input.kind", needs.input, model.input.kind);
  if (needs.input === "tokens" && model.input.kind === "tokens") {
    expect("input.vocabSize", needs.vocabSize, model.input.vocabSize);
  }
  if (needs.input === "patches" && model.input.kind === "patches") {
    expect("input.imageSize", needs.imageSize, model.input.imageSize);
    expect("input.channels", needs.channels, model.input.channels);
  }
  expect("head.kind", needs.head, model.head.kind);
  if (needs.head === "classify" && model.head.kind === "classify") {
    expect("head.nClasses", needs.nClasses, model.head.nClasses);
  }
  if (issues.length) throw new RunConfigError(issues);
}
