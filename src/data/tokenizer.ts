/**
 * The tokenizer interface and the byte-level tokenizer (vocabulary 256: one token per
 * UTF-8 byte, so any text round-trips and no file is needed).
 *
 * @module
 */

/**
 * Text to token ids and back.
 *
 * @example
 * ```ts
 * import { byteTokenizer, type Tokenizer } from "./mod.ts";
 * const tok: Tokenizer = byteTokenizer;
 * console.log(tok.decode(tok.encode("whale")) === "whale"); // true
 * ```
 */
export interface Tokenizer {
  /** Short name for logs ("bytes", "gpt2"). */
  readonly name: string;
  /** Ids are in [0, vocabSize). */
  readonly vocabSize: number;
  /** Token ids of `text`. */
  encode(text: string): Int32Array;
  /** The text of `ids` (invalid UTF-8 becomes U+FFFD). */
  decode(ids: ArrayLike<number>): string;
}

/**
 * Size of the byte vocabulary.
 *
 * @example
 * ```ts
 * import { BYTE_VOCAB_SIZE } from "./mod.ts";
 * const clsId = BYTE_VOCAB_SIZE; // the first id after the bytes
 * ```
 */
export const BYTE_VOCAB_SIZE = 256;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** UTF-8 bytes as ids; pure-ASCII text (most glosses) skips TextEncoder, whose per-call cost dominates short strings. */
function utf8Ids(text: string): Int32Array {
  const ids = new Int32Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128) return new Int32Array(utf8Encoder.encode(text));
    ids[i] = code;
  }
  return ids;
}

/**
 * One token per UTF-8 byte.
 *
 * @example
 * ```ts
 * import { byteTokenizer } from "./mod.ts";
 * console.log(byteTokenizer.encode("Ahab")); // Int32Array [65, 104, 97, 98]
 * ```
 */
export const byteTokenizer: Tokenizer = {
  name: "bytes",
  vocabSize: BYTE_VOCAB_SIZE,
  encode: utf8Ids,
  decode: (ids) => utf8Decoder.decode(ids instanceof Int32Array ? new Uint8Array(ids) : Uint8Array.from(ids)),
};
