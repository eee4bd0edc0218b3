/**
 * The table of final metrics in a report: one row per group, mean ± std over its seeds.
 *
 * @module
 */

// @ts-types="npm:@types/d3-format@3"
import { format } from "npm:d3-format@3";
import { type MeanStd, meanStd } from "./aggregate.ts";
import { finalMetrics, type RunGroup, runStatus } from "./run_metrics.ts";

/** One row: a group's final metrics. */
export interface MetricRow {
  /** Group name. */
  group: string;
  /** Number of runs in the group. */
  runs: number;
  /** Run statuses with counts, e.g. `ok ×2, diverged ×1`. */
  status: string;
  /** One entry per metric of the table, in the table's order. */
  cells: MeanStd[];
}

/** The final-metric table. */
export interface MetricTable {
  /** Column names (metrics). */
  metrics: string[];
  /** One row per group. */
  rows: MetricRow[];
}

function statusCounts(group: RunGroup): string {
  const counts = new Map<string, number>();
  for (const run of group.runs) counts.set(runStatus(run), (counts.get(runStatus(run)) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${status} ×${n}`).join(", ");
}

/**
 * Final metrics of every group: mean ± sample std over its runs.
 *
 * @example
 * ```ts
 * import { finalMetricTable, groupRuns } from "./mod.ts";
 * const run = (name: string, loss: number) => ({ name, dir: "", config: {}, rows: [], summary: { status: "ok", loss } });
 * const table = finalMetricTable(groupRuns([run("adam_seed0", 1), run("adam_seed1", 3)]));
 * console.log(table.metrics, table.rows[0].cells[0]); // ["loss"] { mean: 2, std: 1.4142135623730951, n: 2 }
 * ```
 */
export function finalMetricTable(groups: RunGroup[]): MetricTable {
  const finals = groups.map((g) => g.runs.map(finalMetrics));
  const metrics = [...new Set(finals.flat().flatMap((f) => Object.keys(f)))];
  const rows = groups.map((g, i) => ({
    group: g.name,
    runs: g.runs.length,
    status: statusCounts(g),
    cells: metrics.map((m) => meanStd(finals[i].map((f) => f[m] ?? NaN))),
  }));
  return { metrics, rows };
}

const value = format(".4~g");
const spread = format(".2~g");

/**
 * A cell as text: `mean ± std (n=…)`, just the mean for one value, `–` for none.
 *
 * @example
 * ```ts
 * import { formatMeanStd } from "./mod.ts";
 * console.log(formatMeanStd({ mean: 0.31234, std: 0.0213, n: 3 })); // "0.3123 ± 0.021 (n=3)"
 * ```
 */
export function formatMeanStd(cell: MeanStd): string {
  if (cell.n === 0) return "–";
  return cell.n === 1 ? value(cell.mean) : `${value(cell.mean)} ± ${spread(cell.std)} (n=${cell.n})`;
}
