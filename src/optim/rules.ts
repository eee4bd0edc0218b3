/**
 * The update rules d = rule(g, state) as chain parts (Optax `scale_by_*`), each one WGSL
 * entry point in kernels/optim_rules.wgsl. The rule gives the direction; the learning rate,
 * multipliers and weight decay are separate parts of the chain.
 *
 * @module
 */

import { OPTIM_RULES } from "./kernels.ts";
import { IDENTITY_RULE } from "./plan.ts";
import { GradientTransformation, type RuleSpec } from "./transform.ts";
import { check } from "./validate.ts";

export { ruleSource } from "./kernels.ts";

/** A pair (β1, β2). */
export type Betas = readonly [number, number];

/**
 * Wraps a rule as a chain part: the extension point for rules in other kernel modules.
 * Throws if it has more than 8 hyperparameters or 2 bias corrections.
 *
 * @example
 * ```ts
 * import { ruleSource, ruleTransform } from "./mod.ts";
 * const code = "@compute @workgroup_size(WG) fn half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) { let e = load(gid, nwg); if (e.live) { store(e, 0.5 * e.g); } }";
 * const half = ruleTransform({ name: "half", source: ruleSource("half", code), entryPoint: "half", hyper: [], slots: [] });
 * ```
 */
export function ruleTransform(rule: RuleSpec): GradientTransformation {
  if (rule.hyper.length > 8) throw new RangeError(`gradscope: rule ${rule.name}: at most 8 hyperparameters`);
  if ((rule.corrections ?? []).length > 2) {
    throw new RangeError(`gradscope: rule ${rule.name}: at most 2 bias corrections`);
  }
  rule.hyper.forEach((h, i) => check(rule.name, `hyper[${i}]`, h, "finite"));
  (rule.corrections ?? []).forEach((d, i) => check(rule.name, `corrections[${i}]`, d, "closedUnit"));
  return new GradientTransformation([{ type: "rule", rule: Object.freeze({ ...rule }) }]);
}

function builtin(
  name: string,
  hyper: number[],
  slots: string[],
  corrections?: number[],
): GradientTransformation {
  return ruleTransform({ name, source: OPTIM_RULES, entryPoint: name, hyper, slots, corrections });
}

function checkBetas(owner: string, betas: Betas): void {
  check(owner, "betas[0]", betas[0], "unit");
  check(owner, "betas[1]", betas[1], "unit");
}

/**
 * The identity rule, d = g (plain gradient descent).
 *
 * @example
 * ```ts
 * import { chain, identityRule, scaleByLearningRate } from "./mod.ts";
 * const sgd = chain(identityRule(), scaleByLearningRate(0.1));
 * ```
 */
export function identityRule(): GradientTransformation {
  return ruleTransform(IDENTITY_RULE);
}

/** Options of {@linkcode scaleByMomentum}. */
export interface MomentumOptions {
  /** μ in [0, 1); 0 gives the identity rule (torch ignores dampening then). */
  momentum: number;
  /** τ in [0, 1]; default 0. */
  dampening?: number;
  /** Nesterov momentum; needs μ > 0 and τ = 0 (as torch). Default false. */
  nesterov?: boolean;
}

/**
 * torch SGD momentum: on the first step b = g (torch clones the gradient), after it
 * b ← μ·b + (1 − τ)·g; d = g + μ·b with Nesterov, else d = b. State slot `momentum_buffer`.
 *
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleByMomentum } from "./mod.ts";
 * const opt = chain(scaleByMomentum({ momentum: 0.9, nesterov: true }), scaleByLearningRate(0.1));
 * ```
 */
export function scaleByMomentum(options: MomentumOptions): GradientTransformation {
  const { momentum, dampening = 0, nesterov = false } = options;
  check("momentum", "momentum", momentum, "unit");
  check("momentum", "dampening", dampening, "closedUnit");
  if (nesterov && (momentum === 0 || dampening !== 0)) {
    throw new RangeError("gradscope: momentum: Nesterov momentum needs momentum > 0 and dampening 0");
  }
  if (momentum === 0) return identityRule();
  return builtin("momentum", [momentum, 1 - dampening, nesterov ? 1 : 0], ["momentum_buffer"]);
}

/** Options of {@linkcode scaleByAdam}. */
export interface AdamRuleOptions {
  /** (β1, β2), each in [0, 1); default (0.9, 0.999). */
  betas?: Betas;
  /** ε > 0, added outside the square root; default 1e-8. */
  eps?: number;
}

/**
 * The Adam direction (Kingma & Ba, torch convention): m ← β1·m + (1 − β1)·g,
 * v ← β2·v + (1 − β2)·g², d = (m / (1 − β1^t)) / (√v / √(1 − β2^t) + ε), with ε outside the
 * square root. Bias corrections are computed on the GPU from the step counter. State slots
 * `exp_avg` (m) and `exp_avg_sq` (v).
 *
 * @example
 * ```ts
 * import { chain, scaleByAdam, scaleByLearningRate } from "./mod.ts";
 * const adam = chain(scaleByAdam({ betas: [0.9, 0.95] }), scaleByLearningRate(3e-4));
 * ```
 */
export function scaleByAdam(options: AdamRuleOptions = {}): GradientTransformation {
  const { betas = [0.9, 0.999], eps = 1e-8 } = options;
  checkBetas("adam", betas);
  check("adam", "eps", eps, "positive");
  const [b1, b2] = betas;
  return builtin("adam", [b1, 1 - b1, b2, 1 - b2, eps], ["exp_avg", "exp_avg_sq"], [1 - b1, 1 - b2]);
}

/** Options of {@linkcode scaleByRms}. */
export interface RmsOptions {
  /** α in [0, 1), the smoothing constant; default 0.99 (torch). */
  alpha?: number;
  /** ε > 0, added outside the square root; default 1e-8 (torch). */
  eps?: number;
}

/**
 * The RMSprop direction (torch, not centered, no momentum): v ← α·v + (1 − α)·g²,
 * d = g / (√v + ε), no bias correction. State slot `square_avg`.
 *
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleByRms } from "./mod.ts";
 * const opt = chain(scaleByRms(), scaleByLearningRate(1e-2));
 * ```
 */
export function scaleByRms(options: RmsOptions = {}): GradientTransformation {
  const { alpha = 0.99, eps = 1e-8 } = options;
  check("rmsprop", "alpha", alpha, "unit");
  check("rmsprop", "eps", eps, "positive");
  return builtin("rmsprop", [alpha, 1 - alpha, eps], ["square_avg"]);
}

/**
 * The SignSGD direction d = sign(g), with sign(0) = 0.
 *
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleBySign } from "./mod.ts";
 * const opt = chain(scaleBySign(), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleBySign(): GradientTransformation {
  return builtin("sign_sgd", [], []);
}

/**
 * The Signum direction (Bernstein et al. 2018): m ← β·m + (1 − β)·g, d = sign(m). State
 * slot `momentum_buffer`.
 *
 * @param options.beta β in [0, 1); default 0.9
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleBySignum } from "./mod.ts";
 * const opt = chain(scaleBySignum({ beta: 0.9 }), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleBySignum(options: { beta?: number } = {}): GradientTransformation {
  const { beta = 0.9 } = options;
  check("signum", "beta", beta, "unit");
  return builtin("signum", [beta, 1 - beta], ["momentum_buffer"]);
}

/**
 * The Lion direction (Chen et al. 2023): c = β1·m + (1 − β1)·g, d = sign(c), then
 * m ← β2·m + (1 − β2)·g. State slot `exp_avg`.
 *
 * @param options.betas (β1, β2), each in [0, 1); default (0.9, 0.99)
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleByLion } from "./mod.ts";
 * const opt = chain(scaleByLion(), scaleByLearningRate(1e-4));
 * ```
 */
export function scaleByLion(options: { betas?: Betas } = {}): GradientTransformation {
  const { betas = [0.9, 0.99] } = options;
  checkBetas("lion", betas);
  return builtin("lion", [betas[0], 1 - betas[0], betas[1], 1 - betas[1]], ["exp_avg"]);
}
