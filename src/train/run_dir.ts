/**
 * A run directory: `config.json` (written at the start), `log.jsonl` (appended while
 * training), `checkpoint.safetensors` (replaced atomically) and `summary.json` (written at
 * the end). What the directory holds decides whether `train` starts, resumes, or returns the
 * summary of a run that already ended.
 *
 * @module
 */

import { stringifyRecord } from "./log.ts";

/**
 * File names inside a run directory.
 *
 * @example
 * ```ts
 * import { RUN_FILES } from "./mod.ts";
 * console.log(RUN_FILES.log); // "log.jsonl"
 * ```
 */
export const RUN_FILES: Readonly<Record<"config" | "log" | "checkpoint" | "summary", string>> = Object.freeze(
  {
    config: "config.json",
    log: "log.jsonl",
    checkpoint: "checkpoint.safetensors",
    summary: "summary.json",
  },
);

/**
 * How a run ended, as written to `summary.json`.
 *
 * @example
 * ```ts
 * import type { RunSummary } from "./mod.ts";
 * const summary: RunSummary = {
 *   run: "copy", status: "finished", steps: 300, final_loss: 0.01, eval: { loss: 0.02, accuracy: 0.99 },
 *   time_s: 60, train_s: 50, tokens_per_s: 1536,
 * };
 * ```
 */
export interface RunSummary {
  /** The run's name. */
  run: string;
  /** `"finished"`: all steps ran; `"diverged"`: the loss became non-finite or exploded. */
  status: "finished" | "diverged";
  /** Steps taken. */
  steps: number;
  /** The last training loss read back (null if it was not finite). */
  final_loss: number | null;
  /** The last validation loss and accuracy (null if the run never evaluated). */
  eval: { loss: number; accuracy: number } | null;
  /** Seconds from the start to the end, over every resumed segment. */
  time_s: number;
  /** Of which seconds spent in training steps and metrics readings. */
  train_s: number;
  /** Tokens (batch × sequence positions) per second of training. */
  tokens_per_s: number;
  /** With status `"diverged"`: the first step whose loss diverged, and why. */
  diverged?: { step: number; reason: string };
}

/**
 * The path of one of a run directory's files.
 *
 * @example
 * ```ts
 * import { runPath } from "./mod.ts";
 * console.log(runPath("results/copy/", "summary")); // "results/copy/summary.json"
 * ```
 */
export function runPath(dir: string, name: keyof typeof RUN_FILES): string {
  return `${dir.replace(/\/+$/, "") || "."}/${RUN_FILES[name]}`;
}

/**
 * The last path component of a directory: the default run name.
 *
 * @example
 * ```ts
 * import { baseName } from "./mod.ts";
 * console.log(baseName("results/runs/copy-lr3e-3/")); // "copy-lr3e-3"
 * ```
 */
export function baseName(dir: string): string {
  const parts = dir.replace(/[/\\]+$/, "").split(/[/\\]/);
  return parts[parts.length - 1] || "run";
}

async function readJsonFile(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`gradscope: ${path} is not JSON; fix or remove it`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * JSON with object keys sorted and undefined fields dropped, to compare configs.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./mod.ts";
 * console.log(canonicalJson({ b: 1, a: { d: undefined, c: 2 } })); // {"a":{"c":2},"b":1}
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]));
  });
}

/** What a run directory holds. */
export interface RunDirState {
  /** The summary of a run that ended, if any. */
  summary: RunSummary | null;
  /** Whether a checkpoint is there to resume from. */
  checkpoint: boolean;
}

/**
 * Looks at a run directory without changing it. Throws if it holds a run with a different
 * config (so that one directory never mixes two runs).
 *
 * @param config the run's resolved config, as `config.json` would hold it
 * @example
 * ```ts ignore
 * const { summary, checkpoint } = await inspectRunDir(dir, config);
 * ```
 */
export async function inspectRunDir(dir: string, config: unknown): Promise<RunDirState> {
  const stored = await readJsonFile(runPath(dir, "config"));
  if (stored !== undefined && canonicalJson(stored) !== canonicalJson(config)) {
    throw new Error(
      `gradscope: ${dir} holds a run with a different config (${runPath(dir, "config")}); ` +
        "use another directory, or delete it to start over",
    );
  }
  const summary = (await readJsonFile(runPath(dir, "summary"))) as RunSummary | undefined;
  return { summary: summary ?? null, checkpoint: await exists(runPath(dir, "checkpoint")) };
}

/**
 * Writes a JSON file atomically (temporary file, then rename), pretty-printed, with
 * non-finite numbers as strings.
 *
 * @example
 * ```ts ignore
 * await writeJsonAtomic(runPath(dir, "summary"), summary);
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(JSON.parse(stringifyRecord(value)), null, 2) + "\n");
  await Deno.rename(temp, path);
}
