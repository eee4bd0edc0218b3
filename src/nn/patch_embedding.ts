/**
 * ViT patch input: images → patch rows (im2col), and the sequence [CLS, patches] plus learned
 * positions. The patch projection patches·W + b between the two is a matmul elsewhere.
 *
 * @module
 */

import { requireExactElements, requirePositive } from "../gpu/check.ts";
import patchCode from "../../kernels/patch.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { grid1d, Program, type TensorSlice } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { recordBatchSum } from "./embedding.ts";

const PATCH: KernelSource = { name: "patch", code: patchCode };

/** The shape of an image batch and its patch sequence. */
export interface PatchShape {
  /** Images per batch, B. */
  batch: number;
  /** Colour channels, C. */
  channels: number;
  /** Image side S in pixels (images are square). */
  imageSize: number;
  /** Patch side ps; must divide S. */
  patchSize: number;
  /** Embedding width d. */
  dModel: number;
}

/** Number of patches per image, N = (S/ps)²; throws a RangeError for a bad shape. */
export function patchCount(shape: PatchShape): number {
  const { batch, channels, imageSize, patchSize, dModel } = shape;
  requirePositive("patch input", { batch, channels, imageSize, patchSize, dModel });
  if (shape.imageSize % shape.patchSize !== 0) {
    throw new RangeError(
      `gradscope: patch input: patchSize ${shape.patchSize} must divide ${shape.imageSize}`,
    );
  }
  return (shape.imageSize / shape.patchSize) ** 2;
}

/** The buffers of {@linkcode recordPatchAssemble}. */
export interface PatchAssembleBuffers {
  /** The projected patches, patches·W + b [B·N, d]. */
  patchOut: Tensor | TensorSlice;
  /** `embed.cls` [d]. */
  cls: Tensor | TensorSlice;
  /** `embed.positions.weight` [N + 1, d]. */
  positionWeight: Tensor | TensorSlice;
  /** Output x [B·(N + 1), d]. */
  out: Tensor | TensorSlice;
}

/** The buffers of {@linkcode recordPatchAssembleBackward}. */
export interface PatchAssembleBackwardBuffers {
  /** dL/dx [B·(N + 1), d]. */
  dOut: Tensor | TensorSlice;
  /** Gradient of the projected patches [B·N, d], input of the projection's backward. */
  dPatchOut: Tensor | TensorSlice;
  /** Gradient of `embed.cls` [d]. */
  dCls: Tensor | TensorSlice;
  /** Gradient of `embed.positions.weight` [N + 1, d]. */
  dPositionWeight: Tensor | TensorSlice;
}

/**
 * Records the im2col of an image batch [B, C, S, S] into patch rows [B·N, C·ps·ps]: patch
 * p = py·(S/ps) + px, each row ordered (channel, dy, dx).
 *
 * @example
 * ```ts
 * import { getDevice, recordPatchGather, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const shape = { batch: 1, channels: 1, imageSize: 2, patchSize: 1, dModel: 4 };
 * const images = Tensor.from(gpu, [1, 1, 2, 2], [1, 2, 3, 4]), patches = new Tensor(gpu, [4, 1]);
 * const program = await recordPatchGather(gpu, shape, images, patches);
 * program.run();
 * console.log(await patches.read()); // Float32Array [1, 2, 3, 4]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordPatchGather(
  gpu: Gpu,
  shape: PatchShape,
  images: Tensor | TensorSlice,
  patches: Tensor | TensorSlice,
): Promise<Program> {
  const op = "patch gather";
  const N = patchCount(shape);
  const { batch, channels, imageSize, patchSize } = shape;
  requireExactElements(op, "images", images, batch * channels * imageSize * imageSize);
  const n = batch * N * channels * patchSize * patchSize;
  requireExactElements(op, "patches", patches, n);
  const program = new Program(gpu);
  return await program.add({
    source: PATCH,
    entryPoint: "gather",
    params: new Uint32Array([n, channels, imageSize, patchSize]),
    buffers: [images, patches],
    workgroups: grid1d(n),
  });
}

/**
 * Records the ViT input sequence: `out[b,0] = cls + positions[0]` and
 * `out[b,1+p] = patchOut[b·N + p] + positions[1+p]`.
 *
 * @example
 * ```ts
 * import { getDevice, recordPatchAssemble, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const shape = { batch: 1, channels: 1, imageSize: 1, patchSize: 1, dModel: 1 };
 * const patchOut = Tensor.from(gpu, [1, 1], [5]), cls = Tensor.from(gpu, [1], [7]);
 * const positionWeight = Tensor.from(gpu, [2, 1], [10, 20]), out = new Tensor(gpu, [2, 1]);
 * const program = await recordPatchAssemble(gpu, shape, { patchOut, cls, positionWeight, out });
 * program.run();
 * console.log(await out.read()); // Float32Array [17, 25]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordPatchAssemble(
  gpu: Gpu,
  shape: PatchShape,
  buffers: PatchAssembleBuffers,
): Promise<Program> {
  const op = "patch assemble";
  const N = patchCount(shape);
  const { batch: B, dModel: d } = shape;
  requireExactElements(op, "patchOut", buffers.patchOut, B * N * d);
  requireExactElements(op, "cls", buffers.cls, d);
  requireExactElements(op, "positionWeight", buffers.positionWeight, (N + 1) * d);
  requireExactElements(op, "out", buffers.out, B * (N + 1) * d);
  const program = new Program(gpu);
  return await program.add({
    source: PATCH,
    entryPoint: "assemble",
    params: new Uint32Array([B * (N + 1) * d, N, d, 0]),
    buffers: [buffers.patchOut, buffers.cls, buffers.positionWeight, buffers.out],
    workgroups: grid1d(B * (N + 1) * d),
  });
}

/**
 * Records the backward of {@linkcode recordPatchAssemble}: dPatchOut[b·N + p] = dOut[b,1+p],
 * dCls = Σ_b dOut[b,0], dPositionWeight[t] = Σ_b dOut[b,t]. All three are overwritten.
 *
 * @example
 * ```ts
 * import { getDevice, recordPatchAssembleBackward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const shape = { batch: 2, channels: 1, imageSize: 1, patchSize: 1, dModel: 1 };
 * const dOut = Tensor.from(gpu, [4, 1], [1, 2, 3, 4]), dPatchOut = new Tensor(gpu, [2, 1]);
 * const dCls = new Tensor(gpu, [1]), dPositionWeight = new Tensor(gpu, [2, 1]);
 * const program = await recordPatchAssembleBackward(gpu, shape, { dOut, dPatchOut, dCls, dPositionWeight });
 * program.run();
 * console.log(await dPatchOut.read(), await dCls.read()); // Float32Array [2, 4]  Float32Array [4]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordPatchAssembleBackward(
  gpu: Gpu,
  shape: PatchShape,
  buffers: PatchAssembleBackwardBuffers,
): Promise<Program> {
  const op = "patch assemble backward";
  const N = patchCount(shape);
  const { batch: B, dModel: d } = shape;
  requireExactElements(op, "dOut", buffers.dOut, B * (N + 1) * d);
  requireExactElements(op, "dPatchOut", buffers.dPatchOut, B * N * d);
  requireExactElements(op, "dCls", buffers.dCls, d);
  requireExactElements(op, "dPositionWeight", buffers.dPositionWeight, (N + 1) * d);
  const program = new Program(gpu);
  try {
    await program.add({
      source: PATCH,
      entryPoint: "assemble_grad",
      params: new Uint32Array([B * N * d, N, d, 0]),
      buffers: [buffers.dOut, buffers.dPatchOut],
      workgroups: grid1d(B * N * d),
    });
    // The CLS token sits at t = 0, so its gradient is the one-row batch sum.
    program.append(await recordBatchSum(gpu, buffers.dOut, buffers.dCls, B, N + 1, d));
    program.append(await recordBatchSum(gpu, buffers.dOut, buffers.dPositionWeight, B, N + 1, d));
    return program;
  } catch (error) {
    program.destroy();
    throw error;
  }
}
