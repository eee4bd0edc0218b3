/**
 * Optimizers that read per-example gradient statistics, from Roulet & Agarwala (2025),
 * "Per-example gradients: a new frontier for understanding and improving optimizers"
 * (arXiv:2510.00236): where the sign of SignSGD is placed, and the MicroAdam family, whose
 * Adam preconditioner is built from per-example second moments.
 *
 * Notation, per coordinate: the batch has B examples with gradients g_1 … g_B, and the
 * `GradStats` hold ḡ = (1/B) Σ_b g_b (`mean`), Σ_b g_b² (`sumSq`) and
 * Σ_b sign(g_b) (`sumSign`, sign(0) = 0). B is `stats.batchSize`, fixed when the update is
 * recorded: record again when the batch size changes. A rule that needs `sumSq` or `sumSign`
 * throws when `update` is called with statistics that lack it.
 *
 * @module
 */

import perExampleCode from "../../kernels/optim_per_example.wgsl" with { type: "text" };
import { ruleSource } from "./kernels.ts";
import { type AdamOptions, type BaseOptions, decoupled, signSgd, signum } from "./optimizers.ts";
import { type Betas, ruleTransform } from "./rules.ts";
import type { GradientTransformation, GradInput, RuleSpec } from "./transform.ts";
import { check } from "./validate.ts";

const PER_EXAMPLE_RULES = ruleSource("optim_per_example", perExampleCode);

function perExampleRule(spec: Omit<RuleSpec, "source">): GradientTransformation {
  return ruleTransform({ ...spec, source: PER_EXAMPLE_RULES });
}

/**
 * The mean of the per-example signs as the direction: d = (1/B) Σ_b sign(g_b), reading
 * `sumSign`. Global-norm clipping changes no sign; coupled decay cannot reach the per-example
 * signs, so a chain with `addDecayedWeights` before this rule is rejected. No state.
 *
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleByMeanSign } from "./mod.ts";
 * const opt = chain(scaleByMeanSign(), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByMeanSign(): GradientTransformation {
  return perExampleRule({
    name: "meanSign",
    entryPoint: "mean_sign",
    hyper: [],
    slots: [],
    inputs: ["sumSign"],
    noCoupledDecay: true,
  });
}

/**
 * An EMA of the mean of the per-example signs as the direction, without bias correction:
 * m ← β·m + (1 − β)·(1/B) Σ_b sign(g_b), d = m, reading `sumSign`. Coupled decay is rejected
 * as for {@linkcode scaleByMeanSign}. State slot `sign_avg` (m).
 *
 * @param options.beta β in [0, 1); default 0.9
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleByMeanSignEma } from "./mod.ts";
 * const opt = chain(scaleByMeanSignEma({ beta: 0.9 }), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByMeanSignEma(options: { beta?: number } = {}): GradientTransformation {
  const { beta = 0.9 } = options;
  check("meanSignEma", "beta", beta, "unit");
  return perExampleRule({
    name: "meanSignEma",
    entryPoint: "mean_sign_ema",
    hyper: [beta, 1 - beta],
    slots: ["sign_avg"],
    inputs: ["sumSign"],
    noCoupledDecay: true,
  });
}

/**
 * Which per-example second moment q feeds the MicroAdam preconditioner:
 * - `"sq"` (MicroAdam): q = (1/B) Σ_b g_b², the mean of the per-example squares;
 * - `"var"` (MicroAdamVar): q = s² = (Σ_b g_b² − B·ḡ²) / (B − 1), the unbiased per-example
 *   variance, defined as 0 when B = 1;
 * - `"msq"` (MicroAdamMSQ): q = max(ḡ² − s²/B, 0), the unbiased estimate of the squared mean
 *   gradient (E[ḡ²] = μ² + σ²/B), clipped at 0.
 */
export type MicroAdamVariant = "sq" | "var" | "msq";

const MICRO_ADAM: Record<MicroAdamVariant, { name: string; entryPoint: string; slot: string }> = {
  sq: { name: "microAdam", entryPoint: "micro_adam", slot: "exp_avg_sq" },
  var: { name: "microAdamVar", entryPoint: "micro_adam_var", slot: "exp_avg_var" },
  msq: { name: "microAdamMsq", entryPoint: "micro_adam_msq", slot: "exp_avg_msq" },
};

/** Options of {@linkcode scaleByMicroAdam}. */
export interface MicroAdamRuleOptions {
  /** The second moment q; default `"sq"`. */
  variant?: MicroAdamVariant;
  /** (β1, β2), each in [0, 1); default (0.9, 0.999). */
  betas?: Betas;
  /** ε > 0, added outside the square root; default 1e-8. */
  eps?: number;
}

/**
 * The MicroAdam direction: Adam with g² replaced by a per-example second moment q (see
 * {@linkcode MicroAdamVariant}), reading `sumSq`:
 * m ← β1·m + (1 − β1)·ḡ, ν ← β2·ν + (1 − β2)·q, d = m̂ / (√ν̂ + ε) with the bias corrections
 * m̂ = m / (1 − β1^t), ν̂ = ν / (1 − β2^t) and ε outside the square root, as in Adam.
 *
 * When the chain clips (scale c) or adds coupled decay λθ before the rule, every example is
 * taken as preprocessed alike, g'_b = c·g_b + λθ, and q is that of the g'_b:
 * (1/B) Σ_b g'_b² = c²·Σ_b g_b²/B + λθ(2cḡ + λθ), Var(g'_b) = c²·s², and ḡ² becomes
 * (cḡ + λθ)². Rounding can make q slightly negative where it is ~0; it is clamped at 0.
 * State slots `exp_avg` (m) and `exp_avg_sq`, `exp_avg_var` or `exp_avg_msq` (ν).
 *
 * @example
 * ```ts
 * import { chain, scaleByLearningRate, scaleByMicroAdam } from "./mod.ts";
 * const opt = chain(scaleByMicroAdam({ variant: "msq", betas: [0.9, 0.95] }), scaleByLearningRate(3e-4));
 * ```
 */
export function scaleByMicroAdam(options: MicroAdamRuleOptions = {}): GradientTransformation {
  const { variant = "sq", betas = [0.9, 0.999], eps = 1e-8 } = options;
  if (!Object.hasOwn(MICRO_ADAM, variant)) {
    throw new RangeError(`gradscope: microAdam: variant must be one of sq, var, msq, got ${variant}`);
  }
  const spec = MICRO_ADAM[variant];
  check(spec.name, "betas[0]", betas[0], "unit");
  check(spec.name, "betas[1]", betas[1], "unit");
  check(spec.name, "eps", eps, "positive");
  const [b1, b2] = betas;
  return perExampleRule({
    name: spec.name,
    entryPoint: spec.entryPoint,
    hyper: [b1, 1 - b1, b2, 1 - b2, eps],
    slots: ["exp_avg", spec.slot],
    inputs: ["sumSq"],
    corrections: [1 - b1, 1 - b2],
  });
}

/**
 * Mean-of-signs SGD: θ ← θ − η·((1/B) Σ_b sign(g_b) + λθ), with decoupled decay (default
 * λ = 0). Needs `sumSign`. Roulet & Agarwala (2025), sign placement.
 *
 * @example
 * ```ts
 * import { meanSignSgd } from "./mod.ts";
 * const opt = meanSignSgd({ lr: 1e-3 });
 * ```
 */
export function meanSignSgd(options: BaseOptions): GradientTransformation {
  return decoupled("meanSignSgd", options, scaleByMeanSign(), 0);
}

/** Options of {@linkcode meanSignEma}. */
export interface MeanSignEmaOptions extends BaseOptions {
  /** β in [0, 1); default 0.9. */
  beta?: number;
}

/**
 * EMA of the mean of per-example signs: m ← β·m + (1 − β)·(1/B) Σ_b sign(g_b),
 * θ ← θ − η·(m + λθ), with decoupled decay (default λ = 0). Needs `sumSign`. State:
 * `sign_avg`. Roulet & Agarwala (2025), sign placement.
 *
 * @example
 * ```ts
 * import { meanSignEma } from "./mod.ts";
 * const opt = meanSignEma({ lr: 1e-3, beta: 0.9 });
 * ```
 */
export function meanSignEma(options: MeanSignEmaOptions): GradientTransformation {
  return decoupled("meanSignEma", options, scaleByMeanSignEma(options), 0);
}

/**
 * Where the sign sits in the gradient processing chain, in the order the sign-placement
 * experiment compares them (each with learning rate η and decoupled decay λ):
 * - `"signOfMean"`: θ ← θ − η·sign(ḡ) (SignSGD, {@linkcode signSgd});
 * - `"meanOfSigns"`: θ ← θ − η·(1/B) Σ_b sign(g_b) ({@linkcode meanSignSgd});
 * - `"signOfEma"`: m ← βm + (1 − β)ḡ, θ ← θ − η·sign(m) (Signum / SignEMA, {@linkcode signum});
 * - `"emaOfSigns"`: m ← βm + (1 − β)(1/B) Σ_b sign(g_b), θ ← θ − η·m ({@linkcode meanSignEma}).
 */
export type SignPlacement = "signOfMean" | "meanOfSigns" | "signOfEma" | "emaOfSigns";

/** The four sign placements, in the order of {@linkcode SignPlacement}. */
export const SIGN_PLACEMENTS: readonly SignPlacement[] = Object.freeze([
  "signOfMean",
  "meanOfSigns",
  "signOfEma",
  "emaOfSigns",
]);

/**
 * The optimizer for a sign placement (see {@linkcode SignPlacement}); `beta` is used by the
 * EMA placements only. Roulet & Agarwala (2025), sign placement.
 *
 * @example
 * ```ts
 * import { SIGN_PLACEMENTS, signPlacement } from "./mod.ts";
 * const opts = SIGN_PLACEMENTS.map((where) => signPlacement(where, { lr: 1e-3, beta: 0.9 }));
 * ```
 */
export function signPlacement(placement: SignPlacement, options: MeanSignEmaOptions): GradientTransformation {
  switch (placement) {
    case "signOfMean":
      return signSgd(options);
    case "meanOfSigns":
      return meanSignSgd(options);
    case "signOfEma":
      return signum(options);
    case "emaOfSigns":
      return meanSignEma(options);
    default:
      throw new RangeError(
        `gradscope: signPlacement: placement must be one of ${SIGN_PLACEMENTS.join(", ")}, got ${placement}`,
      );
  }
}

/**
 * MicroAdam (Roulet & Agarwala 2025) with decoupled decay (AdamW convention, default λ = 0):
 * m ← β1·m + (1 − β1)·ḡ, ν ← β2·ν + (1 − β2)·q, θ ← θ − η·(m̂/(√ν̂ + ε) + λθ), with
 * q = (1/B) Σ_b g_b². Needs `sumSq`. State: `exp_avg`, `exp_avg_sq`. See
 * {@linkcode scaleByMicroAdam} for the bias corrections and how clipping enters q.
 *
 * @example
 * ```ts
 * import { microAdam } from "./mod.ts";
 * const opt = microAdam({ lr: 1e-3, betas: [0.9, 0.999], weightDecay: 0.1 });
 * ```
 */
export function microAdam(options: AdamOptions): GradientTransformation {
  return decoupled("microAdam", options, scaleByMicroAdam({ ...options, variant: "sq" }), 0);
}

/**
 * MicroAdamVar (Roulet & Agarwala 2025): {@linkcode microAdam} with q the unbiased per-example
 * variance, q = (Σ_b g_b² − B·ḡ²)/(B − 1), and q = 0 when B = 1 (then ν = 0 and the step is
 * m̂/ε). Needs `sumSq`. State: `exp_avg`, `exp_avg_var`.
 *
 * @example
 * ```ts
 * import { microAdamVar } from "./mod.ts";
 * const opt = microAdamVar({ lr: 1e-3 });
 * ```
 */
export function microAdamVar(options: AdamOptions): GradientTransformation {
  return decoupled("microAdamVar", options, scaleByMicroAdam({ ...options, variant: "var" }), 0);
}

/**
 * MicroAdamMSQ (Roulet & Agarwala 2025): {@linkcode microAdam} with q = max(ḡ² − s²/B, 0),
 * s² the unbiased per-example variance (0 when B = 1, so q = ḡ² as in Adam): an unbiased
 * estimate of the squared mean gradient, clipped at 0. Needs `sumSq`. State: `exp_avg`,
 * `exp_avg_msq`.
 *
 * @example
 * ```ts
 * import { microAdamMsq } from "./mod.ts";
 * const opt = microAdamMsq({ lr: 1e-3 });
 * ```
 */
export function microAdamMsq(options: AdamOptions): GradientTransformation {
  return decoupled("microAdamMsq", options, scaleByMicroAdam({ ...options, variant: "msq" }), 0);
}

/**
 * The statistics an optimizer's update rule reads besides the mean, e.g. to build the
 * backward pass's request: `["sumSq"]` for the MicroAdam family.
 *
 * @example
 * ```ts
 * import { microAdam, requiredStats } from "./mod.ts";
 * console.log(requiredStats(microAdam({ lr: 1e-3 }))); // ["sumSq"]
 * ```
 */
export function requiredStats(opt: GradientTransformation): GradInput[] {
  return [...(opt.rule.inputs ?? [])];
}
