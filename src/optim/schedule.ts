/**
 * Learning-rate schedules, evaluated on the GPU from the step counter (no readback).
 *
 * With s the number of updates already applied (s = t − 1: 0 for the first update), W the
 * warmup steps, η_init the warmup start, η0 the peak rate, η_f the final rate, T the decay
 * steps (or step size) and k = s − W:
 *
 * - warmup, when W > 0 and s < W:  η = η_init + (η0 − η_init) · s / W
 * - constant:                      η = η0
 * - cosine:                        η = η_f + (η0 − η_f) · ½(1 + cos(π · min(k, T) / T))
 * - linear decay:                  η = η0 + (η_f − η0) · min(k, T) / T
 * - step decay (torch StepLR):     η = η0 · γ^⌊k / T⌋
 *
 * Warmup follows Optax: the first update uses η_init (0 by default).
 *
 * @module
 */

import { GradientTransformation } from "./transform.ts";
import { check } from "./validate.ts";

/** The shape of a schedule after its warmup. */
export type ScheduleKind = "constant" | "cosine" | "linear" | "step";

/**
 * A learning-rate schedule: one flat record the control kernel evaluates. Build it with
 * {@linkcode constantLr}, {@linkcode cosineDecay}, {@linkcode linearDecay},
 * {@linkcode stepDecay} and {@linkcode linearWarmup}.
 *
 * @example
 * ```ts
 * import { cosineDecay, evaluateSchedule, linearWarmup } from "./mod.ts";
 * const schedule = linearWarmup(cosineDecay(1e-3, 900), 100);
 * console.log(evaluateSchedule(schedule, 100)); // 0.001
 * ```
 */
export interface Schedule {
  /** The shape after warmup. */
  readonly kind: ScheduleKind;
  /** η0, the peak (and, without warmup, initial) learning rate. */
  readonly lr: number;
  /** T: decay steps of cosine and linear decay, the step size of step decay; 1 for constant. */
  readonly steps: number;
  /** η_f, where cosine and linear decay end. */
  readonly finalLr: number;
  /** γ, the factor of step decay. */
  readonly gamma: number;
  /** W, the linear warmup steps (0: none). */
  readonly warmupSteps: number;
  /** η_init, the learning rate of the first warmup step. */
  readonly warmupInit: number;
}

function make(kind: ScheduleKind, lr: number, fields: Partial<Schedule> = {}): Schedule {
  const schedule: Schedule = {
    kind,
    lr,
    steps: 1,
    finalLr: 0,
    gamma: 1,
    warmupSteps: 0,
    warmupInit: 0,
    ...fields,
  };
  validateSchedule(schedule);
  return Object.freeze(schedule);
}

/**
 * Throws a RangeError if a schedule's fields are out of range (negative rates, steps that
 * are not positive integers, γ ≤ 0).
 *
 * @example
 * ```ts
 * import { constantLr, validateSchedule } from "./mod.ts";
 * validateSchedule(constantLr(0.1)); // fine
 * ```
 */
export function validateSchedule(schedule: Schedule): void {
  const owner = `${schedule.kind} schedule`;
  if (!["constant", "cosine", "linear", "step"].includes(schedule.kind)) {
    throw new RangeError(`gradscope: unknown schedule kind '${schedule.kind}'`);
  }
  check(owner, "lr", schedule.lr, "nonNegative");
  check(owner, "steps", schedule.steps, "positiveInteger");
  check(owner, "finalLr", schedule.finalLr, "nonNegative");
  check(owner, "gamma", schedule.gamma, "positive");
  check(owner, "warmupSteps", schedule.warmupSteps, "nonNegativeInteger");
  check(owner, "warmupInit", schedule.warmupInit, "nonNegative");
}

/**
 * A constant learning rate η0.
 *
 * @example
 * ```ts
 * import { constantLr } from "./mod.ts";
 * console.log(constantLr(0.1).lr); // 0.1
 * ```
 */
export function constantLr(lr: number): Schedule {
  return make("constant", lr);
}

/**
 * Cosine decay from `lr` to `finalLr` over `decaySteps`, then constant at `finalLr`.
 *
 * @example
 * ```ts
 * import { cosineDecay, evaluateSchedule } from "./mod.ts";
 * console.log(evaluateSchedule(cosineDecay(1, 10), 5)); // ≈ 0.5
 * ```
 */
export function cosineDecay(lr: number, decaySteps: number, finalLr = 0): Schedule {
  return make("cosine", lr, { steps: decaySteps, finalLr });
}

/**
 * Linear decay from `lr` to `finalLr` over `decaySteps`, then constant at `finalLr`.
 *
 * @example
 * ```ts
 * import { evaluateSchedule, linearDecay } from "./mod.ts";
 * console.log(evaluateSchedule(linearDecay(1, 10), 5)); // 0.5
 * ```
 */
export function linearDecay(lr: number, decaySteps: number, finalLr = 0): Schedule {
  return make("linear", lr, { steps: decaySteps, finalLr });
}

/**
 * Step decay (torch StepLR): `lr` multiplied by `gamma` every `stepSize` updates.
 *
 * @example
 * ```ts
 * import { evaluateSchedule, stepDecay } from "./mod.ts";
 * console.log(evaluateSchedule(stepDecay(1, 10, 0.5), 25)); // 0.25
 * ```
 */
export function stepDecay(lr: number, stepSize: number, gamma = 0.1): Schedule {
  return make("step", lr, { steps: stepSize, gamma });
}

/**
 * Linear warmup from `init` to the schedule's peak over `warmupSteps`, followed by the
 * schedule (shifted by `warmupSteps`). A number warms up to a constant rate.
 *
 * @example
 * ```ts
 * import { evaluateSchedule, linearWarmup } from "./mod.ts";
 * const s = linearWarmup(0.1, 4);
 * console.log([0, 1, 2, 3, 4].map((k) => evaluateSchedule(s, k))); // [0, 0.025, 0.05, 0.075, 0.1]
 * ```
 */
export function linearWarmup(target: number | Schedule, warmupSteps: number, init = 0): Schedule {
  const base = typeof target === "number" ? constantLr(target) : target;
  if (base.warmupSteps > 0) throw new Error("gradscope: linearWarmup: the schedule already has a warmup");
  check("linearWarmup", "warmupSteps", warmupSteps, "positiveInteger");
  return make(base.kind, base.lr, { ...base, warmupSteps, warmupInit: init });
}

/**
 * The learning rate of update s (0-based: the number of updates already applied), in
 * float64: the formulas of this module, for logs and plots.
 *
 * @example
 * ```ts
 * import { evaluateSchedule, stepDecay } from "./mod.ts";
 * console.log(evaluateSchedule(stepDecay(1, 2, 0.5), 3)); // 0.5
 * ```
 */
export function evaluateSchedule(schedule: Schedule, s: number): number {
  const { lr, steps: T, finalLr, warmupSteps: W, warmupInit } = schedule;
  if (s < W) return warmupInit + (lr - warmupInit) * s / W;
  const k = s - W, r = Math.min(k, T) / T;
  switch (schedule.kind) {
    case "cosine":
      return finalLr + (lr - finalLr) * 0.5 * (1 + Math.cos(Math.PI * r));
    case "linear":
      return lr + (finalLr - lr) * r;
    case "step":
      return lr * schedule.gamma ** Math.floor(k / T);
    default:
      return lr;
  }
}

/**
 * A number as a constant schedule; a schedule validated as is. What every `lr` option takes.
 *
 * @example
 * ```ts
 * import { asSchedule } from "./mod.ts";
 * console.log(asSchedule(0.1).kind); // "constant"
 * ```
 */
export function asSchedule(lr: number | Schedule): Schedule {
  if (typeof lr === "number") return constantLr(lr);
  validateSchedule(lr);
  return lr;
}

/**
 * Scales the update by the learning rate η (a number or a schedule evaluated on the GPU
 * each step). Parameters move by −η times the update: the descent sign is built in.
 *
 * @example
 * ```ts
 * import { chain, linearWarmup, scaleByAdam, scaleByLearningRate } from "./mod.ts";
 * const opt = chain(scaleByAdam(), scaleByLearningRate(linearWarmup(1e-3, 100)));
 * ```
 */
export function scaleByLearningRate(lr: number | Schedule): GradientTransformation {
  return new GradientTransformation([{ type: "lr", schedule: asSchedule(lr) }]);
}
