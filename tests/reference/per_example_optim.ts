/**
 * Float64 references for tests/per_example_optim_test.ts, written from the definitions on the
 * explicit per-example gradients g_b (never from the GPU's statistics formulas): the
 * sign placements and the MicroAdam family (Roulet & Agarwala 2025), the DP-SGD clipping
 * weights, and the Philox4x32-10 Gaussian noise.
 */

import type { Elementwise } from "./optim.ts";

/** The statistics of per-example gradients, by brute force in float64. */
export interface ExampleStats {
  mean: Float64Array;
  sumSq: Float64Array;
  sumSign: Float64Array;
}

/** mean = (1/B) Σ_b g_b, sumSq = Σ_b g_b², sumSign = Σ_b sign(g_b), elementwise. */
export function exampleStats(examples: readonly Float64Array[]): ExampleStats {
  const n = examples[0].length, B = examples.length;
  const out = { mean: new Float64Array(n), sumSq: new Float64Array(n), sumSign: new Float64Array(n) };
  for (const g of examples) {
    for (let i = 0; i < n; i++) {
      out.mean[i] += g[i] / B;
      out.sumSq[i] += g[i] * g[i];
      out.sumSign[i] += Math.sign(g[i]);
    }
  }
  return out;
}

/**
 * One step on the examples' gradients at index i, already preprocessed (g'_b = c·g_b + λθ):
 * returns the direction d and updates the state arrays at i. t is 1 for the first step.
 */
export type ExampleRule = (
  g: readonly number[],
  s: Record<string, Float64Array>,
  i: number,
  t: number,
) => number;

const mean = (g: readonly number[]) => g.reduce((a, x) => a + x, 0) / g.length;

/** The unbiased sample variance, two-pass; 0 for one example. */
function variance(g: readonly number[]): number {
  if (g.length < 2) return 0;
  const m = mean(g);
  return g.reduce((a, x) => a + (x - m) ** 2, 0) / (g.length - 1);
}

/** d = sign(ḡ). */
export const signOfMeanRef: ExampleRule = (g) => Math.sign(mean(g));

/** d = (1/B) Σ_b sign(g_b). */
export const meanOfSignsRef: ExampleRule = (g) => mean(g.map(Math.sign));

/** m ← βm + (1 − β)ḡ, d = sign(m) (slot momentum_buffer). */
export function signOfEmaRef(beta: number): ExampleRule {
  return (g, s, i) => {
    const m = s.momentum_buffer;
    m[i] = beta * m[i] + (1 - beta) * mean(g);
    return Math.sign(m[i]);
  };
}

/** m ← βm + (1 − β)(1/B) Σ_b sign(g_b), d = m (slot sign_avg). */
export function emaOfSignsRef(beta: number): ExampleRule {
  return (g, s, i) => {
    const m = s.sign_avg;
    m[i] = beta * m[i] + (1 - beta) * mean(g.map(Math.sign));
    return m[i];
  };
}

/** The second moments q of the MicroAdam family, from the definitions. */
export const MICRO_Q: Record<"sq" | "var" | "msq", (g: readonly number[]) => number> = {
  sq: (g) => mean(g.map((x) => x * x)),
  var: variance,
  msq: (g) => Math.max(mean(g) ** 2 - variance(g) / g.length, 0),
};

/** Adam with q for g²: m, ν EMAs, d = (m/(1 − β1^t)) / (√(ν/(1 − β2^t)) + ε). */
export function microAdamRef(
  variant: "sq" | "var" | "msq",
  b1: number,
  b2: number,
  eps: number,
): ExampleRule {
  const slot = { sq: "exp_avg_sq", var: "exp_avg_var", msq: "exp_avg_msq" }[variant];
  return (g, s, i, t) => {
    const m = s.exp_avg, nu = s[slot];
    m[i] = b1 * m[i] + (1 - b1) * mean(g);
    nu[i] = b2 * nu[i] + (1 - b2) * MICRO_Q[variant](g);
    return (m[i] / (1 - b1 ** t)) / (Math.sqrt(nu[i] / (1 - b2 ** t)) + eps);
  };
}

/**
 * A full step: each example preprocessed as g'_b = scale·g_b + l2·θ, the rule's direction d,
 * then θ ← θ − lr·mult·(d + wd·θ), at the live indices.
 */
export function exampleStep(
  rule: ExampleRule,
  p: Float64Array,
  examples: readonly Float64Array[],
  s: Record<string, Float64Array>,
  t: number,
  lr: number,
  e: Elementwise,
  scale = 1,
): void {
  for (const i of e.live) {
    const g = examples.map((x) => scale * x[i] + e.l2[i] * p[i]);
    const d = rule(g, s, i, t);
    p[i] -= lr * e.mult[i] * (d + e.wd[i] * p[i]);
  }
}

/** w_b = min(1, C/‖g_b‖) with ‖g_b‖² the sum of columns [first, end) of row b. */
export function clipWeightsRef(
  table: ArrayLike<number>,
  batch: number,
  nCols: number,
  maxNorm: number,
  cols: readonly [number, number] = [0, nCols],
): Float64Array {
  return Float64Array.from({ length: batch }, (_, b) => {
    let sq = 0;
    for (let c = cols[0]; c < cols[1]; c++) sq += table[b * nCols + c];
    const norm = Math.sqrt(sq);
    return norm <= maxNorm ? 1 : maxNorm / norm;
  });
}

const M0 = 0xD2511F53n, M1 = 0xCD9E8D57n, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

/** Philox4x32-10 (Salmon et al. 2011), as in Random123: four u32 from a counter and a key. */
export function philox4x32(counter: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let r = 0; r < 10; r++) {
    if (r > 0) [k0, k1] = [(k0 + W0) >>> 0, (k1 + W1) >>> 0];
    const p0 = M0 * BigInt(c0), p1 = M1 * BigInt(c2);
    const [hi0, lo0] = [Number(p0 >> 32n), Number(p0 & 0xFFFFFFFFn)];
    const [hi1, lo1] = [Number(p1 >> 32n), Number(p1 & 0xFFFFFFFFn)];
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** The normals z_0 … z_{n−1} of draw `draw` under `seed`, as documented in GaussianNoise. */
export function noiseRef(n: number, seed: number, draw: number): Float64Array {
  const key = [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
  const unit = (x: number) => (Math.floor(x / 256) + 0.5) / 2 ** 24;
  const z = new Float64Array(n);
  for (let k = 0; 4 * k < n; k++) {
    const w = philox4x32([k, draw, 0, 0], key);
    for (const pair of [0, 1]) {
      const r = Math.sqrt(-2 * Math.log(unit(w[2 * pair])));
      const angle = 2 * Math.PI * (unit(w[2 * pair + 1]) - 0.5);
      const at = 4 * k + 2 * pair;
      if (at < n) z[at] = r * Math.cos(angle);
      if (at + 1 < n) z[at + 1] = r * Math.sin(angle);
    }
  }
  return z;
}
