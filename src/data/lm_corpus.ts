/**
 * A tokenised corpus for language modelling, split into training and validation tokens.
 *
 * @module
 */

import type { Tokenizer } from "./tokenizer.ts";

/**
 * Training and validation token streams of one text.
 *
 * @example
 * ```ts
 * import { byteTokenizer, type LmCorpus, tokenCorpus } from "./mod.ts";
 * const corpus: LmCorpus = tokenCorpus("abcdefghij", byteTokenizer, 0.2);
 * console.log(corpus.train.length, corpus.valid.length); // 8 2
 * ```
 */
export interface LmCorpus {
  /** The tokenizer's name. */
  tokenizer: string;
  /** Ids are in [0, vocabSize). */
  vocabSize: number;
  /** The leading tokens. */
  train: Int32Array;
  /** The trailing `validFraction` of the tokens. */
  valid: Int32Array;
}

/**
 * Tokenises `text` and keeps the last `validFraction` of the tokens for validation. A
 * contiguous tail (rather than random windows) keeps validation text unseen in training.
 *
 * @example
 * ```ts
 * import { byteTokenizer, tokenCorpus } from "./mod.ts";
 * const { train, valid } = tokenCorpus("0123456789", byteTokenizer, 0.1);
 * console.log(train.length, valid.length); // 9 1
 * ```
 */
export function tokenCorpus(text: string, tokenizer: Tokenizer, validFraction = 0.1): LmCorpus {
  if (!(validFraction >= 0 && validFraction < 1)) {
    throw new RangeError(`gradscope: validFraction must be in [0, 1), got ${validFraction}`);
  }
  const tokens = tokenizer.encode(text);
  const cut = tokens.length - Math.round(tokens.length * validFraction);
  return {
    tokenizer: tokenizer.name,
    vocabSize: tokenizer.vocabSize,
    train: tokens.subarray(0, cut),
    valid: tokens.subarray(cut),
  };
}
