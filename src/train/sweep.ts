/**
 * Sweeps: a base run configuration plus a grid over any of its fields, expanded to the
 * cartesian product and run one after another on one shared GPU device.
 *
 * A spec (a TS object or a JSON file) looks like
 *
 * ```json
 * {
 *   "name": "lr_scan",
 *   "base": { "model": { ... }, "data": { ... }, "optimizer": { "name": "adam", "lr": 0.001 }, "steps": 300 },
 *   "grid": { "optimizer.name": ["adam", "sgd"], "optimizer.lr": [0.0003, 0.001, 0.003], "seed": [0, 1] }
 * }
 * ```
 *
 * Grid keys are dotted paths into the config (a numeric segment indexes an array, e.g.
 * `optimizer.betas.1`); a value replaces whatever the base holds there (objects included).
 * Runs are ordered like nested loops in the grid's key order, the last key varying fastest,
 * and each is named after its grid values (`optimizer.name=adam,optimizer.lr=0.001,seed=0`,
 * with characters other than `A-Z a-z 0-9 . _ , = + -` replaced by `_`). A run's directory is
 * `<out>/<name>`, and its config's `name` is set to that name. Every expanded config is
 * validated with the run config schema before anything runs; all problems are reported
 * together in a {@linkcode SweepSpecError}.
 *
 * Running is sequential and restartable: a run whose `summary.json` says finished or diverged
 * is skipped, an interrupted one resumes from its checkpoint (the training loop does that), and
 * a diverged run does not stop the sweep. A directory whose `config.json` differs from the
 * expanded config is an error before anything runs, so a changed base never silently reuses
 * stale results (adding values to a grid axis is fine: the existing runs keep their names and
 * are skipped; adding an axis renames every run).
 *
 * Sharding splits the runs across machines: shard `i/n` runs the runs whose index is `i` mod
 * `n`, so the shards are disjoint and together cover the sweep. Each shard writes only its own
 * run directories; {@linkcode readSweepResults} and the learning-rate tuner read them all back.
 *
 * - Slurm job array: with no `--shard`, the array variables are used, so
 *   `sbatch --array=0-3 --wrap "deno task sweep spec.json --out results/lr_scan"` runs four
 *   shards (shard index `(SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP`,
 *   shard count `SLURM_ARRAY_TASK_COUNT`); `results/` must be on a file system the nodes share.
 * - Kubernetes indexed Job (`completionMode: Indexed`, `completions: 4`, `parallelism: 4`):
 *   each pod gets `JOB_COMPLETION_INDEX` but not the count, so pass both explicitly, e.g.
 *   `command: ["sh", "-c", "deno task sweep spec.json --out /results/lr_scan --shard $JOB_COMPLETION_INDEX/4"]`
 *   with `/results` a volume shared by the pods.
 *
 * @module
 */

import { getDevice, type Gpu } from "../gpu/device.ts";
import { parseRunConfig, type RunConfig, RunConfigError } from "./config.ts";
import { train, type TrainOptions } from "./loop.ts";
import { inspectRunDir, type RunSummary } from "./run_dir.ts";

/**
 * A sweep specification: a base run config (raw, as in a JSON file) and a grid of values per
 * dotted config path.
 *
 * @example
 * ```ts
 * import { DEFAULT_RUN_CONFIG, type SweepSpec } from "./mod.ts";
 * const spec: SweepSpec = {
 *   name: "lr_scan",
 *   base: { ...DEFAULT_RUN_CONFIG, steps: 100 },
 *   grid: { "optimizer.lr": [1e-3, 3e-3], seed: [0, 1] },
 * };
 * ```
 */
export interface SweepSpec {
  /** A name for the sweep, for display only. */
  name?: string;
  /** The config every run starts from; need not be valid by itself if the grid completes it. */
  base: Record<string, unknown>;
  /** For each dotted config path, the values it takes (each list non-empty, no repeats). */
  grid: Record<string, readonly unknown[]>;
}

/**
 * One run of an expanded sweep.
 *
 * @example
 * ```ts ignore
 * const run: SweepRun = expandSweep(spec).runs[0];
 * console.log(run.index, run.name, run.values); // 0 "optimizer.lr=0.001,seed=0" { "optimizer.lr": 0.001, seed: 0 }
 * ```
 */
export interface SweepRun {
  /** Position in the sweep's deterministic order. */
  index: number;
  /** File-system-safe name derived from the grid values; also the run's directory name. */
  name: string;
  /** The grid value of each grid path, in grid order. */
  values: Record<string, unknown>;
  /** The validated config, with `name` set to the run's name. */
  config: RunConfig;
}

/**
 * An expanded sweep.
 *
 * @example
 * ```ts ignore
 * const sweep: Sweep = expandSweep(spec);
 * console.log(sweep.runs.map((run) => run.name));
 * ```
 */
export interface Sweep {
  /** The spec it came from. */
  spec: SweepSpec;
  /** Every run, in order. */
  runs: SweepRun[];
}

/**
 * Raised for an invalid sweep spec (bad grid paths or values, or expanded configs that fail
 * validation); `issues` lists every problem, one line each.
 *
 * @example
 * ```ts
 * import { expandSweep, SweepSpecError } from "./mod.ts";
 * try {
 *   expandSweep({ base: {}, grid: { "optimizer.lr": [] } });
 * } catch (error) {
 *   console.log(error instanceof SweepSpecError); // true
 * }
 * ```
 */
export class SweepSpecError extends Error {
  /** The problems, one line each. */
  readonly issues: readonly string[];

  /**
   * Builds the error.
   * @param issues one line per problem
   */
  constructor(issues: readonly string[]) {
    super(`gradscope: bad sweep spec:\n${issues.map((line) => `  ${line}`).join("\n")}`);
    this.name = "SweepSpecError";
    this.issues = issues;
  }
}

// ---- spec and expansion --------------------------------------------------------------------

/** Longest run name kept as is; longer ones are cut and suffixed with a hash (NAME_MAX is 255). */
const MAX_NAME = 200;

/** Checks the spec's shape (not the configs): a base object and non-empty, repeat-free grid lists. */
function specIssues(spec: unknown): string[] {
  if (!isPlainObject(spec)) return ["(spec): must be an object with base and grid"];
  const issues: string[] = [];
  for (const key of Object.keys(spec)) {
    if (!["name", "base", "grid"].includes(key)) {
      issues.push(`${key}: unknown key (expected name, base, grid)`);
    }
  }
  if (spec.name !== undefined && typeof spec.name !== "string") issues.push("name: must be a string");
  if (!isPlainObject(spec.base)) issues.push("base: must be an object (a run config)");
  if (!isPlainObject(spec.grid)) return [...issues, "grid: must be an object of path → list of values"];
  const paths = Object.keys(spec.grid);
  for (const path of paths) issues.push(...axisIssues(path, spec.grid[path], paths));
  return issues;
}

/** Problems of one grid axis: its path's syntax, overlap with another path, and its values. */
function axisIssues(path: string, values: unknown, paths: readonly string[]): string[] {
  const at = `grid["${path}"]`;
  const issues: string[] = [];
  if (path.split(".").some((segment) => segment === "")) issues.push(`${at}: empty segment in path`);
  if (path === "name") issues.push(`${at}: each run is named after its grid values; name cannot vary`);
  const parent = paths.find((other) => path.startsWith(`${other}.`));
  if (parent !== undefined) issues.push(`${at}: overlaps grid["${parent}"]; set it in one place`);
  if (!Array.isArray(values) || values.length === 0) return [...issues, `${at}: must be a non-empty list`];
  const seen = new Set<string>();
  values.forEach((value, i) => {
    const text = JSON.stringify(value);
    if (text === undefined || (typeof value === "number" && !Number.isFinite(value))) {
      issues.push(`${at}[${i}]: ${String(value)} is not a JSON value`);
    } else if (seen.has(text)) issues.push(`${at}[${i}]: ${text} repeats an earlier value`);
    seen.add(text);
  });
  return issues;
}

/**
 * Expands a sweep spec into its runs, validating every expanded config first.
 *
 * @throws {SweepSpecError} listing every problem (spec shape, grid paths, each run's config)
 * @example
 * ```ts
 * import { DEFAULT_RUN_CONFIG, expandSweep } from "./mod.ts";
 * const sweep = expandSweep({
 *   base: { ...DEFAULT_RUN_CONFIG, steps: 20 },
 *   grid: { "optimizer.name": ["adam", "sgd"], "optimizer.lr": [0.001, 0.01] },
 * });
 * console.log(sweep.runs.map((run) => run.name));
 * // ["optimizer.name=adam,optimizer.lr=0.001", "optimizer.name=adam,optimizer.lr=0.01",
 * //  "optimizer.name=sgd,optimizer.lr=0.001", "optimizer.name=sgd,optimizer.lr=0.01"]
 * ```
 */
export function expandSweep(spec: SweepSpec): Sweep {
  const shapeIssues = specIssues(spec);
  if (shapeIssues.length > 0) throw new SweepSpecError(shapeIssues);
  const issues: string[] = [];
  const configIssues = new Map<string, string[]>(); // problem → names of the runs that have it
  const runs: SweepRun[] = [];
  const byName = new Map<string, number>();
  const points = gridPoints(spec.grid);
  points.forEach((values, index) => {
    const name = runName(values);
    const clash = byName.get(name);
    if (clash !== undefined) issues.push(`run ${index} and run ${clash} get the same name ${name}`);
    byName.set(name, index);
    try {
      const raw = applyValues(spec.base, values);
      raw.name = name;
      runs.push({ index, name, values, config: parseRunConfig(raw) });
    } catch (error) {
      if (error instanceof RunConfigError) {
        for (const line of error.issues) configIssues.set(line, [...configIssues.get(line) ?? [], name]);
      } else if (error instanceof SweepSpecError) issues.push(...error.issues);
      else throw error;
    }
  });
  issues.push(...[...configIssues].map(([line, names]) => runsLine(line, names, points.length)));
  if (issues.length > 0) throw new SweepSpecError(dedupe(issues));
  return { spec, runs };
}

/**
 * Reads a sweep spec from a JSON file and expands it.
 *
 * @throws {SweepSpecError} when the file is not JSON or the spec is invalid
 * @example
 * ```ts ignore
 * const sweep = await loadSweep("configs/lr_scan.json");
 * ```
 */
export async function loadSweep(path: string): Promise<Sweep> {
  const text = await Deno.readTextFile(path);
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw new SweepSpecError([`(file ${path}): not JSON: ${(error as Error).message}`]);
  }
  return expandSweep(spec as SweepSpec);
}

/** A config problem once, with the runs that have it rather than a line per run. */
function runsLine(line: string, names: readonly string[], total: number): string {
  if (names.length === 1) return `run ${names[0]}: ${line}`;
  return names.length === total
    ? `${line} (every run)`
    : `${line} (${names.length} of ${total} runs, e.g. ${names[0]})`;
}

/** The cartesian product of the grid, first key outermost, last key fastest. */
function gridPoints(grid: Record<string, readonly unknown[]>): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [path, values] of Object.entries(grid)) {
    points = points.flatMap((point) => values.map((value) => ({ ...point, [path]: value })));
  }
  return points;
}

/** A deep copy of `base` with each grid value set at its path. */
function applyValues(
  base: Record<string, unknown>,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const config = structuredClone(base);
  for (const [path, value] of Object.entries(values)) setPath(config, path, structuredClone(value));
  return config;
}

/** Sets `target` at a dotted path, creating missing objects on the way. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const segments = path.split(".");
  let node: Record<string, unknown> = target;
  segments.slice(0, -1).forEach((segment, i) => {
    node[segment] ??= {};
    const next = node[segment];
    if (typeof next !== "object" || next === null) {
      const prefix = segments.slice(0, i + 1).join(".");
      throw new SweepSpecError([`grid["${path}"]: ${prefix} is ${JSON.stringify(next)}, not an object`]);
    }
    node = next as Record<string, unknown>;
  });
  node[segments[segments.length - 1]] = value;
}

/**
 * The run name for a point of the grid: `path=value` pairs in grid order joined by commas,
 * made safe as a single file name; `"base"` for an empty grid.
 *
 * @example
 * ```ts
 * import { runName } from "./mod.ts";
 * console.log(runName({ "optimizer.name": "adam", "optimizer.lr": 0.001, seed: 1 }));
 * // "optimizer.name=adam,optimizer.lr=0.001,seed=1"
 * console.log(runName({ "optimizer.betas": [0.9, 0.95] })); // "optimizer.betas=_0.9,0.95_"
 * ```
 */
export function runName(values: Record<string, unknown>): string {
  const pairs = Object.entries(values).map(([path, value]) => `${path}=${formatValue(value)}`);
  const name = pairs.length === 0 ? "base" : pairs.join(",").replace(/[^A-Za-z0-9._,=+-]/g, "_");
  return name.length <= MAX_NAME ? name : `${name.slice(0, MAX_NAME - 9)}~${fnv1a(name)}`;
}

function formatValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** 32-bit FNV-1a of a string, as 8 hex digits: a short stable suffix for over-long names. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function dedupe(lines: string[]): string[] {
  return [...new Set(lines)];
}

// ---- sharding ------------------------------------------------------------------------------

/**
 * Shard `index` of `count`: the runs whose sweep index is `index` mod `count`.
 *
 * @example
 * ```ts
 * import type { Shard } from "./mod.ts";
 * const shard: Shard = { index: 1, count: 4 };
 * ```
 */
export interface Shard {
  /** 0 ≤ index < count. */
  index: number;
  /** Number of shards, ≥ 1. */
  count: number;
}

/**
 * Parses `"i/n"` (e.g. `"0/4"`).
 *
 * @throws {Error} unless `i` and `n` are integers with 0 ≤ i < n
 * @example
 * ```ts
 * import { parseShard } from "./mod.ts";
 * console.log(parseShard("2/4")); // { index: 2, count: 4 }
 * ```
 */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!match) throw new Error(`gradscope: bad shard "${text}": expected i/n, e.g. 0/4`);
  return checkedShard(Number(match[1]), Number(match[2]), `shard "${text}"`);
}

function checkedShard(index: number, count: number, what: string): Shard {
  if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
    throw new Error(`gradscope: bad ${what}: need integers 0 ≤ i < n, got i=${index}, n=${count}`);
  }
  return { index, count };
}

/**
 * The shard of a Slurm job array task, from `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`
 * (offset by `SLURM_ARRAY_TASK_MIN` and divided by `SLURM_ARRAY_TASK_STEP` when set, so
 * `--array=1-4` and `--array=0-6:2` work too); null outside a job array.
 *
 * @param env reads an environment variable; `Deno.env.get` by default (needs `--allow-env`)
 * @throws {Error} when only some of the variables are set, or they give no valid shard
 * @example
 * ```ts
 * import { shardFromEnv } from "./mod.ts";
 * const env: Record<string, string> = { SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_COUNT: "4" };
 * console.log(shardFromEnv((name) => env[name])); // { index: 3, count: 4 }
 * ```
 */
export function shardFromEnv(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Shard | null {
  const id = env("SLURM_ARRAY_TASK_ID"), count = env("SLURM_ARRAY_TASK_COUNT");
  if (id === undefined && count === undefined) return null;
  if (id === undefined || count === undefined) {
    throw new Error("gradscope: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT must be set together");
  }
  const min = Number(env("SLURM_ARRAY_TASK_MIN") ?? 0), step = Number(env("SLURM_ARRAY_TASK_STEP") ?? 1);
  return checkedShard((Number(id) - min) / step, Number(count), "Slurm array task");
}

/**
 * The shard to run: the `--shard` flag when given, else the Slurm array variables, else all
 * runs (`0/1`).
 *
 * @example
 * ```ts
 * import { resolveShard } from "./mod.ts";
 * console.log(resolveShard(undefined, () => undefined)); // { index: 0, count: 1 }
 * console.log(resolveShard("1/3")); // { index: 1, count: 3 }
 * ```
 */
export function resolveShard(flag: string | undefined, env?: (name: string) => string | undefined): Shard {
  if (flag !== undefined) return parseShard(flag);
  return shardFromEnv(env) ?? { index: 0, count: 1 };
}

/**
 * The runs of one shard, in sweep order.
 *
 * @example
 * ```ts
 * import { shardRuns } from "./mod.ts";
 * const runs = [0, 1, 2, 3, 4].map((index) => ({ index }));
 * console.log(shardRuns(runs, { index: 1, count: 2 })); // [{ index: 1 }, { index: 3 }]
 * ```
 */
export function shardRuns<T extends { index: number }>(runs: readonly T[], shard: Shard): T[] {
  return runs.filter((run) => run.index % shard.count === shard.index);
}

// ---- running -------------------------------------------------------------------------------

/**
 * The training function a sweep calls; the training loop's `train` by default.
 *
 * @example
 * ```ts ignore
 * const counting: TrainFunction = (config, options) => (calls++, train(config, options));
 * ```
 */
export type TrainFunction = (config: RunConfig, options: TrainOptions) => Promise<RunSummary>;

/**
 * How one run of a sweep went.
 *
 * @example
 * ```ts ignore
 * for (const outcome of (await runSweep(sweep, { out })).outcomes) console.log(outcome.run.name, outcome.status);
 * ```
 */
export interface RunOutcome {
  /** The run. */
  run: SweepRun;
  /** Its directory. */
  dir: string;
  /** `"failed"`: training threw (the error is in `error`; the sweep went on). */
  status: "finished" | "diverged" | "failed";
  /** True when an earlier invocation had already completed it. */
  skipped: boolean;
  /** Its summary (absent when failed). */
  summary?: RunSummary;
  /** The error message, when failed. */
  error?: string;
  /** Seconds spent on it in this invocation. */
  seconds: number;
}

/**
 * Options of {@linkcode runSweep}.
 *
 * @example
 * ```ts ignore
 * const options: RunSweepOptions = { out: "results/lr_scan", shard: { index: 0, count: 2 } };
 * ```
 */
export interface RunSweepOptions {
  /** The results directory; run `r` goes to `<out>/<r.name>`. */
  out: string;
  /** Only this shard's runs; all runs by default. */
  shard?: Shard;
  /** The device to share; when absent (and `train` is not given) one is acquired and destroyed at the end. */
  gpu?: Gpu;
  /** Training function; the training loop's by default (tests inject counters). */
  train?: TrainFunction;
  /** Passed to each run's `train` as its progress callback. */
  onProgress?: TrainOptions["onProgress"];
  /** Called before each run of the shard: the run, its position in the shard (1-based) and the shard size. */
  onRunStart?: (run: SweepRun, position: number, total: number) => void;
  /** Called after each run (also for skipped ones). */
  onRunEnd?: (outcome: RunOutcome) => void;
}

/**
 * What {@linkcode runSweep} did.
 *
 * @example
 * ```ts ignore
 * const report: SweepReport = await runSweep(sweep, { out });
 * console.log(report.outcomes.length);
 * ```
 */
export interface SweepReport {
  /** The shard that ran. */
  shard: Shard;
  /** One outcome per run of the shard, in order. */
  outcomes: RunOutcome[];
}

/**
 * Runs a shard of a sweep sequentially, skipping ended runs and resuming interrupted ones.
 * Writes `<out>/sweep.json` (the spec and the run list) for the record.
 *
 * @throws {Error} before any run when a run directory holds a different config
 * @example
 * ```ts ignore
 * const sweep = await loadSweep("configs/lr_scan.json");
 * const report = await runSweep(sweep, { out: "results/lr_scan", shard: resolveShard(undefined) });
 * console.log(formatOutcomes(report.outcomes));
 * ```
 */
export async function runSweep(sweep: Sweep, options: RunSweepOptions): Promise<SweepReport> {
  const shard = options.shard ?? { index: 0, count: 1 };
  const runs = shardRuns(sweep.runs, shard);
  await Deno.mkdir(options.out, { recursive: true });
  // Every run directory is checked (a different config there is an error) before any run starts.
  const states = [];
  for (const run of runs) states.push(await inspectRunDir(runDir(options.out, run), run.config));
  await writeJsonAtomic(`${options.out}/sweep.json`, sweepRecord(sweep));
  // The default trainer shares one device across runs; an injected one gets only what is given.
  const pending = states.some((state) => state.summary === null);
  const gpu = options.gpu ?? (pending && !options.train ? await getDevice() : undefined);
  const outcomes: RunOutcome[] = [];
  try {
    for (const [i, run] of runs.entries()) {
      options.onRunStart?.(run, i + 1, runs.length);
      const outcome = await runOne(run, states[i].summary, options, gpu);
      outcomes.push(outcome);
      options.onRunEnd?.(outcome);
    }
  } finally {
    if (!options.gpu) gpu?.destroy();
  }
  return { shard, outcomes };
}

/** Trains one run unless it already ended (`done`). */
async function runOne(
  run: SweepRun,
  done: RunSummary | null,
  options: RunSweepOptions,
  gpu: Gpu | undefined,
): Promise<RunOutcome> {
  const dir = runDir(options.out, run);
  if (done) return { run, dir, status: done.status, skipped: true, summary: done, seconds: 0 };
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const summary = await (options.train ?? train)(run.config, { dir, gpu, onProgress: options.onProgress });
    return { run, dir, status: summary.status, skipped: false, summary, seconds: seconds() };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { run, dir, status: "failed", skipped: false, error: message, seconds: seconds() };
  }
}

function runDir(out: string, run: { name: string }): string {
  return `${out}/${run.name}`;
}

/** Parsed JSON of a file; undefined when the file does not exist. */
async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`gradscope: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function sweepRecord(sweep: Sweep): unknown {
  return { ...sweep.spec, runs: sweep.runs.map(({ index, name, values }) => ({ index, name, values })) };
}

/**
 * Writes JSON beside the target under a unique name and renames it over the target: shards on
 * other machines may write the same `sweep.json` at the same moment.
 */
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temp, JSON.stringify(value, null, 2) + "\n");
  await Deno.rename(temp, path);
}

// ---- reading results -----------------------------------------------------------------------

/**
 * A run directory found under a sweep's results directory.
 *
 * @example
 * ```ts ignore
 * const results: RunResult[] = await readSweepResults("results/lr_scan");
 * ```
 */
export interface RunResult {
  /** The directory's name (the run name). */
  name: string;
  /** The directory. */
  dir: string;
  /** The run's `config.json`. */
  config: RunConfig;
  /** Its `summary.json`, or null while the run has not ended. */
  summary: RunSummary | null;
}

/**
 * Reads every run directory (a subdirectory holding `config.json`) under a results directory,
 * sorted by name; this sees the runs of every shard.
 *
 * @example
 * ```ts ignore
 * const pending = (await readSweepResults("results/lr_scan")).filter((r) => r.summary === null);
 * ```
 */
export async function readSweepResults(out: string): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for await (const entry of Deno.readDir(out)) {
    if (!entry.isDirectory) continue;
    const dir = `${out}/${entry.name}`;
    const config = await readJson(`${dir}/config.json`);
    if (config === undefined) continue;
    const summary = (await readJson(`${dir}/summary.json`) ?? null) as RunSummary | null;
    results.push({ name: entry.name, dir, config: config as RunConfig, summary });
  }
  return results.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * A plain-text table of run outcomes: name, status, steps, final loss and seconds.
 *
 * @example
 * ```ts ignore
 * console.log(formatOutcomes(report.outcomes));
 * ```
 */
export function formatOutcomes(outcomes: readonly RunOutcome[]): string {
  const rows = outcomes.map((o) => [
    o.run.name,
    o.skipped ? `${o.status} (earlier)` : o.status,
    o.summary ? String(o.summary.steps) : "-",
    o.summary ? formatLoss(o.summary.final_loss) : (o.error ?? "").slice(0, 60),
    o.skipped ? "-" : o.seconds.toFixed(1),
  ]);
  return formatTable(["run", "status", "steps", "final_loss", "seconds"], rows);
}

/**
 * A loss for tables: 4 significant digits, `inf` and `nan` spelled out.
 *
 * @example
 * ```ts
 * import { formatLoss } from "./mod.ts";
 * console.log(formatLoss(1.234567), formatLoss(Infinity)); // 1.235 inf
 * ```
 */
export function formatLoss(loss: number | null | undefined): string {
  if (loss === null || loss === undefined || Number.isNaN(loss)) return "nan";
  if (!Number.isFinite(loss)) return loss > 0 ? "inf" : "-inf";
  return loss.toPrecision(4);
}

/**
 * Left-aligned columns separated by two spaces, with a header line.
 *
 * @example
 * ```ts
 * import { formatTable } from "./mod.ts";
 * console.log(formatTable(["a", "b"], [["1", "22"]])); // "a  b\n1  22"
 * ```
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows].map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd())
    .join("\n");
}
