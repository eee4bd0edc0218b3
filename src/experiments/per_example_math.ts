/**
 * Plain CPU arithmetic behind the per-example experiments (Roulet & Agarwala 2025): the
 * sign-alignment prediction erf(r·√n/√2), binned averages, the split of a block's gradient
 * second moment into mean (μ²) and variance (σ²) parts from logged per-example statistics,
 * and the collapse score of loss curves across batch sizes.
 *
 * @module
 */

import { type BlockMoments, gradientSnr, noiseScale } from "../stats/noise.ts";

/**
 * The error function: its Maclaurin series for |x| < 1 (exact at 0, error below 1e-15), and
 * Abramowitz & Stegun 7.1.26 beyond (absolute error below 1.5e-7).
 *
 * @example
 * ```ts
 * import { erf } from "./src/experiments/per_example_math.ts";
 * console.log(erf(0), erf(1).toFixed(4)); // 0 "0.8427"
 * ```
 */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1, a = Math.abs(x);
  if (a < 1) {
    let term = a, total = a;
    for (let k = 1; k < 30; k++) {
      term *= (-a * a) / k;
      total += term / (2 * k + 1);
    }
    return (sign * 2 * total) / Math.sqrt(Math.PI);
  }
  const t = 1 / (1 + 0.3275911 * a);
  const poly = t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-a * a));
}

/**
 * The predicted expected sign alignment E[sign(ḡ_n)]·sign(μ) = erf(r·√n/√2) of the mean of n
 * examples whose coordinate has signal-to-noise ratio r = |μ|/σ, for Gaussian noise.
 *
 * @example
 * ```ts
 * import { predictedAlignment } from "./src/experiments/per_example_math.ts";
 * console.log(predictedAlignment(0, 16), predictedAlignment(0.25, 16).toFixed(3)); // 0 "0.683"
 * ```
 */
export function predictedAlignment(r: number, n: number): number {
  return erf(r * Math.sqrt(n / 2));
}

/**
 * Per-coordinate signal-to-noise ratios r_j = |μ_j|/σ_j from sums over `count` examples
 * (Σ g, Σ g²), with μ_j² debiased by the variance of the mean: r_j² = max(μ̂_j² − σ̂_j²/N, 0)/σ̂_j².
 * Coordinates whose examples are all zero get NaN (no gradient ever reaches them).
 *
 * @example
 * ```ts
 * import { debiasedSnr } from "./src/experiments/per_example_math.ts";
 * // 4 examples of one coordinate: 1, 1, 1, -1 → μ̂ = 0.5, σ̂² = 1, r² = 0.25 − 0.25.
 * console.log(debiasedSnr([2], [4], 4)); // Float64Array [0]
 * ```
 */
export function debiasedSnr(sum: ArrayLike<number>, sumSq: ArrayLike<number>, count: number): Float64Array {
  if (!Number.isInteger(count) || count < 2) {
    throw new RangeError(`gradscope: debiasedSnr needs ≥ 2 examples`);
  }
  return Float64Array.from({ length: sum.length }, (_, j) => {
    if (sumSq[j] === 0) return NaN;
    const mean = sum[j] / count;
    const variance = Math.max(0, (sumSq[j] - count * mean * mean) / (count - 1));
    if (variance === 0) return Infinity;
    return Math.sqrt(Math.max(0, mean * mean - variance / count) / variance);
  });
}

/**
 * `count` log-spaced bin edges from `lo` to `hi` (both > 0), i.e. `count − 1` bins.
 *
 * @example
 * ```ts
 * import { logEdges } from "./src/experiments/per_example_math.ts";
 * console.log(logEdges(0.01, 1, 3)); // [0.01, 0.1, 1]
 * ```
 */
export function logEdges(lo: number, hi: number, count: number): number[] {
  const a = Math.log10(lo), b = Math.log10(hi);
  return Array.from({ length: count }, (_, i) => 10 ** (a + ((b - a) * i) / (count - 1)));
}

/** Means of several quantities over the points that fall in each bin; see {@linkcode binnedMeans}. */
export interface Binned {
  /** Geometric centre of each non-empty bin. */
  centre: number[];
  /** Points per bin. */
  count: number[];
  /** For each quantity, its mean in each bin. */
  means: number[][];
}

/**
 * Bins points by `x` (bins [edges[i], edges[i+1]), points outside or non-finite dropped) and
 * averages each of `ys` per bin; empty bins are left out.
 *
 * @example
 * ```ts
 * import { binnedMeans } from "./src/experiments/per_example_math.ts";
 * const b = binnedMeans([0.5, 1.5, 1.7], [[1, 2, 4]], [0, 1, 2]);
 * console.log(b.count, b.means); // [1, 2] [[1, 3]]
 * ```
 */
export function binnedMeans(x: ArrayLike<number>, ys: ArrayLike<number>[], edges: readonly number[]): Binned {
  const bins = edges.length - 1;
  const count = new Array<number>(bins).fill(0);
  const sums = ys.map(() => new Array<number>(bins).fill(0));
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!Number.isFinite(v) || v < edges[0] || v >= edges[bins]) continue;
    let k = 0;
    while (v >= edges[k + 1]) k++;
    count[k]++;
    ys.forEach((y, q) => sums[q][k] += y[i]);
  }
  const kept = count.map((c, k) => (c > 0 ? k : -1)).filter((k) => k >= 0);
  return {
    centre: kept.map((k) => Math.sqrt(Math.max(edges[k], 1e-300) * edges[k + 1])),
    count: kept.map((k) => count[k]),
    means: sums.map((s) => kept.map((k) => s[k] / count[k])),
  };
}

/**
 * A block's gradient moments from one logged reading: its `P` coordinates, the logged mean over
 * coordinates of Σ_b g_b² (`sum_sq_mean`), and the norm ‖ḡ‖ of the batch-mean gradient
 * (`grad_norm`), for a batch of B examples (G_b = ∇loss_b, as the model's statistics are).
 *
 * @example
 * ```ts
 * import { momentsFromLog } from "./src/experiments/per_example_math.ts";
 * // G = [1, 3] and [3, 3]: Σ_b G_b² = [10, 18], mean 14 over 2 coordinates; ‖ḡ‖² = 13.
 * const m = momentsFromLog({ size: 2, sumSqMean: 14, gradNorm: Math.sqrt(13), batch: 2 });
 * console.log(m.meanNormSq.toFixed(6), m.trace.toFixed(6)); // "13.000000" "2.000000"
 * ```
 */
export function momentsFromLog(
  block: { size: number; sumSqMean: number; gradNorm: number; batch: number },
): BlockMoments {
  const { size, sumSqMean, gradNorm, batch } = block;
  const meanNormSq = gradNorm * gradNorm;
  const total = size * sumSqMean;
  return { batch, meanNormSq, trace: Math.max(0, (total - batch * meanNormSq) / (batch - 1)) };
}

/** A block's mean and variance parts, per coordinate; see {@linkcode splitSecondMoment}. */
export interface MomentSplit {
  /** μ², the debiased squared mean gradient per coordinate (block average). */
  meanSq: number;
  /** σ², the per-example variance per coordinate (block average). */
  variance: number;
}

/**
 * Splits a block's moments into μ² = max(‖ḡ‖² − tr Σ̂/B, 0)/P and σ² = tr Σ̂/P.
 *
 * @example
 * ```ts
 * import { splitSecondMoment } from "./src/experiments/per_example_math.ts";
 * console.log(splitSecondMoment({ batch: 2, meanNormSq: 13, trace: 2 }, 2)); // { meanSq: 6, variance: 1 }
 * ```
 */
export function splitSecondMoment(m: BlockMoments, size: number): MomentSplit {
  return { meanSq: Math.max(0, m.meanNormSq - m.trace / m.batch) / size, variance: m.trace / size };
}

/** The four preconditioners compared by the MicroAdam experiment. */
export type Preconditioner = "adam" | "microAdam" | "microAdamVar" | "microAdamMsq";

/**
 * The share of a preconditioner's expected second moment that comes from the variance σ²,
 * given a block's split: Adam's E[ḡ²] = μ² + σ²/B, MicroAdam's E[(1/B)Σ g_b²] = μ² + σ²,
 * MicroAdamVar's σ² (share 1) and MicroAdamMSQ's μ² (share 0). NaN when both parts are 0.
 *
 * @example
 * ```ts
 * import { varianceShare } from "./src/experiments/per_example_math.ts";
 * const split = { meanSq: 1, variance: 16 };
 * console.log(varianceShare("adam", split, 16), varianceShare("microAdam", split, 16)); // 0.5 0.9411764705882353
 * ```
 */
export function varianceShare(kind: Preconditioner, split: MomentSplit, batch: number): number {
  const { meanSq, variance } = split;
  if (meanSq + variance === 0) return NaN;
  switch (kind) {
    case "adam":
      return variance / batch / (meanSq + variance / batch);
    case "microAdam":
      return variance / (meanSq + variance);
    case "microAdamVar":
      return 1;
    case "microAdamMsq":
      return 0;
  }
}

/** Noise statistics of a whole model at one reading, from its blocks; see {@linkcode modelNoise}. */
export interface ModelNoise {
  /** Per block: ‖ḡ‖²/tr Σ̂ (the library's `gradientSnr`). */
  gsnr: Record<string, number>;
  /** The simple noise scale tr Σ̂/|G|² over all blocks, debiased (the library's `noiseScale`). */
  noiseScale: number;
  /** The same without debiasing. */
  noiseScaleBiased: number;
}

/**
 * Per-block GSNR and the model's gradient noise scale from one logged reading (`sum_sq_mean`
 * and `grad_norm` per block; block sizes from the layout).
 *
 * @example
 * ```ts
 * import { modelNoise } from "./src/experiments/per_example_math.ts";
 * const n = modelNoise({ a: 2 }, { a: 14 }, { a: Math.sqrt(13) }, 2);
 * console.log(n.gsnr.a.toFixed(2), n.noiseScale.toFixed(3)); // "6.50" "0.167"
 * ```
 */
export function modelNoise(
  sizes: Record<string, number>,
  sumSqMean: Record<string, number>,
  gradNorm: Record<string, number>,
  batch: number,
): ModelNoise {
  const gsnr: Record<string, number> = {};
  const total: BlockMoments = { batch, meanNormSq: 0, trace: 0 };
  for (const [name, size] of Object.entries(sizes)) {
    if (!(name in sumSqMean) || !(name in gradNorm)) continue;
    const m = momentsFromLog({ size, sumSqMean: sumSqMean[name], gradNorm: gradNorm[name], batch });
    gsnr[name] = gradientSnr(m);
    total.meanNormSq += m.meanNormSq;
    total.trace += m.trace;
  }
  return {
    gsnr,
    noiseScale: noiseScale(total, { debias: true }),
    noiseScaleBiased: noiseScale(total),
  };
}

/**
 * How well loss curves from different batch sizes collapse onto one curve against examples
 * seen: at each x that every curve has (beyond `from`), the sample standard deviation of the
 * curves' values; the score is their mean. Lower is a better collapse; NaN with fewer than two
 * curves or no shared x. A non-finite value (a diverged run) makes that x count as Infinity.
 *
 * @example
 * ```ts
 * import { collapseScore } from "./src/experiments/per_example_math.ts";
 * const a = { x: [1, 2, 3], y: [3, 2, 1] }, b = { x: [2, 3], y: [2, 3] };
 * console.log(collapseScore([a, b])); // 0.7071067811865476 (x = 2: 0, x = 3: √2)
 * ```
 */
export function collapseScore(
  curves: { x: ArrayLike<number>; y: ArrayLike<number> }[],
  from = -Infinity,
): number {
  if (curves.length < 2) return NaN;
  const maps = curves.map((c) => new Map(Array.from(c.x, (x, i) => [x, c.y[i]])));
  const shared = [...maps[0].keys()].filter((x) => x > from && maps.every((m) => m.has(x)));
  if (shared.length === 0) return NaN;
  const spreads = shared.map((x) => {
    const ys = maps.map((m) => m.get(x)!);
    if (!ys.every(Number.isFinite)) return Infinity;
    const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
    return Math.sqrt(ys.reduce((a, y) => a + (y - mean) ** 2, 0) / (ys.length - 1));
  });
  return spreads.reduce((a, b) => a + b, 0) / spreads.length;
}

/** Mean and sample standard deviation over seeds; see {@linkcode seedStats}. */
export interface SeedStats {
  /** Mean; +∞ when any seed diverged (non-finite value). */
  mean: number;
  /** Sample standard deviation (0 for one value, NaN when the mean is not finite). */
  std: number;
  /** Values. */
  n: number;
}

/**
 * Mean ± sample std over seeds, where a diverged seed (a non-finite value) makes the mean +∞:
 * unlike averaging only the finite values, a setting that diverged on one seed never looks good.
 *
 * @example
 * ```ts
 * import { seedStats } from "./src/experiments/per_example_math.ts";
 * console.log(seedStats([1, 3]), seedStats([1, Infinity]).mean); // { mean: 2, std: 1.4142135623730951, n: 2 } Infinity
 * ```
 */
export function seedStats(values: readonly number[]): SeedStats {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  if (!values.every(Number.isFinite)) return { mean: Infinity, std: NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}
