/**
 * Learning-rate tuning from a sweep's results, by the protocol of the optimizer-comparison
 * papers: for each optimizer, the learning rate of its grid with the lowest final training
 * loss averaged over seeds. A diverged run counts as +∞ (so one diverged seed disqualifies its
 * learning rate), a non-finite final loss too, and ties go to the smaller learning rate.
 *
 * Runs are grouped by everything in their configs except `optimizer.lr`, `seed` and `name`,
 * so a sweep that also varies, say, `model.norm` gets one best learning rate per optimizer and
 * norm placement. The tuner reads the run directories (their `config.json` and
 * `summary.json`), so it works on the union of sharded runs, wherever they ran.
 *
 * @module
 */

import type { RunSummary } from "./run_dir.ts";
import { formatLoss, formatTable, readSweepResults, type RunResult } from "./sweep.ts";

/**
 * One learning rate of one optimizer setting, with its seed-averaged final loss.
 *
 * @example
 * ```ts
 * import type { LrPoint } from "./mod.ts";
 * const point: LrPoint = {
 *   optimizer: "adam", setting: "", lr: 0.001, mean_final_loss: 1.25, runs: 2, diverged: 0, pending: 0,
 * };
 * ```
 */
export interface LrPoint {
  /** `optimizer.name`. */
  optimizer: string;
  /** The run's values of the other config paths that vary across the sweep (`path=value,...`); often "". */
  setting: string;
  /** The peak learning rate `optimizer.lr`. */
  lr: number;
  /** Mean over the ended runs (seeds) of the final training loss; +∞ if any diverged. */
  mean_final_loss: number;
  /** Ended runs averaged. */
  runs: number;
  /** Of those, how many diverged. */
  diverged: number;
  /** Runs at this point that have not ended yet (not counted in the mean). */
  pending: number;
}

/** Paths left out of the grouping key: they are what the tuner averages or picks over. */
const TUNED = new Set(["optimizer.lr", "seed", "name"]);

/**
 * The final loss a run counts with: +∞ when it diverged or its loss is not finite.
 *
 * @example
 * ```ts
 * import { tunedLoss } from "./mod.ts";
 * console.log(tunedLoss({ status: "diverged", final_loss: 3 } as never)); // Infinity
 * ```
 */
export function tunedLoss(summary: RunSummary): number {
  const loss = summary.final_loss; // null when it was not finite
  return summary.status === "diverged" || typeof loss !== "number" || !Number.isFinite(loss)
    ? Infinity
    : loss;
}

/**
 * Every (setting, learning rate) point of a sweep's results with its seed-averaged final loss,
 * ordered by optimizer, setting, then learning rate.
 *
 * @example
 * ```ts ignore
 * console.log(formatLrTable(learningRateTable(await readSweepResults("results/lr_scan"))));
 * ```
 */
export function learningRateTable(results: readonly RunResult[]): LrPoint[] {
  const varying = varyingPaths(results);
  const points = new Map<string, LrPoint & { sum: number }>();
  for (const result of results) {
    const leaves = flatten(result.config);
    const setting = varying.filter((path) => path !== "optimizer.name" && leaves.has(path))
      .map((path) => `${path}=${leaves.get(path)}`).join(",");
    const optimizer = result.config.optimizer.name, lr = result.config.optimizer.lr;
    const key = JSON.stringify([optimizer, setting, lr]);
    const point = points.get(key) ??
      { optimizer, setting, lr, mean_final_loss: NaN, runs: 0, diverged: 0, pending: 0, sum: 0 };
    points.set(key, point);
    if (result.summary === null) {
      point.pending++;
      continue;
    }
    const loss = tunedLoss(result.summary);
    point.runs++;
    point.sum += loss;
    if (loss === Infinity) point.diverged++;
  }
  return [...points.values()].map(({ sum, ...point }) => ({ ...point, mean_final_loss: sum / point.runs }))
    .sort(comparePoints);
}

/**
 * The best learning rate of each optimizer setting: lowest mean final loss (NaN, from points
 * with no ended run, never wins), ties to the smaller learning rate.
 *
 * @example
 * ```ts
 * import { bestLearningRates, type LrPoint } from "./mod.ts";
 * const at = (lr: number, mean_final_loss: number): LrPoint =>
 *   ({ optimizer: "sgd", setting: "", lr, mean_final_loss, runs: 1, diverged: 0, pending: 0 });
 * console.log(bestLearningRates([at(0.1, 1.5), at(0.3, 1.5), at(1, Infinity)]).map((p) => p.lr)); // [0.1]
 * ```
 */
export function bestLearningRates(points: readonly LrPoint[]): LrPoint[] {
  const best = new Map<string, LrPoint>();
  for (const point of points) {
    const key = JSON.stringify([point.optimizer, point.setting]);
    const current = best.get(key);
    if (current === undefined || better(point, current)) best.set(key, point);
  }
  return [...best.values()].sort(comparePoints);
}

/**
 * Reads a sweep's results directory and returns the best learning rate per optimizer setting.
 *
 * @example
 * ```ts ignore
 * for (const row of await tuneLearningRates("results/lr_scan")) {
 *   console.log(row.optimizer, row.lr, row.mean_final_loss, row.runs);
 * }
 * ```
 */
export async function tuneLearningRates(out: string): Promise<LrPoint[]> {
  return bestLearningRates(learningRateTable(await readSweepResults(out)));
}

/**
 * A plain-text table of learning-rate points.
 *
 * @example
 * ```ts
 * import { formatLrTable } from "./mod.ts";
 * console.log(formatLrTable([
 *   { optimizer: "adam", setting: "", lr: 0.001, mean_final_loss: 1.25, runs: 2, diverged: 0, pending: 0 },
 * ]));
 * ```
 */
export function formatLrTable(points: readonly LrPoint[]): string {
  const withSetting = points.some((p) => p.setting !== "");
  const header = [
    "optimizer",
    ...(withSetting ? ["setting"] : []),
    "lr",
    "mean_final_loss",
    "runs",
    "diverged",
  ];
  const rows = points.map((p) => [
    p.optimizer,
    ...(withSetting ? [p.setting] : []),
    String(p.lr),
    formatLoss(p.mean_final_loss),
    p.pending > 0 ? `${p.runs} (+${p.pending} pending)` : String(p.runs),
    String(p.diverged),
  ]);
  return formatTable(header, rows);
}

/** Lower mean loss wins; NaN (nothing ended) loses to anything; equal means go to the smaller lr. */
function better(a: LrPoint, b: LrPoint): boolean {
  if (Number.isNaN(b.mean_final_loss)) return !Number.isNaN(a.mean_final_loss) || a.lr < b.lr;
  if (Number.isNaN(a.mean_final_loss)) return false;
  if (a.mean_final_loss !== b.mean_final_loss) return a.mean_final_loss < b.mean_final_loss;
  return a.lr < b.lr;
}

function comparePoints(a: LrPoint, b: LrPoint): number {
  return a.optimizer.localeCompare(b.optimizer) || a.setting.localeCompare(b.setting) || a.lr - b.lr;
}

/** The config paths (other than the tuned ones) whose values differ between runs, sorted. */
function varyingPaths(results: readonly RunResult[]): string[] {
  const values = new Map<string, Set<string>>();
  const flat = results.map((result) => flatten(result.config));
  const paths = new Set(flat.flatMap((leaves) => [...leaves.keys()]));
  for (const path of paths) {
    if (TUNED.has(path)) continue;
    values.set(path, new Set(flat.map((leaves) => leaves.get(path) ?? "-")));
  }
  return [...values].filter(([, seen]) => seen.size > 1).map(([path]) => path).sort();
}

/** Leaves of a JSON object by dotted path, each value as compact text (arrays are leaves). */
function flatten(value: unknown, prefix = "", into = new Map<string, string>()): Map<string, string> {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  } else {
    into.set(prefix, typeof value === "string" ? value : JSON.stringify(value));
  }
  return into;
}
