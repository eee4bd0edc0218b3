/**
 * Weight decay, coupled or decoupled by its place in the chain, with per-block masks.
 *
 * @module
 */

import type { BlockKind } from "../nn/layout.ts";
import { type BlockMask, GradientTransformation } from "./transform.ts";
import { check } from "./validate.ts";

/**
 * The mask that selects every block: the default of every decay.
 *
 * @example
 * ```ts
 * import { addDecayedWeights, allBlocks } from "./mod.ts";
 * const decay = addDecayedWeights(0.01, allBlocks);
 * ```
 */
export function allBlocks(): boolean {
  return true;
}

/**
 * A mask selecting the blocks whose kind is not listed: `excludeKinds("norm", "bias")` is the
 * usual "no weight decay on norms and biases".
 *
 * @example
 * ```ts
 * import { adamw, excludeKinds } from "./mod.ts";
 * const opt = adamw({ lr: 1e-3, weightDecay: 0.1, weightDecayMask: excludeKinds("norm", "bias") });
 * ```
 */
export function excludeKinds(...kinds: BlockKind[]): BlockMask {
  return (block) => !kinds.includes(block.kind);
}

/**
 * Adds λ·θ to the update for the blocks `mask` selects (Optax `add_decayed_weights`). Its
 * place in the chain sets the convention:
 *
 * - before the update rule: coupled L2, g ← g + λθ (torch `weight_decay` of SGD, Adam, RMSprop);
 * - after the rule, before `scaleByLearningRate`: decoupled, θ ← θ − η(d + λθ) (AdamW, Lion);
 * - after `scaleByLearningRate`: decoupled and not scaled by η, θ ← θ − ηd − λθ.
 *
 * Learning-rate multipliers placed after it scale it too.
 *
 * @param rate λ ≥ 0
 * @param mask the blocks that decay (all by default)
 * @example
 * ```ts
 * import { addDecayedWeights, chain, excludeKinds, scaleByAdam, scaleByLearningRate } from "./mod.ts";
 * // AdamW, written out
 * const opt = chain(scaleByAdam(), addDecayedWeights(0.01, excludeKinds("norm")), scaleByLearningRate(1e-3));
 * ```
 */
export function addDecayedWeights(rate: number, mask: BlockMask = allBlocks): GradientTransformation {
  check("addDecayedWeights", "rate", rate, "nonNegative");
  return new GradientTransformation(rate === 0 ? [] : [{ type: "decay", rate, mask }]);
}
