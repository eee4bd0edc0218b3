/**
 * The two small GPU kernels the training loop needs beyond the model and the reductions:
 * the argmax of each logit row (accuracy at evaluation) and |x| (sign agreement from Σ sign).
 *
 * @module
 */

import code from "../../kernels/train_metrics.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { grid1d, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import type { Tensor } from "../gpu/tensor.ts";

const TRAIN_METRICS: KernelSource = { name: "train_metrics", code };

/** Workgroups for one workgroup per row, folded into 2-D past 65535. */
function rowGrid(rows: number): [number, number] {
  return rows <= 65535 ? [rows, 1] : [65535, Math.ceil(rows / 65535)];
}

/**
 * Records `out[r]` = the first index of the largest value of row r of `input` [rows, cols],
 * written as a float (exact for cols ≤ 2^24). Rows are reduced in a fixed order.
 *
 * @example
 * ```ts
 * import { getDevice, recordRowArgmax, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const logits = Tensor.from(gpu, [2, 3], [0, 5, 5, -1, -2, -3]), out = new Tensor(gpu, [2]);
 * const program = await recordRowArgmax(gpu, logits, out);
 * program.run();
 * console.log(await out.read()); // Float32Array [1, 0]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordRowArgmax(gpu: Gpu, input: Tensor, out: Tensor): Promise<Program> {
  if (input.shape.length !== 2) throw new RangeError(`gradscope: row argmax needs a [rows, cols] tensor`);
  const [rows, cols] = input.shape;
  if (out.size < rows) throw new RangeError(`gradscope: row argmax output holds ${out.size} < ${rows} rows`);
  if (cols > 2 ** 24) throw new RangeError(`gradscope: row argmax: ${cols} columns do not fit a float index`);
  const program = new Program(gpu);
  return await program.add({
    source: TRAIN_METRICS,
    entryPoint: "row_argmax",
    params: new Uint32Array([rows, cols, 0, 0]),
    buffers: [input, out],
    workgroups: rowGrid(rows),
  });
}

/**
 * Records `out[i] = |input[i]|` for every element of `input`.
 *
 * @example
 * ```ts
 * import { getDevice, recordAbsValues, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [3], [-2, 0, 3]), out = new Tensor(gpu, [3]);
 * const program = await recordAbsValues(gpu, x, out);
 * program.run();
 * console.log(await out.read()); // Float32Array [2, 0, 3]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordAbsValues(gpu: Gpu, input: Tensor, out: Tensor): Promise<Program> {
  if (out.size < input.size) throw new RangeError(`gradscope: abs output holds ${out.size} < ${input.size}`);
  if (out.buffer === input.buffer) throw new RangeError("gradscope: abs needs separate input and output");
  const program = new Program(gpu);
  return await program.add({
    source: TRAIN_METRICS,
    entryPoint: "abs_values",
    params: new Uint32Array([input.size, 0, 0, 0]),
    buffers: [input, out],
    workgroups: grid1d(input.size),
  });
}
