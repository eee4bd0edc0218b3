/**
 * Compiles a chain of parts into what the kernels need: the order checks, the per-block
 * coefficient table, the granule → block map, and the uniform parameters.
 *
 * @module
 */

import { packParams } from "../gpu/dispatch.ts";
import { BLOCK_ALIGN, type ParamBlock, type ParamLayout } from "../nn/layout.ts";
import { OPTIM_RULES } from "./kernels.ts";
import type { Schedule } from "./schedule.ts";
import type { BlockMask, LrRule, Part, RuleSpec } from "./transform.ts";

/** The identity rule d = g: plain gradient descent. */
export const IDENTITY_RULE: RuleSpec = Object.freeze({
  name: "sgd",
  source: OPTIM_RULES,
  entryPoint: "sgd",
  hyper: [],
  slots: [],
});

/** A chain, sorted into its stages. */
export interface Plan {
  /** maxNorm of global-norm clipping, or null. */
  readonly clip: number | null;
  /** Decays before the rule (coupled, L2). */
  readonly pre: readonly Extract<Part, { type: "decay" }>[];
  /** The update rule. */
  readonly rule: RuleSpec;
  /** Parts after the rule, in chain order. */
  readonly post: readonly Part[];
  /** The learning-rate schedule (constant 1 without a learning-rate transform). */
  readonly schedule: Schedule;
}

const UNIT_LR: Schedule = Object.freeze({
  kind: "constant",
  lr: 1,
  steps: 1,
  finalLr: 1,
  gamma: 1,
  warmupSteps: 0,
  warmupInit: 0,
});

const PART_NAME: Record<Part["type"], string> = {
  clip: "clipByGlobalNorm",
  decay: "addDecayedWeights",
  rule: "the update rule",
  lr: "scaleByLearningRate",
  multipliers: "lrMultipliers",
};

/** Sorts parts into stages; throws when the order has no GPU meaning or is ambiguous. */
export function makePlan(parts: readonly Part[]): Plan {
  const rules = parts.filter((p) => p.type === "rule");
  if (rules.length > 1) {
    throw new Error(
      `gradscope: chain: one update rule per chain, got ${rules.map((r) => r.rule.name).join(", ")}`,
    );
  }
  if (parts.filter((p) => p.type === "lr").length > 1) {
    throw new Error("gradscope: chain: one scaleByLearningRate per chain (pass a schedule to combine)");
  }
  parts.forEach((p, i) => {
    if (p.type === "clip" && i !== 0) {
      throw new Error("gradscope: chain: clipByGlobalNorm must come first (it clips the raw mean gradient)");
    }
  });
  const clip = parts[0]?.type === "clip" ? parts[0].maxNorm : null;
  const start = clip === null ? 0 : 1;
  const at = parts.findIndex((p) => p.type === "rule");
  // Without a rule the identity sits right after the clip; a decay then scales like a coupled one.
  const ruleIndex = at < 0 ? start : at;
  const pre = parts.slice(start, ruleIndex);
  for (const p of pre) {
    if (p.type !== "decay") {
      throw new Error(`gradscope: chain: ${PART_NAME[p.type]} must come after the update rule`);
    }
  }
  const rule = at < 0 ? IDENTITY_RULE : (parts[at] as Extract<Part, { type: "rule" }>).rule;
  if (rule.noCoupledDecay && pre.length > 0) {
    throw new Error(
      `gradscope: chain: ${rule.name} cannot take coupled decay (addDecayedWeights before the rule); ` +
        "put addDecayedWeights after the rule",
    );
  }
  const post = parts.slice(at < 0 ? start : at + 1);
  const lr = post.find((p) => p.type === "lr");
  return {
    clip,
    pre: pre as Extract<Part, { type: "decay" }>[],
    rule,
    post,
    schedule: lr ? lr.schedule : UNIT_LR,
  };
}

/** A glob on the whole name (`*` = any characters), or the RegExp itself. */
export function namePattern(match: string | RegExp): RegExp {
  // Without g/y flags, so that test() keeps no state between blocks.
  if (match instanceof RegExp) return new RegExp(match.source, match.flags.replace(/[gy]/g, ""));
  const escaped = match.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

/** Per block, the multiplier of the first matching rule (1 when none matches). */
function multipliers(rules: readonly LrRule[], layout: ParamLayout): number[] {
  const patterns = rules.map((r) => namePattern(r.match));
  patterns.forEach((pattern, i) => {
    if (!layout.blocks.some((b) => pattern.test(b.name))) {
      throw new Error(
        `gradscope: lrMultipliers: pattern ${String(rules[i].match)} matches no parameter block`,
      );
    }
  });
  return layout.blocks.map((b) => {
    const i = patterns.findIndex((pattern) => pattern.test(b.name));
    return i < 0 ? 1 : rules[i].scale;
  });
}

function masked(mask: BlockMask, block: ParamBlock, rate: number): number {
  return mask(block) ? rate : 0;
}

/** Words per entry of the block table (struct Block in kernels/optim_apply.wgsl). */
export const BLOCK_WORDS = 8;

/** The coefficients (end, α, λlr, λ, l2) of every block, folded from the chain's parts. */
export function blockCoefficients(plan: Plan, layout: ParamLayout): Float32Array {
  const table = new Float32Array(Math.max(1, layout.blocks.length) * BLOCK_WORDS);
  const ends = new Uint32Array(table.buffer);
  const scales = plan.post.map((p) => p.type === "multipliers" ? multipliers(p.rules, layout) : null);
  layout.blocks.forEach((block, k) => {
    let alpha = 1, decayLr = 0, decay = 0, lrSeen = false;
    // Walk backwards: a part is scaled by every multiplier and learning rate after it.
    for (let j = plan.post.length - 1; j >= 0; j--) {
      const part = plan.post[j];
      if (part.type === "multipliers") alpha *= scales[j]![k];
      else if (part.type === "lr") lrSeen = true;
      else if (part.type === "decay") {
        const c = masked(part.mask, block, part.rate) * alpha;
        if (lrSeen) decayLr += c;
        else decay += c;
      }
    }
    const l2 = plan.pre.reduce((sum, part) => sum + masked(part.mask, block, part.rate), 0);
    ends[k * BLOCK_WORDS] = block.offset + block.size;
    table.set([alpha, decayLr, decay, l2], k * BLOCK_WORDS + 1);
  });
  return table;
}

/** The block index of every granule of {@linkcode BLOCK_ALIGN} floats. */
export function granuleBlocks(layout: ParamLayout): Uint32Array {
  const ids = new Uint32Array(Math.max(1, Math.ceil(layout.size / BLOCK_ALIGN)));
  layout.blocks.forEach((block, k) => {
    const first = block.offset / BLOCK_ALIGN;
    const end = Math.ceil((block.offset + block.size) / BLOCK_ALIGN);
    ids.fill(k, first, end);
  });
  return ids;
}

/** Both GPU tables of a chain over a layout. */
export function buildTables(plan: Plan, layout: ParamLayout): { ids: Uint32Array; table: Float32Array } {
  return { ids: granuleBlocks(layout), table: blockCoefficients(plan, layout) };
}

/**
 * Uniform parameters of a rule's apply kernel (struct Params in kernels/optim_apply.wgsl):
 * the element count n, the batch size B of the statistics, and the hyperparameters.
 */
export function applyParams(rule: RuleSpec, n: number, batch = 1): ArrayBuffer {
  const bytes = new ArrayBuffer(48);
  new Uint32Array(bytes).set([n, batch]);
  new Float32Array(bytes).set(rule.hyper, 4);
  return bytes;
}

const KIND_CODE: Record<Schedule["kind"], number> = { constant: 0, cosine: 1, linear: 2, step: 3 };

/** Uniform parameters of the control kernel (struct Tick in kernels/optim_control.wgsl). */
export function tickParams(plan: Plan, nBlocks: number): ArrayBuffer {
  const s = plan.schedule;
  const [delta1 = 1, delta2 = 1] = plan.rule.corrections ?? [];
  const values = [
    KIND_CODE[s.kind],
    nBlocks,
    s.warmupSteps,
    Math.max(1, s.steps),
    s.lr,
    s.warmupInit,
    s.finalLr,
    s.gamma,
    plan.clip ?? 0,
    delta1,
    delta2,
    0,
  ];
  return packParams(values, values.map((_, i) => i >= 4));
}
