/**
 * Reading an experiment's results directory: one folder per run holding `config.json`,
 * `log.jsonl` (one object per logged step) and `summary.json`. Every file is optional and
 * every field is treated loosely, so that reports work on partial or older runs.
 *
 * @module
 */

import { join, relative } from "node:path";

/** One parsed JSONL line: `step` plus whatever the run logged. */
export type LogRow = Record<string, unknown>;

/** One run, as found on disk. */
export interface RunRecord {
  /** The run folder relative to the results directory (e.g. `adam_seed1`). */
  name: string;
  /** The run folder's path. */
  dir: string;
  /** `config.json` (empty if absent). */
  config: Record<string, unknown>;
  /** `log.jsonl` rows, in file order (empty if absent). */
  rows: LogRow[];
  /** `summary.json` (empty if absent). */
  summary: Record<string, unknown>;
}

/** The training loop writes non-finite numbers as these strings (JSON has no NaN). */
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

/**
 * The objects in JSONL `text`, with `"NaN"` and `"±Infinity"` strings read back as numbers.
 * Blank lines and lines that do not parse to an object are skipped: a run killed mid-write
 * leaves a torn last line, and the rest is still worth plotting.
 *
 * @example
 * ```ts
 * import { parseJsonl } from "./mod.ts";
 * console.log(parseJsonl('{"step":0,"loss":2.3}\n{"step":1,"loss":"NaN"}\n{"step":2,"lo')); // [{ step: 0, loss: 2.3 }, { step: 1, loss: NaN }]
 * ```
 */
export function parseJsonl(text: string): LogRow[] {
  return text.split("\n").flatMap((line) => {
    if (!line.trim()) return [];
    try {
      const value = JSON.parse(
        line,
        (_key, v) => typeof v === "string" && v in NON_FINITE ? NON_FINITE[v] : v,
      );
      return value && typeof value === "object" && !Array.isArray(value) ? [value as LogRow] : [];
    } catch {
      return [];
    }
  });
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  const text = await readText(path);
  if (text === undefined) return {};
  const value = JSON.parse(text);
  return value && typeof value === "object" && !Array.isArray(value) ? value : {};
}

/** Run folders under `dir` (a folder with a log or a summary), depth-first, to `depth` levels. */
async function findRunDirs(dir: string, depth: number): Promise<string[]> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(dir)) entries.push(entry);
  const names = new Set(entries.map((e) => e.name));
  if (names.has("log.jsonl") || names.has("summary.json")) return [dir];
  if (depth === 0) return [];
  const folders = entries.filter((e) => e.isDirectory && e.name !== "figures" && !e.name.startsWith("."));
  folders.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  const nested = await Promise.all(folders.map((e) => findRunDirs(join(dir, e.name), depth - 1)));
  return nested.flat();
}

/**
 * Every run under `resultsDir` (runs may sit up to three folders deep), sorted by name.
 *
 * @example
 * ```ts
 * import { readRuns } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/adam_seed0`);
 * await Deno.writeTextFile(`${dir}/adam_seed0/log.jsonl`, '{"step":0,"loss":2.3}\n');
 * const runs = await readRuns(dir);
 * console.log(runs[0].name, runs[0].rows.length); // "adam_seed0" 1
 * ```
 */
export async function readRuns(resultsDir: string): Promise<RunRecord[]> {
  const dirs = await findRunDirs(resultsDir, 3);
  return await Promise.all(dirs.map(async (dir) => ({
    name: relative(resultsDir, dir) || ".",
    dir,
    config: await readJsonObject(join(dir, "config.json")),
    rows: parseJsonl((await readText(join(dir, "log.jsonl"))) ?? ""),
    summary: await readJsonObject(join(dir, "summary.json")),
  })));
}
