/**
 * The command line every paper experiment script shares: `--smoke` (a few steps, for the test
 * suite), the default size (minutes on a 2-core CPU adapter), `--full` (a GPU-scale run) and
 * `--out DIR` (default `results/<name>`).
 *
 * @module
 */

import { parseArgs } from "node:util";

/** How big an experiment runs. */
export type ExperimentSize = "smoke" | "default" | "full";

/** What the command line asked for. */
export interface ExperimentArgs {
  /** The size to run at. */
  size: ExperimentSize;
  /** The results directory. */
  out: string;
}

/**
 * Parses `--smoke`, `--full` and `--out DIR` (exits with status 2 on a bad command line).
 *
 * @param name the experiment's name: the default results directory is `results/<name>`
 * @param args the arguments (default `Deno.args`)
 * @example
 * ```ts
 * import { experimentArgs } from "./src/experiments/cli.ts";
 * console.log(experimentArgs("ln_placement", ["--smoke"])); // { size: "smoke", out: "results/ln_placement" }
 * ```
 */
export function experimentArgs(name: string, args: string[] = Deno.args): ExperimentArgs {
  try {
    const { values } = parseArgs({
      args,
      options: {
        smoke: { type: "boolean", default: false },
        full: { type: "boolean", default: false },
        out: { type: "string", default: `results/${name}` },
      },
    });
    if (values.smoke && values.full) throw new Error("give at most one of --smoke and --full");
    return { size: values.smoke ? "smoke" : values.full ? "full" : "default", out: values.out };
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}\nusage: ${name}.ts [--smoke | --full] [--out DIR]`);
    Deno.exit(2);
  }
}

/**
 * The value for `size` out of one per size.
 *
 * @example
 * ```ts
 * import { bySize } from "./src/experiments/cli.ts";
 * console.log(bySize("smoke", { smoke: 4, default: 100, full: 2000 })); // 4
 * ```
 */
export function bySize<T>(size: ExperimentSize, values: Record<ExperimentSize, T>): T {
  return values[size];
}

/** What an experiment script's `main` hands back to the pipeline driver. */
export interface ExperimentResult {
  /** The experiment's name (its results folder under the pipeline's root). */
  name: string;
  /** The key figures (PNG paths), copied into the docs by a full pipeline run. */
  figures: string[];
  /** Results directories holding run folders, each to get a `report.html`. */
  reportDirs: string[];
  /** Path of the experiment's `summary.json` (its measured numbers). */
  summary: string;
}

/**
 * Writes an experiment's measured numbers as `<out>/summary.json` and returns the path.
 *
 * @example
 * ```ts ignore
 * const path = await writeSummary("results/head_growth", { rows });
 * ```
 */
export async function writeSummary(out: string, value: unknown): Promise<string> {
  await Deno.mkdir(out, { recursive: true });
  const path = `${out}/summary.json`;
  const finite = (_key: string, v: unknown) => typeof v === "number" && !Number.isFinite(v) ? String(v) : v;
  await Deno.writeTextFile(path, JSON.stringify(value, finite, 2) + "\n");
  return path;
}
