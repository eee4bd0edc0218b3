/**
 * Small glue between run directories and the figure builders of src/plot: a run's logged
 * curve, a mean ± std band over seeds as a line series, and writing a figure as SVG and PNG.
 *
 * @module
 */

import { type Curve, meanBand } from "../plot/aggregate.ts";
import type { Figure } from "../plot/figure.ts";
import type { LineSeries } from "../plot/line_chart.ts";
import { svgToPng } from "../plot/png.ts";
import { readJsonl } from "../train/log.ts";

/**
 * A run's logged training value `key` (a number, or `[key, block]` for a per-block family such
 * as `["grad_norm", "head.weight"]`) over steps, from its `log.jsonl` train records.
 *
 * @param dir the run directory
 * @param key the field, or family and block
 * @example
 * ```ts ignore
 * const { x, y } = await trainCurve("results/demo/adam", "loss_mean");
 * ```
 */
export async function trainCurve(dir: string, key: string | [string, string]): Promise<Curve> {
  const rows = (await readJsonl(`${dir}/log.jsonl`)).filter((r) => r.kind === "train");
  const value = (row: Record<string, unknown>) =>
    typeof key === "string" ? row[key] : (row[key[0]] as Record<string, unknown> | undefined)?.[key[1]];
  const kept = rows.filter((row) => typeof value(row) === "number");
  return { x: kept.map((row) => Number(row.step)), y: kept.map((row) => Number(value(row))) };
}

/**
 * A line series of the mean over `curves` with a ± std band when there are several.
 *
 * @example
 * ```ts
 * import { bandSeries } from "./src/experiments/figures.ts";
 * const s = bandSeries("adam", [{ x: [0, 1], y: [2, 1] }, { x: [0, 1], y: [4, 3] }]);
 * console.log(s.name, s.y); // "adam (2 seeds)" [3, 2]
 * ```
 */
export function bandSeries(name: string, curves: readonly Curve[], color?: string): LineSeries {
  const band = meanBand([...curves]);
  const label = curves.length > 1 ? `${name} (${curves.length} seeds)` : name;
  const series: LineSeries = { name: label, x: band.x, y: band.y, color };
  if (curves.length > 1) Object.assign(series, { lower: band.lower, upper: band.upper });
  return series;
}

/**
 * Writes `figure` as `<dir>/figures/<slug>.svg` and `.png` and returns the PNG's path.
 *
 * @example
 * ```ts ignore
 * const png = await saveFigure("results/ln_placement", "gap", lineChart({ ... }));
 * ```
 */
export async function saveFigure(dir: string, slug: string, figure: Figure): Promise<string> {
  await Deno.mkdir(`${dir}/figures`, { recursive: true });
  await Deno.writeTextFile(`${dir}/figures/${slug}.svg`, figure.svg);
  const png = `${dir}/figures/${slug}.png`;
  await Deno.writeFile(png, await svgToPng(figure));
  return png;
}
