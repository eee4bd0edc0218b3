/**
 * Deterministic segmented reductions over a flat f32 buffer: per-segment sum, sum of
 * squares and max. Segments are ranges, for example the parameter blocks of the flat layout.
 *
 * @module
 */

import reduceCode from "../../kernels/reduce.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";

const REDUCE: KernelSource = { name: "reduce", code: reduceCode };

/** The reduction applied within each segment. */
export type ReduceOp = "sum" | "sumsq" | "max";
const OP_CODE: Record<ReduceOp, number> = { sum: 0, sumsq: 1, max: 2 };

/** Elements one workgroup reduces in the first pass; longer segments are split into chunks. */
const CHUNK = 8192;

/** A half-open range [start, end) of a flat buffer. */
export type Range = readonly [number, number];

/**
 * Splits each range into chunks of at most {@linkcode CHUNK} elements. Returns the chunk
 * ranges and, for each segment, the range of its chunks in the partials buffer.
 */
function chunkRanges(ranges: readonly Range[]): { chunks: number[]; segments: number[] } {
  const chunks: number[] = [];
  const segments: number[] = [];
  for (const [start, end] of ranges) {
    const first = chunks.length / 2;
    for (let s = start; s < end; s += CHUNK) chunks.push(s, Math.min(s + CHUNK, end));
    segments.push(first, chunks.length / 2);
  }
  return { chunks, segments };
}

function checkRanges(ranges: readonly Range[], size: number): void {
  for (const [start, end] of ranges) {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > size) {
      throw new RangeError(`gradscope: segment [${start}, ${end}) is not within [0, ${size}]`);
    }
  }
}

/** Contiguous segments from boundaries: [0, 2, 5] gives [0, 2) and [2, 5). */
export function rangesFromOffsets(offsets: readonly number[]): Range[] {
  return offsets.slice(1).map((end, i) => [offsets[i], end] as const);
}

function wideGrid(n: number): [number, number] {
  return n <= 65535 ? [n, 1] : [65535, Math.ceil(n / 65535)];
}

/**
 * Records a segmented reduction: `out[s]` = op over `input[start_s .. end_s)`.
 * Two passes (chunks, then segments) keep every workgroup busy on long segments, and the
 * fixed reduction order makes the result bitwise reproducible.
 *
 * @param ranges one [start, end) range per segment (gaps and any order allowed)
 * @param out a tensor of at least `ranges.length` elements
 * @example
 * ```ts
 * import { getDevice, recordSegmentedReduce, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [5], [1, 2, 3, 4, 5]), out = new Tensor(gpu, [2]);
 * const program = await recordSegmentedReduce(gpu, x, [[0, 2], [2, 5]], "sumsq", out);
 * program.run();
 * console.log(await out.read()); // Float32Array [5, 50]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordSegmentedReduce(
  gpu: Gpu,
  input: Tensor,
  ranges: readonly Range[],
  op: ReduceOp,
  out: Tensor,
): Promise<Program> {
  checkRanges(ranges, input.size);
  const nSegments = ranges.length;
  if (out.size < nSegments) throw new RangeError(`gradscope: reduce output holds ${out.size} < ${nSegments}`);
  const { chunks, segments } = chunkRanges(ranges);
  const nChunks = chunks.length / 2;
  const program = new Program(gpu);
  const chunkTable = program.own(
    Tensor.from(gpu, [Math.max(2, chunks.length)], chunks, "u32", "reduce.chunks"),
  );
  const segmentTable = program.own(
    Tensor.from(gpu, [Math.max(2, segments.length)], segments, "u32", "reduce.segments"),
  );
  const partials = program.own(new Tensor(gpu, [Math.max(1, nChunks)], "f32", "reduce.partials"));
  await program.add({
    source: REDUCE,
    entryPoint: "segmented",
    constants: { OP: OP_CODE[op] },
    params: new Uint32Array([nChunks, 0, 0, 0]),
    buffers: [input, chunkTable, partials],
    workgroups: wideGrid(nChunks),
  });
  await program.add({
    source: REDUCE,
    entryPoint: "segmented",
    constants: { OP: op === "max" ? OP_CODE.max : OP_CODE.sum },
    params: new Uint32Array([nSegments, 0, 0, 0]),
    buffers: [partials, segmentTable, out],
    workgroups: wideGrid(nSegments),
  });
  return program;
}

/**
 * Runs a segmented reduction now and reads the result back.
 *
 * @example
 * ```ts
 * import { getDevice, segmentedReduce, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [4], [1, -2, 3, -4]);
 * console.log(await segmentedReduce(gpu, x, [[0, 4]], "max")); // Float32Array [3]
 * gpu.destroy();
 * ```
 */
export async function segmentedReduce(
  gpu: Gpu,
  input: Tensor,
  ranges: readonly Range[],
  op: ReduceOp,
): Promise<Float32Array> {
  const out = new Tensor(gpu, [Math.max(1, ranges.length)], "f32", "reduce.out");
  const program = await recordSegmentedReduce(gpu, input, ranges, op, out);
  try {
    program.run();
    return await out.read();
  } finally {
    program.destroy();
    out.destroy();
  }
}
