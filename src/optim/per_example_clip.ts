/**
 * Per-example clipping weights for DP-SGD done in two passes. Clipping each g_b to norm C
 * before averaging needs the per-example gradients, which the statistics never hold; the
 * per-example norms ‖g_b‖ are enough for a second pass: the weights
 * w_b = min(1, C / ‖g_b‖) are computed here on the GPU from the backward pass's norms table,
 * and the backward pass is run again with example b's loss weight scaled by w_b, which gives
 * the mean of the clipped gradients (1/B) Σ_b w_b·g_b. Noise is then added by
 * `GaussianNoise` (src/optim/gaussian_noise.ts).
 *
 * The norms must be those of ∇loss_b, the gradient of example b's own loss (what the
 * transformer's `norms` request writes), not of its 1/B share of the batch loss.
 *
 * @module
 */

import clipCode from "../../kernels/optim_clip_weights.wgsl" with { type: "text" };
import { requireElements } from "../gpu/check.ts";
import type { Gpu } from "../gpu/device.ts";
import { packParams, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { check } from "./validate.ts";

const CLIP_WEIGHTS: KernelSource = { name: "optim_clip_weights", code: clipCode };
const WG = 64;

/** What {@linkcode recordClipWeights} reads. */
export interface ClipWeightsArgs {
  /** Per-example squared norms, a row-major [B, nCols] table (one column per block). */
  norms: Tensor;
  /** B, the examples (rows of the table). */
  batchSize: number;
  /** Columns of the table; default 1 (a [B] vector of total squared norms). */
  nCols?: number;
  /** The columns summed into ‖g_b‖², [first, end); default all of them. */
  cols?: readonly [number, number];
  /** C > 0, the per-example norm bound. */
  maxNorm: number;
}

function checkArgs(args: ClipWeightsArgs, weights: Tensor): [number, number, number] {
  const { batchSize: batch, nCols = 1, maxNorm } = args;
  check("clipWeights", "batchSize", batch, "positiveInteger");
  check("clipWeights", "nCols", nCols, "positiveInteger");
  check("clipWeights", "maxNorm", maxNorm, "positive");
  const [first, end] = args.cols ?? [0, nCols];
  if (!Number.isInteger(first) || !Number.isInteger(end) || first < 0 || end <= first || end > nCols) {
    throw new RangeError(`gradscope: clipWeights: cols [${first}, ${end}) is not a column range of ${nCols}`);
  }
  requireElements("clipWeights", "norms", args.norms, batch * nCols);
  requireElements("clipWeights", "weights", weights, batch);
  if (args.norms.buffer === weights.buffer) {
    throw new RangeError("gradscope: clipWeights: norms and weights must be different buffers");
  }
  return [nCols, first, end];
}

/**
 * Records the weights w_b = min(1, C / ‖g_b‖) into `weights[b]` (w_b = 1 when ‖g_b‖ ≤ C,
 * including ‖g_b‖ = 0), where ‖g_b‖² is the sum of the chosen columns of row b, added in
 * column order. Unlike Opacus, which divides by ‖g_b‖ + 1e-6, no ε enters the formula.
 *
 * @param weights a tensor of at least B elements, written
 * @example
 * ```ts
 * import { getDevice, recordClipWeights, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const norms = Tensor.from(gpu, [3, 2], [1, 3, 0, 0, 16, 9]); // [B = 3, 2 blocks] of ‖g_b‖²
 * const weights = new Tensor(gpu, [3]);
 * const program = await recordClipWeights(gpu, { norms, batchSize: 3, nCols: 2, maxNorm: 1 }, weights);
 * program.run();
 * console.log(await weights.read()); // Float32Array [0.5, 1, 0.2]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordClipWeights(gpu: Gpu, args: ClipWeightsArgs, weights: Tensor): Promise<Program> {
  const [nCols, first, end] = checkArgs(args, weights);
  const program = new Program(gpu);
  await program.add({
    source: CLIP_WEIGHTS,
    entryPoint: "clip_weights",
    params: packParams([args.batchSize, nCols, first, end, args.maxNorm], [false, false, false, false, true]),
    buffers: [args.norms, weights],
    workgroups: [Math.ceil(args.batchSize / WG)],
  });
  return program;
}

/**
 * Computes the clipping weights now and reads them back (see {@linkcode recordClipWeights}).
 *
 * @example
 * ```ts
 * import { clipWeights, getDevice, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const norms = Tensor.from(gpu, [2], [4, 0.25]); // ‖g_b‖² for B = 2
 * console.log(await clipWeights(gpu, { norms, batchSize: 2, maxNorm: 1 })); // Float32Array [0.5, 1]
 * gpu.destroy();
 * ```
 */
export async function clipWeights(gpu: Gpu, args: ClipWeightsArgs): Promise<Float32Array> {
  check("clipWeights", "batchSize", args.batchSize, "positiveInteger");
  const weights = new Tensor(gpu, [args.batchSize], "f32", "clip.weights");
  let program: Program | null = null;
  try {
    program = await recordClipWeights(gpu, args, weights);
    program.run();
    return await weights.read();
  } finally {
    program?.destroy();
    weights.destroy();
  }
}
