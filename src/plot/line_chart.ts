/**
 * Line charts: several series over a shared x axis, linear or log on either axis, each with
 * an optional band (mean ± std over seeds), and a legend.
 *
 * @module
 */

// @ts-types="npm:@types/d3-shape@3"
import { area as d3Area, line as d3Line } from "npm:d3-shape@3";
import { finishChart, plotArea, xAxis, yAxis } from "./axes.ts";
import type { ChartBase, Figure } from "./figure.ts";
import { legend, legendWidth } from "./legend.ts";
import { seriesColor } from "./palette.ts";
import { drawable, fitScale, type PositionScale, ticksOf } from "./scale.ts";
import { tag } from "./svg.ts";

/** One line: y over x, with an optional band lower..upper drawn behind it. */
export interface LineSeries {
  /** Legend name. */
  name: string;
  /** x values (e.g. steps). */
  x: ArrayLike<number>;
  /** y values, same length as x. */
  y: ArrayLike<number>;
  /** Lower edge of the band (e.g. mean − std), same length. */
  lower?: ArrayLike<number>;
  /** Upper edge of the band (e.g. mean + std), same length. */
  upper?: ArrayLike<number>;
  /** Colour (default: the palette colour of the series index). */
  color?: string;
}

/** A line chart. */
export interface LineChartSpec extends ChartBase {
  /** The series, drawn in order. */
  series: LineSeries[];
  /** Log x axis (points with x ≤ 0 are left out). */
  xLog?: boolean;
  /** Log y axis (points with y ≤ 0 are left out; bands are clipped at the axis). */
  yLog?: boolean;
}

/** Series with at most this many points also get a dot at each point. */
const MARKER_LIMIT = 30;

function seriesValues(
  series: LineSeries[],
  pick: (s: LineSeries) => (ArrayLike<number> | undefined)[],
): number[] {
  return series.flatMap((s) => pick(s).flatMap((a) => (a ? Array.from(a) : [])));
}

function drawSeries(
  s: LineSeries,
  color: string,
  x: PositionScale,
  y: PositionScale,
  spec: LineChartSpec,
): string {
  const index = Array.from({ length: s.x.length }, (_, i) => i);
  const ok = (i: number) => drawable(s.x[i], spec.xLog) && drawable(s.y[i], spec.yLog);
  const [yMin, yMax] = y.domain();
  const clamp = (v: number) => Math.min(yMax, Math.max(yMin, drawable(v, spec.yLog) ? v : yMin));
  const parts: string[] = [];
  if (s.lower && s.upper) {
    const { lower, upper } = s;
    const band = d3Area<number>().digits(2).defined((i) =>
      ok(i) && Number.isFinite(lower[i]) && Number.isFinite(upper[i])
    )
      .x((i) => x(s.x[i])).y0((i) => y(clamp(lower[i]))).y1((i) => y(clamp(upper[i])));
    parts.push(
      tag("path", { class: "band", d: band(index) ?? "", fill: color, "fill-opacity": 0.18, stroke: "none" }),
    );
  }
  const line = d3Line<number>().digits(2).defined(ok).x((i) => x(s.x[i])).y((i) => y(s.y[i]));
  parts.push(
    tag("path", {
      class: "line",
      d: line(index) ?? "",
      fill: "none",
      stroke: color,
      "stroke-width": 2,
      "stroke-linejoin": "round",
    }),
  );
  const points = index.filter(ok);
  if (points.length <= MARKER_LIMIT) {
    parts.push(
      ...points.map((i) =>
        tag("circle", { class: "marker", cx: x(s.x[i]), cy: y(s.y[i]), r: 2.5, fill: color })
      ),
    );
  }
  return tag("g", { class: "series", "data-name": s.name, "data-points": points.length }, parts);
}

/**
 * A line chart of `spec.series`, with a legend right of the plot.
 *
 * @example
 * ```ts
 * import { lineChart, meanBand } from "./mod.ts";
 * const band = meanBand([{ x: [0, 10, 20], y: [2.3, 1.2, 0.7] }, { x: [0, 10, 20], y: [2.3, 1.4, 0.9] }]);
 * const fig = lineChart({
 *   title: "Training loss", xLabel: "step", yLabel: "loss", yLog: true,
 *   series: [{ name: "adam (2 seeds)", ...band }],
 * });
 * console.log(fig.svg.includes('class="band"')); // true
 * ```
 */
export function lineChart(spec: LineChartSpec): Figure {
  const items = spec.series.map((s, i) => ({
    name: s.name,
    color: s.color ?? seriesColor(i),
    mark: s.lower && s.upper ? "band" as const : "line" as const,
  }));
  const y = fitScale(seriesValues(spec.series, (s) => [s.y, s.lower, s.upper]), [0, 1], { log: spec.yLog });
  const yTicks = ticksOf(y);
  const area = plotArea(spec, { yTickLabels: yTicks.map((t) => t.label), rightWidth: legendWidth(items) });
  y.range([area.bottom, area.top]);
  const x = fitScale(seriesValues(spec.series, (s) => [s.x]), [area.left, area.right], { log: spec.xLog });
  const body = [
    xAxis(x, ticksOf(x), area, spec.xLabel),
    yAxis(y, yTicks, area, spec.yLabel),
    ...spec.series.map((s, i) => drawSeries(s, items[i].color, x, y, spec)),
    legend(items, area),
  ];
  return finishChart(spec, tag("g", { class: "line-chart" }, body));
}
