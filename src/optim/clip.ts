/**
 * Global-norm gradient clipping, computed on the GPU.
 *
 * @module
 */

import { GradientTransformation } from "./transform.ts";
import { check } from "./validate.ts";

/**
 * Clips the mean gradient by its global norm, as torch.nn.utils.clip_grad_norm_:
 * g ← g · min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖ = √(Σ_blocks Σ_i g_i²) over the parameter blocks
 * (gaps excluded). The norm is a deterministic two-pass reduction (per-block chunks, then
 * blocks in order); the scale and the norm stay on the GPU (`CONTROL.gradNorm`,
 * `CONTROL.gradScale`). Must come first in a chain.
 *
 * @param maxNorm the threshold, > 0
 * @example
 * ```ts
 * import { adamw, chain, clipByGlobalNorm } from "./mod.ts";
 * const opt = chain(clipByGlobalNorm(1.0), adamw({ lr: 3e-4 }));
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation {
  check("clipByGlobalNorm", "maxNorm", maxNorm, "positive");
  return new GradientTransformation([{ type: "clip", maxNorm }]);
}
