/**
 * The tuning protocol of the per-example experiments: each optimizer variant gets its own
 * learning rate, the one of a small grid with the lowest final training loss on seed 0
 * (diverged runs count as +∞, ties go to the smaller rate), and is then run on the remaining
 * seeds at that rate. Run `s` of variant `v` at rate `lr` lives in `<out>/runs/<v>/lr=<lr>,seed=<s>`.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { runOne, type RunResult } from "./per_example_setup.ts";

/** One optimizer variant to tune. */
export interface Variant {
  /** Its name (a folder name). */
  name: string;
  /** The optimizer config without `lr`. */
  optimizer: Record<string, unknown>;
  /** The learning rates to try, ascending. */
  lrs: readonly number[];
}

/** A tuned variant: its grid, its rate, and its runs at that rate (one per seed). */
export interface TunedVariant {
  /** The variant's name. */
  name: string;
  /** Seed 0's final loss at each rate of the grid. */
  grid: { lr: number; finalLoss: number; status: string }[];
  /** The chosen rate. */
  lr: number;
  /** Whether the chosen rate is the grid's smallest or largest (the optimum may lie outside). */
  edge: boolean;
  /** The runs at the chosen rate, seed 0 first. */
  runs: RunResult[];
}

/** Options of {@linkcode tuneThenSeed}. */
export interface TuneOptions {
  /** Where the runs go (`<out>/runs/...`). */
  out: string;
  /** The seeds; the first one tunes. */
  seeds: readonly number[];
  /** The raw run config for an optimizer config (with `lr`) and a seed. */
  config: (optimizer: Record<string, unknown>, seed: number) => Record<string, unknown>;
  /** Print nothing. */
  quiet?: boolean;
}

/**
 * The index of the lowest loss, ties (and all-NaN) to the first: the smaller learning rate.
 *
 * @example
 * ```ts
 * import { bestIndex } from "./src/experiments/per_example_tuning.ts";
 * console.log(bestIndex([2, 1, 1, Infinity])); // 1
 * ```
 */
export function bestIndex(losses: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < losses.length; i++) {
    if (losses[i] < losses[best] || (Number.isNaN(losses[best]) && !Number.isNaN(losses[i]))) best = i;
  }
  return best;
}

/**
 * Tunes each variant's learning rate on the first seed, then runs the other seeds at it.
 *
 * @example
 * ```ts ignore
 * const tuned = await tuneThenSeed(gpu, [{ name: "adam", optimizer: { name: "adam" }, lrs: [1e-3, 3e-3] }], {
 *   out, seeds: [0, 1, 2], config: (optimizer, seed) => experimentRun("default", { batch: 16, steps: 100, optimizer, seed }),
 * });
 * ```
 */
export async function tuneThenSeed(
  gpu: Gpu,
  variants: readonly Variant[],
  options: TuneOptions,
): Promise<TunedVariant[]> {
  const dir = (v: Variant, lr: number, seed: number) => `${options.out}/runs/${v.name}/lr=${lr},seed=${seed}`;
  const run = (v: Variant, lr: number, seed: number) =>
    runOne(gpu, options.config({ ...v.optimizer, lr }, seed), dir(v, lr, seed), options.quiet);
  const [first, ...rest] = options.seeds;
  const tuned: TunedVariant[] = [];
  for (const v of variants) {
    const grid: RunResult[] = [];
    for (const lr of v.lrs) grid.push(await run(v, lr, first));
    const i = bestIndex(grid.map((r) => r.finalLoss));
    const lr = v.lrs[i];
    tuned.push({
      name: v.name,
      grid: grid.map((r, k) => ({ lr: v.lrs[k], finalLoss: r.finalLoss, status: r.summary.status })),
      lr,
      edge: v.lrs.length > 1 && (i === 0 || i === v.lrs.length - 1),
      runs: [grid[i]],
    });
  }
  // The other seeds after every variant is tuned, so an interrupted run loses least.
  for (const [k, v] of variants.entries()) {
    for (const seed of rest) tuned[k].runs.push(await run(v, tuned[k].lr, seed));
  }
  return tuned;
}
