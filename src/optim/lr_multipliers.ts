/**
 * Per-block learning-rate multipliers, selected by block name.
 *
 * @module
 */

import { GradientTransformation, type LrRule } from "./transform.ts";
import { check } from "./validate.ts";

/**
 * Multiplies the update of each block by the scale of the first rule whose pattern matches
 * its name (1 when none does), like torch parameter groups with their own `lr`: the
 * multiplier scales everything before it in the chain, weight decay included. A string
 * pattern is a glob on the whole name, where `*` matches any characters, dots included.
 * `init` throws if a pattern matches no block, which catches typos.
 *
 * @example
 * ```ts
 * import { adamw, chain, lrMultipliers } from "./mod.ts";
 * const opt = chain(adamw({ lr: 1e-3 }), lrMultipliers([
 *   { match: "embed.*", scale: 0.1 },
 *   { match: /\.bias$/, scale: 2 },
 * ]));
 * ```
 */
export function lrMultipliers(rules: readonly LrRule[]): GradientTransformation {
  rules.forEach((r, i) => {
    check("lrMultipliers", `rules[${i}].scale`, r.scale, "nonNegative");
    if (typeof r.match !== "string" && !(r.match instanceof RegExp)) {
      throw new TypeError(`gradscope: lrMultipliers: rules[${i}].match must be a string or RegExp`);
    }
  });
  return new GradientTransformation([{ type: "multipliers", rules: rules.map((r) => ({ ...r })) }]);
}
