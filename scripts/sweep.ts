/**
 * Runs a sweep (see src/train/sweep.ts for the spec format, sharding, Slurm and Kubernetes):
 *
 * ```sh
 * deno run --allow-read --allow-write=results --allow-env scripts/sweep.ts spec.json --out results/lr_scan [--shard i/n]
 * ```
 *
 * Runs this shard's runs one after another, skipping those already ended and resuming
 * interrupted ones, then prints a table of this shard's runs and, when the results directory
 * holds runs at several learning rates, the learning-rate table and the best learning rate per
 * optimizer (over every shard's results found there). `--out` defaults to
 * `results/<spec name or file stem>`. Exit status: 0 when every run finished or diverged, 1 when
 * a run failed, 2 for a bad spec or arguments.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { consoleProgress } from "../src/train/progress.ts";
import { bestLearningRates, formatLrTable, learningRateTable } from "../src/train/lr_tuner.ts";
import {
  formatOutcomes,
  loadSweep,
  readSweepResults,
  resolveShard,
  runSweep,
  type Shard,
  shardRuns,
  type Sweep,
} from "../src/train/sweep.ts";

const USAGE = "usage: scripts/sweep.ts <spec.json> [--out results/<name>] [--shard i/n]";

/** A mistake in the command line or the spec: reported without a stack trace, exit status 2. */
class UsageError extends Error {}

/** The spec, shard and results directory the command line asks for. */
async function setup(): Promise<{ sweep: Sweep; shard: Shard; out: string; specPath: string }> {
  try {
    const { values, positionals } = parseArgs({
      options: { out: { type: "string" }, shard: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
    if (values.help) {
      console.log(USAGE);
      Deno.exit(0);
    }
    if (positionals.length !== 1) throw new Error(USAGE);
    const specPath = positionals[0];
    const sweep = await loadSweep(specPath);
    return {
      sweep,
      specPath,
      shard: resolveShard(values.shard),
      out: values.out ?? defaultOut(sweep, specPath),
    };
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
}

/** `results/<spec name>` or `results/<file stem>`. */
function defaultOut(sweep: Sweep, specPath: string): string {
  const stem = specPath.replace(/^.*[/\\]/, "").replace(/\.json$/, "");
  return `results/${sweep.spec.name ?? stem}`;
}

/** The learning-rate tables over everything in `out`, when the runs there span several lrs. */
async function printLearningRates(out: string): Promise<void> {
  const points = learningRateTable(await readSweepResults(out));
  if (new Set(points.map((p) => p.lr)).size < 2) return;
  console.log(`\nlearning rates (all shards' results in ${out}; diverged = +inf):`);
  console.log(formatLrTable(points));
  console.log("\nbest learning rate per optimizer (lowest mean final loss, ties to the smaller lr):");
  console.log(formatLrTable(bestLearningRates(points)));
}

async function main(): Promise<number> {
  const { sweep, shard, out, specPath } = await setup();
  const mine = shardRuns(sweep.runs, shard).length;
  console.log(
    `sweep ${sweep.spec.name ?? specPath}: ${sweep.runs.length} runs, ` +
      `shard ${shard.index}/${shard.count} has ${mine}, results in ${out}`,
  );
  let show = consoleProgress(); // a fresh display per run: it counts the run's milestones
  const report = await runSweep(sweep, {
    out,
    shard,
    onProgress: (progress) => show(progress),
    onRunStart: (run, position, total) => {
      console.log(`[${position}/${total}] ${run.name}`);
      show = consoleProgress();
    },
    onRunEnd: (o) => {
      if (o.skipped) console.log(`  already ${o.status}, skipped`);
      if (o.status === "failed") console.log(`  FAILED: ${o.error}`);
    },
  });
  console.log(`\nshard ${shard.index}/${shard.count}:`);
  console.log(formatOutcomes(report.outcomes));
  await printLearningRates(out);
  return report.outcomes.some((o) => o.status === "failed") ? 1 : 0;
}

try {
  Deno.exit(await main());
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
