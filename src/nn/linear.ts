/**
 * A linear layer y = x·W + b whose weights live in the flat parameter buffer, as matmuls.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { Program, slice } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { recordColumnSum } from "../ops/column_sum.ts";
import { recordMatmul } from "../ops/matmul.ts";
import type { ParamLayout } from "./layout.ts";

/** Where a linear layer's parameters are and how big it is. */
export interface LinearShape {
  /** The flat layout; the layer's blocks are `${name}.weight` ([nIn, nOut]) and optionally `${name}.bias`. */
  layout: ParamLayout;
  /** Block name prefix, e.g. `blocks.0.mlp.fc`. */
  name: string;
  /** Rows of x (B·T). */
  rows: number;
  /** Input width. */
  nIn: number;
  /** Output width. */
  nOut: number;
}

function blocks(shape: LinearShape) {
  const weight = shape.layout.get(`${shape.name}.weight`);
  const biasName = `${shape.name}.bias`;
  const bias = shape.layout.has(biasName) ? shape.layout.get(biasName) : null;
  return { weight, bias };
}

/**
 * Records y = x·W + b (or y += x·W + b with `accumulate`, for residual adds).
 *
 * @example
 * ```ts ignore
 * await recordLinearForward(gpu, shape, { x, params, y });
 * ```
 */
export async function recordLinearForward(
  gpu: Gpu,
  shape: LinearShape,
  io: { x: Tensor; params: Tensor; y: Tensor; accumulate?: boolean },
): Promise<Program> {
  const { weight, bias } = blocks(shape);
  return await recordMatmul(gpu, {
    a: io.x,
    b: io.params,
    c: io.y,
    M: shape.rows,
    N: shape.nOut,
    K: shape.nIn,
    bOffset: weight.offset,
    bias: bias ? slice(io.params, bias.offset, bias.size) : undefined,
    beta: io.accumulate ? 1 : 0,
  });
}

/** Tensors of a linear layer's backward pass. */
export interface LinearBackwardIo {
  /** Gradient of the output [rows, nOut]. */
  dy: Tensor;
  /** The forward input [rows, nIn]. */
  x: Tensor;
  /** Flat parameters. */
  params: Tensor;
  /** Flat gradient buffer that receives dW and db. */
  grads: Tensor;
  /** Receives dx = dy·Wᵀ when given. */
  dx?: Tensor;
  /** Add dy·Wᵀ to `dx` instead of overwriting it. */
  accumulateDx?: boolean;
}

/**
 * Records dW = xᵀ·dy and db = Σ_rows dy into the flat gradient buffer.
 *
 * @example
 * ```ts ignore
 * await recordLinearParamGrad(gpu, shape, { dy, x, params, grads });
 * ```
 */
export async function recordLinearParamGrad(
  gpu: Gpu,
  shape: LinearShape,
  io: LinearBackwardIo,
): Promise<Program> {
  const { weight, bias } = blocks(shape);
  const { rows, nIn, nOut } = shape;
  const program = new Program(gpu);
  program.append(
    await recordMatmul(gpu, {
      a: io.x,
      b: io.dy,
      c: io.grads,
      M: nIn,
      N: nOut,
      K: rows,
      transA: true,
      cOffset: weight.offset,
    }),
  );
  if (bias) {
    program.append(
      await recordColumnSum(gpu, { x: io.dy, out: slice(io.grads, bias.offset, bias.size), rows, n: nOut }),
    );
  }
  return program;
}

/**
 * Records dx = dy·Wᵀ (overwritten, or added with `accumulateDx`); a no-op without `dx`.
 *
 * @example
 * ```ts ignore
 * await recordLinearInputGrad(gpu, shape, { dy, x, params, grads, dx });
 * ```
 */
export async function recordLinearInputGrad(
  gpu: Gpu,
  shape: LinearShape,
  io: LinearBackwardIo,
): Promise<Program> {
  const program = new Program(gpu);
  if (!io.dx) return program;
  const { weight } = blocks(shape);
  return program.append(
    await recordMatmul(gpu, {
      a: io.dy,
      b: io.params,
      c: io.dx,
      M: shape.rows,
      N: shape.nIn,
      K: shape.nOut,
      transB: true,
      bOffset: weight.offset,
      ldb: shape.nOut,
      beta: io.accumulateDx ? 1 : 0,
    }),
  );
}

/**
 * Records the whole backward pass: {@linkcode recordLinearParamGrad} then
 * {@linkcode recordLinearInputGrad}.
 *
 * @example
 * ```ts ignore
 * await recordLinearBackward(gpu, shape, { dy, x, params, grads, dx });
 * ```
 */
export async function recordLinearBackward(
  gpu: Gpu,
  shape: LinearShape,
  io: LinearBackwardIo,
): Promise<Program> {
  const program = await recordLinearParamGrad(gpu, shape, io);
  return program.append(await recordLinearInputGrad(gpu, shape, io));
}
