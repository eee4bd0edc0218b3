/**
 * Legends drawn right of the plot: a categorical key for series and a colour bar for
 * heatmaps.
 *
 * @module
 */

import { FONT, type PlotArea } from "./axes.ts";
import { heatColor } from "./palette.ts";
import type { Tick } from "./scale.ts";
import { shorten, tag, text, textWidth } from "./svg.ts";

/** One legend entry. */
export interface LegendItem {
  /** Series name. */
  name: string;
  /** Its colour. */
  color: string;
  /** The swatch: a line, a line with a band behind it, a dot, or a box. */
  mark?: "line" | "band" | "dot" | "box";
}

const MAX_NAME = 28;
const ROW = 20;
const SWATCH = 22;

/**
 * Width the legend takes right of the plot; 0 when there is nothing to show.
 *
 * @example
 * ```ts
 * import { legendWidth } from "./src/plot/legend.ts";
 * console.log(legendWidth([]), legendWidth([{ name: "adam", color: "red" }]) > 0); // 0 true
 * ```
 */
export function legendWidth(items: LegendItem[]): number {
  if (items.length === 0) return 0;
  const widest = Math.max(...items.map((i) => textWidth(shorten(i.name, MAX_NAME), FONT.legend)));
  return 14 + SWATCH + 6 + widest;
}

function swatch(item: LegendItem, x: number, y: number): string {
  if (item.mark === "dot") return tag("circle", { cx: x + SWATCH / 2, cy: y, r: 4.5, fill: item.color });
  if (item.mark === "box") {
    return tag("rect", { x: x + 4, y: y - 6, width: 14, height: 12, fill: item.color });
  }
  const band = item.mark === "band"
    ? tag("rect", { x, y: y - 5, width: SWATCH, height: 10, fill: item.color, "fill-opacity": 0.18 })
    : "";
  return band + tag("line", { x1: x, x2: x + SWATCH, y1: y, y2: y, stroke: item.color, "stroke-width": 2.5 });
}

/**
 * The categorical legend, top-aligned right of `area`.
 *
 * @example
 * ```ts
 * import { legend } from "./src/plot/legend.ts";
 * const svg = legend([{ name: "adam", color: "#4e79a7" }], { left: 50, top: 40, right: 500, bottom: 350 });
 * console.log(svg.includes(">adam<")); // true
 * ```
 */
export function legend(items: LegendItem[], area: PlotArea): string {
  const x = area.right + 14;
  const rows = items.map((item, i) => {
    const y = area.top + 8 + i * ROW;
    return tag("g", { class: "legend-item" }, [
      swatch(item, x, y),
      text(shorten(item.name, MAX_NAME), {
        x: x + SWATCH + 6,
        y: y + FONT.legend * 0.35,
        "font-size": FONT.legend,
        fill: "#222222",
      }),
    ]);
  });
  return tag("g", { class: "legend" }, rows);
}

const BAR = 14;
let gradients = 0;

/**
 * Width a colour bar with these tick labels takes right of the plot.
 *
 * @example
 * ```ts
 * import { colorBarWidth } from "./src/plot/legend.ts";
 * console.log(colorBarWidth(["0.1", "1"], "norm") > 40); // true
 * ```
 */
export function colorBarWidth(tickLabels: string[], label?: string): number {
  const widest = Math.max(0, ...tickLabels.map((l) => textWidth(l, FONT.tick)));
  return 18 + BAR + 6 + widest + (label ? FONT.label + 12 : 0);
}

/**
 * A vertical viridis colour bar right of `area`, spanning its height. `ticks` carry their
 * position as a fraction `t` of the colour range in `value` (0 at the bottom, 1 at the top).
 *
 * @example
 * ```ts
 * import { colorBar } from "./src/plot/legend.ts";
 * const svg = colorBar([{ value: 0, label: "0" }, { value: 1, label: "1" }], { left: 50, top: 40, right: 500, bottom: 350 });
 * console.log(svg.includes("linearGradient")); // true
 * ```
 */
export function colorBar(ticks: Tick[], area: PlotArea, label?: string): string {
  const id = `gradscope-colorbar-${++gradients}`;
  const x = area.right + 18;
  const h = area.bottom - area.top;
  const stops = Array.from(
    { length: 17 },
    (_, k) => tag("stop", { offset: k / 16, "stop-color": heatColor(1 - k / 16) }),
  );
  const marks = ticks.map(({ value: t, label: tickLabel }) => {
    const y = area.bottom - t * h;
    return tag("line", { x1: x + BAR, x2: x + BAR + 4, y1: y, y2: y, stroke: "#333333" }) +
      (tickLabel
        ? text(tickLabel, {
          x: x + BAR + 6,
          y: y + FONT.tick * 0.35,
          "font-size": FONT.tick,
          fill: "#333333",
        })
        : "");
  });
  const widest = Math.max(0, ...ticks.map((t) => textWidth(t.label, FONT.tick)));
  const lx = x + BAR + 10 + widest + FONT.label * 0.8, cy = (area.top + area.bottom) / 2;
  const title = label
    ? text(label, {
      x: lx,
      y: cy,
      transform: `rotate(-90 ${lx} ${cy})`,
      "text-anchor": "middle",
      "font-size": FONT.label,
      fill: "#111111",
    })
    : "";
  return tag("g", { class: "color-bar" }, [
    tag("defs", {}, tag("linearGradient", { id, x1: 0, x2: 0, y1: 0, y2: 1 }, stops)),
    tag("rect", {
      x,
      y: area.top,
      width: BAR,
      height: h,
      fill: `url(#${id})`,
      stroke: "#333333",
      "stroke-width": 0.5,
    }),
    ...marks,
    title,
  ]);
}
