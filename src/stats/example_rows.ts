/**
 * Per-example operand rows for {@linkcode recordPerExampleLinearGrad}: copies of activation
 * rows and one-hot rows of token ids, placed at a row offset inside each example. Stacking
 * two products' rows per example makes one kernel form G_b = Σ_t x[t]ᵀ·dy[t] over both, which
 * is what a tied embedding's per-example gradient needs (head product plus embedding lookup).
 *
 * @module
 */

import exampleRowsCode from "../../kernels/example_rows.wgsl" with { type: "text" };
import { requireElements, requirePositive } from "../gpu/check.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";

const EXAMPLE_ROWS: KernelSource = { name: "example_rows", code: exampleRowsCode };

/** Where rows go: example b's T source rows land at rows [offset, offset + T) of its `dstRows`. */
export interface ExampleRowsPlacement {
  /** Examples B. */
  batch: number;
  /** Source rows per example T. */
  rows: number;
  /** Destination rows per example (≥ offset + T). */
  dstRows: number;
  /** First destination row inside each example. */
  offset: number;
  /** Columns. */
  width: number;
}

function check(op: string, src: Binding, dst: Binding, at: ExampleRowsPlacement, srcWidth: number): void {
  const { batch, rows, dstRows, offset, width } = at;
  requirePositive(op, { batch, rows, dstRows, width });
  if (!Number.isInteger(offset) || offset < 0 || offset + rows > dstRows) {
    throw new RangeError(`gradscope: ${op}: rows [${offset}, ${offset + rows}) do not fit in ${dstRows}`);
  }
  requireElements(op, "src", src, batch * rows * srcWidth);
  requireElements(op, "dst", dst, batch * dstRows * width);
}

function record(gpu: Gpu, entryPoint: string, src: Binding, dst: Binding, at: ExampleRowsPlacement) {
  const program = new Program(gpu);
  return program.add({
    source: EXAMPLE_ROWS,
    entryPoint,
    params: new Uint32Array([at.batch, at.rows, at.dstRows, at.offset, at.width, 0, 0, 0]),
    buffers: [src, dst],
    workgroups: [Math.ceil(at.width / 64), Math.ceil((at.batch * at.rows) / 4)],
  });
}

/**
 * Records the copy of `src` [B·T, width] into each example's rows of `dst`.
 *
 * @example
 * ```ts
 * import { getDevice, recordCopyExampleRows, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const src = Tensor.from(gpu, [2, 1], [1, 2]), dst = new Tensor(gpu, [4, 1]);
 * const p = await recordCopyExampleRows(gpu, src, dst, { batch: 2, rows: 1, dstRows: 2, offset: 1, width: 1 });
 * p.run();
 * console.log(await dst.read()); // Float32Array [0, 1, 0, 2]
 * gpu.destroy();
 * ```
 */
export function recordCopyExampleRows(
  gpu: Gpu,
  src: Binding,
  dst: Binding,
  at: ExampleRowsPlacement,
): Promise<Program> {
  check("copyExampleRows", src, dst, at, at.width);
  return record(gpu, "copy_rows", src, dst, at);
}

/**
 * Records one-hot rows of token ids (`tokens` i32 [B·T]) into each example's rows of `dst`
 * (`width` = vocabulary size). A row for an id outside [0, width) is all zero.
 *
 * @example
 * ```ts
 * import { getDevice, recordOneHotExampleRows, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const tokens = Tensor.from(gpu, [2], [2, 0], "i32"), dst = new Tensor(gpu, [2, 3]);
 * const p = await recordOneHotExampleRows(gpu, tokens, dst, { batch: 2, rows: 1, dstRows: 1, offset: 0, width: 3 });
 * p.run();
 * console.log(await dst.read()); // Float32Array [0, 0, 1, 1, 0, 0]
 * gpu.destroy();
 * ```
 */
export function recordOneHotExampleRows(
  gpu: Gpu,
  tokens: Binding,
  dst: Binding,
  at: ExampleRowsPlacement,
): Promise<Program> {
  check("oneHotExampleRows", tokens, dst, at, 1);
  return record(gpu, "one_hot", tokens, dst, at);
}

/**
 * Records `rowValues[r] *= exampleFactors[r / rowsPerExample]` over B·rowsPerExample rows,
 * e.g. loss row weights scaled by per-example clipping weights.
 *
 * @example
 * ```ts
 * import { getDevice, recordScaleByExample, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const w = Tensor.from(gpu, [2], [0.5, 2]), rows = Tensor.from(gpu, [4], [1, 1, 1, 1]);
 * const p = await recordScaleByExample(gpu, w, rows, 2, 2);
 * p.run();
 * console.log(await rows.read()); // Float32Array [0.5, 0.5, 2, 2]
 * gpu.destroy();
 * ```
 */
export function recordScaleByExample(
  gpu: Gpu,
  exampleFactors: Binding,
  rowValues: Binding,
  batch: number,
  rowsPerExample: number,
): Promise<Program> {
  const op = "scaleByExample";
  requirePositive(op, { batch, rowsPerExample });
  requireElements(op, "exampleFactors", exampleFactors, batch);
  requireElements(op, "rowValues", rowValues, batch * rowsPerExample);
  const program = new Program(gpu);
  return program.add({
    source: EXAMPLE_ROWS,
    entryPoint: "scale_by_example",
    params: new Uint32Array([batch, rowsPerExample, 0, 0, 1, 0, 0, 0]),
    buffers: [exampleFactors, rowValues],
    workgroups: [1, Math.ceil((batch * rowsPerExample) / 256)],
  });
}
