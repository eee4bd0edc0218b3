/**
 * When a run has diverged: a non-finite loss, or a loss above `factor` times the first
 * step's loss. Divergence ends a run with status "diverged"; it is an outcome, not an error.
 *
 * @module
 */

/** The verdict on a window of per-step losses. */
export interface DivergenceCheck {
  /** The first step's loss, once seen (carried from window to window). */
  initialLoss: number | null;
  /** The first diverged step in the window and why, if any. */
  diverged: { step: number; reason: string } | null;
}

/**
 * Checks the losses of steps `firstStep`, `firstStep + 1`, … in order. Step 1's loss becomes
 * the initial loss (a non-finite one counts as diverged at once).
 *
 * @param initialLoss the initial loss from earlier windows (null if step 1 is in this one)
 * @param factor the explosion threshold, a multiple of the initial loss
 * @example
 * ```ts
 * import { checkDivergence } from "./mod.ts";
 * console.log(checkDivergence([2.3, 2.1, 40], 1, null, 10).diverged);
 * // { step: 3, reason: "loss 40 is above 10 × the initial loss 2.3" }
 * ```
 */
export function checkDivergence(
  losses: readonly number[],
  firstStep: number,
  initialLoss: number | null,
  factor: number,
): DivergenceCheck {
  let initial = initialLoss;
  for (let i = 0; i < losses.length; i++) {
    const step = firstStep + i, loss = losses[i];
    if (step === 1) initial = loss;
    if (!Number.isFinite(loss)) {
      return { initialLoss: initial, diverged: { step, reason: `loss is ${loss}` } };
    }
    if (initial !== null && Number.isFinite(initial) && loss > factor * initial) {
      return {
        initialLoss: initial,
        diverged: { step, reason: `loss ${loss} is above ${factor} × the initial loss ${initial}` },
      };
    }
  }
  return { initialLoss: initial, diverged: null };
}
