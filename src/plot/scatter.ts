/**
 * Scatter plots, linear or log-log (e.g. per-block gradient norm against curvature), with
 * optional point labels and a legend when points come in groups.
 *
 * @module
 */

import { finishChart, FONT, plotArea, xAxis, yAxis } from "./axes.ts";
import type { ChartBase, Figure } from "./figure.ts";
import { legend, legendWidth } from "./legend.ts";
import { seriesColor } from "./palette.ts";
import { drawable, fitScale, type PositionScale, ticksOf } from "./scale.ts";
import { shorten, tag, text } from "./svg.ts";

/** One point. */
export interface ScatterPoint {
  /** x value. */
  x: number;
  /** y value. */
  y: number;
  /** Text drawn next to the point when `showLabels` is set (e.g. a block name). */
  label?: string;
  /** Group name: sets the colour and the legend entry. */
  group?: string;
}

/** A scatter plot. */
export interface ScatterSpec extends ChartBase {
  /** The points. */
  points: ScatterPoint[];
  /** Log scale on both axes. */
  logLog?: boolean;
  /** Log x axis (also set by logLog). */
  xLog?: boolean;
  /** Log y axis (also set by logLog). */
  yLog?: boolean;
  /** Draw each point's label. */
  showLabels?: boolean;
  /** Colours by group name (default: the palette in order of appearance). */
  groupColors?: Record<string, string>;
}

const MAX_LABEL = 24;

function drawPoint(
  p: ScatterPoint,
  color: string,
  x: PositionScale,
  y: PositionScale,
  showLabel: boolean,
): string {
  const cx = x(p.x), cy = y(p.y);
  // Labels of points in the right third go to their left, so they stay inside the plot.
  const [x0, x1] = x.range(), leftward = cx > x0 + (x1 - x0) * 0.67;
  const dot = tag("circle", {
    class: "point",
    cx,
    cy,
    r: 4,
    fill: color,
    "fill-opacity": 0.85,
    stroke: "#ffffff",
    "stroke-width": 0.8,
  });
  const label = showLabel && p.label
    ? text(shorten(p.label, MAX_LABEL), {
      class: "point-label",
      x: leftward ? cx - 6 : cx + 6,
      y: cy - 5,
      "text-anchor": leftward ? "end" : "start",
      "font-size": FONT.tick - 1,
      fill: "#333333",
    })
    : "";
  return dot + label;
}

/**
 * A scatter plot of `spec.points`. Points that cannot be drawn (non-finite, or ≤ 0 on a
 * log axis) are left out.
 *
 * @example
 * ```ts
 * import { scatterPlot } from "./mod.ts";
 * const fig = scatterPlot({
 *   title: "Gradient norm vs curvature", xLabel: "curvature", yLabel: "‖g‖", logLog: true, showLabels: true,
 *   points: [{ x: 0.1, y: 2, label: "embed" }, { x: 3, y: 0.5, label: "head" }],
 * });
 * console.log((fig.svg.match(/class="point"/g) ?? []).length); // 2
 * ```
 */
export function scatterPlot(spec: ScatterSpec): Figure {
  const xLog = spec.logLog || spec.xLog, yLog = spec.logLog || spec.yLog;
  const points = spec.points.filter((p) => drawable(p.x, xLog) && drawable(p.y, yLog));
  const groups = [...new Set(points.map((p) => p.group).filter((g) => g !== undefined))] as string[];
  const colorOf = (group: string) => spec.groupColors?.[group] ?? seriesColor(groups.indexOf(group));
  const items = groups.map((name) => ({ name, color: colorOf(name), mark: "dot" as const }));
  const y = fitScale(points.map((p) => p.y), [0, 1], { log: yLog });
  const yTicks = ticksOf(y);
  const area = plotArea(spec, { yTickLabels: yTicks.map((t) => t.label), rightWidth: legendWidth(items) });
  y.range([area.bottom, area.top]);
  const x = fitScale(points.map((p) => p.x), [area.left, area.right], { log: xLog });
  const color = (p: ScatterPoint) =>
    p.group === undefined ? seriesColor(0) : seriesColor(groups.indexOf(p.group));
  const body = [
    xAxis(x, ticksOf(x), area, spec.xLabel),
    yAxis(y, yTicks, area, spec.yLabel),
    tag(
      "g",
      { class: "points", "data-points": points.length },
      points.map((p) => drawPoint(p, color(p), x, y, !!spec.showLabels)),
    ),
    legend(items, area),
  ];
  return finishChart(spec, tag("g", { class: "scatter-plot" }, body));
}
