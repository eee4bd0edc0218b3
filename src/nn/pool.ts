/**
 * Pooling of the final hidden states for the classifier head: the first (CLS) position, or
 * the mean over each example's unpadded positions. Forward and backward.
 *
 * @module
 */

import { requireExactElements, requirePositive } from "../gpu/check.ts";
import poolCode from "../../kernels/pool.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { type Binding, grid1d, Program, type TensorSlice } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import type { Tensor } from "../gpu/tensor.ts";

const POOL: KernelSource = { name: "pool", code: poolCode };

/** How {@linkcode recordPool} pools: as the classifier head's `pool` option. */
export type PoolMode = "cls" | "mean";

/** The shape of the pooled hidden states. */
export interface PoolShape {
  /** Examples, B. */
  batch: number;
  /** Positions per example, T. */
  seqLen: number;
  /** Width d. */
  dModel: number;
  /** `"cls"`: position 0; `"mean"`: mean over t < lengths[b]. */
  mode: PoolMode;
}

/** The buffers of {@linkcode recordPool}. */
export interface PoolBuffers {
  /** Hidden states h [B·T, d]. */
  hidden: Tensor | TensorSlice;
  /** Valid positions per example [B] (i32, clamped to [0, T]); required for `"mean"`. */
  lengths?: Tensor<"i32">;
  /** Output [B, d]; zero for an example with length 0. */
  pooled: Tensor | TensorSlice;
}

/** The buffers of {@linkcode recordPoolBackward}. */
export interface PoolBackwardBuffers {
  /** dL/dpooled [B, d]. */
  dPooled: Tensor | TensorSlice;
  /** As in {@linkcode PoolBuffers}; required for `"mean"`. */
  lengths?: Tensor<"i32">;
  /** dL/dh [B·T, d]: overwritten (zero at unpooled positions), or added to with `accumulate`. */
  dHidden: Tensor | TensorSlice;
}

/** Options of {@linkcode recordPoolBackward}. */
export interface PoolBackwardOptions {
  /** Add into `dHidden` instead of overwriting it; unpooled positions are left unchanged. */
  accumulate?: boolean;
}

/** Validates the shape and the lengths; returns the bindings after the first one. */
function poolBindings(shape: PoolShape, lengths: Tensor<"i32"> | undefined, op: string): Binding[] {
  const { batch, seqLen, dModel, mode } = shape;
  requirePositive(op, { batch, seqLen, dModel });
  if (mode === "cls") return [];
  if (mode !== "mean") throw new RangeError(`gradscope: ${op}: mode must be "cls" or "mean", got ${mode}`);
  if (!lengths) throw new RangeError(`gradscope: ${op}: mean pooling needs lengths`);
  requireExactElements(op, "lengths", lengths, batch);
  return [lengths];
}

/**
 * Records the pooling `pooled[b] = h[b,0]` ("cls") or the mean of h[b,t] over t < lengths[b]
 * ("mean").
 *
 * @example
 * ```ts
 * import { getDevice, recordPool, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const hidden = Tensor.from(gpu, [3, 1], [1, 2, 9]), pooled = new Tensor(gpu, [1, 1]);
 * const lengths = Tensor.from(gpu, [1], [2], "i32");
 * const shape = { batch: 1, seqLen: 3, dModel: 1, mode: "mean" as const };
 * const program = await recordPool(gpu, shape, { hidden, lengths, pooled });
 * program.run();
 * console.log(await pooled.read()); // Float32Array [1.5]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordPool(gpu: Gpu, shape: PoolShape, buffers: PoolBuffers): Promise<Program> {
  const op = "pool";
  const extra = poolBindings(shape, buffers.lengths, op);
  const { batch: B, seqLen: T, dModel: d } = shape;
  requireExactElements(op, "hidden", buffers.hidden, B * T * d);
  requireExactElements(op, "pooled", buffers.pooled, B * d);
  const program = new Program(gpu);
  return await program.add({
    source: POOL,
    entryPoint: `pool_${shape.mode}`,
    params: new Uint32Array([B * d, T, d, 0]),
    buffers: [buffers.hidden, ...extra, buffers.pooled],
    workgroups: grid1d(B * d),
  });
}

/**
 * Records the backward of {@linkcode recordPool}: "cls" puts dPooled[b] at dh[b,0]; "mean"
 * spreads dPooled[b]/len_b over t < len_b.
 *
 * @example
 * ```ts
 * import { getDevice, recordPoolBackward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const dPooled = Tensor.from(gpu, [1, 1], [4]), dHidden = new Tensor(gpu, [3, 1]);
 * const shape = { batch: 1, seqLen: 3, dModel: 1, mode: "cls" as const };
 * const program = await recordPoolBackward(gpu, shape, { dPooled, dHidden });
 * program.run();
 * console.log(await dHidden.read()); // Float32Array [4, 0, 0]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordPoolBackward(
  gpu: Gpu,
  shape: PoolShape,
  buffers: PoolBackwardBuffers,
  options: PoolBackwardOptions = {},
): Promise<Program> {
  const op = "pool backward";
  const extra = poolBindings(shape, buffers.lengths, op);
  const { batch: B, seqLen: T, dModel: d } = shape;
  requireExactElements(op, "dPooled", buffers.dPooled, B * d);
  requireExactElements(op, "dHidden", buffers.dHidden, B * T * d);
  const program = new Program(gpu);
  return await program.add({
    source: POOL,
    entryPoint: `unpool_${shape.mode}`,
    params: new Uint32Array([B * T * d, T, d, options.accumulate ? 1 : 0]),
    buffers: [buffers.dPooled, ...extra, buffers.dHidden],
    workgroups: grid1d(B * T * d),
  });
}
