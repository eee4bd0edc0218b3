/**
 * The figures of an experiment report, from its runs grouped by setting: every metric over
 * steps (mean ± std band over seeds), a heatmap per per-block family, gradient norm vs
 * curvature per block when both were logged, and final metrics as bars.
 *
 * @module
 */

import { type Curve, meanBand } from "./aggregate.ts";
import { barChart } from "./bar_chart.ts";
import type { Figure } from "./figure.ts";
import { heatmap } from "./heatmap.ts";
import { lineChart, type LineSeries } from "./line_chart.ts";
import {
  blockCurve,
  blockNames,
  curveOf,
  familyNames,
  finalMetrics,
  metricKeys,
  type RunGroup,
} from "./run_metrics.ts";
import { spansDecades } from "./scale.ts";
import { scatterPlot, type ScatterPoint } from "./scatter.ts";

/** One figure of a report. */
export interface ReportFigure {
  /** File-name stem, unique within the report (`figures/<slug>.png`). */
  slug: string;
  /** One-line caption. */
  caption: string;
  /** The figure. */
  figure: Figure;
}

/** One line chart per metric, one series per group. */
function metricFigures(groups: RunGroup[]): ReportFigure[] {
  const runs = groups.flatMap((g) => g.runs);
  // A metric that never changes (a count of eval examples, a constant lr) says nothing as a curve.
  const varies = (key: string) => new Set(runs.flatMap((r) => curveOf(r, key).y)).size > 1;
  return metricKeys(runs).filter(varies).map((key) => {
    const series: LineSeries[] = groups.flatMap((g) => {
      const curves = g.runs.map((r) => curveOf(r, key)).filter((c) => c.x.length > 0);
      if (curves.length === 0) return [];
      const band = meanBand(curves);
      const name = curves.length > 1 ? `${g.name} (${curves.length} seeds)` : g.name;
      return [{ name, color: g.color, x: band.x, y: band.y, ...(curves.length > 1 ? band : {}) }];
    });
    return {
      slug: `metric_${key}`,
      caption: `${key} over training steps; a band is the mean ± std over a setting's seeds.`,
      figure: lineChart({
        title: `${key} over training`,
        xLabel: "step",
        yLabel: key,
        yLog: spansDecades(series.flatMap((s) => Array.from(s.y))),
        series,
      }),
    };
  });
}

/** Mean over a group's runs of `key`, at each of `steps`. */
function meanAt(curves: Curve[], steps: number[]): number[] {
  const band = meanBand(curves);
  const byStep = new Map(band.x.map((x, i) => [x, band.y[i]]));
  return steps.map((s) => byStep.get(s) ?? NaN);
}

/** One heatmap per per-block family and group: blocks × steps, averaged over seeds. */
function heatmapFigures(groups: RunGroup[]): ReportFigure[] {
  const runs = groups.flatMap((g) => g.runs);
  return familyNames(runs).flatMap((family) => {
    const blocks = blockNames(runs, family);
    return groups.flatMap((g) => {
      const curves = blocks.map((b) => g.runs.map((r) => blockCurve(r, family, b)));
      const steps = [...new Set(curves.flat().flatMap((c) => c.x))].sort((a, b) => a - b);
      if (steps.length === 0) return [];
      const seeds = g.runs.length > 1 ? ` (mean of ${g.runs.length} seeds)` : "";
      return [{
        slug: `heatmap_${family}_${g.name}`,
        caption: `${family} per parameter block over training steps, ${g.name}${seeds}.`,
        figure: heatmap({
          title: `${family} per block: ${g.name}`,
          xLabel: "step",
          colorLabel: family,
          rows: blocks,
          columns: steps,
          values: curves.map((c) => meanAt(c, steps)),
          height: Math.min(900, Math.max(320, 100 + 16 * blocks.length)),
        }),
      }];
    });
  });
}

/** A group's last finite value of `block` in `family`, averaged over its runs. */
function finalMean(group: RunGroup, family: string, block: string): number {
  const last = group.runs.map((r) => blockCurve(r, family, block).y.filter(Number.isFinite).at(-1) ?? NaN);
  return meanAt(last.map((y) => ({ x: [0], y: [y] })), [0])[0];
}

/** Gradient norm against curvature per block at the end of training, when both were logged. */
function scatterFigures(groups: RunGroup[]): ReportFigure[] {
  const runs = groups.flatMap((g) => g.runs);
  const curvature = new Set(blockNames(runs, "curvature"));
  const blocks = blockNames(runs, "grad_norm").filter((b) => curvature.has(b));
  if (blocks.length === 0) return [];
  const points: ScatterPoint[] = groups.flatMap((g) =>
    blocks.map((b) => ({
      x: finalMean(g, "curvature", b),
      y: finalMean(g, "grad_norm", b),
      label: b,
      group: g.name,
    }))
  );
  const finite = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  return [{
    slug: "scatter_grad_norm_curvature",
    caption: "Per-block gradient norm against curvature at the last logged step (mean over seeds).",
    figure: scatterPlot({
      title: "Gradient norm vs curvature per block",
      xLabel: "curvature",
      yLabel: "gradient norm",
      logLog: finite.every((p) => p.x > 0 && p.y > 0),
      showLabels: finite.length <= 30,
      groupColors: Object.fromEntries(groups.map((g) => [g.name, g.color])),
      points: finite,
    }),
  }];
}

/** One bar chart per final metric, one bar per group. */
function finalFigures(groups: RunGroup[]): ReportFigure[] {
  const finals = groups.map((g) => g.runs.map(finalMetrics));
  const keys = [...new Set(finals.flat().flatMap((f) => Object.keys(f)))];
  return keys.map((key) => ({
    slug: `final_${key.replace(/^final_/, "")}`,
    caption: `Final ${key} by group: bar = mean, error bar = ± std over seeds, dots = seeds.`,
    figure: barChart({
      title: `Final ${key.replace(/^final_/, "")}`,
      xLabel: "group",
      yLabel: key,
      bars: groups.map((g, i) => ({
        label: g.name,
        color: g.color,
        values: finals[i].map((f) => f[key] ?? NaN),
      })),
    }),
  }));
}

/** `text` as a file-name stem: lower-case letters, digits, `_` and `-`. */
function slugify(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "") || "figure";
}

/**
 * All figures of a report on `groups`, with unique slugs.
 *
 * @example
 * ```ts
 * import { groupRuns, reportFigures } from "./mod.ts";
 * const rows = [{ step: 0, loss: 2.3 }, { step: 10, loss: 1.1 }];
 * const groups = groupRuns([{ name: "adam_seed0", dir: "", config: {}, rows, summary: {} }]);
 * console.log(reportFigures(groups).map((f) => f.slug)); // ["metric_loss", "final_loss"]
 * ```
 */
export function reportFigures(groups: RunGroup[]): ReportFigure[] {
  const figures = [
    ...metricFigures(groups),
    ...heatmapFigures(groups),
    ...scatterFigures(groups),
    ...finalFigures(groups),
  ];
  const seen = new Map<string, number>();
  return figures.map((f) => {
    const base = slugify(f.slug);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return { ...f, slug: count ? `${base}_${count + 1}` : base };
  });
}
