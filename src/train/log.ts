/**
 * JSONL run logs: one JSON object per line, appended and handed to the OS as soon as it is
 * written, so a crash loses at most the line being written. A resumed run first cuts the log
 * back to its checkpoint's step, so the log of a resumed run reads like that of an
 * uninterrupted one.
 *
 * @module
 */

/**
 * One log line: the run, the step it describes, the seconds since the run started, and the
 * metrics of that reading (`kind` says which: `"train"` readings, `"eval"` evaluations).
 *
 * @example
 * ```ts
 * import type { LogRecord } from "./mod.ts";
 * const line: LogRecord = { run: "copy", kind: "train", step: 10, time_s: 1.5, loss: 2.3, lr: 1e-3 };
 * ```
 */
export interface LogRecord {
  /** The run's name. */
  run: string;
  /** `"train"` for a metrics reading, `"eval"` for a validation evaluation. */
  kind: "train" | "eval";
  /** Optimizer steps taken when the line was written. */
  step: number;
  /** Seconds since the run started (resumed runs continue the count). */
  time_s: number;
  /** Further metrics. */
  [metric: string]: unknown;
}

/**
 * Appends {@linkcode LogRecord}s to a JSONL file. Non-finite numbers are written as the
 * strings `"NaN"`, `"Infinity"` and `"-Infinity"` (JSON has no literal for them).
 *
 * @example
 * ```ts
 * import { JsonlLog, readJsonl } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * const log = await JsonlLog.open(path);
 * await log.append({ run: "demo", kind: "train", step: 1, time_s: 0.1, loss: 2.5 });
 * log.close();
 * console.log(await readJsonl(path)); // [{ run: "demo", kind: "train", step: 1, time_s: 0.1, loss: 2.5 }]
 * ```
 */
export class JsonlLog {
  /** The file path. */
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /** Opens `path` for appending, creating it if needed. */
  static async open(path: string): Promise<JsonlLog> {
    return new JsonlLog(path, await Deno.open(path, { append: true, create: true }));
  }

  /** Writes one line completely before returning. */
  async append(record: LogRecord): Promise<void> {
    const bytes = this.#encoder.encode(stringifyRecord(record) + "\n");
    for (let at = 0; at < bytes.length;) at += await this.#file.write(bytes.subarray(at));
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/**
 * JSON with non-finite numbers as strings, so a diverged loss stays visible in the log.
 *
 * @example
 * ```ts
 * import { stringifyRecord } from "./mod.ts";
 * console.log(stringifyRecord({ loss: NaN, lr: 0.1 })); // {"loss":"NaN","lr":0.1}
 * ```
 */
export function stringifyRecord(record: unknown): string {
  return JSON.stringify(record, (_key, value) => {
    if (typeof value === "number" && !Number.isFinite(value)) return String(value);
    return value;
  });
}

/**
 * Parses a JSONL file into its records; an incomplete last line (a crash mid-write) is
 * skipped, any other unparsable line is an error.
 *
 * @example
 * ```ts ignore
 * const losses = (await readJsonl(`${dir}/log.jsonl`)).filter((r) => r.kind === "train").map((r) => r.loss);
 * ```
 */
export async function readJsonl(path: string): Promise<LogRecord[]> {
  return parseJsonl(await Deno.readTextFile(path), path);
}

function parseJsonl(text: string, path: string): LogRecord[] {
  // The last piece is "" after a final newline, or an incomplete line after a crash.
  const complete = text.split("\n").slice(0, -1);
  return complete.filter((line) => line.trim() !== "").map((line, i) => {
    try {
      return JSON.parse(line) as LogRecord;
    } catch {
      throw new Error(`gradscope: ${path}: line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
    }
  });
}

/**
 * Keeps the lines of `path` whose step is at most `step` (and drops an incomplete last line),
 * rewriting the file atomically; a missing file is left missing. Used when a run resumes from
 * the checkpoint at `step`: the lines after it will be written again.
 *
 * @example
 * ```ts ignore
 * await truncateJsonl(`${dir}/log.jsonl`, checkpointStep);
 * ```
 */
export async function truncateJsonl(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  const kept = parseJsonl(text, path).filter((r) => r.step <= step);
  const temp = `${path}.tmp`;
  await Deno.writeTextFile(temp, kept.map((r) => stringifyRecord(r) + "\n").join(""));
  await Deno.rename(temp, path);
}
