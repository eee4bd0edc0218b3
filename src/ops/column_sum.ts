/**
 * Deterministic column sums of a row-major [rows, n] matrix: bias gradients and
 * position-embedding gradients are sums of a [B·T, n] gradient over its rows.
 *
 * @module
 */

import columnSumCode from "../../kernels/column_sum.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { type Binding, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { requireElements, requirePositive } from "../gpu/check.ts";

const COLUMN_SUM: KernelSource = { name: "column_sum", code: columnSumCode };

/** Rows one invocation adds up per pass; taller inputs take more passes over the partial sums. */
const ROWS_PER_CHUNK = 64;

/** Threads per workgroup along the columns (matches the kernel's `@workgroup_size`). */
const WG = 256;

/** What {@linkcode recordColumnSum} reduces. */
export interface ColumnSumArgs {
  /** Input [rows, n], row-major. */
  x: Binding;
  /** Output [n]. */
  out: Binding;
  /** Number of rows. */
  rows: number;
  /** Number of columns. */
  n: number;
  /** Add to `out` instead of overwriting it. */
  accumulate?: boolean;
}

async function addPasses(
  program: Program,
  gpu: Gpu,
  x: Binding,
  out: Binding,
  rows: number,
  n: number,
  accumulate: boolean,
): Promise<void> {
  const chunks = Math.ceil(rows / ROWS_PER_CHUNK);
  const last = chunks === 1;
  // Tall inputs first reduce to one partial row per chunk, then recurse on the partials.
  const target = last ? out : program.own(new Tensor(gpu, [chunks, n], "f32", "column_sum.partials"));
  await program.add({
    source: COLUMN_SUM,
    entryPoint: "column_sum",
    params: new Uint32Array([rows, n, ROWS_PER_CHUNK, last && accumulate ? 1 : 0]),
    buffers: [x, target],
    workgroups: [Math.ceil(n / WG), chunks],
  });
  if (!last) await addPasses(program, gpu, target, out, chunks, n, accumulate);
}

/**
 * Records out[c] = Σ_r x[r, c] (or out[c] += … with `accumulate`). Each pass sums chunks of
 * 64 rows per column with coalesced reads; taller inputs take ⌈log₆₄ rows⌉ passes over owned
 * partial buffers. The order of additions is fixed, so results are bitwise reproducible.
 *
 * @example
 * ```ts
 * import { getDevice, recordColumnSum, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [2, 3], [1, 2, 3, 4, 5, 6]), out = new Tensor(gpu, [3]);
 * const program = await recordColumnSum(gpu, { x, out, rows: 2, n: 3 });
 * program.run();
 * console.log(await out.read()); // Float32Array [5, 7, 9]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordColumnSum(gpu: Gpu, args: ColumnSumArgs): Promise<Program> {
  const { x, out, rows, n } = args;
  requirePositive("columnSum", { rows, n });
  requireElements("columnSum", "x", x, rows * n);
  requireElements("columnSum", "out", out, n);
  const program = new Program(gpu);
  try {
    await addPasses(program, gpu, x, out, rows, n, args.accumulate ?? false);
  } catch (error) {
    program.destroy();
    throw error;
  }
  return program;
}

/**
 * Sums the rows of `x` [rows, n] now and reads the result back.
 *
 * @example
 * ```ts
 * import { columnSum, getDevice, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [2, 2], [1, 2, 3, 4]);
 * console.log(await columnSum(gpu, x, 2, 2)); // Float32Array [4, 6]
 * gpu.destroy();
 * ```
 */
export async function columnSum(gpu: Gpu, x: Tensor, rows: number, n: number): Promise<Float32Array> {
  requirePositive("columnSum", { rows, n });
  const out = new Tensor(gpu, [n], "f32", "column_sum.out");
  try {
    const program = await recordColumnSum(gpu, { x, out, rows, n });
    try {
      await gpu.scoped("column_sum", () => program.run());
      return await out.read();
    } finally {
      program.destroy();
    }
  } finally {
    out.destroy();
  }
}
