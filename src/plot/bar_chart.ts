/**
 * Bar charts of a final metric by optimizer: bar = mean over seeds, error bar = ± one sample
 * standard deviation, dots = the individual seeds.
 *
 * @module
 */

import { meanStd } from "./aggregate.ts";
import { finishChart, plotArea, xAxisAt, yAxis } from "./axes.ts";
import type { ChartBase, Figure } from "./figure.ts";
import { seriesColor } from "./palette.ts";
import { fitScale, type PositionScale, ticksOf } from "./scale.ts";
import { shorten, tag } from "./svg.ts";

/** One bar: the values of one group (e.g. one optimizer's seeds). */
export interface BarDatum {
  /** Bar label on the x axis. */
  label: string;
  /** The individual values (non-finite ones are ignored). */
  values: ArrayLike<number>;
  /** Colour (default: the palette colour of the bar index). */
  color?: string;
}

/** A bar chart. */
export interface BarChartSpec extends ChartBase {
  /** The bars, left to right. */
  bars: BarDatum[];
  /** Start the y axis at zero (default true); false fits the axis to the data. */
  zero?: boolean;
}

const MAX_LABEL = 18;

function drawBar(bar: BarDatum, index: number, center: number, width: number, y: PositionScale): string {
  const color = bar.color ?? seriesColor(index);
  const values = Array.from(bar.values).filter(Number.isFinite);
  const { mean, std } = meanStd(values);
  if (!Number.isFinite(mean)) return tag("g", { class: "bar-group", "data-label": bar.label, "data-n": 0 });
  const [base] = y.domain().map((d) => Math.min(Math.max(0, d), y.domain()[1]));
  const top = Math.min(y(mean), y(base)), height = Math.abs(y(mean) - y(base));
  const parts = [
    tag("rect", {
      class: "bar",
      x: center - width / 2,
      y: top,
      width,
      height,
      fill: color,
      "fill-opacity": 0.8,
    }),
  ];
  if (std > 0) {
    const [lo, hi] = [y(mean - std), y(mean + std)];
    parts.push(tag("path", {
      class: "error-bar",
      d: `M${center},${lo}V${hi}M${center - 7},${lo}H${center + 7}M${center - 7},${hi}H${center + 7}`,
      stroke: "#222222",
      "stroke-width": 1.5,
      fill: "none",
    }));
  }
  const jitter = (k: number) => values.length > 1 ? (k / (values.length - 1) - 0.5) * width * 0.5 : 0;
  parts.push(
    ...values.map((v, k) =>
      tag("circle", {
        class: "seed",
        cx: center + jitter(k),
        cy: y(v),
        r: 3,
        fill: "#222222",
        "fill-opacity": 0.55,
      })
    ),
  );
  return tag("g", { class: "bar-group", "data-label": bar.label, "data-n": values.length }, parts);
}

/**
 * A bar chart with mean ± std error bars and one dot per value.
 *
 * @example
 * ```ts
 * import { barChart } from "./mod.ts";
 * const fig = barChart({
 *   title: "Final loss", yLabel: "loss",
 *   bars: [{ label: "adam", values: [0.31, 0.29, 0.33] }, { label: "sgd", values: [0.45, 0.5] }],
 * });
 * console.log((fig.svg.match(/class="error-bar"/g) ?? []).length); // 2
 * ```
 */
export function barChart(spec: BarChartSpec): Figure {
  const extents = spec.bars.flatMap((b) => {
    const values = Array.from(b.values).filter(Number.isFinite);
    const { mean, std } = meanStd(values);
    return [...values, mean - std, mean + std];
  });
  const y = fitScale(extents, [0, 1], { zero: spec.zero ?? true });
  const yTicks = ticksOf(y);
  const area = plotArea(spec, { yTickLabels: yTicks.map((t) => t.label) });
  y.range([area.bottom, area.top]);
  const slot = (area.right - area.left) / Math.max(1, spec.bars.length);
  const width = Math.min(80, slot * 0.6);
  const centers = spec.bars.map((_, i) => area.left + (i + 0.5) * slot);
  const body = [
    xAxisAt(
      spec.bars.map((b, i) => ({ value: centers[i], label: shorten(b.label, MAX_LABEL) })),
      area,
      spec.xLabel,
      false,
    ),
    yAxis(y, yTicks, area, spec.yLabel),
    ...spec.bars.map((b, i) => drawBar(b, i, centers[i], width, y)),
  ];
  return finishChart(spec, tag("g", { class: "bar-chart" }, body));
}
