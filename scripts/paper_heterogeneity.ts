/**
 * The pipeline of the gradient-heterogeneity experiments (Tomihari & Sato 2025): runs
 * `optimizer_gap`, `ln_placement`, `head_growth` and `heterogeneity_theory` one after another
 * into `<root>/<name>/`, writes a `report.html` for each results directory of runs, and, at the
 * default and full sizes, copies the key figures into `docs/figures/heterogeneity/`.
 *
 * Run: `deno task paper:heterogeneity` (default size), `deno task paper:heterogeneity:smoke`
 * (a few steps each, into `results/smoke/`), or
 * `deno run --allow-read --allow-write --allow-env scripts/paper_heterogeneity.ts [--smoke | --full] [--out ROOT]`.
 *
 * @module
 */

import { basename } from "node:path";
import { parseArgs } from "node:util";
import { writeReport } from "../src/plot/report.ts";
import { formatTable } from "../src/train/sweep.ts";
import type { ExperimentArgs, ExperimentResult, ExperimentSize } from "../src/experiments/cli.ts";
import { main as headGrowth } from "./head_growth.ts";
import { main as theory } from "./heterogeneity_theory.ts";
import { main as lnPlacement } from "./ln_placement.ts";
import { main as optimizerGap } from "./optimizer_gap.ts";

/** Where the key figures of a default or full run go. */
export const DOCS_FIGURES = "docs/figures/heterogeneity";

const EXPERIMENTS: [string, (args: ExperimentArgs) => Promise<ExperimentResult>][] = [
  ["heterogeneity_theory", theory],
  ["optimizer_gap", optimizerGap],
  ["ln_placement", lnPlacement],
  ["head_growth", headGrowth],
];

/** What {@linkcode runPipeline} did. */
export interface PipelineResult {
  /** Each experiment's result. */
  experiments: ExperimentResult[];
  /** The `report.html` files written. */
  reports: string[];
  /** Figures copied into the docs (none in smoke mode). */
  copied: string[];
  /** Seconds per stage, by name. */
  seconds: Record<string, number>;
}

/**
 * Runs every experiment at `size` under `root`, then the reports; copies the key figures to
 * `docs` unless in smoke mode or `docs` is null.
 *
 * @param size smoke, default or full
 * @param root the results root (each experiment writes `<root>/<name>/`)
 * @param docs where to copy the key figures (default {@linkcode DOCS_FIGURES}; null: nowhere)
 * @example
 * ```ts ignore
 * const { experiments } = await runPipeline("smoke", await Deno.makeTempDir());
 * ```
 */
export async function runPipeline(
  size: ExperimentSize,
  root: string,
  docs: string | null = DOCS_FIGURES,
): Promise<PipelineResult> {
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, body: () => Promise<T>) => {
    const started = performance.now();
    try {
      return await body();
    } finally {
      seconds[name] = (performance.now() - started) / 1000;
    }
  };
  const experiments: ExperimentResult[] = [];
  for (const [name, main] of EXPERIMENTS) {
    console.log(`\n===== ${name} (${size}) =====`);
    experiments.push(await timed(name, () => main({ size, out: `${root}/${name}` })));
  }
  const reports = await timed("reports", async () => {
    const written: string[] = [];
    for (const dir of experiments.flatMap((e) => e.reportDirs)) {
      const title = `${dir.slice(root.length + 1)}: runs at the tuned learning rates`;
      written.push((await writeReport(dir, { title, png: size !== "smoke" })).html);
    }
    return written;
  });
  const copied: string[] = [];
  if (size !== "smoke" && docs !== null) {
    await Deno.mkdir(docs, { recursive: true });
    for (const figure of experiments.flatMap((e) => e.figures)) {
      const target = `${docs}/${basename(figure)}`;
      await Deno.copyFile(figure, target);
      copied.push(target);
    }
  }
  return { experiments, reports, copied, seconds };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      smoke: { type: "boolean", default: false },
      full: { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  const size: ExperimentSize = values.smoke ? "smoke" : values.full ? "full" : "default";
  const root = values.out ?? (size === "smoke" ? "results/smoke" : "results");
  const result = await runPipeline(size, root);
  console.log(`\n===== pipeline (${size}) done =====`);
  console.log(formatTable(
    ["stage", "seconds"],
    Object.entries(result.seconds).map(([name, s]) => [name, s.toFixed(0)]),
  ));
  const total = Object.values(result.seconds).reduce((a, b) => a + b, 0);
  console.log(`total: ${(total / 60).toFixed(1)} minutes`);
  for (const e of result.experiments) console.log(`${e.name}: ${e.summary}`);
  for (const report of result.reports) console.log(`report: ${report}`);
  if (result.copied.length) {
    console.log(`figures copied to ${DOCS_FIGURES}/: ${result.copied.map((p) => basename(p)).join(", ")}`);
  }
}
