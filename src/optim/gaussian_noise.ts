/**
 * The Gaussian mechanism of DP-SGD on the GPU: after the weighted second pass of
 * `recordClipWeights` (src/optim/per_example_clip.ts) has made the mean of the clipped gradients, noise with
 * standard deviation σ·C/B is added to every coordinate, which is
 * (1/B)(Σ_b clip(g_b) + N(0, σ²C²·I)). The noise comes from a counter-based generator
 * (Philox4x32-10 keyed by the seed, Box–Muller), so it is reproducible bit for bit on an
 * adapter and needs no state but a draw counter on the GPU.
 *
 * @module
 */

import noiseCode from "../../kernels/optim_noise.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { grid1d, packParams, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { check } from "./validate.ts";

const NOISE: KernelSource = { name: "optim_noise", code: noiseCode };
const TWO_32 = 2 ** 32;

/** Options of {@linkcode GaussianNoise}. */
export interface GaussianNoiseOptions {
  /** σ ≥ 0, the noise multiplier. */
  noiseMultiplier: number;
  /** C > 0, the per-example clipping norm. */
  maxNorm: number;
  /** B ≥ 1, the examples the mean gradient averages. */
  batchSize: number;
  /** An integer in [0, 2^53): the Philox key. */
  seed: number;
}

/**
 * Adds σ·C/B · z to a tensor in place, z ~ N(0, 1) independently per coordinate. Draw d
 * (counted from 0 on the GPU, shared by every program recorded from this object) gives
 * element 4k + j the j-th normal made from Philox4x32-10 on the counter (k, d, 0, 0) under
 * the key (seed mod 2^32, ⌊seed / 2^32⌋): normals (r cos φ, r sin φ) with
 * r = √(−2 ln u1), φ = 2π(u2 − ½) from the words (x, y) and (z, w), u = (⌊x / 2^8⌋ + ½)/2^24.
 * The same seed and draw give the same noise; |z| < 5.8 by construction. Free it with
 * {@linkcode GaussianNoise.destroy}.
 *
 * @example
 * ```ts
 * import { GaussianNoise, getDevice, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const grad = Tensor.from(gpu, [3], [0.1, -0.2, 0.3]);
 * const noise = new GaussianNoise(gpu, { noiseMultiplier: 1.1, maxNorm: 1, batchSize: 64, seed: 7 });
 * const program = await noise.record(grad);
 * program.run(); // every step, after the clipped mean gradient is in `grad`
 * console.log(noise.std, await noise.readDraws()); // 0.0171875 1
 * program.destroy();
 * noise.destroy();
 * gpu.destroy();
 * ```
 */
export class GaussianNoise {
  /** σ·C/B, the standard deviation of each coordinate's noise. */
  readonly std: number;
  /** The seed. */
  readonly seed: number;
  /** The draws made so far, one u32 on the GPU. */
  readonly counter: Tensor<"u32">;
  readonly #gpu: Gpu;

  /**
   * Validates the options and allocates the draw counter (at 0).
   *
   * @param gpu the device
   * @param options σ, C, B and the seed
   */
  constructor(gpu: Gpu, options: GaussianNoiseOptions) {
    const { noiseMultiplier, maxNorm, batchSize, seed } = options;
    check("gaussianNoise", "noiseMultiplier", noiseMultiplier, "nonNegative");
    check("gaussianNoise", "maxNorm", maxNorm, "positive");
    check("gaussianNoise", "batchSize", batchSize, "positiveInteger");
    check("gaussianNoise", "seed", seed, "nonNegativeInteger");
    if (seed >= 2 ** 53) throw new RangeError(`gradscope: gaussianNoise: seed must be < 2^53, got ${seed}`);
    this.#gpu = gpu;
    this.std = noiseMultiplier * maxNorm / batchSize;
    this.seed = seed;
    this.counter = new Tensor(gpu, [1], "u32", "noise.draws");
  }

  /**
   * Records one draw into `values` (in place, every element): the noise, then the counter
   * advanced, so every replay adds fresh noise.
   */
  async record(values: Tensor): Promise<Program> {
    if (values.dtype !== "f32" || values.size < 1) {
      throw new RangeError(`gradscope: gaussianNoise: values must be a non-empty f32 tensor`);
    }
    const groups = Math.ceil(values.size / 4);
    const params = packParams(
      [values.size, this.seed % TWO_32, Math.floor(this.seed / TWO_32), 0, this.std],
      [false, false, false, false, true],
    );
    const program = new Program(this.#gpu);
    try {
      await program.add({
        source: NOISE,
        entryPoint: "add_noise",
        params,
        buffers: [values, this.counter],
        workgroups: grid1d(groups),
      });
      await program.add({ source: NOISE, entryPoint: "next_draw", buffers: [this.counter], workgroups: [1] });
      return program;
    } catch (error) {
      program.destroy();
      throw error;
    }
  }

  /** The draws made so far (one readback): save it with a checkpoint. */
  async readDraws(): Promise<number> {
    return (await this.counter.read())[0];
  }

  /** Sets the draw counter, e.g. from a checkpoint, so that a resumed run draws the same noise. */
  setDraws(draws: number): void {
    check("gaussianNoise", "draws", draws, "nonNegativeInteger");
    if (draws >= TWO_32) throw new RangeError(`gradscope: gaussianNoise: draws must be < 2^32, got ${draws}`);
    this.counter.write(new Uint32Array([draws]));
  }

  /** Frees the counter. Safe to call twice. */
  destroy(): void {
    this.counter.destroy();
  }
}
