/**
 * Position scales for the charts: linear or log d3 scales fitted to the data, and their
 * ticks with readable labels.
 *
 * @module
 */

// @ts-types="npm:@types/d3-scale@4"
import { type ScaleLinear, scaleLinear, scaleLog, type ScaleLogarithmic } from "npm:d3-scale@4";
// @ts-types="npm:@types/d3-format@3"
import { format } from "npm:d3-format@3";

/** A continuous position scale: linear or log. */
export type PositionScale = ScaleLinear<number, number> | ScaleLogarithmic<number, number>;

/** How to fit a scale to data. */
export interface ScaleOptions {
  /** Log scale (non-positive values are left out). */
  log?: boolean;
  /** Include zero in a linear domain (bar charts). */
  zero?: boolean;
}

/** One tick: its data value and its label ("" for an unlabelled minor log tick). */
export interface Tick {
  /** Data value. */
  value: number;
  /** Label text; empty for minor ticks. */
  label: string;
}

/**
 * Whether `v` can be drawn on a linear (finite) or log (finite and positive) axis.
 *
 * @example
 * ```ts
 * import { drawable } from "./src/plot/scale.ts";
 * console.log(drawable(0, true), drawable(0, false)); // false true
 * ```
 */
export function drawable(v: number, log: boolean | undefined): boolean {
  return Number.isFinite(v) && (!log || v > 0);
}

/** [min, max] of the drawable values, widened when empty or a single value. */
function domainOf(values: Iterable<number>, { log, zero }: ScaleOptions): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (!drawable(v, log)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo > hi) return log ? [1, 10] : [0, 1];
  if (zero && !log) [lo, hi] = [Math.min(lo, 0), Math.max(hi, 0)];
  if (lo === hi) {
    return log ? [lo / 2, hi * 2] : [lo - (Math.abs(lo) || 1) / 10, hi + (Math.abs(hi) || 1) / 10];
  }
  return [lo, hi];
}

/**
 * A d3 scale whose domain covers the drawable `values`, mapped onto `range` (pixels). Linear
 * domains are "niced" to round ticks; log domains are padded by 4% in log space instead
 * (rounding out to whole decades can waste most of the plot).
 *
 * @example
 * ```ts
 * import { fitScale } from "./src/plot/scale.ts";
 * const s = fitScale([0, 5], [0, 100]);
 * console.log(s.domain()); // [0, 5]
 * ```
 */
export function fitScale(
  values: Iterable<number>,
  range: [number, number],
  options: ScaleOptions = {},
): PositionScale {
  const [lo, hi] = domainOf(values, options);
  if (!options.log) return scaleLinear().domain([lo, hi]).range(range).nice();
  const pad = Math.pow(hi / lo, 0.04);
  return scaleLog().domain([lo / pad, hi * pad]).range(range);
}

const plain = format("~g");
const scientific = format(".0e");

/** Log tick labels: plain for moderate magnitudes, 1e-5 style otherwise. */
function logLabel(v: number): string {
  return v >= 1e-3 && v < 1e5 ? plain(v) : scientific(v);
}

/**
 * About `count` ticks of `scale` with labels. Log scales also return unlabelled minor ticks
 * (label ""), as d3 does.
 *
 * @example
 * ```ts
 * import { fitScale, ticksOf } from "./src/plot/scale.ts";
 * console.log(ticksOf(fitScale([0, 1], [0, 100]), 2).map((t) => t.label)); // ["0.0", "0.5", "1.0"]
 * ```
 */
export function ticksOf(scale: PositionScale, count = 6): Tick[] {
  const values = scale.ticks(count);
  if (!("base" in scale)) return values.map((value) => ({ value, label: scale.tickFormat(count)(value) }));
  // d3 returns "" for the minor log ticks it would not label; the rest get our format.
  const shown = scale.tickFormat(count, "~g");
  return values.map((value) => ({ value, label: shown(value) ? logLabel(value) : "" }));
}

/**
 * Whether values are all positive and span more than `ratio` (default 20×): then a log axis
 * reads better (losses, learning rates, norms).
 *
 * @example
 * ```ts
 * import { spansDecades } from "./src/plot/scale.ts";
 * console.log(spansDecades([0.01, 1]), spansDecades([1, 2]), spansDecades([0, 5])); // true false false
 * ```
 */
export function spansDecades(values: Iterable<number>, ratio = 20): boolean {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo > 0 && hi / lo > ratio;
}
