/**
 * LayerNorm over the last dimension of a row-major [rows, d] tensor, with the per-row mean
 * and 1/std saved for the backward. γ and β are usually slices of the flat parameter buffer.
 *
 * @module
 */

import layerNormCode from "../../kernels/layer_norm.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { type Binding, grid1d, packParams, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { requireElements, requirePositive } from "../gpu/check.ts";
import { recordColumnSum } from "../ops/column_sum.ts";

const LAYER_NORM: KernelSource = { name: "layer_norm", code: layerNormCode };

/** Default epsilon, added to the biased variance inside the square root (PyTorch's default). */
export const LAYER_NORM_EPS = 1e-5;

/** Rows per chunk when reducing dγ over rows; chunks are then added by the column-sum op. */
const ROWS_PER_CHUNK = 64;

/** Columns per workgroup of `param_partials` (the kernel's workgroup size). */
const WG = 64;

/** Bindings and sizes of {@linkcode recordLayerNormForward}. */
export interface LayerNormForwardArgs {
  /** Input [rows, d]. */
  x: Binding;
  /** Scale γ [d]. */
  gamma: Binding;
  /** Shift β [d]. */
  beta: Binding;
  /** Output [rows, d]; must not share a buffer with `x`. */
  y: Binding;
  /** Saved per-row mean [rows], written for the backward. */
  mean: Binding;
  /** Saved per-row 1/√(var + eps) [rows], written for the backward. */
  rstd: Binding;
  /** Number of rows (B·T). */
  rows: number;
  /** Normalised dimension. */
  d: number;
  /** Epsilon inside the square root; defaults to {@linkcode LAYER_NORM_EPS}. */
  eps?: number;
}

/** Bindings and sizes of {@linkcode recordLayerNormBackward}. */
export interface LayerNormBackwardArgs {
  /** Gradient of the output [rows, d]. */
  dy: Binding;
  /** The forward input [rows, d]. */
  x: Binding;
  /** Saved mean [rows] from the forward. */
  mean: Binding;
  /** Saved rstd [rows] from the forward. */
  rstd: Binding;
  /** Scale γ [d]. */
  gamma: Binding;
  /** Gradient of the input [rows, d]; must not share a buffer with `dy` or `x`. */
  dx: Binding;
  /** Gradient of γ [d], overwritten. */
  dgamma: Binding;
  /** Gradient of β [d], overwritten. */
  dbeta: Binding;
  /** Number of rows. */
  rows: number;
  /** Normalised dimension. */
  d: number;
  /**
   * When true, dx += the input gradient instead of dx = …: the residual stream's gradient
   * already in `dx` then receives this branch's contribution without a separate add.
   */
  accumulate?: boolean;
}

/** The bindings of a LayerNorm call, grouped by how many elements each must hold. */
interface Shaped {
  /** [rows, d] tensors. */
  matrices: Record<string, Binding>;
  /** [rows] tensors. */
  perRow: Record<string, Binding>;
  /** [d] tensors. */
  perColumn: Record<string, Binding>;
}

function checkShapes(op: string, rows: number, d: number, shaped: Shaped): void {
  requirePositive(op, { rows, d });
  const needs: [Record<string, Binding>, number][] = [
    [shaped.matrices, rows * d],
    [shaped.perRow, rows],
    [shaped.perColumn, d],
  ];
  for (const [group, needed] of needs) {
    for (const [name, b] of Object.entries(group)) requireElements(op, name, b, needed);
  }
}

/**
 * Records y = (x − mean)·rstd·γ + β row by row, saving mean and rstd = 1/√(var + eps)
 * (biased variance). One workgroup per row with a fixed-order tree reduction.
 *
 * @example
 * ```ts
 * import { getDevice, recordLayerNormForward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [1, 2], [1, 3]), y = new Tensor(gpu, [1, 2]);
 * const gamma = Tensor.from(gpu, [2], [1, 1]), beta = new Tensor(gpu, [2]);
 * const mean = new Tensor(gpu, [1]), rstd = new Tensor(gpu, [1]);
 * const program = await recordLayerNormForward(gpu, { x, gamma, beta, y, mean, rstd, rows: 1, d: 2 });
 * program.run();
 * console.log(await y.read()); // Float32Array [-1, 1] (to 1e-5)
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordLayerNormForward(gpu: Gpu, args: LayerNormForwardArgs): Promise<Program> {
  const { x, gamma, beta, y, mean, rstd, rows, d } = args;
  checkShapes("layerNormForward", rows, d, {
    matrices: { x, y },
    perRow: { mean, rstd },
    perColumn: { gamma, beta },
  });
  return await new Program(gpu).add({
    source: LAYER_NORM,
    entryPoint: "forward",
    params: packParams([rows, d, args.eps ?? LAYER_NORM_EPS, 0, 0], [false, false, true]),
    buffers: [x, gamma, beta, y, mean, rstd],
    workgroups: grid1d(rows, 1),
  });
}

/**
 * Records the LayerNorm backward: dx (= or += with `accumulate`), dγ = Σ_rows dy·n and
 * dβ = Σ_rows dy, with n = (x − mean)·rstd. dγ and dβ are reduced over rows in a fixed order
 * (chunks of 64 rows, then the chunks), so they are bitwise reproducible without atomics.
 *
 * @example
 * ```ts ignore
 * const backward = await recordLayerNormBackward(gpu, {
 *   dy, x, mean, rstd, gamma, dx: dResidual, dgamma, dbeta, rows, d, accumulate: true,
 * });
 * backward.run();
 * ```
 */
export async function recordLayerNormBackward(gpu: Gpu, args: LayerNormBackwardArgs): Promise<Program> {
  const { dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, d } = args;
  checkShapes("layerNormBackward", rows, d, {
    matrices: { dy, x, dx },
    perRow: { mean, rstd },
    perColumn: { gamma, dgamma, dbeta },
  });
  const program = new Program(gpu);
  try {
    await program.add({
      source: LAYER_NORM,
      entryPoint: "backward_dx",
      params: packParams([rows, d, 0, args.accumulate ? 1 : 0, 0]),
      buffers: [dy, x, mean, rstd, gamma, dx],
      workgroups: grid1d(rows, 1),
    });
    const chunks = Math.ceil(rows / ROWS_PER_CHUNK);
    const partials = program.own(new Tensor(gpu, [chunks, d], "f32", "layer_norm.dgamma_partials"));
    await program.add({
      source: LAYER_NORM,
      entryPoint: "param_partials",
      params: packParams([rows, d, 0, 0, ROWS_PER_CHUNK]),
      buffers: [dy, x, mean, rstd, partials],
      workgroups: [Math.ceil(d / WG), chunks],
    });
    program.append(await recordColumnSum(gpu, { x: partials, out: dgamma, rows: chunks, n: d }));
    program.append(await recordColumnSum(gpu, { x: dy, out: dbeta, rows, n: d }));
  } catch (error) {
    program.destroy();
    throw error;
  }
  return program;
}
