/**
 * WordNet 3.0 definitions as a 45-class text classification task, from the Debian package
 * `wordnet-base`.
 *
 * Each synset line of `data.{noun,verb,adj,adv}` holds, among other fields, its
 * lexicographer file number (2nd field, 0..44: noun.animal, verb.motion, adj.all, …) and,
 * after ` | `, its gloss: the definition and any example sentences. The task is to predict
 * the lexicographer file from the gloss. Classes are very unequal in size (noun.artifact
 * has 11 587 glosses, noun.motive 42), which is the point for optimizer studies.
 *
 * @module
 */

import { type SequenceDataset, subsetDataset } from "./dataset.ts";
import { joinPath, readDatasetFile } from "./dataset_file.ts";
import { packSequences } from "./sequences.ts";
import { type IndexSplit, splitIndices } from "./split.ts";
import { byteTokenizer, type Tokenizer } from "./tokenizer.ts";

/**
 * Where `apt-get install wordnet-base` puts the database.
 *
 * @example
 * ```ts
 * import { loadWordNetGlosses, WORDNET_DIR } from "./mod.ts";
 * const glosses = await loadWordNetGlosses({ dir: WORDNET_DIR });
 * ```
 */
export const WORDNET_DIR = "/usr/share/wordnet";

/**
 * The Debian package that provides the files.
 *
 * @example
 * ```ts
 * import { WORDNET_DEBIAN_PACKAGE } from "./mod.ts";
 * console.log(`apt-get install ${WORDNET_DEBIAN_PACKAGE}`);
 * ```
 */
export const WORDNET_DEBIAN_PACKAGE = "wordnet-base";

/**
 * The four parts of speech, in the order they are loaded.
 *
 * @example
 * ```ts
 * import { loadWordNetGlosses, WORDNET_PARTS } from "./mod.ts";
 * const nouns = await loadWordNetGlosses({ parts: WORDNET_PARTS.slice(0, 1) });
 * ```
 */
export const WORDNET_PARTS: readonly string[] = ["noun", "verb", "adj", "adv"];

/**
 * Lexicographer file names (lexnames(5WN)), by number: the 45 class names.
 *
 * @example
 * ```ts
 * import { WORDNET_LEXNAMES } from "./mod.ts";
 * console.log(WORDNET_LEXNAMES[5], WORDNET_LEXNAMES.length); // "noun.animal" 45
 * ```
 */
// deno-fmt-ignore
export const WORDNET_LEXNAMES: readonly string[] = [
  "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
  "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
  "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
  "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape",
  "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
  "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
  "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
  "verb.weather", "adj.ppl",
];

/**
 * One synset's gloss and class.
 *
 * @example
 * ```ts
 * import type { WordNetGloss } from "./mod.ts";
 * const g: WordNetGloss = { lemma: "whale", lexFile: 5, gloss: "any of the larger cetacean mammals" };
 * ```
 */
export interface WordNetGloss {
  /** The synset's first word (underscores become spaces). */
  lemma: string;
  /** Lexicographer file number, the class: 0..44. */
  lexFile: number;
  /** The text after ` | `, trimmed. */
  gloss: string;
}

/**
 * Parses a WordNet `data.*` file: skips the license header (lines starting with two
 * spaces) and synsets without a gloss.
 *
 * @example
 * ```ts
 * import { parseWordNetData } from "./mod.ts";
 * const line = "00004227 29 v 01 exhale 0 000 | expel air; \"Exhale when you lift the weight\"  ";
 * console.log(parseWordNetData("  1 license\n" + line + "\n"));
 * // [{ lemma: "exhale", lexFile: 29, gloss: "expel air; \"Exhale when you lift the weight\"" }]
 * ```
 */
export function parseWordNetData(text: string): WordNetGloss[] {
  const glosses: WordNetGloss[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("  ")) continue;
    const bar = line.indexOf(" | ");
    const gloss = bar < 0 ? "" : line.slice(bar + 3).trim();
    if (gloss === "") continue;
    const fields = line.split(" ", 5);
    const lexFile = Number(fields[1]);
    if (!(lexFile >= 0 && lexFile < WORDNET_LEXNAMES.length && Number.isInteger(lexFile))) {
      throw new Error(
        `gradscope: bad WordNet line (lexicographer file "${fields[1]}"): ${line.slice(0, 80)}`,
      );
    }
    glosses.push({ lemma: (fields[4] ?? "").replaceAll("_", " "), lexFile, gloss });
  }
  return glosses;
}

/**
 * All glosses of the given parts of speech (default: all four, in {@linkcode WORDNET_PARTS}
 * order; 117 659 synsets). A missing file raises a `DatasetMissingError` naming `wordnet-base`.
 *
 * @example
 * ```ts
 * import { loadWordNetGlosses } from "./mod.ts";
 * const adverbs = await loadWordNetGlosses({ parts: ["adv"] });
 * console.log(adverbs.length, adverbs[0].lexFile); // 3621 2
 * ```
 */
export async function loadWordNetGlosses(
  options: { dir?: string; parts?: readonly string[] } = {},
): Promise<WordNetGloss[]> {
  const dir = options.dir ?? WORDNET_DIR;
  const texts = await Promise.all((options.parts ?? WORDNET_PARTS).map(async (part) => {
    const bytes = await readDatasetFile(joinPath(dir, `data.${part}`), "WordNet", WORDNET_DEBIAN_PACKAGE);
    return new TextDecoder().decode(bytes);
  }));
  return texts.flatMap(parseWordNetData);
}

/**
 * How to build the WordNet classification task.
 *
 * @example
 * ```ts
 * import { loadWordNet, type WordNetOptions } from "./mod.ts";
 * const options: WordNetOptions = { seqLen: 128, cls: true, testFraction: 0.2, seed: 1 };
 * const { train, test } = await loadWordNet(options);
 * ```
 */
export interface WordNetOptions {
  /** Row length T (CLS included). */
  seqLen: number;
  /** Tokenizer for the glosses; default bytes. */
  tokenizer?: Tokenizer;
  /** Put a CLS token (id = tokenizer.vocabSize) at position 0; the vocabulary grows by one. */
  cls?: boolean;
  /** Pad id after each gloss (default 0, the NUL byte, which never occurs in text). */
  padId?: number;
  /** Fraction of synsets held out for testing (default 0.1). */
  testFraction?: number;
  /** Seed of the train/test split (default 0). */
  seed?: number;
  /** Directory of the `data.*` files; default {@linkcode WORDNET_DIR}. */
  dir?: string;
  /** Parts of speech to load; default all four. */
  parts?: readonly string[];
}

/**
 * The WordNet task: padded, labelled glosses, split into train and test.
 *
 * @example
 * ```ts
 * import { loadWordNet, type WordNetTask } from "./mod.ts";
 * const task: WordNetTask = await loadWordNet({ seqLen: 64 });
 * console.log(task.glosses[task.split.test[0]].gloss);
 * ```
 */
export interface WordNetTask {
  /** Training examples. */
  train: SequenceDataset;
  /** Test examples. */
  test: SequenceDataset;
  /** Which synsets (indices into `glosses`) went where. */
  split: IndexSplit;
  /** Every gloss, in file order. */
  glosses: WordNetGloss[];
}

/**
 * WordNet glosses tokenised, truncated/padded to `seqLen`, labelled with their
 * lexicographer file (45 classes) and split by a seeded random split.
 *
 * @example
 * ```ts
 * import { loadWordNet } from "./mod.ts";
 * const { train, test } = await loadWordNet({ seqLen: 64, cls: true });
 * console.log(train.n + test.n, train.nClasses, train.vocabSize, train.tokens[0]); // 117659 45 257 256
 * ```
 */
export async function loadWordNet(options: WordNetOptions): Promise<WordNetTask> {
  const glosses = await loadWordNetGlosses(options);
  const tokenizer = options.tokenizer ?? byteTokenizer;
  const clsId = options.cls ? tokenizer.vocabSize : undefined;
  const { tokens, lengths } = packSequences(
    glosses.map((g) => tokenizer.encode(g.gloss)),
    { seqLen: options.seqLen, clsId, padId: options.padId },
  );
  const all: SequenceDataset = {
    kind: "tokens",
    n: glosses.length,
    seqLen: options.seqLen,
    vocabSize: tokenizer.vocabSize + (options.cls ? 1 : 0),
    nClasses: WORDNET_LEXNAMES.length,
    tokens,
    lengths,
    labels: Int32Array.from(glosses, (g) => g.lexFile),
  };
  const split = splitIndices(all.n, options.testFraction ?? 0.1, options.seed ?? 0);
  return { train: subsetDataset(all, split.train), test: subsetDataset(all, split.test), split, glosses };
}
