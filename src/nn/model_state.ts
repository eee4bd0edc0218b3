/**
 * The tensors a `Transformer` owns: parameters, gradients, inputs, saved activations
 * and backward scratch, allocated once for a batch size; and the scratch of per-example
 * statistics. Internal to src/nn/.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { TransformerConfig } from "./config.ts";
import type { ParamLayout } from "./layout.ts";
import { patchCount } from "./patch_embedding.ts";

/** Saved activations of one block, kept for its backward pass. */
export interface BlockActivations {
  xIn: Tensor;
  ln1: NormActivations | null;
  qkv: Tensor;
  probs: Tensor;
  attnOut: Tensor;
  x1: Tensor;
  r1: Tensor | null;
  ln2: NormActivations | null;
  fc: Tensor;
  act: Tensor;
  r2: Tensor | null;
  xOut: Tensor;
}

export interface NormActivations {
  y: Tensor;
  mean: Tensor;
  rstd: Tensor;
}

export function vocabSize(config: TransformerConfig): number {
  return config.input.kind === "tokens" ? config.input.vocabSize : 0;
}

export interface ModelInputs {
  tokens: Tensor<"i32"> | null;
  images: Tensor | null;
  lengths: Tensor<"i32">;
  targets: Tensor<"i32">;
  weights: Tensor;
  weightsHost: Float32Array<ArrayBuffer>;
  fullLengths: Int32Array;
}

export interface ModelState {
  params: Tensor;
  grads: Tensor;
  loss: Tensor;
  exampleLosses: Tensor;
  logits: Tensor;
  dlogits: Tensor;
  rowLosses: Tensor;
  inputs: ModelInputs;
  blocks: BlockActivations[];
  embedOut: Tensor;
  patches: Tensor | null;
  patchOut: Tensor | null;
  lnF: NormActivations | null;
  pooled: Tensor | null;
  scratch: BackwardScratch;
  owned: Tensor[];
}

export interface BackwardScratch {
  gA: Tensor;
  gB: Tensor;
  dqkv: Tensor;
  dprobs: Tensor;
  dattn: Tensor;
  dact: Tensor;
  dfc: Tensor;
  dpooled: Tensor | null;
  dpatchOut: Tensor | null;
}

/** Allocates every tensor the model needs for batches of B. */
export function allocate(gpu: Gpu, config: TransformerConfig, layout: ParamLayout, B: number): ModelState {
  const owned: Tensor[] = [];
  const T = config.seqLen, d = config.dModel, R = B * T, F = config.dMlp, H = config.nHeads;
  const f32 = (shape: number[], label: string) => {
    const t = new Tensor(gpu, shape, "f32", label);
    owned.push(t);
    return t;
  };
  const i32 = (shape: number[], label: string) => {
    const t = new Tensor(gpu, shape, "i32", label);
    owned.push(t as unknown as Tensor);
    return t;
  };
  const norm = (label: string): NormActivations => ({
    y: f32([R, d], `${label}.y`),
    mean: f32([R], `${label}.mean`),
    rstd: f32([R], `${label}.rstd`),
  });
  const hasNorm = config.norm !== "none", post = config.norm === "post";
  const lm = config.head.kind === "lm";
  const rows = lm ? R : B;
  const nOut = lm ? vocabSize(config) : (config.head as { nClasses: number }).nClasses;
  const embedOut = f32([R, d], "embed.out");
  const blocks: BlockActivations[] = [];
  let xIn = embedOut;
  for (let i = 0; i < config.nLayers; i++) {
    const name = `blocks.${i}`;
    const ln1 = hasNorm ? norm(`${name}.ln1`) : null;
    const ln2 = hasNorm ? norm(`${name}.ln2`) : null;
    // Post-LN blocks end in a norm, so the norm outputs are the residual stream itself.
    const x1 = post ? ln1!.y : f32([R, d], `${name}.x1`);
    const xOut = post ? ln2!.y : f32([R, d], `${name}.out`);
    blocks.push({
      xIn,
      ln1,
      qkv: f32([R, 3 * d], `${name}.qkv`),
      probs: f32([B, H, T, T], `${name}.probs`),
      attnOut: f32([R, d], `${name}.attn`),
      x1,
      r1: post ? f32([R, d], `${name}.r1`) : null,
      ln2,
      fc: f32([R, F], `${name}.fc`),
      act: f32([R, F], `${name}.act`),
      r2: post ? f32([R, d], `${name}.r2`) : null,
      xOut,
    });
    xIn = xOut;
  }
  const patchInput = config.input.kind === "patches" ? config.input : null;
  const nPatches = patchInput ? patchCount({ ...patchInput, batch: B, dModel: d }) : 0;
  const patchWidth = patchInput ? patchInput.channels * patchInput.patchSize ** 2 : 0;
  const inputs: ModelInputs = {
    tokens: patchInput ? null : i32([R], "tokens"),
    images: patchInput ? f32([B * patchInput.channels * patchInput.imageSize ** 2], "images") : null,
    lengths: i32([B], "lengths"),
    targets: i32([rows], "targets"),
    weights: f32([rows], "loss.weights"),
    weightsHost: new Float32Array(rows),
    fullLengths: new Int32Array(B).fill(T),
  };
  return {
    params: f32([layout.size], "params"),
    grads: f32([layout.size], "grads"),
    loss: f32([1], "loss"),
    exampleLosses: f32([B], "loss.examples"),
    logits: f32([rows, nOut], "logits"),
    dlogits: f32([rows, nOut], "logits.grad"),
    rowLosses: f32([rows], "loss.rows"),
    inputs,
    blocks,
    embedOut,
    patches: patchInput ? f32([B * nPatches, patchWidth], "patches") : null,
    patchOut: patchInput ? f32([B * nPatches, d], "patches.out") : null,
    lnF: config.norm === "pre" ? norm("ln_f") : null,
    pooled: lm ? null : f32([B, d], "pooled"),
    scratch: {
      gA: f32([R, d], "grad.a"),
      gB: f32([R, d], "grad.b"),
      dqkv: f32([R, 3 * d], "grad.qkv"),
      dprobs: f32([B, H, T, T], "grad.probs"),
      dattn: f32([R, d], "grad.attn"),
      dact: f32([R, F], "grad.act"),
      dfc: f32([R, F], "grad.fc"),
      dpooled: lm ? null : f32([B, d], "grad.pooled"),
      dpatchOut: patchInput ? f32([B * nPatches, d], "grad.patches") : null,
    },
    owned,
  };
}

/** Scratch the statistics need beyond the activations. */
export interface StatScratch {
  xhat: Tensor;
  mean: Tensor;
  rstd: Tensor;
  ones: Tensor;
  zeros: Tensor;
  clsMask: Tensor | null;
  tokenX: Tensor | null;
  tokenDy: Tensor | null;
}

export interface StatBuffers {
  sumSq: Tensor | null;
  sumSign: Tensor | null;
  norms: Tensor | null;
  scratch: StatScratch;
}

/**
 * x̂ for LayerNorm γ statistics; the position-0 mask for a CLS embedding; the stacked
 * per-example rows of the token embedding's product (one-hot, and the head's when tied).
 */
export function allocateStatScratch(gpu: Gpu, config: TransformerConfig, B: number): StatScratch {
  const T = config.seqLen, d = config.dModel, R = B * T;
  const f32 = (shape: number[], label: string) => new Tensor(gpu, shape, "f32", label);
  let clsMask: Tensor | null = null, tokenX: Tensor | null = null, tokenDy: Tensor | null = null;
  if (config.input.kind === "patches") {
    clsMask = Tensor.from(
      gpu,
      [R, d],
      Float32Array.from({ length: R * d }, (_, i) => Math.floor(i / d) % T ? 0 : 1),
    );
  } else {
    const tied = config.head.kind === "lm" && config.head.tied;
    const rows = B * T * (tied ? 2 : 1), V = config.input.vocabSize;
    const limit = gpu.device.limits.maxStorageBufferBindingSize;
    if (rows * V * 4 > limit) {
      throw new RangeError(
        `gradscope: per-example statistics of the token embedding need ${rows}×${V} floats of scratch, ` +
          `over the adapter's ${limit}-byte binding limit; use a smaller batch or vocabulary`,
      );
    }
    tokenX = f32([rows, V], "stats.tokens.x");
    tokenDy = f32([rows, d], "stats.tokens.dy");
  }
  return {
    xhat: f32([R, d], "stats.xhat"),
    mean: f32([R], "stats.xhat.mean"),
    rstd: f32([R], "stats.xhat.rstd"),
    ones: Tensor.from(gpu, [d], new Float32Array(d).fill(1), "f32", "stats.ones"),
    zeros: f32([d], "stats.zeros"),
    clsMask,
    tokenX,
    tokenDy,
  };
}
