/**
 * A gradient probe: a model with fixed parameters that draws batches of n examples from Moby
 * Dick and sums, over the draws, the per-example statistics the backward pass computes (Σ_b g_b,
 * Σ_b g_b², Σ_b sign(g_b)) and the sign of each batch mean. Nothing is updated. Sums are kept in
 * float64 on the CPU, so many draws add up without float32 rounding.
 *
 * @module
 */

import type { Batch } from "../data/batch.ts";
import type { Gpu } from "../gpu/device.ts";
import type { TransformerConfig } from "../nn/config.ts";
import { Transformer } from "../nn/transformer.ts";
import { parseRunConfig } from "../train/config.ts";
import { loadRunData } from "../train/data.ts";

/** Sums over the draws of a probe; see {@linkcode GradientProbe.measure}. */
export interface ProbeSums {
  /** Examples per draw. */
  n: number;
  /** Draws (batches). */
  draws: number;
  /** Σ over all examples of g (flat layout). */
  sum: Float64Array;
  /** Σ over all examples of g² (only with `perExample`). */
  sumSq: Float64Array | null;
  /** Σ over all examples of sign(g) (only with `perExample`). */
  exampleSign: Float64Array | null;
  /** Σ over the draws of sign(ḡ), ḡ the mean of the draw's n examples. */
  meanSign: Float64Array;
}

/**
 * A model of batch size n at fixed parameters, with its own seeded Moby Dick batcher.
 *
 * @example
 * ```ts ignore
 * const probe = await GradientProbe.create(gpu, model, params, { n: 8, seed: 1 });
 * const sums = await probe.measure(16, { perExample: true });
 * probe.destroy();
 * ```
 */
export class GradientProbe {
  readonly #model: Transformer;
  readonly #next: () => Batch;
  /** Examples per draw. */
  readonly n: number;

  private constructor(model: Transformer, next: () => Batch) {
    this.#model = model;
    this.#next = next;
    this.n = model.batchSize;
  }

  /**
   * Builds the model at `params` (a fresh initialisation of `seed` when absent: pass the same
   * `params` to probes that must agree) and a batcher drawing from `seed`.
   */
  static async create(
    gpu: Gpu,
    model: TransformerConfig,
    options: { n: number; seed: number; params?: Float32Array },
  ): Promise<GradientProbe> {
    const config = parseRunConfig({
      seed: options.seed,
      model,
      data: { dataset: "moby_dick", tokenizer: "bytes", batch_size: options.n },
      optimizer: { name: "sgd", lr: 0 },
      steps: 1,
    });
    const batcher = (await loadRunData(config)).trainBatcher(options.seed);
    const transformer = await Transformer.create(gpu, model, {
      batchSize: options.n,
      seed: options.seed,
      params: options.params,
    });
    return new GradientProbe(transformer, () => batcher.next());
  }

  /** Draws `draws` batches and sums their statistics (per-example ones with `perExample`). */
  async measure(draws: number, options: { perExample: boolean }): Promise<ProbeSums> {
    const model = this.#model, P = model.layout.size, n = this.n;
    const sums: ProbeSums = {
      n,
      draws,
      sum: new Float64Array(P),
      sumSq: options.perExample ? new Float64Array(P) : null,
      exampleSign: options.perExample ? new Float64Array(P) : null,
      meanSign: new Float64Array(P),
    };
    const request = options.perExample ? { sumSq: true, sumSign: true } : {};
    for (let d = 0; d < draws; d++) {
      model.setBatch(this.#next());
      await model.forwardBackward(request);
      const grads = await model.grads.read();
      for (let j = 0; j < P; j++) {
        sums.sum[j] += n * grads[j];
        sums.meanSign[j] += Math.sign(grads[j]);
      }
      if (options.perExample) {
        addInto(sums.sumSq!, await model.statistics.sumSq!.read());
        addInto(sums.exampleSign!, await model.statistics.sumSign!.read());
      }
    }
    return sums;
  }

  /** Frees the model. */
  destroy(): void {
    this.#model.destroy();
  }
}

function addInto(into: Float64Array, values: Float32Array): void {
  for (let j = 0; j < into.length; j++) into[j] += values[j];
}
