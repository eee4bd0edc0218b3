/**
 * Colours: a categorical palette for series and a sequential one for heatmaps.
 *
 * @module
 */

// @ts-types="npm:@types/d3-scale-chromatic@3"
import { interpolateViridis, schemeTableau10 } from "npm:d3-scale-chromatic@3";

/**
 * The colour of the `index`-th series (Tableau 10, cycling).
 *
 * @example
 * ```ts
 * import { seriesColor } from "./src/plot/palette.ts";
 * console.log(seriesColor(0), seriesColor(10)); // "#4e79a7" "#4e79a7"
 * ```
 */
export function seriesColor(index: number): string {
  return schemeTableau10[index % schemeTableau10.length];
}

/**
 * The heatmap colour for `t` in [0, 1] (viridis: perceptually uniform, readable in grey).
 *
 * @example
 * ```ts
 * import { heatColor } from "./src/plot/palette.ts";
 * console.log(heatColor(0)); // "#440154"
 * ```
 */
export function heatColor(t: number): string {
  return interpolateViridis(Math.min(1, Math.max(0, t)));
}
