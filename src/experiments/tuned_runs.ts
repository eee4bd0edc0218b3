/**
 * The optimizer-comparison protocol of the paper experiments: each optimizer's learning rate
 * is picked from a small grid by final training loss on the first seed, then the remaining
 * seeds run at that learning rate. Every run is an ordinary run directory made by
 * `train`, so a second invocation skips what has ended and resumes what was interrupted.
 *
 * The final training loss that picks the learning rate is the mean loss over the last
 * metrics window (`loss_mean` of the last reading), not the last step's batch loss, which
 * at B = 16 is too noisy to rank learning rates by. A diverged run counts as +∞.
 *
 * Layout: `<out>/tune/<label>_lr<lr>/` for the grid (first seed) and
 * `<out>/final/<label>_seed<s>/` for the seeds at the chosen learning rate (the first seed's
 * directory is a copy of its grid run), so `writeReport(<out>/final)` compares exactly the
 * tuned runs.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { type MeanStd, meanStd } from "../plot/aggregate.ts";
import { formatMeanStd } from "../plot/report_table.ts";
import { readJsonl } from "../train/log.ts";
import { train } from "../train/loop.ts";
import { bestLearningRates, learningRateTable, type LrPoint, tunedLoss } from "../train/lr_tuner.ts";
import { baseName, type RunSummary } from "../train/run_dir.ts";
import { formatTable, type RunResult } from "../train/sweep.ts";
import { parseRunConfig } from "../train/config.ts";

/** One optimizer of a comparison: a label, its config without `lr`, and the learning rates to try. */
export interface OptimizerChoice {
  /** Short name used in directories, tables and legends, e.g. `"sgd_momentum"`. */
  label: string;
  /** The optimizer section of the run config, without `lr`, e.g. `{ name: "sgd", momentum: 0.9 }`. */
  optimizer: Record<string, unknown>;
  /** The learning-rate grid. */
  lrs: readonly number[];
}

/** One finished (or diverged) run at the chosen learning rate. */
export interface SeedRun {
  /** The seed. */
  seed: number;
  /** The run directory. */
  dir: string;
  /** Its `summary.json`. */
  summary: RunSummary;
  /** Mean training loss over the last metrics window; +∞ when diverged. */
  finalLoss: number;
}

/** An optimizer after tuning: the grid, the chosen learning rate and the runs at it. */
export interface TunedOptimizer {
  /** The choice's label. */
  label: string;
  /** The chosen learning rate. */
  lr: number;
  /** Every grid point, with its final loss. */
  grid: LrPoint[];
  /** The runs at `lr`, one per seed. */
  runs: SeedRun[];
}

/** Options of {@linkcode tuneAndRepeat}. */
export interface TuneOptions {
  /** The experiment's results directory. */
  out: string;
  /** Seeds; the first tunes the learning rate. */
  seeds: readonly number[];
  /** The device shared by every run. */
  gpu: Gpu;
  /** Receives one line per run (default `console.log`). */
  log?: (line: string) => void;
  /**
   * While the best learning rate is at an edge of the grid, try one more past that edge (by
   * the grid's ratio), at most this many times per optimizer (default 0).
   */
  extend?: number;
}

/**
 * Mean training loss over the last metrics window of a run (`loss_mean` of its last train
 * reading); +∞ when it diverged or the value is not finite.
 *
 * @param dir the run directory
 * @param summary its summary
 * @example
 * ```ts ignore
 * const loss = await finalWindowLoss("results/optimizer_gap/wordnet/final/adam_seed0", summary);
 * ```
 */
export async function finalWindowLoss(dir: string, summary: RunSummary): Promise<number> {
  if (tunedLoss(summary) === Infinity) return Infinity;
  const last = (await readJsonl(`${dir}/log.jsonl`)).filter((r) => r.kind === "train").at(-1);
  const value = Number(last?.loss_mean ?? summary.final_loss);
  return Number.isFinite(value) ? value : Infinity;
}

/** A directory-safe rendering of a learning rate, e.g. 0.0003 → "0.0003", 1e-5 → "1e-5". */
function lrText(lr: number): string {
  return String(lr).replace("e-0", "e-");
}

/** Trains one run (or returns the summary of a run that ended) and prints a line about it. */
async function runOne(
  config: Record<string, unknown>,
  dir: string,
  options: TuneOptions,
): Promise<{ summary: RunSummary; finalLoss: number }> {
  const started = performance.now();
  const summary = await train(config, { dir, gpu: options.gpu, onProgress: () => {} });
  const finalLoss = await finalWindowLoss(dir, summary);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  (options.log ?? console.log)(
    `  ${dir.split("/").slice(-2).join("/").padEnd(44)} ${summary.status.padEnd(8)} ` +
      `loss ${finalLoss.toPrecision(4).padEnd(7)} acc ${
        summary.eval?.accuracy.toFixed(3) ?? "-"
      }  ${seconds} s`,
  );
  return { summary, finalLoss };
}

/**
 * Copies a run directory's log and summary (not its checkpoint) unless `to` has a summary,
 * and its config renamed after `to`, as `train` names a run after its directory.
 */
async function copyRun(from: string, to: string): Promise<void> {
  if (await Deno.stat(`${to}/summary.json`).then(() => true, () => false)) return;
  await Deno.mkdir(to, { recursive: true });
  const config = JSON.parse(await Deno.readTextFile(`${from}/config.json`));
  await Deno.writeTextFile(`${to}/config.json`, JSON.stringify({ ...config, name: baseName(to) }, null, 2));
  for (const file of ["log.jsonl", "summary.json"]) await Deno.copyFile(`${from}/${file}`, `${to}/${file}`);
}

/** The next learning rate past the grid's edge where `best` sits, or null when it is inside. */
function pastEdge(lrs: readonly number[], best: number): number | null {
  const sorted = [...lrs].sort((a, b) => a - b);
  if (sorted.length < 2) return null;
  const n = sorted.length;
  if (best === sorted[0]) return Number((sorted[0] * sorted[0] / sorted[1]).toPrecision(3));
  if (best === sorted[n - 1]) return Number((sorted[n - 1] * sorted[n - 1] / sorted[n - 2]).toPrecision(3));
  return null;
}

/**
 * Runs one choice's grid on the first seed, extending it past an edge (by the grid's own
 * ratio) while the best rate sits on that edge, at most `extend` times.
 */
async function tuneOne(
  base: Record<string, unknown>,
  choice: OptimizerChoice,
  options: TuneOptions,
): Promise<{ grid: LrPoint[]; best: LrPoint; dirs: Map<number, string> }> {
  const results: RunResult[] = [];
  const dirs = new Map<number, string>();
  const tryLr = async (lr: number) => {
    const dir = `${options.out}/tune/${choice.label}_lr${lrText(lr)}`;
    const config = { ...base, seed: options.seeds[0], optimizer: { ...choice.optimizer, lr } };
    const { summary, finalLoss } = await runOne(config, dir, options);
    dirs.set(lr, dir);
    // The tuner ranks by summary.final_loss; give it the window mean instead of the last batch.
    results.push({
      name: choice.label,
      dir,
      config: parseRunConfig(config),
      summary: { ...summary, final_loss: Number.isFinite(finalLoss) ? finalLoss : null },
    });
  };
  for (const lr of choice.lrs) await tryLr(lr);
  let best = bestLearningRates(learningRateTable(results))[0];
  for (let i = 0; i < (options.extend ?? 0); i++) {
    const next = pastEdge([...dirs.keys()], best.lr);
    if (next === null || !Number.isFinite(best.mean_final_loss)) break;
    await tryLr(next);
    best = bestLearningRates(learningRateTable(results))[0];
  }
  return { grid: learningRateTable(results), best, dirs };
}

/**
 * Tunes each optimizer's learning rate on the first seed (lowest final-window training loss;
 * ties to the smaller rate; diverged = +∞; the grid extended past an edge where the best
 * sits, up to `options.extend` times), then runs every other seed at the chosen rate.
 *
 * @param base the run config without `seed` and `optimizer`
 * @param choices the optimizers and their grids
 * @param options results directory, seeds, device
 * @example
 * ```ts ignore
 * const tuned = await tuneAndRepeat(base, [
 *   { label: "sgd", optimizer: { name: "sgd" }, lrs: [0.03, 0.1, 0.3] },
 *   { label: "adam", optimizer: { name: "adam" }, lrs: [3e-4, 1e-3, 3e-3] },
 * ], { out: "results/x", seeds: [0, 1, 2], gpu });
 * console.log(formatTunedTable(tuned));
 * ```
 */
export async function tuneAndRepeat(
  base: Record<string, unknown>,
  choices: readonly OptimizerChoice[],
  options: TuneOptions,
): Promise<TunedOptimizer[]> {
  const tuned: TunedOptimizer[] = [];
  for (const choice of choices) {
    const { grid, best, dirs } = await tuneOne(base, choice, options);
    const runs: SeedRun[] = [];
    for (const seed of options.seeds) {
      const dir = `${options.out}/final/${choice.label}_seed${seed}`;
      if (seed === options.seeds[0]) await copyRun(dirs.get(best.lr)!, dir);
      const config = { ...base, seed, optimizer: { ...choice.optimizer, lr: best.lr } };
      runs.push({ seed, dir, ...(await runOne(config, dir, options)) });
    }
    tuned.push({ label: choice.label, lr: best.lr, grid, runs });
  }
  return tuned;
}

/**
 * Mean ± std over seeds of a value of each run, e.g. the test accuracy.
 *
 * @example
 * ```ts ignore
 * const accuracy = overSeeds(tuned.runs, (run) => run.summary.eval?.accuracy);
 * ```
 */
export function overSeeds(
  runs: readonly SeedRun[],
  value: (run: SeedRun) => number | null | undefined,
): MeanStd {
  return meanStd(runs.map((run) => value(run) ?? NaN));
}

/**
 * A plain-text table of tuned optimizers: chosen learning rate, final training loss and test
 * accuracy, mean ± std over seeds (diverged seeds count as +∞ in the loss and are left out
 * of the accuracy), and how many seeds diverged.
 *
 * @example
 * ```ts ignore
 * console.log(formatTunedTable(await tuneAndRepeat(base, choices, options)));
 * ```
 */
export function formatTunedTable(tuned: readonly TunedOptimizer[]): string {
  const rows = tuned.map((t) => {
    const loss = t.runs.some((r) => r.finalLoss === Infinity) ? "inf" : formatMeanStd(
      overSeeds(t.runs, (r) => r.finalLoss),
    );
    const finished = t.runs.filter((r) => r.summary.status === "finished");
    return [
      t.label,
      String(t.lr),
      loss,
      formatMeanStd(overSeeds(finished, (r) => r.summary.eval?.accuracy)),
      `${t.runs.length - finished.length}/${t.runs.length}`,
    ];
  });
  return formatTable(["optimizer", "lr", "final train loss", "test accuracy", "diverged"], rows);
}
