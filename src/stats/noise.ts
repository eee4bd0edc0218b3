/**
 * Gradient noise statistics derived on the CPU from read-back per-example statistics (see
 * `recordPerExampleLinearGrad` and friends). For a block of P coordinates and B examples with
 * gradients G_1 … G_B (G_b = ∇loss_b, i.e. the per-example statistics recorded with s = B):
 * ḡ = (1/B) Σ_b G_b is the mean, S = Σ_b G_b ⊙ G_b the per-coordinate sum of squares, and
 * ‖G_b‖² the per-example squared norms; Σ_b ‖G_b‖² = Σ_j S_j.
 *
 * @module
 */

function requireBatch(batch: number, least: number): void {
  if (!Number.isInteger(batch) || batch < least) {
    throw new RangeError(`gradscope: noise statistics need an integer batch ≥ ${least}, got ${batch}`);
  }
}

function requireSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`gradscope: lengths differ: ${a.length} and ${b.length}`);
}

/**
 * Unbiased per-coordinate variance over the examples:
 * σ²_j = (S_j − B·ḡ_j²) / (B − 1), clamped at 0 (float32 rounding can leave it slightly
 * negative when the examples agree). Needs B ≥ 2.
 *
 * @example
 * ```ts
 * // G = [1, 3] and [3, 3]: mean [2, 3], sumSq [10, 18].
 * perCoordinateVariance([2, 3], [10, 18], 2); // Float64Array [2, 0]
 * ```
 */
export function perCoordinateVariance(
  mean: ArrayLike<number>,
  sumSq: ArrayLike<number>,
  batch: number,
): Float64Array {
  requireBatch(batch, 2);
  requireSameLength(mean, sumSq);
  return Float64Array.from(
    { length: mean.length },
    (_, j) => Math.max(0, (sumSq[j] - batch * mean[j] * mean[j]) / (batch - 1)),
  );
}

/**
 * Per-coordinate signal-to-noise ratio |ḡ_j| / σ_j with σ_j from
 * {@linkcode perCoordinateVariance}: Infinity where σ_j = 0 < |ḡ_j|, 0 where both are 0.
 *
 * @example
 * ```ts
 * perCoordinateSnr([2, 3], [10, 18], 2); // Float64Array [√2, Infinity]
 * ```
 */
export function perCoordinateSnr(
  mean: ArrayLike<number>,
  sumSq: ArrayLike<number>,
  batch: number,
): Float64Array {
  const variance = perCoordinateVariance(mean, sumSq, batch);
  return variance.map((v, j) => mean[j] === 0 ? 0 : Math.abs(mean[j]) / Math.sqrt(v));
}

/**
 * Cockpit's mean gradient signal-to-noise ratio (`MeanGSNR`, after Liu et al. 2020), exactly as
 * Cockpit computes it from BackPACK's per-sample gradients of the mean loss:
 * (1/P) Σ_j ḡ_j² / (S_j/B − ḡ_j² + ε), i.e. with the biased variance and a stabiliser ε.
 *
 * @param eps Cockpit's default 1e-5
 * @example
 * ```ts
 * meanGsnr([2, 3], [10, 18], 2, 0); // (4/1 + 9/0) / 2 = Infinity
 * ```
 */
export function meanGsnr(
  mean: ArrayLike<number>,
  sumSq: ArrayLike<number>,
  batch: number,
  eps = 1e-5,
): number {
  requireBatch(batch, 1);
  requireSameLength(mean, sumSq);
  let total = 0;
  for (let j = 0; j < mean.length; j++) {
    const g2 = mean[j] * mean[j];
    total += g2 / (sumSq[j] / batch - g2 + eps);
  }
  return total / mean.length;
}

/** A block's gradient moments: see {@linkcode blockMoments}. */
export interface BlockMoments {
  /** Examples B. */
  batch: number;
  /** ‖ḡ‖², the squared norm of the mean gradient. */
  meanNormSq: number;
  /**
   * tr(Σ̂) = Σ_j σ²_j = (Σ_b ‖G_b‖² − B·‖ḡ‖²) / (B − 1): the unbiased trace of the
   * per-example gradient covariance, clamped at 0.
   */
  trace: number;
}

/**
 * The moments of a block from its mean gradient and either its per-coordinate sum of squares
 * or its per-example squared norms (one column of the norm table): both give Σ_b ‖G_b‖².
 *
 * @example
 * ```ts
 * // G = [1, 3] and [3, 3]: ‖ḡ‖² = 13, norms [10, 18], tr(Σ̂) = (28 − 26) / 1 = 2.
 * blockMoments({ mean: [2, 3], norms: [10, 18], batch: 2 }); // { batch: 2, meanNormSq: 13, trace: 2 }
 * ```
 */
export function blockMoments(
  stats: { mean: ArrayLike<number>; batch: number; sumSq?: ArrayLike<number>; norms?: ArrayLike<number> },
): BlockMoments {
  const { mean, batch } = stats;
  requireBatch(batch, 2);
  const squares = stats.sumSq ?? stats.norms;
  if (!squares) throw new RangeError("gradscope: blockMoments needs sumSq or norms");
  if (stats.sumSq) requireSameLength(mean, stats.sumSq);
  else if (squares.length !== batch) {
    throw new RangeError(`gradscope: blockMoments: ${squares.length} norms for a batch of ${batch}`);
  }
  let total = 0, meanNormSq = 0;
  for (let i = 0; i < squares.length; i++) total += squares[i];
  for (let j = 0; j < mean.length; j++) meanNormSq += mean[j] * mean[j];
  return { batch, meanNormSq, trace: Math.max(0, (total - batch * meanNormSq) / (batch - 1)) };
}

/**
 * A block's gradient signal-to-noise ratio ‖ḡ‖² / tr(Σ̂): the squared mean gradient over the
 * summed per-coordinate variances, i.e. mean_j ḡ_j² / mean_j σ²_j (the ratio of the
 * coordinate means, not Cockpit's mean of per-coordinate ratios, {@linkcode meanGsnr}). It is
 * 1 / {@linkcode noiseScale} without debiasing. Infinity when tr(Σ̂) = 0.
 *
 * @example
 * ```ts
 * gradientSnr({ batch: 2, meanNormSq: 13, trace: 2 }); // 6.5
 * ```
 */
export function gradientSnr(m: BlockMoments): number {
  return m.trace === 0 ? (m.meanNormSq === 0 ? 0 : Infinity) : m.meanNormSq / m.trace;
}

/**
 * The simple gradient noise scale of McCandlish et al. (2018), B_simple = tr(Σ)/‖G‖²,
 * estimated as tr(Σ̂)/‖ḡ‖². ‖ḡ‖² overestimates ‖G‖² by tr(Σ)/B on average; with
 * `debias` the denominator is ‖ḡ‖² − tr(Σ̂)/B instead (Infinity when that is ≤ 0, i.e. the
 * batch shows no signal above the noise).
 *
 * @example
 * ```ts
 * noiseScale({ batch: 2, meanNormSq: 13, trace: 2 }); // 2/13
 * noiseScale({ batch: 2, meanNormSq: 13, trace: 2 }, { debias: true }); // 2/12
 * ```
 */
export function noiseScale(m: BlockMoments, options: { debias?: boolean } = {}): number {
  const signal = options.debias ? m.meanNormSq - m.trace / m.batch : m.meanNormSq;
  return signal <= 0 ? Infinity : m.trace / signal;
}
