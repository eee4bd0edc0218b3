/**
 * Batch-size rules for the learning rate: η(B) = η0 · (B / B0)^p.
 *
 * @module
 */

import type { Schedule } from "./schedule.ts";
import { check } from "./validate.ts";

/** The exponent p: `"sqrt"` (1/2, for Adam-like optimizers), `"linear"` (1, for SGD), or a number. */
export type BatchScaling = "sqrt" | "linear" | number;

/**
 * The factor (B / B0)^p.
 *
 * @example
 * ```ts
 * import { batchScale } from "./mod.ts";
 * console.log(batchScale(256, 64, "sqrt")); // 2
 * ```
 */
export function batchScale(batchSize: number, baseBatchSize: number, rule: BatchScaling = "sqrt"): number {
  check("batchScale", "batchSize", batchSize, "positive");
  check("batchScale", "baseBatchSize", baseBatchSize, "positive");
  const p = rule === "sqrt" ? 0.5 : rule === "linear" ? 1 : rule;
  check("batchScale", "power", p, "finite");
  return (batchSize / baseBatchSize) ** p;
}

/**
 * Scales a base learning rate tuned at batch size B0 to batch size B: η0 · (B / B0)^p. A
 * schedule has all its rates scaled (peak, final, warmup start), its step counts kept.
 *
 * @example
 * ```ts
 * import { cosineDecay, scaleLrForBatch } from "./mod.ts";
 * console.log(scaleLrForBatch(0.1, 512, 128, "linear")); // 0.4
 * const schedule = scaleLrForBatch(cosineDecay(3e-4, 1000), 1024, 256); // peak 6e-4
 * ```
 */
export function scaleLrForBatch<T extends number | Schedule>(
  base: T,
  batchSize: number,
  baseBatchSize: number,
  rule: BatchScaling = "sqrt",
): T {
  const f = batchScale(batchSize, baseBatchSize, rule);
  if (typeof base === "number") return base * f as T;
  const s = base as Schedule;
  return Object.freeze({ ...s, lr: s.lr * f, finalLr: s.finalLr * f, warmupInit: s.warmupInit * f }) as T;
}

/**
 * Square-root scaling: η0 · √(B / B0).
 *
 * @example
 * ```ts
 * import { sqrtScaledLr } from "./mod.ts";
 * console.log(sqrtScaledLr(1e-3, 400, 100)); // 0.002
 * ```
 */
export function sqrtScaledLr(baseLr: number, batchSize: number, baseBatchSize: number): number {
  return scaleLrForBatch(baseLr, batchSize, baseBatchSize, "sqrt");
}

/**
 * Linear scaling (Goyal et al. 2017): η0 · B / B0.
 *
 * @example
 * ```ts
 * import { linearScaledLr } from "./mod.ts";
 * console.log(linearScaledLr(0.1, 1024, 256)); // 0.4
 * ```
 */
export function linearScaledLr(baseLr: number, batchSize: number, baseBatchSize: number): number {
  return scaleLrForBatch(baseLr, batchSize, baseBatchSize, "linear");
}
