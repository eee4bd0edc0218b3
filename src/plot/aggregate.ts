/**
 * Summaries over seeds: mean ± standard deviation of values, and of curves aligned by their
 * x values (steps).
 *
 * @module
 */

// @ts-types="npm:@types/d3-array@3"
import { deviation, mean } from "npm:d3-array@3";

/** Mean ± sample standard deviation of `n` finite values. */
export interface MeanStd {
  /** Mean (NaN when n = 0). */
  mean: number;
  /** Sample standard deviation (n − 1 denominator; 0 when n = 1, NaN when n = 0). */
  std: number;
  /** How many finite values. */
  n: number;
}

/**
 * Mean and sample standard deviation of the finite entries of `values`.
 *
 * @example
 * ```ts
 * import { meanStd } from "./mod.ts";
 * console.log(meanStd([1, 2, 3, NaN])); // { mean: 2, std: 1, n: 3 }
 * ```
 */
export function meanStd(values: Iterable<number>): MeanStd {
  const finite = [...values].filter(Number.isFinite);
  if (finite.length === 0) return { mean: NaN, std: NaN, n: 0 };
  return { mean: mean(finite)!, std: finite.length > 1 ? deviation(finite)! : 0, n: finite.length };
}

/** A curve: y over x (x ascending). */
export interface Curve {
  /** x values, e.g. steps. */
  x: ArrayLike<number>;
  /** y values, same length. */
  y: ArrayLike<number>;
}

/** A curve with a band: mean ± std over several curves at each x. */
export interface BandCurve extends Curve {
  /** The x values that any curve has, ascending. */
  x: number[];
  /** Mean at each x. */
  y: number[];
  /** Lower edge of the band (mean − std). */
  lower: number[];
  /** Upper edge of the band (mean + std). */
  upper: number[];
  /** How many curves had a finite value at each x. */
  n: number[];
}

/**
 * The mean ± std of `curves` at every x that any of them has. Curves may cover different
 * steps (a run that diverged or stopped early): each x averages only the curves that have a
 * finite value there.
 *
 * @example
 * ```ts
 * import { meanBand } from "./mod.ts";
 * const band = meanBand([{ x: [0, 1], y: [2, 1] }, { x: [0, 1], y: [4, 3] }]);
 * console.log(band.y, band.lower); // [3, 2] [1.5857864376269049, 0.5857864376269049]
 * ```
 */
export function meanBand(curves: Curve[]): BandCurve {
  const byX = new Map<number, number[]>();
  for (const { x, y } of curves) {
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(y[i])) continue;
      const list = byX.get(x[i]) ?? [];
      list.push(y[i]);
      byX.set(x[i], list);
    }
  }
  const xs = [...byX.keys()].sort((a, b) => a - b);
  const stats = xs.map((x) => meanStd(byX.get(x)!));
  return {
    x: xs,
    y: stats.map((s) => s.mean),
    lower: stats.map((s) => s.mean - s.std),
    upper: stats.map((s) => s.mean + s.std),
    n: stats.map((s) => s.n),
  };
}
