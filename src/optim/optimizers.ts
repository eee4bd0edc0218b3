/**
 * The optimizers, each a chain of an update rule, weight decay and a learning rate, with the
 * published conventions (torch's where torch has the optimizer). Every parameter update is
 * θ ← θ − η·(d + λθ) for decoupled decay, or d computed from g + λθ for coupled decay.
 *
 * @module
 */

import { type BlockMask, chain, type GradientTransformation } from "./transform.ts";
import {
  type Betas,
  scaleByAdam,
  scaleByLion,
  scaleByMomentum,
  scaleByRms,
  scaleBySign,
  scaleBySignum,
} from "./rules.ts";
import { scaleByLearningRate, type Schedule } from "./schedule.ts";
import { addDecayedWeights } from "./weight_decay.ts";
import { check } from "./validate.ts";

/** Options every optimizer takes. */
export interface BaseOptions {
  /** η ≥ 0: a number or a schedule evaluated on the GPU each step. */
  lr: number | Schedule;
  /** λ ≥ 0; the optimizer's doc says whether it is coupled or decoupled. */
  weightDecay?: number;
  /** The blocks that decay; all by default. See `excludeKinds`. */
  weightDecayMask?: BlockMask;
}

function checkLr(owner: string, lr: number | Schedule): void {
  if (typeof lr === "number") check(owner, "lr", lr, "nonNegative");
}

/** Coupled (L2) decay, the rule, then η: torch SGD, Adam, RMSprop. */
function coupled(owner: string, o: BaseOptions, rule: GradientTransformation): GradientTransformation {
  checkLr(owner, o.lr);
  check(owner, "weightDecay", o.weightDecay ?? 0, "nonNegative");
  return chain(addDecayedWeights(o.weightDecay ?? 0, o.weightDecayMask), rule, scaleByLearningRate(o.lr));
}

/**
 * An optimizer from an update rule with decoupled decay: chain(rule, addDecayedWeights(λ, mask),
 * scaleByLearningRate(η)), i.e. θ ← θ − η(d + λθ) (AdamW, Lion), after checking η and λ.
 *
 * @param owner the optimizer's name for error messages
 * @param rule the update rule d
 * @param defaultDecay λ when `o.weightDecay` is not given
 * @example
 * ```ts
 * import { decoupled, scaleBySign } from "./mod.ts";
 * const opt = decoupled("mySign", { lr: 1e-3, weightDecay: 0.1 }, scaleBySign(), 0);
 * ```
 */
export function decoupled(
  owner: string,
  o: BaseOptions,
  rule: GradientTransformation,
  defaultDecay: number,
): GradientTransformation {
  checkLr(owner, o.lr);
  const rate = o.weightDecay ?? defaultDecay;
  check(owner, "weightDecay", rate, "nonNegative");
  return chain(rule, addDecayedWeights(rate, o.weightDecayMask), scaleByLearningRate(o.lr));
}

/** Options of {@linkcode sgd}. */
export interface SgdOptions extends BaseOptions {
  /** μ in [0, 1); default 0. */
  momentum?: number;
  /** τ in [0, 1]; default 0. */
  dampening?: number;
  /** Nesterov momentum (needs μ > 0, τ = 0); default false. */
  nesterov?: boolean;
}

/**
 * SGD as torch.optim.SGD: g ← g + λθ (coupled decay); with momentum, b = g on the first step
 * and b ← μb + (1 − τ)g after, d = g + μb (Nesterov) or b; without momentum d = g;
 * θ ← θ − η·d. State: `momentum_buffer` when μ > 0.
 *
 * @example
 * ```ts
 * import { sgd } from "./mod.ts";
 * const opt = sgd({ lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 * ```
 */
export function sgd(options: SgdOptions): GradientTransformation {
  const { momentum = 0, dampening = 0, nesterov = false } = options;
  return coupled("sgd", options, scaleByMomentum({ momentum, dampening, nesterov }));
}

/** Options of {@linkcode adam} and {@linkcode adamw}. */
export interface AdamOptions extends BaseOptions {
  /** (β1, β2), each in [0, 1); default (0.9, 0.999). */
  betas?: Betas;
  /** ε > 0, outside the square root; default 1e-8. */
  eps?: number;
}

/**
 * Adam as torch.optim.Adam: g ← g + λθ (coupled decay, default λ = 0), m ← β1m + (1 − β1)g,
 * v ← β2v + (1 − β2)g², θ ← θ − η·(m/(1 − β1^t)) / (√v/√(1 − β2^t) + ε).
 * State: `exp_avg`, `exp_avg_sq`.
 *
 * @example
 * ```ts
 * import { adam } from "./mod.ts";
 * const opt = adam({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8 });
 * ```
 */
export function adam(options: AdamOptions): GradientTransformation {
  return coupled("adam", options, scaleByAdam(options));
}

/**
 * AdamW as torch.optim.AdamW (Loshchilov & Hutter): the Adam direction d with decoupled decay
 * θ ← θ − η·(d + λθ), i.e. θ ← θ − ηλθ then the Adam step; default λ = 0.01 (torch).
 * State: `exp_avg`, `exp_avg_sq`.
 *
 * @example
 * ```ts
 * import { adamw, excludeKinds } from "./mod.ts";
 * const opt = adamw({ lr: 3e-4, weightDecay: 0.1, weightDecayMask: excludeKinds("norm", "bias") });
 * ```
 */
export function adamw(options: AdamOptions): GradientTransformation {
  return decoupled("adamw", options, scaleByAdam(options), 0.01);
}

/** Options of {@linkcode rmsprop}. */
export interface RmspropOptions extends BaseOptions {
  /** α in [0, 1); default 0.99. */
  alpha?: number;
  /** ε > 0, outside the square root; default 1e-8. */
  eps?: number;
}

/**
 * RMSprop as torch.optim.RMSprop with its defaults (not centered, no momentum):
 * g ← g + λθ (coupled), v ← αv + (1 − α)g², θ ← θ − η·g/(√v + ε). State: `square_avg`.
 *
 * @example
 * ```ts
 * import { rmsprop } from "./mod.ts";
 * const opt = rmsprop({ lr: 1e-2 });
 * ```
 */
export function rmsprop(options: RmspropOptions): GradientTransformation {
  return coupled("rmsprop", options, scaleByRms(options));
}

/**
 * SignSGD: θ ← θ − η·(sign(g) + λθ), sign(0) = 0, with decoupled decay (default λ = 0).
 *
 * @example
 * ```ts
 * import { signSgd } from "./mod.ts";
 * const opt = signSgd({ lr: 1e-3 });
 * ```
 */
export function signSgd(options: BaseOptions): GradientTransformation {
  return decoupled("signSgd", options, scaleBySign(), 0);
}

/** Options of {@linkcode signum}. */
export interface SignumOptions extends BaseOptions {
  /** β in [0, 1); default 0.9. */
  beta?: number;
}

/**
 * Signum (Bernstein et al. 2018): m ← βm + (1 − β)g, θ ← θ − η·(sign(m) + λθ), with
 * decoupled decay (default λ = 0). State: `momentum_buffer`.
 *
 * @example
 * ```ts
 * import { signum } from "./mod.ts";
 * const opt = signum({ lr: 1e-3, beta: 0.9 });
 * ```
 */
export function signum(options: SignumOptions): GradientTransformation {
  return decoupled("signum", options, scaleBySignum(options), 0);
}

/** Options of {@linkcode lion}. */
export interface LionOptions extends BaseOptions {
  /** (β1, β2), each in [0, 1); default (0.9, 0.99). */
  betas?: Betas;
}

/**
 * Lion (Chen et al. 2023): c = β1m + (1 − β1)g, θ ← θ − η·(sign(c) + λθ),
 * m ← β2m + (1 − β2)g; default λ = 0. State: `exp_avg`.
 *
 * @example
 * ```ts
 * import { lion } from "./mod.ts";
 * const opt = lion({ lr: 1e-4, betas: [0.9, 0.99], weightDecay: 1.0 });
 * ```
 */
export function lion(options: LionOptions): GradientTransformation {
  return decoupled("lion", options, scaleByLion(options), 0);
}
