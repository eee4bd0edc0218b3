/**
 * The transformer on the GPU: layers sequenced forward and backward (llm.c style), all
 * activations allocated once for a fixed batch size and reused every step.
 *
 * @module
 */

import type { Batch } from "../data/batch.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Dispatch, type Program, submit } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { TransformerConfig } from "./config.ts";
import { exampleMeanWeights } from "./cross_entropy.ts";
import type { EmbeddingBackward } from "./embedding.ts";
import { initParams } from "./init.ts";
import { type ParamLayout, transformerLayout } from "./layout.ts";
import { ProgramBuilder } from "./model_programs.ts";
import {
  allocate,
  allocateStatScratch,
  type ModelState,
  type StatBuffers,
  type StatScratch,
  vocabSize,
} from "./model_state.ts";

/** Options of {@linkcode Transformer.create}. */
export interface TransformerOptions {
  /** Examples per batch; activations are sized for it. */
  batchSize: number;
  /** Seed of the GPT-2 initialisation (ignored when `params` is given). */
  seed?: number;
  /** Initial flat parameters in the layout (e.g. from a checkpoint). */
  params?: Float32Array;
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
  /** Forward then backward dispatches per request, concatenated once rather than every step. */
  readonly #steps = new Map<string, readonly Dispatch[]>();
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
    const key = statsKey(request);
    let dispatches = this.#steps.get(key);
    if (!dispatches) {
      const backward = await this.backwardProgram(request);
      dispatches = [...this.forwardProgram.dispatches, ...backward.dispatches];
      this.#steps.set(key, dispatches);
    }
    submit(this.#gpu, dispatches);
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

function expectLength(name: string, array: ArrayLike<number>, n: number): void {
  if (array.length !== n) {
    throw new RangeError(`gradscope: batch.${name} has ${array.length} entries, expected ${n}`);
  }
}
