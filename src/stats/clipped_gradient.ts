/**
 * Per-example gradient clipping (DP-SGD): each example's gradient g_b is clipped to norm C
 * before averaging, ḡ = (1/B) Σ_b min(1, C/‖g_b‖)·g_b, optionally plus Gaussian noise
 * σ·C/B·N(0, 1) per coordinate (Abadi et al. 2016). No per-example gradient is stored: a
 * first backward pass computes the per-example norms ‖g_b‖ in the weight-gradient kernels, and
 * a second pass runs with each example's loss weight scaled by min(1, C/‖g_b‖).
 *
 * @module
 */

import { Program } from "../gpu/dispatch.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Transformer } from "../nn/transformer.ts";
import { recordAxpby } from "../ops/elementwise.ts";
import { GaussianNoise } from "../optim/gaussian_noise.ts";
import { recordClipWeights } from "../optim/per_example_clip.ts";
import { recordScaleByExample } from "./example_rows.ts";

/** Options of {@linkcode ClippedGradient.create}. */
export interface ClippedGradientOptions {
  /** C > 0, the bound on each example's gradient norm. */
  maxNorm: number;
  /** σ ≥ 0; the noise std is σ·C/B. Default 0 (clipping only). */
  noiseMultiplier?: number;
  /** Seed of the noise. */
  seed?: number;
}

/**
 * Two-pass per-example clipping on a {@linkcode Transformer}; after {@linkcode ClippedGradient.run}
 * `model.grads` holds the clipped (and noised) mean gradient, and `weights` the factors
 * min(1, C/‖g_b‖). The model's loss weights are restored afterwards.
 *
 * @example
 * ```ts ignore
 * const clipped = await ClippedGradient.create(model, { maxNorm: 1, noiseMultiplier: 1.1, seed: 0 });
 * model.setBatch(batch);
 * await clipped.run();
 * ```
 */
export class ClippedGradient {
  /** min(1, C/‖g_b‖) from the last run, [B]. */
  readonly weights: Tensor;
  /** The noise generator, when σ > 0 (its draw counter belongs in checkpoints). */
  readonly noise: GaussianNoise | null;
  readonly #model: Transformer;
  readonly #reweight: Program;
  readonly #restore: Program;
  readonly #addNoise: Program | null;
  readonly #saved: Tensor;

  private constructor(model: Transformer, parts: {
    weights: Tensor;
    saved: Tensor;
    noise: GaussianNoise | null;
    reweight: Program;
    restore: Program;
    addNoise: Program | null;
  }) {
    this.#model = model;
    this.weights = parts.weights;
    this.#saved = parts.saved;
    this.noise = parts.noise;
    this.#reweight = parts.reweight;
    this.#restore = parts.restore;
    this.#addNoise = parts.addNoise;
  }

  /** Records the clipping programs for `model` (and its per-example norms pass). */
  static async create(model: Transformer, options: ClippedGradientOptions): Promise<ClippedGradient> {
    const gpu = model.params.gpu, B = model.batchSize;
    await model.backwardProgram({ norms: true }); // allocates the norms table
    const weights = new Tensor(gpu, [B], "f32", "clip.weights");
    const saved = new Tensor(gpu, [model.lossWeights.size], "f32", "clip.savedLossWeights");
    const reweight = new Program(gpu);
    reweight.append(await recordAxpby(gpu, model.lossWeights, saved, 1, 0));
    reweight.append(
      await recordClipWeights(gpu, {
        norms: model.statistics.norms!,
        batchSize: B,
        nCols: model.layout.blocks.length,
        maxNorm: options.maxNorm,
      }, weights),
    );
    reweight.append(await recordScaleByExample(gpu, weights, model.lossWeights, B, model.rowsPerExample));
    const restore = await recordAxpby(gpu, saved, model.lossWeights, 1, 0);
    const sigma = options.noiseMultiplier ?? 0;
    const noise = sigma > 0
      ? new GaussianNoise(gpu, {
        noiseMultiplier: sigma,
        maxNorm: options.maxNorm,
        batchSize: B,
        seed: options.seed ?? 0,
      })
      : null;
    const addNoise = noise ? await noise.record(model.grads) : null;
    return new ClippedGradient(model, { weights, saved, noise, reweight, restore, addNoise });
  }

  /** Norms pass, reweighting, the clipped gradient pass, noise; all on the GPU, no readback. */
  async run(): Promise<void> {
    await this.#model.forwardBackward({ norms: true });
    this.#reweight.run();
    await this.#model.forwardBackward();
    this.#restore.run();
    this.#addNoise?.run();
  }

  /** Frees the programs and tensors (not the model). */
  destroy(): void {
    for (const p of [this.#reweight, this.#restore, this.#addNoise]) p?.destroy();
    this.weights.destroy();
    this.#saved.destroy();
    this.noise?.destroy();
  }
}
