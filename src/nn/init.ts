/**
 * GPT-2 style initialisation of the flat parameters, seeded and deterministic.
 *
 * @module
 */

import type { TransformerConfig } from "./config.ts";
import { isResidualProjection, type ParamLayout } from "./layout.ts";
import { Rng } from "./rng.ts";

/** Standard deviation of weights and embeddings (GPT-2). */
export const INIT_STD = 0.02;

/**
 * Initial parameters: weights and embeddings from normal(0, 0.02), residual projections
 * (`attn.proj`, `mlp.proj`) scaled by 1/√(2·nLayers), biases 0, LayerNorm gains 1 and
 * shifts 0. Blocks are drawn in layout order from one {@linkcode Rng}, so the same seed
 * gives the same parameters.
 *
 * @example
 * ```ts
 * import { initParams, transformerLayout } from "./mod.ts";
 * const config = {
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: true },
 * } as const;
 * const params = initParams(config, transformerLayout(config), 0);
 * ```
 */
export function initParams(config: TransformerConfig, layout: ParamLayout, seed: number): Float32Array {
  const rng = new Rng(seed);
  const flat = new Float32Array(layout.size);
  const residualScale = 1 / Math.sqrt(2 * config.nLayers);
  for (const block of layout.blocks) {
    const view = flat.subarray(block.offset, block.offset + block.size);
    if (block.kind === "bias") continue;
    if (block.kind === "norm") {
      if (block.name.endsWith(".weight")) view.fill(1);
      continue;
    }
    const std = INIT_STD * (isResidualProjection(block.name) ? residualScale : 1);
    for (let i = 0; i < view.length; i++) view[i] = std * rng.normal();
  }
  return flat;
}
