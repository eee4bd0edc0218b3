/**
 * Packing variable-length token sequences into fixed-length rows: optional CLS token at
 * position 0, truncation to T, padding after the valid length.
 *
 * @module
 */

/**
 * How sequences become rows of length T.
 *
 * @example
 * ```ts
 * import type { PackOptions } from "./mod.ts";
 * const options: PackOptions = { seqLen: 64, clsId: 256, padId: 0 };
 * ```
 */
export interface PackOptions {
  /** Row length T (including the CLS token, if any). */
  seqLen: number;
  /** When set, every row starts with this id and holds at most T − 1 sequence tokens. */
  clsId?: number;
  /** Id written after the valid length (default 0). */
  padId?: number;
}

/**
 * Writes one sequence into row `row` of `tokens` [rows·T] and returns its valid length
 * (CLS included; at least 1 when a CLS id is set).
 *
 * @example
 * ```ts
 * import { packRow } from "./mod.ts";
 * const tokens = new Int32Array(8);
 * console.log(packRow(tokens, 1, [7, 8, 9, 10, 11], { seqLen: 4, clsId: 99 }), tokens);
 * // 4 Int32Array [0, 0, 0, 0, 99, 7, 8, 9]
 * ```
 */
export function packRow(
  tokens: Int32Array,
  row: number,
  sequence: ArrayLike<number>,
  options: PackOptions,
): number {
  const T = options.seqLen, start = row * T;
  let length = 0;
  if (options.clsId !== undefined) tokens[start + length++] = options.clsId;
  const kept = Math.min(sequence.length, T - length);
  for (let i = 0; i < kept; i++) tokens[start + length++] = sequence[i];
  tokens.fill(options.padId ?? 0, start + length, start + T);
  return length;
}

/**
 * Packs sequences into `tokens` [n·T] and `lengths` [n].
 *
 * @example
 * ```ts
 * import { packSequences } from "./mod.ts";
 * const { tokens, lengths } = packSequences([[1, 2], [3, 4, 5, 6]], { seqLen: 3 });
 * console.log(tokens, lengths); // Int32Array [1, 2, 0, 3, 4, 5] Int32Array [2, 3]
 * ```
 */
export function packSequences(
  sequences: ArrayLike<number>[],
  options: PackOptions,
): { tokens: Int32Array; lengths: Int32Array } {
  if (!Number.isInteger(options.seqLen) || options.seqLen < 1) {
    throw new RangeError(`gradscope: seqLen must be a positive integer, got ${options.seqLen}`);
  }
  const tokens = new Int32Array(sequences.length * options.seqLen);
  const lengths = Int32Array.from(sequences, (sequence, row) => packRow(tokens, row, sequence, options));
  return { tokens, lengths };
}
