/**
 * Heatmaps of a rows × columns grid, e.g. per-block gradient norms (rows) over training steps
 * (columns), with a viridis colour bar.
 *
 * @module
 */

import { finishChart, plotArea, xAxisAt, yAxisAt } from "./axes.ts";
import type { ChartBase, Figure } from "./figure.ts";
import { colorBar, colorBarWidth } from "./legend.ts";
import { heatColor } from "./palette.ts";
import { drawable, fitScale, spansDecades, ticksOf } from "./scale.ts";
import { shorten, tag } from "./svg.ts";
// @ts-types="npm:@types/d3-scale@4"
import { scaleLinear } from "npm:d3-scale@4";

/** A heatmap. */
export interface HeatmapSpec extends ChartBase {
  /** Row names, top to bottom (e.g. parameter blocks). */
  rows: string[];
  /** Column coordinates, left to right (e.g. steps). */
  columns: ArrayLike<number>;
  /** values[r][c]; NaN (or ≤ 0 with a log colour scale) leaves the cell empty. */
  values: ArrayLike<number>[];
  /** Log colour scale (default: on when all drawable values are positive and span > 20×). */
  logColor?: boolean;
  /** Label of the colour bar. */
  colorLabel?: string;
  /** Columns beyond this many are averaged in equal bins (default 120), keeping the SVG small. */
  maxColumns?: number;
}

const MAX_ROW_LABEL = 30;

/** Averages columns into at most `max` bins; each bin is labelled by its first column. */
function binColumns(spec: HeatmapSpec): { columns: number[]; values: number[][] } {
  const n = spec.columns.length, max = spec.maxColumns ?? 120;
  const bins = Math.min(n, max);
  const edges = Array.from({ length: bins + 1 }, (_, b) => Math.round((b * n) / bins));
  const columns = edges.slice(0, -1).map((start) => spec.columns[start]);
  const values = spec.values.map((row) =>
    edges.slice(0, -1).map((start, b) => {
      let sum = 0, count = 0;
      for (let c = start; c < edges[b + 1]; c++) {
        if (Number.isFinite(row[c])) [sum, count] = [sum + row[c], count + 1];
      }
      return count ? sum / count : NaN;
    })
  );
  return { columns, values };
}

/** Every column's value when there are few; else round values, each at its nearest column. */
function columnTicks(columns: number[]): { index: number; label: string }[] {
  if (columns.length === 0) return [];
  const scale = scaleLinear().domain([columns[0], columns[columns.length - 1]]);
  const label = scale.tickFormat(6);
  if (columns.length <= 12) return columns.map((c, index) => ({ index, label: label(c) }));
  const ticks = new Map<number, string>();
  for (const tick of scale.ticks(6)) {
    let index = 0;
    columns.forEach((c, i) => Math.abs(c - tick) < Math.abs(columns[index] - tick) && (index = i));
    if (!ticks.has(index)) ticks.set(index, label(tick));
  }
  return [...ticks].map(([index, text]) => ({ index, label: text }));
}

/**
 * A heatmap: one cell per (row, column), coloured on a linear or log viridis scale, with the
 * row names on the y axis, about six column labels on the x axis, and a colour bar.
 *
 * @example
 * ```ts
 * import { heatmap } from "./mod.ts";
 * const fig = heatmap({
 *   title: "Per-block gradient norm", xLabel: "step", colorLabel: "‖g‖",
 *   rows: ["embed", "head"], columns: [0, 10, 20], values: [[1, 0.5, 0.2], [3, 2, 1]],
 * });
 * console.log((fig.svg.match(/class="cell"/g) ?? []).length); // 6
 * ```
 */
export function heatmap(spec: HeatmapSpec): Figure {
  const { columns, values } = binColumns(spec);
  const log = spec.logColor ?? spansDecades(values.flat());
  const color = fitScale(values.flat(), [0, 1], { log });
  const colorTicks = ticksOf(color, 5).map((t) => ({ ...t, value: color(t.value) }));
  const rowLabels = spec.rows.map((r) => shorten(r, MAX_ROW_LABEL));
  const area = plotArea(spec, {
    yTickLabels: rowLabels,
    rightWidth: colorBarWidth(colorTicks.map((t) => t.label), spec.colorLabel),
  });
  const cw = (area.right - area.left) / Math.max(1, columns.length);
  const rh = (area.bottom - area.top) / Math.max(1, spec.rows.length);
  const cells = values.flatMap((row, r) =>
    row.flatMap((v, c) =>
      drawable(v, log)
        ? [
          tag("rect", {
            class: "cell",
            x: area.left + c * cw,
            y: area.top + r * rh,
            width: cw + 0.3,
            height: rh + 0.3,
            fill: heatColor(color(v)),
          }),
        ]
        : []
    )
  );
  const xTicks = columnTicks(columns).map(({ index, label }) => ({
    value: area.left + (index + 0.5) * cw,
    label,
  }));
  const labelEvery = Math.ceil(13 / rh);
  const yTicks = rowLabels.map((label, r) => ({
    value: area.top + (r + 0.5) * rh,
    label: r % labelEvery ? "" : label,
  }));
  const body = [
    tag("rect", {
      x: area.left,
      y: area.top,
      width: area.right - area.left,
      height: area.bottom - area.top,
      fill: "#f2f2f2",
    }),
    tag("g", {
      class: "cells",
      "shape-rendering": "crispEdges",
      "data-rows": spec.rows.length,
      "data-columns": columns.length,
    }, cells),
    xAxisAt(xTicks, area, spec.xLabel, false),
    yAxisAt(yTicks, area, spec.yLabel, false),
    colorBar(colorTicks, area, spec.colorLabel),
  ];
  return finishChart(spec, tag("g", { class: "heatmap" }, body));
}
