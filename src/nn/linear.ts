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

/**
 * Records the backward pass: dW = xᵀ·dy and db = Σ_rows dy into the flat gradient buffer, and
 * dx = dy·Wᵀ (overwritten, or added with `accumulateDx`) when `dx` is given.
 *
 * @example
 * ```ts ignore
 * await recordLinearBackward(gpu, shape, { dy, x, params, grads, dx });
 * ```
 */
export async function recordLinearBackward(
  gpu: Gpu,
  shape: LinearShape,
  io: { dy: Tensor; x: Tensor; params: Tensor; grads: Tensor; dx?: Tensor; accumulateDx?: boolean },
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
  if (io.dx) {
    program.append(
      await recordMatmul(gpu, {
        a: io.dy,
        b: io.params,
        c: io.dx,
        M: rows,
        N: nIn,
        K: nOut,
        transB: true,
        bOffset: weight.offset,
        ldb: nOut,
        beta: io.accumulateDx ? 1 : 0,
      }),
    );
  }
  return program;
}
