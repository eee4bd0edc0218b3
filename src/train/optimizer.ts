/**
 * The optimizer a run config names, built as a gradient transformation (CPU only: nothing
 * touches the GPU until `init`).
 *
 * @module
 */

import { clipByGlobalNorm } from "../optim/clip.ts";
import { adam, adamw, type BaseOptions, lion, rmsprop, sgd, signSgd, signum } from "../optim/optimizers.ts";
import {
  meanSignEma,
  meanSignSgd,
  microAdam,
  microAdamMsq,
  microAdamVar,
} from "../optim/per_example_rules.ts";
import { cosineDecay, linearDecay, linearWarmup, type Schedule, stepDecay } from "../optim/schedule.ts";
import { chain, type GradientTransformation } from "../optim/transform.ts";
import { excludeKinds } from "../optim/weight_decay.ts";
import { type OptimizerConfig, RunConfigError, type ScheduleConfig } from "./config.ts";

/**
 * The learning rate of a config: a number, or a schedule over a run of `totalSteps` steps
 * (cosine and linear decay default to decaying over the steps after the warmup).
 *
 * @example
 * ```ts
 * import { evaluateSchedule, scheduleFromConfig } from "./mod.ts";
 * const schedule = scheduleFromConfig(1e-3, { kind: "cosine", final_lr: 0, warmup_steps: 10, warmup_init: 0 }, 110);
 * console.log(typeof schedule === "number" ? schedule : evaluateSchedule(schedule, 110)); // 0
 * ```
 */
export function scheduleFromConfig(
  lr: number,
  schedule: ScheduleConfig | undefined,
  totalSteps: number,
): number | Schedule {
  if (!schedule) return lr;
  const W = schedule.warmup_steps;
  let base: Schedule | number;
  switch (schedule.kind) {
    case "constant":
      base = lr;
      break;
    case "step":
      base = stepDecay(lr, schedule.step_size, schedule.gamma);
      break;
    default: {
      const decay = schedule.decay_steps ?? totalSteps - W;
      if (decay < 1) {
        throw new RunConfigError([
          `optimizer.schedule.warmup_steps: ${W} warmup steps leave no decay steps in a run of ${totalSteps}`,
        ]);
      }
      base = (schedule.kind === "cosine" ? cosineDecay : linearDecay)(lr, decay, schedule.final_lr);
    }
  }
  return W > 0 ? linearWarmup(base, W, schedule.warmup_init) : base;
}

/**
 * Builds the configured optimizer (with global-norm clipping first when `clip_norm` is set).
 * Hyperparameter errors the optimizer functions raise become a {@linkcode RunConfigError}.
 *
 * @param totalSteps the run's length, for schedules that decay over it
 * @example
 * ```ts
 * import { optimizerFromConfig, requiredStats } from "./mod.ts";
 * const opt = optimizerFromConfig({ name: "microAdam", lr: 1e-3 }, 100);
 * console.log(requiredStats(opt)); // ["sumSq"]
 * ```
 */
export function optimizerFromConfig(config: OptimizerConfig, totalSteps: number): GradientTransformation {
  const lr = scheduleFromConfig(config.lr, config.schedule, totalSteps);
  const base: BaseOptions = {
    lr,
    weightDecay: config.weight_decay,
    weightDecayMask: config.no_decay ? excludeKinds(...config.no_decay) : undefined,
  };
  try {
    const opt = build(config, base);
    return config.clip_norm === undefined ? opt : chain(clipByGlobalNorm(config.clip_norm), opt);
  } catch (error) {
    if (error instanceof RangeError || (error as Error).message?.startsWith("gradscope:")) {
      throw new RunConfigError([`optimizer: ${(error as Error).message.replace(/^gradscope: /, "")}`]);
    }
    throw error;
  }
}

function build(c: OptimizerConfig, base: BaseOptions): GradientTransformation {
  const adamOptions = { ...base, betas: c.betas, eps: c.eps };
  switch (c.name) {
    case "sgd":
      return sgd({ ...base, momentum: c.momentum, dampening: c.dampening, nesterov: c.nesterov });
    case "adam":
      return adam(adamOptions);
    case "adamw":
      return adamw(adamOptions);
    case "rmsprop":
      return rmsprop({ ...base, alpha: c.alpha, eps: c.eps });
    case "signSgd":
      return signSgd(base);
    case "signum":
      return signum({ ...base, beta: c.beta });
    case "lion":
      return lion({ ...base, betas: c.betas });
    case "meanSignSgd":
      return meanSignSgd(base);
    case "meanSignEma":
      return meanSignEma({ ...base, beta: c.beta });
    case "microAdam":
      return microAdam(adamOptions);
    case "microAdamVar":
      return microAdamVar(adamOptions);
    case "microAdamMsq":
      return microAdamMsq(adamOptions);
  }
}
