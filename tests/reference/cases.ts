/**
 * Model test cases shared by the reference finite-difference tests and the GPU model tests:
 * tiny configs covering every norm placement, attention mode, input and head, with random
 * parameters and batches.
 */
import type { TransformerConfig } from "../../src/nn/config.ts";
import { initParams } from "../../src/nn/init.ts";
import type { ParamLayout } from "../../src/nn/layout.ts";
import { Rng } from "../../src/nn/rng.ts";
import type { RefBatch } from "./transformer.ts";

function randn(rng: Rng, n: number, std = 1): Float64Array {
  return Float64Array.from({ length: n }, () => std * rng.normal());
}

export const B = 3;
export const T = 5;
export const VOCAB = 11;
export const N_CLASSES = 4;
export const PADDED = new Int32Array([5, 3, 2]);

export function tokenConfig(
  norm: TransformerConfig["norm"],
  causal: boolean,
  head: TransformerConfig["head"],
): TransformerConfig {
  return {
    dModel: 8,
    nHeads: 2,
    nLayers: 2,
    dMlp: 12,
    seqLen: T,
    norm,
    causal,
    input: { kind: "tokens", vocabSize: VOCAB },
    head,
  };
}

export function patchConfig(
  norm: TransformerConfig["norm"],
  causal: boolean,
  pool: "cls" | "mean",
): TransformerConfig {
  return {
    ...tokenConfig(norm, causal, { kind: "classify", nClasses: N_CLASSES, pool }),
    input: { kind: "patches", imageSize: 4, patchSize: 2, channels: 2 },
  };
}

/** initParams scaled up (weights std ≈ 0.5) with random LN gains/shifts and biases, in float64. */
export function randomParams(config: TransformerConfig, layout: ParamLayout, seed: number): Float64Array {
  const params = Float64Array.from(initParams(config, layout, seed));
  const rng = new Rng(seed + 1000);
  for (const block of layout.blocks) {
    const view = layout.view(params, block.name);
    for (let i = 0; i < view.length; i++) {
      if (block.kind === "weight" || block.kind === "embedding") view[i] *= 25;
      else if (block.kind === "bias") view[i] = 0.3 * rng.normal();
      else view[i] = block.name.endsWith(".weight") ? 1 + 0.3 * rng.normal() : 0.3 * rng.normal();
    }
  }
  return params;
}

/**
 * A random batch of `size` examples (default {@linkcode B}) at the config's sequence length;
 * LM targets past each length are −1, and example 2 of an LM batch has one more −1.
 */
export function randomBatch(
  config: TransformerConfig,
  seed: number,
  lengths?: Int32Array,
  size = B,
): RefBatch {
  const rng = new Rng(seed);
  const B = size, T = config.seqLen;
  const batch: RefBatch = { B, lengths, targets: new Int32Array(0) };
  if (config.input.kind === "tokens") {
    batch.tokens = Int32Array.from({ length: B * T }, () => rng.int(VOCAB));
  } else {
    const { channels, imageSize } = config.input;
    batch.images = randn(rng, B * channels * imageSize * imageSize);
  }
  if (config.head.kind === "lm") {
    batch.targets = Int32Array.from({ length: B * T }, (_, r) => {
      const [b, t] = [Math.floor(r / T), r % T];
      return t >= (lengths?.[b] ?? T) || (b === 2 && t === 0) ? -1 : rng.int(VOCAB);
    });
  } else {
    batch.targets = Int32Array.from({ length: B }, () => rng.int(N_CLASSES));
  }
  return batch;
}

export interface Case {
  name: string;
  config: TransformerConfig;
  lengths?: Int32Array;
}

export const lm = (tied: boolean) => ({ kind: "lm", tied }) as const;
export const cls = (pool: "cls" | "mean") => ({ kind: "classify", nClasses: N_CLASSES, pool }) as const;

export const CASES: Case[] = [
  { name: "pre causal LM untied", config: tokenConfig("pre", true, lm(false)) },
  { name: "pre causal LM tied, padded", config: tokenConfig("pre", true, lm(true)), lengths: PADDED },
  { name: "post causal LM untied", config: tokenConfig("post", true, lm(false)) },
  {
    name: "post bidirectional LM tied, padded",
    config: tokenConfig("post", false, lm(true)),
    lengths: PADDED,
  },
  { name: "none causal LM tied", config: tokenConfig("none", true, lm(true)) },
  { name: "none bidirectional LM untied", config: tokenConfig("none", false, lm(false)) },
  {
    name: "pre bidirectional classify cls, padded",
    config: tokenConfig("pre", false, cls("cls")),
    lengths: PADDED,
  },
  {
    name: "pre causal classify mean, padded",
    config: tokenConfig("pre", true, cls("mean")),
    lengths: PADDED,
  },
  {
    name: "post bidirectional classify mean, padded",
    config: tokenConfig("post", false, cls("mean")),
    lengths: PADDED,
  },
  { name: "none bidirectional classify cls", config: tokenConfig("none", false, cls("cls")) },
  {
    name: "none bidirectional classify mean, padded",
    config: tokenConfig("none", false, cls("mean")),
    lengths: PADDED,
  },
  { name: "pre bidirectional patches cls", config: patchConfig("pre", false, "cls") },
  { name: "post bidirectional patches mean", config: patchConfig("post", false, "mean") },
  { name: "none causal patches mean", config: patchConfig("none", true, "mean") },
];
