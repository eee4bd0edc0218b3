/**
 * Reading dataset files that come from Debian packages, with an error that says which
 * package to install when a file is missing.
 *
 * @module
 */

/**
 * A dataset file is absent; the message names the Debian package that provides it.
 *
 * @example
 * ```ts
 * import { DatasetMissingError } from "./mod.ts";
 * const error = new DatasetMissingError("Fashion-MNIST", "/nowhere/x.gz", "dataset-fashion-mnist");
 * console.log(error.message.includes("apt-get install dataset-fashion-mnist")); // true
 * ```
 */
export class DatasetMissingError extends Error {
  /** The path that was not found. */
  readonly path: string;
  /** The Debian package that provides the file. */
  readonly debianPackage: string;

  /**
   * Builds the error.
   * @param dataset human-readable dataset name
   * @param path the missing file
   * @param debianPackage the Debian package that installs it
   */
  constructor(dataset: string, path: string, debianPackage: string) {
    super(
      `gradscope: ${dataset} file not found: ${path}. Install it with ` +
        `\`apt-get install ${debianPackage}\`, or pass the directory that holds the files.`,
    );
    this.name = "DatasetMissingError";
    this.path = path;
    this.debianPackage = debianPackage;
  }
}

/**
 * Reads a whole file, turning "not found" into a {@linkcode DatasetMissingError}.
 * Other failures (such as a missing `--allow-read`) pass through unchanged.
 *
 * @example
 * ```ts
 * import { readDatasetFile } from "./mod.ts";
 * const bytes = await readDatasetFile("/usr/share/wordnet/data.adv", "WordNet", "wordnet-base");
 * console.log(bytes.length > 0);
 * ```
 */
export async function readDatasetFile(
  path: string,
  dataset: string,
  debianPackage: string,
): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new DatasetMissingError(dataset, path, debianPackage);
    throw error;
  }
}

/**
 * Joins a directory and a file name with exactly one slash, without `node:path`, so the
 * module stays importable anywhere.
 *
 * @example
 * ```ts
 * import { joinPath } from "./mod.ts";
 * console.log(joinPath("/usr/share/wordnet/", "data.noun")); // "/usr/share/wordnet/data.noun"
 * ```
 */
export function joinPath(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, "")}/${file}`;
}
