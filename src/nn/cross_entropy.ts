/**
 * Softmax cross-entropy for the LM and classifier heads: per-row losses and weighted logit
 * gradients in one pass, then per-example and batch losses reduced on the GPU in a fixed order.
 *
 * The per-row weight w lets the caller choose the loss normalisation. gradscope's batch loss is
 * the mean over examples of each example's mean over its valid rows, so w = 1/(B·valid_b)
 * ({@linkcode exampleMeanWeights}): 1/B per row for a classifier, 1/(B·valid tokens) for an LM.
 *
 * @module
 */

import { requireExactElements, requirePositive } from "../gpu/check.ts";
import crossEntropyCode from "../../kernels/cross_entropy.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { grid1d, Program, type TensorSlice } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import type { Tensor } from "../gpu/tensor.ts";

// The kernel body reads `logits` and writes gradients through `store_grad`; these headers bind
// them either to a separate gradient buffer or back into the logits (see the .wgsl comment).
const OUT_OF_PLACE_HEADER = `
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
fn store_grad(i: u32, g: f32) { dlogits[i] = g; }
`;
const IN_PLACE_HEADER = `
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
fn store_grad(i: u32, g: f32) { logits[i] = g; }
`;
const CROSS_ENTROPY: KernelSource = { name: "cross_entropy", code: OUT_OF_PLACE_HEADER + crossEntropyCode };
const CROSS_ENTROPY_IN_PLACE: KernelSource = {
  name: "cross_entropy_in_place",
  code: IN_PLACE_HEADER + crossEntropyCode,
};

/** The shape of {@linkcode recordCrossEntropy}'s logits. */
export interface CrossEntropyShape {
  /** Rows: B·T for an LM, B for a classifier. */
  rows: number;
  /** Classes C (the vocabulary for an LM), at least 1. */
  nClasses: number;
}

/** The buffers of {@linkcode recordCrossEntropy}. */
export interface CrossEntropyBuffers {
  /** Logits [rows, C]. */
  logits: Tensor | TensorSlice;
  /** Target class per row [rows]; −1 (or any id outside [0, C)) ignores the row. */
  targets: Tensor<"i32">;
  /** Gradient weight per row [rows] (see {@linkcode exampleMeanWeights}). */
  weights: Tensor | TensorSlice;
  /** Output: unweighted loss per row [rows], 0 for ignored rows. */
  losses: Tensor | TensorSlice;
  /**
   * Output: w·(softmax − onehot) [rows, C], 0 for ignored rows. May be `logits` itself, which
   * is then overwritten (saves a logits-sized buffer).
   */
  dLogits: Tensor | TensorSlice;
}

/** The shape of {@linkcode recordLossReduce}. */
export interface LossReduceShape {
  /** Examples, B. */
  batch: number;
  /** Contiguous rows per example: T for an LM, 1 for a classifier. */
  rowsPerExample: number;
  /** Classes C, to tell valid targets from ignored ones. */
  nClasses: number;
}

/** The buffers of {@linkcode recordLossReduce}. */
export interface LossReduceBuffers {
  /** Per-row losses [B·R] from {@linkcode recordCrossEntropy}. */
  losses: Tensor | TensorSlice;
  /** The targets [B·R] given to it. */
  targets: Tensor<"i32">;
  /** Output: each example's mean loss over its valid rows [B] (0 when it has none). */
  exampleLosses: Tensor | TensorSlice;
  /** Output: the mean of the example losses, written at element 0. */
  batchLoss: Tensor | TensorSlice;
}

/** Buffer and element range of a binding, to detect aliasing. */
function extent(b: Tensor | TensorSlice): [GPUBuffer, number, number] {
  return "tensor" in b ? [b.tensor.buffer, b.offset, b.size] : [b.buffer, 0, b.size];
}

/** Whether `dLogits` is `logits` itself; throws for other sharing, which WebGPU forbids. */
function isInPlace(logits: Tensor | TensorSlice, dLogits: Tensor | TensorSlice, op: string): boolean {
  const [a, aStart, aSize] = extent(logits), [b, bStart, bSize] = extent(dLogits);
  if (a !== b) return false;
  if (aStart === bStart && aSize === bSize) return true;
  throw new RangeError(`gradscope: ${op}: dLogits shares a buffer with logits without being the same range`);
}

/**
 * Records the fused cross-entropy forward and backward, one workgroup per row:
 * `losses[r] = logsumexp(logits[r]) − logits[r, t_r]` and
 * `dLogits[r] = weights[r]·(softmax(logits[r]) − onehot(t_r))`; ignored rows get 0 for both.
 *
 * @example
 * ```ts
 * import { getDevice, recordCrossEntropy, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const logits = Tensor.from(gpu, [1, 2], [0, 0]), targets = Tensor.from(gpu, [1], [1], "i32");
 * const weights = Tensor.from(gpu, [1], [1]), losses = new Tensor(gpu, [1]);
 * const program = await recordCrossEntropy(gpu, { rows: 1, nClasses: 2 }, {
 *   logits, targets, weights, losses, dLogits: logits, // in place
 * });
 * program.run();
 * console.log(await losses.read(), await logits.read()); // [0.693…]  [0.5, -0.5]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordCrossEntropy(
  gpu: Gpu,
  shape: CrossEntropyShape,
  buffers: CrossEntropyBuffers,
): Promise<Program> {
  const op = "cross-entropy";
  const { rows, nClasses } = shape;
  requirePositive(op, { rows, nClasses });
  requireExactElements(op, "logits", buffers.logits, rows * nClasses);
  requireExactElements(op, "dLogits", buffers.dLogits, rows * nClasses);
  for (const name of ["targets", "weights", "losses"] as const) {
    requireExactElements(op, name, buffers[name], rows);
  }
  const inPlace = isInPlace(buffers.logits, buffers.dLogits, op);
  const { logits, targets, weights, losses, dLogits } = buffers;
  const program = new Program(gpu);
  return await program.add({
    source: inPlace ? CROSS_ENTROPY_IN_PLACE : CROSS_ENTROPY,
    entryPoint: "forward_backward",
    params: new Uint32Array([rows, nClasses, 0, 0]),
    buffers: inPlace ? [logits, targets, weights, losses] : [logits, targets, weights, losses, dLogits],
    workgroups: grid1d(rows, 1),
  });
}

/**
 * Records the reduction of per-row losses into per-example mean losses over valid rows and
 * their mean, the batch loss: two fixed-order tree reductions, nothing read back.
 *
 * @example
 * ```ts
 * import { getDevice, recordLossReduce, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const losses = Tensor.from(gpu, [4], [1, 3, 5, 0]), targets = Tensor.from(gpu, [4], [0, 0, 0, -1], "i32");
 * const exampleLosses = new Tensor(gpu, [2]), batchLoss = new Tensor(gpu, [1]);
 * const shape = { batch: 2, rowsPerExample: 2, nClasses: 1 };
 * const program = await recordLossReduce(gpu, shape, { losses, targets, exampleLosses, batchLoss });
 * program.run();
 * console.log(await exampleLosses.read(), await batchLoss.read()); // [2, 5]  [3.5]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordLossReduce(
  gpu: Gpu,
  shape: LossReduceShape,
  buffers: LossReduceBuffers,
): Promise<Program> {
  const op = "loss reduce";
  const { batch, rowsPerExample, nClasses } = shape;
  requirePositive(op, { batch, rowsPerExample, nClasses });
  const rows = batch * rowsPerExample;
  requireExactElements(op, "losses", buffers.losses, rows);
  requireExactElements(op, "targets", buffers.targets, rows);
  requireExactElements(op, "exampleLosses", buffers.exampleLosses, batch);
  if (buffers.batchLoss.size < 1) throw new RangeError(`gradscope: ${op}: batchLoss is empty`);
  const params = new Uint32Array([rows, nClasses, rowsPerExample, batch]);
  const program = new Program(gpu);
  await program.add({
    source: CROSS_ENTROPY,
    entryPoint: "example_loss",
    params,
    buffers: [buffers.losses, buffers.targets, buffers.exampleLosses],
    workgroups: grid1d(batch, 1),
  });
  return await program.add({
    source: CROSS_ENTROPY,
    entryPoint: "batch_loss",
    params,
    buffers: [buffers.exampleLosses, buffers.batchLoss],
    workgroups: [1],
  });
}

/**
 * Per-row weights w = 1/(B·valid_b) for valid rows and 0 for ignored ones, so that the
 * weighted gradient is that of the mean over examples of each example's mean loss. The
 * example's rows are contiguous, `targets.length / batch` each.
 *
 * @param into an array of `targets.length` to fill instead of allocating one
 * @example
 * ```ts
 * import { exampleMeanWeights } from "./mod.ts";
 * console.log(exampleMeanWeights(new Int32Array([3, -1, 1, 2]), 2, 5)); // [0.5, 0, 0.25, 0.25]
 * ```
 */
export function exampleMeanWeights(
  targets: Int32Array,
  batch: number,
  nClasses: number,
  into = new Float32Array(targets.length),
): Float32Array {
  requirePositive("example weights", { batch, nClasses });
  const per = targets.length / batch;
  if (!Number.isInteger(per) || into.length !== targets.length) {
    throw new RangeError(
      `gradscope: example weights: ${targets.length} targets do not split into ${batch} examples`,
    );
  }
  const valid = (t: number) => t >= 0 && t < nClasses;
  for (let b = 0; b < batch; b++) {
    const rows = targets.subarray(b * per, (b + 1) * per);
    let count = 0;
    for (const t of rows) if (valid(t)) count++;
    for (let k = 0; k < per; k++) into[b * per + k] = valid(rows[k]) ? 1 / (batch * count) : 0;
  }
  return into;
}
