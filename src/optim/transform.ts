/**
 * Gradient transformations in the style of Optax: `init(layout) → state` and
 * `update(stats, state, params) → params'`, composed with {@linkcode chain}.
 *
 * A chain is compiled into a fixed GPU pipeline rather than run transform by transform:
 * the per-step scalars (step counter, learning rate, clipping scale, bias corrections) are
 * computed by one tiny kernel, then one kernel over the whole flat parameter buffer applies
 * the clipping scale, the coupled decay, the update rule, the per-block multipliers, the
 * decoupled decay and the learning rate. The chain order decides the semantics, as in Optax:
 *
 * - `clipByGlobalNorm` must come first (it clips the raw mean gradient);
 * - `addDecayedWeights` before the rule adds λθ to the gradient (L2, torch `weight_decay` of
 *   SGD, Adam, RMSprop); after the rule it is decoupled (AdamW, Lion), scaled by the learning
 *   rate when it comes before `scaleByLearningRate` and not scaled when after;
 * - `lrMultipliers` and `scaleByLearningRate` come after the rule and scale everything before them.
 *
 * At most one rule (identity when absent) and one learning-rate transform per chain.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { grid1d, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { ParamBlock, ParamLayout } from "../nn/layout.ts";
import { recordSegmentedReduce } from "../ops/reduce.ts";
import { OPTIM_CONTROL } from "./kernels.ts";
import { applyParams, buildTables, makePlan, type Plan, tickParams } from "./plan.ts";
import type { Schedule } from "./schedule.ts";
import { OptState } from "./state.ts";

/**
 * The gradient statistics an update reads, each a flat tensor laid out like the parameters.
 * Only `mean` is read by the built-in rules; rules that declare `inputs` also read the others,
 * and the kernels see `batchSize` as `p.batch`.
 *
 * @example
 * ```ts ignore
 * const stats: GradStats = { mean: gradTensor, batchSize: 32 };
 * ```
 */
export interface GradStats {
  /** The mean gradient over the batch, (1/B) Σ_b g_b. */
  mean: Tensor;
  /** B, the number of examples the statistics come from. */
  batchSize: number;
  /** Σ_b g_b², elementwise. */
  sumSq?: Tensor;
  /** Σ_b sign(g_b), elementwise. */
  sumSign?: Tensor;
}

/** An extra gradient statistic a rule can read, bound after its state slots. */
export type GradInput = "sumSq" | "sumSign";

/**
 * An update rule d = rule(g, state): a WGSL entry point over the flat buffer (see
 * {@linkcode ruleSource}), its hyperparameters and its per-element state slots.
 *
 * @example
 * ```ts ignore
 * const spec: RuleSpec = { name: "sign", source: OPTIM_RULES, entryPoint: "sign_sgd", hyper: [], slots: [] };
 * ```
 */
export interface RuleSpec {
  /** Name for error messages, e.g. `"adam"`. */
  readonly name: string;
  /** The kernel module, made with {@linkcode ruleSource}. */
  readonly source: KernelSource;
  /** The entry point. */
  readonly entryPoint: string;
  /** Up to 8 f32 hyperparameters, read by the kernel as `p.h0.xyzw`, `p.h1.xyzw`. */
  readonly hyper: readonly number[];
  /** Names of the per-element state buffers, bound in order from `@binding(6)`. */
  readonly slots: readonly string[];
  /** Gradient statistics read besides the mean, bound in order after the slots. */
  readonly inputs?: readonly GradInput[];
  /** Up to two complements δ = 1 − β whose bias corrections 1 − β^t appear as `ctrl.bc1`, `ctrl.bc2`. */
  readonly corrections?: readonly number[];
  /**
   * True when the direction cannot include coupled decay λθ, e.g. a rule reading per-example
   * signs, which λθ added to the mean cannot reach: a chain with `addDecayedWeights` before
   * such a rule is rejected.
   */
  readonly noCoupledDecay?: boolean;
}

/** Selects parameter blocks, e.g. those that get weight decay. */
export type BlockMask = (block: ParamBlock) => boolean;

/** A learning-rate multiplier for the blocks whose name matches `match`. */
export interface LrRule {
  /** A RegExp, or a glob on the whole name where `*` matches any characters (dots included). */
  match: string | RegExp;
  /** The multiplier, ≥ 0. */
  scale: number;
}

/** One element of a chain. */
export type Part =
  | { readonly type: "clip"; readonly maxNorm: number }
  | { readonly type: "decay"; readonly rate: number; readonly mask: BlockMask }
  | { readonly type: "rule"; readonly rule: RuleSpec }
  | { readonly type: "lr"; readonly schedule: Schedule }
  | { readonly type: "multipliers"; readonly rules: readonly LrRule[] };

/**
 * A composable optimizer: a sequence of {@linkcode Part}s, validated at construction.
 * `init` allocates the state once; `update` records a {@linkcode Program} bound to fixed
 * gradient and parameter tensors, which a training loop replays every step: it allocates
 * nothing and reads nothing back.
 *
 * @example
 * ```ts
 * import { adamw, getDevice, ParamLayout, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const layout = new ParamLayout([{ name: "w", shape: [3], kind: "weight" }]);
 * const params = Tensor.from(gpu, [layout.size], [1, 2, 3]);
 * const grad = Tensor.from(gpu, [layout.size], [0.1, -0.2, 0.3]);
 * const opt = adamw({ lr: 1e-3 });
 * const state = opt.init(gpu, layout);
 * const step = await opt.update({ mean: grad, batchSize: 1 }, state, params);
 * step.run(); // every training step: write new gradients into `grad`, then run again
 * console.log(await params.read());
 * step.destroy();
 * state.destroy();
 * gpu.destroy();
 * ```
 */
export class GradientTransformation {
  /** The parts, in chain order. */
  readonly parts: readonly Part[];
  readonly #plan: Plan;

  /**
   * Validates the chain order and compiles it.
   *
   * @param parts the chain; throws if their order has no meaning (see the module doc)
   */
  constructor(parts: readonly Part[]) {
    this.parts = Object.freeze([...parts]);
    this.#plan = makePlan(this.parts);
  }

  /** The update rule the chain applies (the identity when it has none). */
  get rule(): RuleSpec {
    return this.#plan.rule;
  }

  /**
   * Allocates the optimizer state for `layout`: zeroed state slots, the step counter and the
   * per-block tables. Throws if a learning-rate multiplier pattern matches no block.
   */
  init(gpu: Gpu, layout: ParamLayout): OptState {
    return new OptState(gpu, layout, this.#plan.rule.slots, buildTables(this.#plan, layout), this.#plan);
  }

  /**
   * Records one optimizer step: `params` ← params' in place, and the state advanced. The
   * program reads whatever `stats` hold when it runs; replay it with `program.run()`.
   */
  async update(stats: GradStats, state: OptState, params: Tensor): Promise<Program> {
    checkUpdate(this.#plan, stats, state, params);
    const program = new Program(state.gpu);
    try {
      await recordTick(program, this.#plan, stats, state);
      await recordApply(program, this.#plan.rule, stats, state, params);
      return program;
    } catch (error) {
      program.destroy();
      throw error;
    }
  }
}

/**
 * Composes transformations left to right into one, flattening nested chains.
 *
 * @example
 * ```ts
 * import { chain, clipByGlobalNorm, cosineDecay, lrMultipliers, scaleByAdam, scaleByLearningRate } from "./mod.ts";
 * const opt = chain(
 *   clipByGlobalNorm(1.0),
 *   scaleByAdam({ betas: [0.9, 0.95] }),
 *   lrMultipliers([{ match: "embed.*", scale: 0.1 }]),
 *   scaleByLearningRate(cosineDecay(3e-4, 1000)),
 * );
 * console.log(opt.parts.length); // 4
 * ```
 */
export function chain(...transforms: readonly GradientTransformation[]): GradientTransformation {
  return new GradientTransformation(transforms.flatMap((t) => t.parts));
}

function checkUpdate(plan: Plan, stats: GradStats, state: OptState, params: Tensor): void {
  if (state.owner !== plan) {
    throw new Error("gradscope: optimizer state was not made by this transformation's init()");
  }
  const n = state.layout.size;
  const inputs = plan.rule.inputs ?? [];
  const tensors: [string, Tensor | undefined][] = [
    ["params", params],
    ["stats.mean", stats.mean],
    ...inputs.map((k) => [`stats.${k}`, stats[k]] as [string, Tensor | undefined]),
  ];
  for (const [name, t] of tensors) {
    if (!t) throw new Error(`gradscope: ${plan.rule.name} reads ${name}, which the statistics lack`);
    if (t.size !== n || t.dtype !== "f32") {
      throw new RangeError(`gradscope: ${name} must be f32 with ${n} elements (the layout), got ${t.size}`);
    }
    if (name !== "params" && t.buffer === params.buffer) {
      throw new Error(`gradscope: ${name} and params must be different buffers`);
    }
  }
  if (!Number.isInteger(stats.batchSize) || stats.batchSize < 1) {
    throw new RangeError(`gradscope: stats.batchSize must be an integer ≥ 1, got ${stats.batchSize}`);
  }
}

/** The per-step scalars, after the per-block squared norms when the chain clips. */
async function recordTick(program: Program, plan: Plan, stats: GradStats, state: OptState): Promise<void> {
  const nBlocks = state.layout.blocks.length;
  const params = tickParams(plan, nBlocks);
  if (plan.clip === null) {
    await program.add({
      source: OPTIM_CONTROL,
      entryPoint: "tick",
      params,
      buffers: [state.control],
      workgroups: [1],
    });
    return;
  }
  const blockSq = program.own(new Tensor(state.gpu, [Math.max(1, nBlocks)], "f32", "optim.block_sq"));
  program.append(
    await recordSegmentedReduce(state.gpu, stats.mean, state.layout.ranges(), "sumsq", blockSq),
  );
  await program.add({
    source: OPTIM_CONTROL,
    entryPoint: "tick_clip",
    params,
    buffers: [state.control, blockSq],
    workgroups: [1],
  });
}

/** The one dispatch over the flat buffer. */
async function recordApply(
  program: Program,
  rule: RuleSpec,
  stats: GradStats,
  state: OptState,
  params: Tensor,
): Promise<void> {
  const n = state.layout.size;
  await program.add({
    source: rule.source,
    entryPoint: rule.entryPoint,
    params: applyParams(rule, n, stats.batchSize),
    buffers: [
      stats.mean,
      params,
      state.control,
      state.blockIds,
      state.blockTable,
      ...rule.slots.map((name) => state.slot(name)),
      ...(rule.inputs ?? []).map((k) => stats[k] as Tensor),
    ],
    workgroups: grid1d(n),
  });
}
