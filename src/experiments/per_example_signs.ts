/**
 * The sign-alignment check of the sign-placement experiment: with per-coordinate SNRs r_j
 * measured on one set of batches (the reference), the mean over other draws of sign(ḡ_n)·sign(μ_j)
 * for averages ḡ_n of n examples (measured) is set against erf(r_j·√n/√2) (predicted), per
 * parameter block and binned by r.
 *
 * @module
 */

import { binnedMeans, debiasedSnr, predictedAlignment } from "./per_example_math.ts";

/** A reference: sums of g and g² over `count` examples (flat layout). */
export interface Reference {
  /** Σ g. */
  sum: ArrayLike<number>;
  /** Σ g². */
  sumSq: ArrayLike<number>;
  /** Examples. */
  count: number;
}

/** Signs measured for averages of n examples: Σ over `draws` of sign(ḡ_n) per coordinate. */
export interface SignMeasurement {
  /** Examples per average. */
  n: number;
  /** Σ sign(ḡ_n). */
  signSum: ArrayLike<number>;
  /** Averages drawn. */
  draws: number;
}

/** Measured against predicted alignment for one block and one n. */
export interface BlockAlignment {
  /** The block. */
  block: string;
  /** Examples per average. */
  n: number;
  /** Coordinates with a gradient (the others are left out). */
  coords: number;
  /** Mean over those coordinates of the measured alignment. */
  measured: number;
  /** Mean of erf(r·√n/√2). */
  predicted: number;
}

/** Measured against predicted alignment for one n, binned by r. */
export interface BinnedAlignment {
  /** Examples per average. */
  n: number;
  /** Bin centres (r). */
  r: number[];
  /** Coordinates per bin. */
  count: number[];
  /** Measured alignment per bin. */
  measured: number[];
  /** Predicted alignment per bin. */
  predicted: number[];
}

/** The full check; see {@linkcode alignmentCheck}. */
export interface AlignmentCheck {
  /** r_j for every coordinate (NaN where no example has a gradient). */
  snr: Float64Array;
  /** r_j, NaN also in the sparse blocks (left out of the bins). */
  denseSnr: Float64Array;
  /** One entry per block and n. */
  blocks: BlockAlignment[];
  /** One entry per n. */
  binned: BinnedAlignment[];
}

/**
 * Compares measured and predicted sign alignment per block and per r bin. Blocks marked
 * `sparse` (a token embedding: an example's gradient is exactly 0 on the rows of the tokens it
 * lacks, so sign(ḡ_n) is often 0, which the Gaussian prediction does not model) get their
 * per-block entries but are left out of the bins and of `denseSnr`.
 *
 * @example
 * ```ts
 * import { alignmentCheck } from "./src/experiments/per_example_signs.ts";
 * const reference = { sum: [40, -4], sumSq: [400, 400], count: 100 }; // r ≈ [0.18, 0]
 * const check = alignmentCheck(reference, [{ n: 1, signSum: [33, -1], draws: 100 }], [
 *   { name: "w", offset: 0, size: 2 },
 * ], [0.01, 1]);
 * console.log(check.blocks[0].coords, check.blocks[0].measured.toFixed(2)); // 2 "0.17"
 * ```
 */
export function alignmentCheck(
  reference: Reference,
  measurements: readonly SignMeasurement[],
  blocks: readonly { name: string; offset: number; size: number; sparse?: boolean }[],
  edges: readonly number[],
): AlignmentCheck {
  const snr = debiasedSnr(reference.sum, reference.sumSq, reference.count);
  const denseSnr = snr.slice();
  for (const b of blocks.filter((b) => b.sparse)) denseSnr.fill(NaN, b.offset, b.offset + b.size);
  const out: AlignmentCheck = { snr, denseSnr, blocks: [], binned: [] };
  for (const m of measurements) {
    const measured = new Float64Array(snr.length), predicted = new Float64Array(snr.length);
    for (let j = 0; j < snr.length; j++) {
      measured[j] = (m.signSum[j] / m.draws) * Math.sign(reference.sum[j]);
      predicted[j] = predictedAlignment(snr[j], m.n);
    }
    for (const b of blocks) {
      let coords = 0, meas = 0, pred = 0;
      for (let j = b.offset; j < b.offset + b.size; j++) {
        if (Number.isNaN(snr[j])) continue;
        coords++;
        meas += measured[j];
        pred += predicted[j];
      }
      out.blocks.push({ block: b.name, n: m.n, coords, measured: meas / coords, predicted: pred / coords });
    }
    const bins = binnedMeans(denseSnr, [measured, predicted], edges);
    out.binned.push({
      n: m.n,
      r: bins.centre,
      count: bins.count,
      measured: bins.means[0],
      predicted: bins.means[1],
    });
  }
  return out;
}

/**
 * The mean over coordinates with a gradient of the predicted alignment erf(r·√n/√2).
 *
 * @example
 * ```ts
 * import { meanPredictedAlignment } from "./src/experiments/per_example_signs.ts";
 * console.log(meanPredictedAlignment(Float64Array.of(0, NaN, Infinity), 4)); // 0.5
 * ```
 */
export function meanPredictedAlignment(snr: ArrayLike<number>, n: number): number {
  let total = 0, count = 0;
  for (let j = 0; j < snr.length; j++) {
    if (Number.isNaN(snr[j])) continue;
    total += predictedAlignment(snr[j], n);
    count++;
  }
  return total / count;
}
