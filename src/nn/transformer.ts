/**
 * The transformer on the GPU: layers sequenced forward and backward (llm.c style), all
 * activations allocated once for a fixed batch size and reused every step.
 *
 * @module
 */

import type { Batch } from "../data/batch.ts";
import type { Gpu } from "../gpu/device.ts";
import { Program, slice, submit } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import { recordAxpby } from "../ops/elementwise.ts";
import { recordMatmul } from "../ops/matmul.ts";
import { recordCopyExampleRows, recordOneHotExampleRows } from "../stats/example_rows.ts";
import {
  recordPerExampleColumnSum,
  recordPerExampleDirect,
  recordPerExampleLinearGrad,
  type StatOutputs,
} from "../stats/per_example.ts";
import { type AttentionShape, recordAttentionBackward, recordAttentionForward } from "./attention.ts";
import type { TransformerConfig } from "./config.ts";
import { exampleMeanWeights, recordCrossEntropy, recordLossReduce } from "./cross_entropy.ts";
import { type EmbeddingBackward, recordEmbeddingBackward, recordEmbeddingForward } from "./embedding.ts";
import { recordGeluBackward, recordGeluForward } from "./gelu.ts";
import { initParams } from "./init.ts";
import { recordLayerNormBackward, recordLayerNormForward } from "./layer_norm.ts";
import { type ParamLayout, transformerLayout } from "./layout.ts";
import {
  type LinearBackwardIo,
  type LinearShape,
  recordLinearForward,
  recordLinearInputGrad,
  recordLinearParamGrad,
} from "./linear.ts";
import {
  patchCount,
  recordPatchAssemble,
  recordPatchAssembleBackward,
  recordPatchGather,
} from "./patch_embedding.ts";
import { recordPool, recordPoolBackward } from "./pool.ts";

/** Options of {@linkcode Transformer.create}. */
export interface TransformerOptions {
  /** Examples per batch; activations are sized for it. */
  batchSize: number;
  /** Seed of the GPT-2 initialisation (ignored when `params` is given). */
  seed?: number;
  /** Initial flat parameters in the layout (e.g. from a checkpoint). */
  params?: Float32Array;
}

/** Saved activations of one block, kept for its backward pass. */
interface BlockActivations {
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

interface NormActivations {
  y: Tensor;
  mean: Tensor;
  rstd: Tensor;
}

/**
 * Per-example statistics the backward pass computes on request, BackPACK style: the model
 * is unchanged, and only what is asked for is computed. The mean gradient (`grads`) is always
 * computed; with any statistic requested, every weight gradient comes from the per-example
 * kernels, where G_b = ∇ loss_b is formed from example b's own rows.
 */
export interface StatsRequest {
  /** Σ_b G_b ⊙ G_b, into {@linkcode GradientStatistics.sumSq}. */
  sumSq?: boolean;
  /** Σ_b sign(G_b), into {@linkcode GradientStatistics.sumSign}. */
  sumSign?: boolean;
  /** ‖G_b‖² per example and block, a [B, nBlocks] table in layout block order. */
  norms?: boolean;
}

/** The statistics tensors; each is null until a request first asks for it. */
export interface GradientStatistics {
  /** Flat Σ_b G_b², same layout as the parameters. */
  sumSq: Tensor | null;
  /** Flat Σ_b sign(G_b). */
  sumSign: Tensor | null;
  /** Per-example squared norms [B, nBlocks]: row b, column = index of the block in the layout. */
  norms: Tensor | null;
}

/**
 * A transformer whose parameters, gradients and activations live on the GPU.
 *
 * Each step: {@linkcode Transformer.setBatch} uploads the batch into preallocated tensors,
 * then {@linkcode Transformer.forwardBackward} submits the recorded forward and backward
 * programs. `grads` holds the gradient of the batch loss (the mean of the per-example losses)
 * in the flat layout; `loss` and `exampleLosses` stay on the GPU until read. A
 * {@linkcode StatsRequest} adds per-example statistics to the same backward pass.
 *
 * @example
 * ```ts
 * import { getDevice, Transformer } from "./mod.ts";
 * const gpu = await getDevice();
 * const model = await Transformer.create(gpu, {
 *   dModel: 16, nHeads: 2, nLayers: 1, dMlp: 32, seqLen: 8, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 32 }, head: { kind: "lm", tied: false },
 * }, { batchSize: 2, seed: 0 });
 * const tokens = new Int32Array(16).map((_, i) => i % 32);
 * model.setBatch({ B: 2, tokens, targets: tokens.map((t) => (t + 1) % 32) });
 * await model.forwardBackward({ norms: true });
 * console.log(await model.readLoss()); // ≈ ln 32
 * console.log(await model.statistics.norms!.read()); // [2, nBlocks] squared norms
 * model.destroy();
 * gpu.destroy();
 * ```
 */
export class Transformer {
  /** The configuration. */
  readonly config: TransformerConfig;
  /** The flat parameter layout. */
  readonly layout: ParamLayout;
  /** Examples per batch. */
  readonly batchSize: number;
  /** Flat parameters. */
  readonly params: Tensor;
  /** Flat gradient of the batch loss, same layout. */
  readonly grads: Tensor;
  /** The batch loss, one float. */
  readonly loss: Tensor;
  /** Per-example losses [B]. */
  readonly exampleLosses: Tensor;
  /** Logits: [B·T, V] for an LM head, [B, C] for a classifier. */
  readonly logits: Tensor;
  /** The recorded forward pass (including the loss and its gradient w.r.t. the logits). */
  readonly forwardProgram: Program;
  /** Per-example statistics filled by backward passes that requested them. */
  readonly statistics: GradientStatistics = { sumSq: null, sumSign: null, norms: null };
  readonly #gpu: Gpu;
  readonly #state: ModelState;
  readonly #builder: ProgramBuilder;
  readonly #backwards = new Map<string, Program>();
  readonly #embeddingBackwards: EmbeddingBackward[] = [];
  #statScratch: StatScratch | null = null;
  #tokens: Int32Array | null = null;

  private constructor(gpu: Gpu, state: ModelState, builder: ProgramBuilder, forward: Program) {
    this.#gpu = gpu;
    this.#state = state;
    this.#builder = builder;
    this.config = builder.config;
    this.layout = builder.layout;
    this.batchSize = builder.batchSize;
    this.params = state.params;
    this.grads = state.grads;
    this.loss = state.loss;
    this.exampleLosses = state.exampleLosses;
    this.logits = state.logits;
    this.forwardProgram = forward;
  }

  /**
   * Validates the config (throwing before anything is allocated), allocates parameters,
   * gradients and activations, and records the forward and the plain backward program.
   */
  static async create(
    gpu: Gpu,
    config: TransformerConfig,
    options: TransformerOptions,
  ): Promise<Transformer> {
    const layout = transformerLayout(config);
    const B = options.batchSize;
    if (!Number.isInteger(B) || B < 1) throw new RangeError(`gradscope: batchSize must be ≥ 1, got ${B}`);
    if (options.params && options.params.length !== layout.size) {
      throw new RangeError(
        `gradscope: params hold ${options.params.length} floats, the layout needs ${layout.size}`,
      );
    }
    const state = allocate(gpu, config, layout, B);
    state.params.write(options.params ?? initParams(config, layout, options.seed ?? 0));
    const builder = new ProgramBuilder(gpu, config, layout, B, state);
    let forward: Program | null = null;
    try {
      forward = await builder.forward();
      const model = new Transformer(gpu, state, builder, forward);
      await model.backwardProgram();
      return model;
    } catch (error) {
      forward?.destroy();
      for (const t of state.owned) t.destroy();
      throw error;
    }
  }

  /** Uploads a batch into the preallocated input tensors (no GPU allocation). */
  setBatch(batch: Batch): void {
    const { config, batchSize: B } = this;
    const T = config.seqLen;
    const inputs = this.#state.inputs;
    if (batch.B !== B) throw new RangeError(`gradscope: batch.B is ${batch.B}, the model was built for ${B}`);
    const lengths = batch.lengths ?? inputs.fullLengths;
    expectLength("lengths", lengths, B);
    for (const n of lengths) {
      if (!Number.isInteger(n) || n < 0 || n > T) {
        throw new RangeError(`gradscope: length ${n} outside [0, ${T}]`);
      }
    }
    inputs.lengths.write(lengths);
    if (config.input.kind === "tokens") {
      if (!batch.tokens) throw new RangeError("gradscope: a token model needs batch.tokens");
      expectLength("tokens", batch.tokens, B * T);
      inputs.tokens!.write(batch.tokens);
      this.#tokens = batch.tokens;
      for (const e of this.#embeddingBackwards) e.setTokens(batch.tokens);
    } else {
      if (!batch.images) throw new RangeError("gradscope: a patch model needs batch.images");
      const { channels: C, imageSize: S } = config.input;
      expectLength("images", batch.images, B * C * S * S);
      inputs.images!.write(batch.images);
    }
    this.#writeTargets(batch.targets, lengths);
  }

  #writeTargets(targets: Int32Array, lengths: Int32Array): void {
    const { config, batchSize: B } = this;
    const T = config.seqLen, lm = config.head.kind === "lm";
    const nClasses = lm ? vocabSize(config) : (config.head as { nClasses: number }).nClasses;
    const rows = lm ? B * T : B;
    expectLength("targets", targets, rows);
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      if (!Number.isInteger(t) || t < -1 || t >= nClasses) {
        throw new RangeError(`gradscope: target ${t} at row ${r} is outside [-1, ${nClasses})`);
      }
      if (lm && r % T >= lengths[Math.floor(r / T)] && t !== -1) {
        throw new RangeError(
          `gradscope: target at padded position ${r % T} of example ${Math.floor(r / T)} must be -1`,
        );
      }
    }
    const inputs = this.#state.inputs;
    inputs.targets.write(targets);
    inputs.weights.write(exampleMeanWeights(targets, B, nClasses, inputs.weightsHost));
  }

  /** Submits the forward pass only (loss, logits, and the logit gradient). */
  forward(): void {
    this.forwardProgram.run();
  }

  /**
   * The backward program for a request, recorded on first use and cached: the plain pass
   * when nothing is requested.
   */
  async backwardProgram(request: StatsRequest = {}): Promise<Program> {
    const key = statsKey(request);
    let program = this.#backwards.get(key);
    if (!program) {
      const stats = key ? this.#statBuffers(request) : null;
      const recorded = await this.#builder.backward(stats);
      program = recorded.backward;
      if (recorded.embeddingBackward) {
        this.#embeddingBackwards.push(recorded.embeddingBackward);
        if (this.#tokens) recorded.embeddingBackward.setTokens(this.#tokens);
      }
      this.#backwards.set(key, program);
    }
    return program;
  }

  /**
   * Submits forward and backward in one submission; `grads` then holds the batch gradient
   * and {@linkcode Transformer.statistics} whatever `request` asked for.
   */
  async forwardBackward(request: StatsRequest = {}): Promise<void> {
    const backward = await this.backwardProgram(request);
    submit(this.#gpu, [...this.forwardProgram.dispatches, ...backward.dispatches]);
  }

  /**
   * The loss weight of each logit row ([B·T] for an LM head, [B] for a classifier): the batch
   * gradient is Σ_rows weight · ∇ row loss. `setBatch` writes them; per-example clipping
   * rescales them between two passes.
   */
  get lossWeights(): Tensor {
    return this.#state.inputs.weights;
  }

  /** Logit rows per example: T for an LM head, 1 for a classifier. */
  get rowsPerExample(): number {
    return this.config.head.kind === "lm" ? this.config.seqLen : 1;
  }

  /** Reads the batch loss back (one `mapAsync`). */
  async readLoss(): Promise<number> {
    return (await this.loss.read())[0];
  }

  /** Allocates the requested statistics tensors (once each) and the shared scratch. */
  #statBuffers(request: StatsRequest): StatBuffers {
    const gpu = this.#gpu, P = this.layout.size, st = this.statistics;
    if (request.sumSq) st.sumSq ??= new Tensor(gpu, [P], "f32", "stats.sumSq");
    if (request.sumSign) st.sumSign ??= new Tensor(gpu, [P], "f32", "stats.sumSign");
    if (request.norms) {
      st.norms ??= new Tensor(gpu, [this.batchSize, this.layout.blocks.length], "f32", "stats.norms");
    }
    this.#statScratch ??= allocateStatScratch(gpu, this.config, this.batchSize);
    return {
      sumSq: request.sumSq ? st.sumSq : null,
      sumSign: request.sumSign ? st.sumSign : null,
      norms: request.norms ? st.norms : null,
      scratch: this.#statScratch,
    };
  }

  /** Frees every tensor and recorded program. */
  destroy(): void {
    this.forwardProgram.destroy();
    for (const p of this.#backwards.values()) p.destroy();
    for (const t of this.#state.owned) t.destroy();
    for (const t of Object.values(this.statistics)) t?.destroy();
    if (this.#statScratch) { for (const t of Object.values(this.#statScratch)) t?.destroy(); }
  }
}

function statsKey(request: StatsRequest): string {
  return (["sumSq", "sumSign", "norms"] as const).filter((k) => request[k]).join(",");
}

/** Scratch the statistics need beyond the activations. */
interface StatScratch {
  xhat: Tensor;
  mean: Tensor;
  rstd: Tensor;
  ones: Tensor;
  zeros: Tensor;
  clsMask: Tensor | null;
  tokenX: Tensor | null;
  tokenDy: Tensor | null;
}

interface StatBuffers {
  sumSq: Tensor | null;
  sumSign: Tensor | null;
  norms: Tensor | null;
  scratch: StatScratch;
}

/**
 * x̂ for LayerNorm γ statistics; the position-0 mask for a CLS embedding; the stacked
 * per-example rows of the token embedding's product (one-hot, and the head's when tied).
 */
function allocateStatScratch(gpu: Gpu, config: TransformerConfig, B: number): StatScratch {
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

function expectLength(name: string, array: ArrayLike<number>, n: number): void {
  if (array.length !== n) {
    throw new RangeError(`gradscope: batch.${name} has ${array.length} entries, expected ${n}`);
  }
}

function vocabSize(config: TransformerConfig): number {
  return config.input.kind === "tokens" ? config.input.vocabSize : 0;
}

interface ModelInputs {
  tokens: Tensor<"i32"> | null;
  images: Tensor | null;
  lengths: Tensor<"i32">;
  targets: Tensor<"i32">;
  weights: Tensor;
  weightsHost: Float32Array<ArrayBuffer>;
  fullLengths: Int32Array;
}

interface ModelState {
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

interface BackwardScratch {
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
function allocate(gpu: Gpu, config: TransformerConfig, layout: ParamLayout, B: number): ModelState {
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

/** Records the forward and backward programs over the allocated tensors. */
class ProgramBuilder {
  readonly #gpu: Gpu;
  readonly #config: TransformerConfig;
  readonly #layout: ParamLayout;
  readonly #B: number;
  readonly #s: ModelState;
  /** Where statistics go while a backward pass with a request is being recorded. */
  #stats: StatBuffers | null = null;

  constructor(gpu: Gpu, config: TransformerConfig, layout: ParamLayout, B: number, state: ModelState) {
    this.#gpu = gpu;
    this.#config = config;
    this.#layout = layout;
    this.#B = B;
    this.#s = state;
  }

  get config(): TransformerConfig {
    return this.#config;
  }

  get layout(): ParamLayout {
    return this.#layout;
  }

  get batchSize(): number {
    return this.#B;
  }

  get #rows(): number {
    return this.#B * this.#config.seqLen;
  }

  #param(name: string) {
    const block = this.#layout.get(name);
    return slice(this.#s.params, block.offset, block.size);
  }

  #grad(name: string) {
    const block = this.#layout.get(name);
    return slice(this.#s.grads, block.offset, block.size);
  }

  #linear(name: string, nIn: number, nOut: number, rows = this.#rows): LinearShape {
    return { layout: this.#layout, name, rows, nIn, nOut };
  }

  get #attentionShape(): AttentionShape {
    const c = this.#config;
    return { batch: this.#B, seqLen: c.seqLen, heads: c.nHeads, dModel: c.dModel, causal: c.causal };
  }

  #layerNorm(name: string, x: Tensor, out: NormActivations): Promise<Program> {
    const { y, mean, rstd } = out;
    return recordLayerNormForward(this.#gpu, {
      x,
      gamma: this.#param(`${name}.weight`),
      beta: this.#param(`${name}.bias`),
      y,
      mean,
      rstd,
      rows: this.#rows,
      d: this.#config.dModel,
    });
  }

  async #layerNormBackward(
    name: string,
    dy: Tensor,
    x: Tensor,
    saved: NormActivations,
    dx: Tensor,
    accumulate: boolean,
  ): Promise<Program> {
    const program = await recordLayerNormBackward(this.#gpu, {
      dy,
      x,
      mean: saved.mean,
      rstd: saved.rstd,
      gamma: this.#param(`${name}.weight`),
      dx,
      dgamma: this.#grad(`${name}.weight`),
      dbeta: this.#grad(`${name}.bias`),
      rows: this.#rows,
      d: this.#config.dModel,
      accumulate,
    });
    if (!this.#stats) return program;
    // Per-example γ and β gradients: Σ_t dy·x̂ and Σ_t dy over each example's rows, with
    // x̂ recomputed by a LayerNorm of unit gain and zero shift.
    const st = this.#stats, T = this.#config.seqLen, B = this.#B;
    program.append(
      await recordLayerNormForward(this.#gpu, {
        x,
        gamma: st.scratch.ones,
        beta: st.scratch.zeros,
        y: st.scratch.xhat,
        mean: st.scratch.mean,
        rstd: st.scratch.rstd,
        rows: this.#rows,
        d: this.#config.dModel,
      }),
    );
    const n = this.#config.dModel;
    program.append(
      await recordPerExampleColumnSum(
        this.#gpu,
        { dy, v: st.scratch.xhat, batch: B, rowsPerExample: T, n, scale: B },
        this.#statOutputs(`${name}.weight`),
      ),
    );
    return program.append(
      await recordPerExampleColumnSum(
        this.#gpu,
        { dy, batch: B, rowsPerExample: T, n, scale: B },
        this.#statOutputs(`${name}.bias`),
      ),
    );
  }

  /** Where a block's statistics go: its slices of grads, sumSq, sumSign and its norms column. */
  #statOutputs(name: string): StatOutputs {
    const st = this.#stats!;
    const block = this.#layout.get(name);
    const sliceOf = (t: Tensor | null) => t ? slice(t, block.offset, block.size) : undefined;
    return {
      mean: sliceOf(this.#s.grads),
      sumSq: sliceOf(st.sumSq),
      sumSign: sliceOf(st.sumSign),
      norms: st.norms
        ? { table: st.norms, col: this.#layout.blocks.indexOf(block), nCols: this.#layout.blocks.length }
        : undefined,
    };
  }

  /**
   * A linear layer's backward: the plain weight gradient, or with statistics the per-example
   * kernel over examples of `rowsPerExample` rows; then dx.
   */
  async #linearBackward(
    shape: LinearShape,
    io: LinearBackwardIo,
    rowsPerExample = this.#config.seqLen,
  ): Promise<Program> {
    const gpu = this.#gpu;
    if (!this.#stats) {
      const program = await recordLinearParamGrad(gpu, shape, io);
      return program.append(await recordLinearInputGrad(gpu, shape, io));
    }
    const B = this.#B, { nIn, nOut, name } = shape;
    const program = await recordPerExampleLinearGrad(
      gpu,
      { x: io.x, dy: io.dy, batch: B, rowsPerExample, nIn, nOut, scale: B },
      this.#statOutputs(`${name}.weight`),
    );
    if (this.#layout.has(`${name}.bias`)) {
      program.append(
        await recordPerExampleColumnSum(
          gpu,
          { dy: io.dy, batch: B, rowsPerExample, n: nOut, scale: B },
          this.#statOutputs(`${name}.bias`),
        ),
      );
    }
    return program.append(await recordLinearInputGrad(gpu, shape, io));
  }

  /** Records the whole forward pass, loss included. */
  async forward(): Promise<Program> {
    const p = new Program(this.#gpu);
    const s = this.#s, c = this.#config;
    await this.#embedForward(p);
    for (let i = 0; i < c.nLayers; i++) await this.#blockForward(p, i, s.blocks[i]);
    const last = c.nLayers ? s.blocks[c.nLayers - 1].xOut : s.embedOut;
    let h = last;
    if (s.lnF) {
      p.append(await this.#layerNorm("ln_f", last, s.lnF));
      h = s.lnF.y;
    }
    await this.#headForward(p, h);
    return p;
  }

  async #embedForward(p: Program): Promise<void> {
    const s = this.#s, c = this.#config, gpu = this.#gpu, B = this.#B, d = c.dModel;
    if (c.input.kind === "tokens") {
      p.append(
        await recordEmbeddingForward(gpu, {
          batch: B,
          seqLen: c.seqLen,
          dModel: d,
          vocabSize: c.input.vocabSize,
        }, {
          tokens: s.inputs.tokens!,
          tokenWeight: this.#param("embed.tokens.weight"),
          positionWeight: this.#param("embed.positions.weight"),
          out: s.embedOut,
        }),
      );
      return;
    }
    const shape = { ...c.input, batch: B, dModel: d };
    const width = c.input.channels * c.input.patchSize ** 2;
    p.append(await recordPatchGather(gpu, shape, s.inputs.images!, s.patches!));
    p.append(
      await recordLinearForward(gpu, this.#linear("embed.patch", width, d, B * patchCount(shape)), {
        x: s.patches!,
        params: s.params,
        y: s.patchOut!,
      }),
    );
    p.append(
      await recordPatchAssemble(gpu, shape, {
        patchOut: s.patchOut!,
        cls: this.#param("embed.cls"),
        positionWeight: this.#param("embed.positions.weight"),
        out: s.embedOut,
      }),
    );
  }

  async #blockForward(p: Program, i: number, a: BlockActivations): Promise<void> {
    const gpu = this.#gpu, c = this.#config, d = c.dModel, s = this.#s;
    const name = `blocks.${i}`;
    const pre = c.norm === "pre", post = c.norm === "post";
    // Attention branch: Pre-LN reads LN1(x); Post-LN and no-LN read x.
    let attnIn = a.xIn;
    if (pre) {
      p.append(await this.#layerNorm(`${name}.ln1`, a.xIn, a.ln1!));
      attnIn = a.ln1!.y;
    }
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.attn.qkv`, d, 3 * d), {
        x: attnIn,
        params: s.params,
        y: a.qkv,
      }),
    );
    p.append(
      await recordAttentionForward(gpu, this.#attentionShape, {
        qkv: a.qkv,
        probs: a.probs,
        out: a.attnOut,
        lengths: s.inputs.lengths,
      }),
    );
    // Residual: r1 = x + proj(attn); Post-LN then normalises it.
    const r1 = post ? a.r1! : a.x1;
    p.append(await recordAxpby(gpu, a.xIn, r1, 1, 0));
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.attn.proj`, d, d), {
        x: a.attnOut,
        params: s.params,
        y: r1,
        accumulate: true,
      }),
    );
    if (post) p.append(await this.#layerNorm(`${name}.ln1`, r1, a.ln1!)); // writes x1
    // MLP branch.
    let mlpIn = a.x1;
    if (pre) {
      p.append(await this.#layerNorm(`${name}.ln2`, a.x1, a.ln2!));
      mlpIn = a.ln2!.y;
    }
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.mlp.fc`, d, c.dMlp), {
        x: mlpIn,
        params: s.params,
        y: a.fc,
      }),
    );
    p.append(await recordGeluForward(gpu, { x: a.fc, y: a.act, n: this.#rows * c.dMlp }));
    const r2 = post ? a.r2! : a.xOut;
    p.append(await recordAxpby(gpu, a.x1, r2, 1, 0));
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.mlp.proj`, c.dMlp, d), {
        x: a.act,
        params: s.params,
        y: r2,
        accumulate: true,
      }),
    );
    if (post) p.append(await this.#layerNorm(`${name}.ln2`, r2, a.ln2!)); // writes xOut
  }

  async #headForward(p: Program, h: Tensor): Promise<void> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, B = this.#B, d = c.dModel;
    let rows: number, nClasses: number;
    if (c.head.kind === "lm") {
      rows = this.#rows;
      nClasses = vocabSize(c);
      if (c.head.tied) {
        const tokens = this.#layout.get("embed.tokens.weight");
        p.append(
          await recordMatmul(gpu, {
            a: h,
            b: s.params,
            c: s.logits,
            M: rows,
            N: nClasses,
            K: d,
            transB: true,
            bOffset: tokens.offset,
            ldb: d,
          }),
        );
      } else {
        p.append(
          await recordLinearForward(gpu, this.#linear("head", d, nClasses), {
            x: h,
            params: s.params,
            y: s.logits,
          }),
        );
      }
    } else {
      rows = B;
      nClasses = c.head.nClasses;
      p.append(
        await recordPool(gpu, { batch: B, seqLen: c.seqLen, dModel: d, mode: c.head.pool }, {
          hidden: h,
          lengths: s.inputs.lengths,
          pooled: s.pooled!,
        }),
      );
      p.append(
        await recordLinearForward(gpu, this.#linear("head", d, nClasses, B), {
          x: s.pooled!,
          params: s.params,
          y: s.logits,
        }),
      );
    }
    p.append(
      await recordCrossEntropy(gpu, { rows, nClasses }, {
        logits: s.logits,
        targets: s.inputs.targets,
        weights: s.inputs.weights,
        losses: s.rowLosses,
        dLogits: s.dlogits,
      }),
    );
    p.append(
      await recordLossReduce(gpu, { batch: B, rowsPerExample: rows / B, nClasses }, {
        losses: s.rowLosses,
        targets: s.inputs.targets,
        exampleLosses: s.exampleLosses,
        batchLoss: s.loss,
      }),
    );
  }

  /** Records the whole backward pass, from the logit gradient to every parameter block. */
  async backward(
    stats: StatBuffers | null,
  ): Promise<{ backward: Program; embeddingBackward: EmbeddingBackward | null }> {
    this.#stats = stats;
    try {
      return await this.#recordBackward();
    } finally {
      this.#stats = null;
    }
  }

  async #recordBackward(): Promise<{ backward: Program; embeddingBackward: EmbeddingBackward | null }> {
    const p = new Program(this.#gpu);
    const s = this.#s, c = this.#config;
    // The gradient w.r.t. the residual stream ping-pongs between two scratch buffers.
    let g = s.scratch.gA, other = s.scratch.gB;
    await this.#headBackward(p, this.#headInput(), g);
    if (s.lnF) {
      const last = c.nLayers ? s.blocks[c.nLayers - 1].xOut : s.embedOut;
      p.append(await this.#layerNormBackward("ln_f", g, last, s.lnF, other, false));
      [g, other] = [other, g];
    }
    for (let i = c.nLayers - 1; i >= 0; i--) {
      [g, other] = await this.#blockBackward(p, i, s.blocks[i], g, other);
    }
    const embeddingBackward = await this.#embedBackward(p, g);
    return { backward: p, embeddingBackward };
  }

  async #headBackward(p: Program, h: Tensor, dh: Tensor): Promise<void> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, B = this.#B, d = c.dModel;
    if (c.head.kind === "lm") {
      const V = vocabSize(c), rows = this.#rows;
      if (c.head.tied) {
        // d(tokens.weight) = dlogitsᵀ·h, overwritten here; the embedding backward adds to it.
        const tokens = this.#layout.get("embed.tokens.weight");
        p.append(
          await recordMatmul(gpu, {
            a: s.dlogits,
            b: h,
            c: s.grads,
            M: V,
            N: d,
            K: rows,
            transA: true,
            cOffset: tokens.offset,
          }),
        );
        p.append(
          await recordMatmul(gpu, {
            a: s.dlogits,
            b: s.params,
            c: dh,
            M: rows,
            N: d,
            K: V,
            bOffset: tokens.offset,
          }),
        );
      } else {
        p.append(
          await this.#linearBackward(this.#linear("head", d, V), {
            dy: s.dlogits,
            x: h,
            params: s.params,
            grads: s.grads,
            dx: dh,
          }),
        );
      }
      return;
    }
    const nClasses = c.head.nClasses;
    p.append(
      await this.#linearBackward(this.#linear("head", d, nClasses, B), {
        dy: s.dlogits,
        x: s.pooled!,
        params: s.params,
        grads: s.grads,
        dx: s.scratch.dpooled!,
      }, 1),
    );
    p.append(
      await recordPoolBackward(gpu, { batch: B, seqLen: c.seqLen, dModel: d, mode: c.head.pool }, {
        dPooled: s.scratch.dpooled!,
        lengths: s.inputs.lengths,
        dHidden: dh,
      }),
    );
  }

  /** Backward through block i; `g` holds d(loss)/d(block output). Returns [gradient of input, free buffer]. */
  async #blockBackward(
    p: Program,
    i: number,
    a: BlockActivations,
    g: Tensor,
    other: Tensor,
  ): Promise<[Tensor, Tensor]> {
    const gpu = this.#gpu, c = this.#config, d = c.dModel, s = this.#s, sc = s.scratch, F = c.dMlp;
    const name = `blocks.${i}`;
    const pre = c.norm === "pre", post = c.norm === "post";
    const swap = () => [g, other] = [other, g];
    // MLP branch. Post-LN: g ← LN2ᵀ(g) first.
    if (post) {
      p.append(await this.#layerNormBackward(`${name}.ln2`, g, a.r2!, a.ln2!, other, false));
      swap();
    }
    const mlpIn = pre ? a.ln2!.y : a.x1;
    p.append(
      await this.#linearBackward(this.#linear(`${name}.mlp.proj`, F, d), {
        dy: g,
        x: a.act,
        params: s.params,
        grads: s.grads,
        dx: sc.dact,
      }),
    );
    p.append(await recordGeluBackward(gpu, { dy: sc.dact, x: a.fc, dx: sc.dfc, n: this.#rows * F }));
    // Pre-LN: the branch input gradient goes through LN2 into the stream; otherwise straight in.
    p.append(
      await this.#linearBackward(this.#linear(`${name}.mlp.fc`, d, F), {
        dy: sc.dfc,
        x: mlpIn,
        params: s.params,
        grads: s.grads,
        dx: pre ? other : g,
        accumulateDx: !pre,
      }),
    );
    if (pre) p.append(await this.#layerNormBackward(`${name}.ln2`, other, a.x1, a.ln2!, g, true));
    // Attention branch. Post-LN: g ← LN1ᵀ(g) first.
    if (post) {
      p.append(await this.#layerNormBackward(`${name}.ln1`, g, a.r1!, a.ln1!, other, false));
      swap();
    }
    const attnIn = pre ? a.ln1!.y : a.xIn;
    p.append(
      await this.#linearBackward(this.#linear(`${name}.attn.proj`, d, d), {
        dy: g,
        x: a.attnOut,
        params: s.params,
        grads: s.grads,
        dx: sc.dattn,
      }),
    );
    p.append(
      await recordAttentionBackward(gpu, this.#attentionShape, {
        dout: sc.dattn,
        qkv: a.qkv,
        probs: a.probs,
        dprobs: sc.dprobs,
        dqkv: sc.dqkv,
      }),
    );
    p.append(
      await this.#linearBackward(this.#linear(`${name}.attn.qkv`, d, 3 * d), {
        dy: sc.dqkv,
        x: attnIn,
        params: s.params,
        grads: s.grads,
        dx: pre ? other : g,
        accumulateDx: !pre,
      }),
    );
    if (pre) p.append(await this.#layerNormBackward(`${name}.ln1`, other, a.xIn, a.ln1!, g, true));
    return [g, other];
  }

  async #embedBackward(p: Program, g: Tensor): Promise<EmbeddingBackward | null> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, B = this.#B, d = c.dModel;
    if (c.input.kind === "tokens") {
      const tied = c.head.kind === "lm" && c.head.tied;
      const backward = await recordEmbeddingBackward(
        gpu,
        { batch: B, seqLen: c.seqLen, dModel: d, vocabSize: c.input.vocabSize },
        {
          dOut: g,
          dTokenWeight: this.#grad("embed.tokens.weight"),
          dPositionWeight: this.#grad("embed.positions.weight"),
        },
        { accumulate: tied },
      );
      p.append(backward); // moves the dispatches; `backward` keeps its CSR tensors for setTokens
      if (this.#stats) await this.#tokenStats(p, g);
      return backward;
    }
    const shape = { ...c.input, batch: B, dModel: d };
    const width = c.input.channels * c.input.patchSize ** 2;
    p.append(
      await recordPatchAssembleBackward(gpu, shape, {
        dOut: g,
        dPatchOut: s.scratch.dpatchOut!,
        dCls: this.#grad("embed.cls"),
        dPositionWeight: this.#grad("embed.positions.weight"),
      }),
    );
    p.append(
      await this.#linearBackward(this.#linear("embed.patch", width, d, B * patchCount(shape)), {
        dy: s.scratch.dpatchOut!,
        x: s.patches!,
        params: s.params,
        grads: s.grads,
      }, patchCount(shape)),
    );
    if (this.#stats) {
      const st = this.#stats, T = c.seqLen;
      // embed.cls: example b's gradient is dx[b, 0]; the mask keeps position 0 of each example.
      p.append(
        await recordPerExampleColumnSum(
          gpu,
          { dy: g, v: st.scratch.clsMask!, batch: B, rowsPerExample: T, n: d, scale: B },
          this.#statOutputs("embed.cls"),
        ),
      );
      p.append(await this.#positionStats(g));
    }
    return null;
  }

  /** Statistics of the position embeddings: example b's gradient is its dx rows. */
  #positionStats(g: Tensor): Promise<Program> {
    const c = this.#config;
    return recordPerExampleDirect(
      this.#gpu,
      { g, batch: this.#B, n: c.seqLen * c.dModel, scale: this.#B },
      this.#statOutputs("embed.positions.weight"),
    );
  }

  /**
   * Statistics of the token embedding. Example b's gradient is onehot_bᵀ·dx_b, plus
   * dlogits_bᵀ·h_b when the LM head is tied; both products' rows are stacked per example so
   * one per-example kernel forms their sum.
   */
  async #tokenStats(p: Program, g: Tensor): Promise<void> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, st = this.#stats!, B = this.#B, T = c.seqLen;
    const V = vocabSize(c), d = c.dModel;
    const tied = c.head.kind === "lm" && c.head.tied;
    const rows = tied ? 2 * T : T;
    const { tokenX, tokenDy } = st.scratch;
    const at = { batch: B, rows: T, dstRows: rows };
    p.append(await recordOneHotExampleRows(gpu, s.inputs.tokens!, tokenX!, { ...at, offset: 0, width: V }));
    p.append(await recordCopyExampleRows(gpu, g, tokenDy!, { ...at, offset: 0, width: d }));
    if (tied) {
      p.append(await recordCopyExampleRows(gpu, s.dlogits, tokenX!, { ...at, offset: T, width: V }));
      p.append(await recordCopyExampleRows(gpu, this.#headInput(), tokenDy!, { ...at, offset: T, width: d }));
    }
    p.append(
      await recordPerExampleLinearGrad(
        gpu,
        { x: tokenX!, dy: tokenDy!, batch: B, rowsPerExample: rows, nIn: V, nOut: d, scale: B },
        this.#statOutputs("embed.tokens.weight"),
      ),
    );
    p.append(await this.#positionStats(g));
  }

  /** The hidden state the head reads. */
  #headInput(): Tensor {
    const s = this.#s, c = this.#config;
    return s.lnF ? s.lnF.y : (c.nLayers ? s.blocks[c.nLayers - 1].xOut : s.embedOut);
  }
}
