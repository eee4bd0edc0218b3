/**
 * Gradient heterogeneity across parameter blocks (Tomihari & Sato 2025): how unevenly the
 * gradient's size is spread over the named blocks of the flat layout, and how dense it is,
 * the quantity that separates SignGD's ℓ∞-smoothness bound from GD's ℓ₂ one. Pure CPU
 * functions over read-back arrays, computed in float64.
 *
 * @module
 */

import { ParamLayout } from "../nn/layout.ts";

/**
 * The blocks of a flat array: a {@linkcode ParamLayout}, or explicit `[start, end)` ranges.
 * Gaps between ranges (the layout's alignment padding) are never read.
 */
export type BlockRanges = ParamLayout | readonly (readonly [number, number])[];

function rangesOf(blocks: BlockRanges, length: number): readonly (readonly [number, number])[] {
  const ranges = blocks instanceof ParamLayout ? blocks.ranges() : blocks;
  for (const [start, end] of ranges) {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > length) {
      throw new RangeError(`gradscope: block range [${start}, ${end}) outside an array of ${length}`);
    }
  }
  return ranges;
}

/** Throws unless `values` is non-empty and every entry is a non-negative number (NaN fails). */
function requireNorms(values: ArrayLike<number>, what: string): void {
  if (values.length === 0) throw new RangeError(`gradscope: ${what} needs at least one value`);
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] >= 0)) {
      throw new RangeError(`gradscope: ${what} needs non-negative norms, got ${values[i]} at ${i}`);
    }
  }
}

function sumOf(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

/**
 * Per-block ℓ₂ norms ‖g_b‖₂ = √(Σ_{i∈b} g_i²) of a flat gradient, in block order, in float64.
 *
 * @param grad the flat gradient (e.g. `await model.grads.read()`)
 * @param blocks the layout, or explicit `[start, end)` ranges
 * @example
 * ```ts
 * blockGradientNorms(new Float32Array([3, 4, 0, 1]), [[0, 2], [3, 4]]); // Float64Array [5, 1]
 * ```
 */
export function blockGradientNorms(grad: ArrayLike<number>, blocks: BlockRanges): Float64Array {
  const ranges = rangesOf(blocks, grad.length);
  return Float64Array.from(ranges, ([start, end]) => {
    let s = 0;
    for (let i = start; i < end; i++) s += grad[i] * grad[i];
    return Math.sqrt(s);
  });
}

/**
 * max_b ‖g_b‖ / min_b ‖g_b‖ over the blocks with a non-zero norm. Zero-norm blocks are left
 * out: a block that receives no gradient at all (frozen, or unused by the batch) would make
 * the ratio infinite and hide the spread among the blocks that do train. Equal norms give 1;
 * NaN when every norm is zero.
 *
 * @param norms per-block gradient norms, ≥ 0
 * @example
 * ```ts
 * maxMinRatio([2, 0, 8, 4]); // 4 (the 0 is ignored)
 * ```
 */
export function maxMinRatio(norms: ArrayLike<number>): number {
  requireNorms(norms, "maxMinRatio");
  let max = 0, min = Infinity;
  for (let i = 0; i < norms.length; i++) {
    if (norms[i] === 0) continue;
    max = Math.max(max, norms[i]);
    min = Math.min(min, norms[i]);
  }
  return max > 0 ? max / min : NaN;
}

/**
 * Coefficient of variation σ/μ of the block norms, with the population standard deviation
 * σ = √((1/n) Σ_b (‖g_b‖ − μ)²) and μ = (1/n) Σ_b ‖g_b‖; zero norms count. Equal norms give 0,
 * a single non-zero among n gives √(n − 1); NaN when every norm is zero.
 *
 * @param norms per-block gradient norms, ≥ 0
 * @example
 * ```ts
 * coefficientOfVariation([1, 3]); // 0.5 (μ = 2, σ = 1)
 * ```
 */
export function coefficientOfVariation(norms: ArrayLike<number>): number {
  requireNorms(norms, "coefficientOfVariation");
  const n = norms.length, mean = sumOf(norms) / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (norms[i] - mean) ** 2;
  return mean > 0 ? Math.sqrt(ss / n) / mean : NaN;
}

/**
 * Gini coefficient of the block norms, G = Σ_{i=1..n} (2i − n − 1)·x_(i) / (n·Σ_i x_i) with
 * x_(1) ≤ … ≤ x_(n) sorted ascending (equivalently Σ_i Σ_j |x_i − x_j| / (2n·Σ_i x_i)).
 * 0 for equal norms, (n − 1)/n for a single non-zero; NaN when every norm is zero.
 *
 * @param norms per-block gradient norms, ≥ 0
 * @example
 * ```ts
 * giniCoefficient([1, 2, 3, 4]); // 0.25
 * ```
 */
export function giniCoefficient(norms: ArrayLike<number>): number {
  requireNorms(norms, "giniCoefficient");
  const sorted = Float64Array.from(norms).sort(), n = sorted.length, total = sumOf(sorted);
  let weighted = 0;
  for (let i = 0; i < n; i++) weighted += (2 * (i + 1) - n - 1) * sorted[i];
  return total > 0 ? weighted / (n * total) : NaN;
}

/** Σ|g_i| and Σ g_i² over `[start, end)`. */
function absAndSquareSums(grad: ArrayLike<number>, start: number, end: number): [number, number] {
  let l1 = 0, l2sq = 0;
  for (let i = start; i < end; i++) {
    l1 += Math.abs(grad[i]);
    l2sq += grad[i] * grad[i];
  }
  return [l1, l2sq];
}

/**
 * Density φ(g) = ‖g‖₁² / (d·‖g‖₂²) of a gradient of dimension d, in [1/d, 1]: 1 when every
 * coordinate has the same magnitude, 1/d for a one-hot vector. It is the factor between the
 * SignGD (ℓ∞) and GD (ℓ₂) descent guarantees (Bernstein et al. 2018; Tomihari & Sato 2025):
 * sign descent gains when φ is large. Taken over the coordinates of `blocks` only (layout gaps
 * excluded; d = their count), or the whole array when `blocks` is omitted. NaN for g = 0.
 *
 * @param grad the flat gradient
 * @param blocks the layout or `[start, end)` ranges; default the whole array
 * @example
 * ```ts
 * gradientDensity([1, -1, 1, -1]); // 1
 * gradientDensity([0, 0, 5, 0]); // 0.25
 * ```
 */
export function gradientDensity(grad: ArrayLike<number>, blocks?: BlockRanges): number {
  const ranges = blocks ? rangesOf(blocks, grad.length) : [[0, grad.length] as const];
  let l1 = 0, l2sq = 0, d = 0;
  for (const [start, end] of ranges) {
    const [a, s] = absAndSquareSums(grad, start, end);
    l1 += a;
    l2sq += s;
    d += end - start;
  }
  return l1 * l1 / (d * l2sq);
}

/**
 * {@linkcode gradientDensity} of each block on its own, ‖g_b‖₁² / (d_b·‖g_b‖₂²), in block
 * order (NaN for a block whose gradient is zero or that is empty).
 *
 * @param grad the flat gradient
 * @param blocks the layout or `[start, end)` ranges
 * @example
 * ```ts
 * blockGradientDensities([1, 1, 0, 3, 0], [[0, 2], [2, 5]]); // Float64Array [1, 1/3]
 * ```
 */
export function blockGradientDensities(grad: ArrayLike<number>, blocks: BlockRanges): Float64Array {
  return Float64Array.from(rangesOf(blocks, grad.length), ([start, end]) => {
    const [l1, l2sq] = absAndSquareSums(grad, start, end);
    return l1 * l1 / ((end - start) * l2sq);
  });
}

/** Ranks 1..n of `values`, ties given the average of the ranks they span. */
function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return ranks;
}

/**
 * Spearman rank correlation ρ: the Pearson correlation of the ranks, ties given their average
 * rank, e.g. for the scatter of per-block gradient norm against per-block λ_max. In [−1, 1];
 * NaN when either side is constant.
 *
 * @param x first variable, finite
 * @param y second variable, same length, at least 2
 * @example
 * ```ts
 * spearmanCorrelation([1, 2, 3], [10, 40, 20]); // 0.5
 * spearmanCorrelation([1, 2, 2, 3], [1, 3, 2, 4]); // ≈ 0.949 (ranks [1, 2.5, 2.5, 4])
 * ```
 */
export function spearmanCorrelation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`gradscope: lengths differ: ${x.length} and ${y.length}`);
  if (x.length < 2) throw new RangeError("gradscope: a rank correlation needs at least 2 pairs");
  for (const v of [...Array.from(x), ...Array.from(y)]) {
    if (!Number.isFinite(v)) throw new RangeError(`gradscope: rank correlation of a non-finite value ${v}`);
  }
  const rx = averageRanks(x), ry = averageRanks(y), mean = (x.length + 1) / 2;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) ** 2;
    syy += (ry[i] - mean) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Every heterogeneity metric of one gradient; see {@linkcode gradientHeterogeneity}. */
export interface GradientHeterogeneity {
  /** ‖g_b‖₂ per block, in block order. */
  blockNorms: Float64Array;
  /** {@linkcode maxMinRatio} of the block norms. */
  maxMinRatio: number;
  /** {@linkcode coefficientOfVariation} of the block norms. */
  coefficientOfVariation: number;
  /** {@linkcode giniCoefficient} of the block norms. */
  gini: number;
  /** {@linkcode gradientDensity} of the whole gradient (gaps excluded). */
  density: number;
  /** {@linkcode blockGradientDensities}, in block order. */
  blockDensities: Float64Array;
}

/**
 * All heterogeneity metrics of a flat gradient at once, for logging.
 *
 * @param grad the flat gradient
 * @param blocks the layout or `[start, end)` ranges
 * @example
 * ```ts
 * import { gradientHeterogeneity, ParamLayout } from "./mod.ts";
 * const layout = new ParamLayout([{ name: "w", shape: [2], kind: "weight" }, { name: "b", shape: [1], kind: "bias" }]);
 * const grad = new Float32Array(layout.size);
 * grad.set([3, 4], 0);
 * grad[64] = 10;
 * console.log(gradientHeterogeneity(grad, layout).maxMinRatio); // 2
 * ```
 */
export function gradientHeterogeneity(grad: ArrayLike<number>, blocks: BlockRanges): GradientHeterogeneity {
  const blockNorms = blockGradientNorms(grad, blocks);
  return {
    blockNorms,
    maxMinRatio: maxMinRatio(blockNorms),
    coefficientOfVariation: coefficientOfVariation(blockNorms),
    gini: giniCoefficient(blockNorms),
    density: gradientDensity(grad, blocks),
    blockDensities: blockGradientDensities(grad, blocks),
  };
}
