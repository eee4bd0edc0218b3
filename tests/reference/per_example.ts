/**
 * Float64 brute-force references for the per-example statistics: each example's gradient
 * G_b is formed separately with plain loops, then the statistics are reduced over b.
 *
 * @module
 */

/** The four statistics over the examples' gradients G_0 … G_{B−1}, each of P elements. */
export interface PerExampleStatsRef {
  /** (1/B) Σ_b G_b, [P]. */
  mean: Float64Array;
  /** Σ_b G_b ⊙ G_b, [P]. */
  sumSq: Float64Array;
  /** Σ_b sign(G_b), [P]. */
  sumSign: Float64Array;
  /** ‖G_b‖², [B]. */
  normSq: Float64Array;
}

/**
 * Reduces explicitly formed per-example gradients.
 *
 * @example
 * ```ts
 * const s = statsOf([new Float64Array([1, -2]), new Float64Array([3, 0])]);
 * // s.mean = [2, -1], s.sumSq = [10, 4], s.sumSign = [2, -1], s.normSq = [5, 9]
 * ```
 */
export function statsOf(grads: Float64Array[]): PerExampleStatsRef {
  const p = grads[0].length;
  const mean = new Float64Array(p), sumSq = new Float64Array(p), sumSign = new Float64Array(p);
  const normSq = new Float64Array(grads.length);
  grads.forEach((g, b) => {
    for (let j = 0; j < p; j++) {
      mean[j] += g[j] / grads.length;
      sumSq[j] += g[j] * g[j];
      sumSign[j] += Math.sign(g[j]);
      normSq[b] += g[j] * g[j];
    }
  });
  return { mean, sumSq, sumSign, normSq };
}

/**
 * G_b = s · x_bᵀ·dy_b ([nIn, nOut], row-major) for each example b of T rows.
 *
 * @example
 * ```ts
 * linearGrads(new Float32Array([1, 3]), new Float32Array([2, 4]), 2, 1, 1, 1, 1); // [[2], [12]]
 * ```
 */
export function linearGrads(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  batch: number,
  rowsPerExample: number,
  nIn: number,
  nOut: number,
  scale: number,
): Float64Array[] {
  return Array.from({ length: batch }, (_, b) => {
    const g = new Float64Array(nIn * nOut);
    for (let t = 0; t < rowsPerExample; t++) {
      const r = b * rowsPerExample + t;
      for (let i = 0; i < nIn; i++) {
        for (let o = 0; o < nOut; o++) g[i * nOut + o] += scale * x[r * nIn + i] * dy[r * nOut + o];
      }
    }
    return g;
  });
}

/**
 * G_b[c] = s · Σ_{t ∈ b} dy[t, c] · (v ? v[t, c] : 1) for each example b of T rows.
 *
 * @example
 * ```ts
 * columnGrads(new Float32Array([1, 2, 3, 4]), null, 2, 2, 1, 1); // [[3], [7]]
 * ```
 */
export function columnGrads(
  dy: ArrayLike<number>,
  v: ArrayLike<number> | null,
  batch: number,
  rowsPerExample: number,
  n: number,
  scale: number,
): Float64Array[] {
  return Array.from({ length: batch }, (_, b) => {
    const g = new Float64Array(n);
    for (let t = 0; t < rowsPerExample; t++) {
      const r = b * rowsPerExample + t;
      for (let c = 0; c < n; c++) g[c] += scale * dy[r * n + c] * (v ? v[r * n + c] : 1);
    }
    return g;
  });
}

/**
 * The plain weight gradient xᵀ·dy over all rows, matmul-style (no per-example split).
 *
 * @example
 * ```ts
 * plainWeightGrad(new Float32Array([1, 3]), new Float32Array([2, 4]), 2, 1, 1); // [14]
 * ```
 */
export function plainWeightGrad(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  nIn: number,
  nOut: number,
): Float64Array {
  const dw = new Float64Array(nIn * nOut);
  for (let i = 0; i < nIn; i++) {
    for (let o = 0; o < nOut; o++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += x[r * nIn + i] * dy[r * nOut + o];
      dw[i * nOut + o] = sum;
    }
  }
  return dw;
}
