/**
 * The frame every chart shares: the plot rectangle, axes with ticks, grid lines and labels,
 * and the title. Sizes follow one small type scale so that all figures read alike.
 *
 * @module
 */

import { type ChartBase, Figure } from "./figure.ts";
import type { PositionScale, Tick } from "./scale.ts";
import { svgDocument, tag, text, textWidth } from "./svg.ts";

/** Font sizes in pixels. */
export const FONT = { title: 16, label: 13, tick: 11, legend: 12 } as const;

const AXIS_COLOR = "#333333";
const GRID_COLOR = "#e6e6e6";
const TICK = 5;

/** The plot rectangle in pixels: x runs left..right, y runs top..bottom. */
export interface PlotArea {
  /** Left edge. */
  left: number;
  /** Top edge. */
  top: number;
  /** Right edge. */
  right: number;
  /** Bottom edge. */
  bottom: number;
}

/** Space to reserve around the plot rectangle. */
export interface AreaNeeds {
  /** The y tick labels (their widest sets the left margin). */
  yTickLabels: string[];
  /** Width taken right of the plot (legend or colour bar). */
  rightWidth?: number;
}

/**
 * The chart's size with defaults applied.
 *
 * @example
 * ```ts
 * import { chartSize } from "./src/plot/axes.ts";
 * console.log(chartSize({ title: "t" })); // { width: 640, height: 400 }
 * ```
 */
export function chartSize(spec: ChartBase): { width: number; height: number } {
  return { width: spec.width ?? 640, height: spec.height ?? 400 };
}

/**
 * The plot rectangle, leaving room for the title, the axis labels, the widest y tick label
 * and anything drawn on the right.
 *
 * @example
 * ```ts
 * import { plotArea } from "./src/plot/axes.ts";
 * const area = plotArea({ title: "t", yLabel: "y" }, { yTickLabels: ["0.5"] });
 * console.log(area.top, area.right); // 44 624
 * ```
 */
export function plotArea(spec: ChartBase, needs: AreaNeeds): PlotArea {
  const { width, height } = chartSize(spec);
  const widest = Math.max(0, ...needs.yTickLabels.map((l) => textWidth(l, FONT.tick)));
  return {
    left: 12 + (spec.yLabel ? FONT.label + 10 : 0) + widest + TICK + 4,
    top: 44,
    right: width - 16 - (needs.rightWidth ?? 0),
    bottom: height - (spec.xLabel ? 50 : 30),
  };
}

/**
 * The x axis along the bottom of `area`: grid lines, tick marks, labels and the axis label.
 *
 * @example
 * ```ts
 * import { xAxis } from "./src/plot/axes.ts";
 * import { fitScale, ticksOf } from "./src/plot/scale.ts";
 * const area = { left: 50, top: 40, right: 600, bottom: 350 };
 * const x = fitScale([0, 100], [area.left, area.right]);
 * console.log(xAxis(x, ticksOf(x), area, "step").includes(">step<")); // true
 * ```
 */
export function xAxis(scale: PositionScale, ticks: Tick[], area: PlotArea, label?: string): string {
  return xAxisAt(ticks.map((t) => ({ ...t, value: scale(t.value) })), area, label);
}

/**
 * An x axis with ticks given in pixels (for band scales: bars, heatmap columns).
 *
 * @example
 * ```ts
 * import { xAxisAt } from "./src/plot/axes.ts";
 * const svg = xAxisAt([{ value: 100, label: "adam" }], { left: 50, top: 40, right: 600, bottom: 350 });
 * console.log(svg.includes(">adam<")); // true
 * ```
 */
export function xAxisAt(pixels: Tick[], area: PlotArea, label?: string, grid = true): string {
  const parts = pixels.map(({ value: px, label: tickLabel }) => {
    const major = tickLabel !== "";
    return [
      grid && major ? tag("line", { x1: px, x2: px, y1: area.top, y2: area.bottom, stroke: GRID_COLOR }) : "",
      tag("line", {
        x1: px,
        x2: px,
        y1: area.bottom,
        y2: area.bottom + (major ? TICK : 3),
        stroke: AXIS_COLOR,
      }),
      major
        ? text(tickLabel, {
          x: px,
          y: area.bottom + TICK + FONT.tick + 2,
          "text-anchor": "middle",
          "font-size": FONT.tick,
          fill: AXIS_COLOR,
        })
        : "",
    ].join("");
  });
  const line = tag("line", {
    x1: area.left,
    x2: area.right,
    y1: area.bottom,
    y2: area.bottom,
    stroke: AXIS_COLOR,
  });
  const title = label
    ? text(label, {
      class: "axis-label",
      x: (area.left + area.right) / 2,
      y: area.bottom + TICK + FONT.tick + FONT.label + 14,
      "text-anchor": "middle",
      "font-size": FONT.label,
      fill: "#111111",
    })
    : "";
  return tag("g", { class: "axis x-axis" }, [...parts, line, title]);
}

/**
 * The y axis along the left of `area`, like {@link xAxis}.
 *
 * @example
 * ```ts
 * import { yAxis } from "./src/plot/axes.ts";
 * import { fitScale, ticksOf } from "./src/plot/scale.ts";
 * const area = { left: 50, top: 40, right: 600, bottom: 350 };
 * const y = fitScale([1, 2], [area.bottom, area.top]);
 * console.log(yAxis(y, ticksOf(y), area, "loss").includes(">loss<")); // true
 * ```
 */
export function yAxis(scale: PositionScale, ticks: Tick[], area: PlotArea, label?: string): string {
  return yAxisAt(ticks.map((t) => ({ ...t, value: scale(t.value) })), area, label);
}

/**
 * A y axis with ticks given in pixels (heatmap rows).
 *
 * @example
 * ```ts
 * import { yAxisAt } from "./src/plot/axes.ts";
 * const svg = yAxisAt([{ value: 100, label: "blocks.0" }], { left: 80, top: 40, right: 600, bottom: 350 });
 * console.log(svg.includes(">blocks.0<")); // true
 * ```
 */
export function yAxisAt(pixels: Tick[], area: PlotArea, label?: string, grid = true): string {
  const parts = pixels.map(({ value: py, label: tickLabel }) => {
    const major = tickLabel !== "";
    return [
      grid && major ? tag("line", { x1: area.left, x2: area.right, y1: py, y2: py, stroke: GRID_COLOR }) : "",
      tag("line", { x1: area.left - (major ? TICK : 3), x2: area.left, y1: py, y2: py, stroke: AXIS_COLOR }),
      major
        ? text(tickLabel, {
          x: area.left - TICK - 3,
          y: py + FONT.tick * 0.35,
          "text-anchor": "end",
          "font-size": FONT.tick,
          fill: AXIS_COLOR,
        })
        : "",
    ].join("");
  });
  const line = tag("line", {
    x1: area.left,
    x2: area.left,
    y1: area.top,
    y2: area.bottom,
    stroke: AXIS_COLOR,
  });
  const cy = (area.top + area.bottom) / 2;
  const title = label
    ? text(label, {
      class: "axis-label",
      x: 12 + FONT.label * 0.8,
      y: cy,
      transform: `rotate(-90 ${12 + FONT.label * 0.8} ${cy})`,
      "text-anchor": "middle",
      "font-size": FONT.label,
      fill: "#111111",
    })
    : "";
  return tag("g", { class: "axis y-axis" }, [...parts, line, title]);
}

/**
 * Wraps a chart's body in the SVG document with its title and returns the {@link Figure}.
 *
 * @example
 * ```ts
 * import { finishChart } from "./src/plot/axes.ts";
 * console.log(finishChart({ title: "Empty" }, "").title); // "Empty"
 * ```
 */
export function finishChart(spec: ChartBase, body: string): Figure {
  const { width, height } = chartSize(spec);
  const title = text(spec.title, {
    class: "chart-title",
    x: width / 2,
    y: 26,
    "text-anchor": "middle",
    "font-size": FONT.title,
    "font-weight": "bold",
    fill: "#111111",
  });
  return new Figure(svgDocument(width, height, spec.title, title + body), width, height, spec.title);
}
