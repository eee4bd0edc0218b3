/**
 * Deterministic segmented reductions over a flat f32 buffer: per-segment sum, sum of
 * squares and max. Segments are, for example, the parameter blocks of the flat layout.
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

/** Splits segments into chunks of at most {@linkcode CHUNK}: chunk offsets and, per segment, its first chunk. */
function chunkSegments(offsets: readonly number[]): { chunkOffsets: number[]; segmentChunks: number[] } {
  const chunkOffsets = [offsets[0]];
  const segmentChunks = [0];
  for (let s = 0; s + 1 < offsets.length; s++) {
    for (let start = offsets[s]; start < offsets[s + 1]; start += CHUNK) {
      chunkOffsets.push(Math.min(start + CHUNK, offsets[s + 1]));
    }
    segmentChunks.push(chunkOffsets.length - 1);
  }
  return { chunkOffsets, segmentChunks };
}

function checkOffsets(offsets: readonly number[], size: number): void {
  const ok = offsets.length >= 2 &&
    offsets.every((o, i) => Number.isInteger(o) && (i === 0 || o >= offsets[i - 1])) &&
    offsets[0] >= 0 && offsets[offsets.length - 1] <= size;
  if (!ok) throw new RangeError(`gradscope: segment offsets must be non-decreasing within [0, ${size}]`);
}

function wideGrid(n: number): [number, number] {
  return n <= 65535 ? [n, 1] : [65535, Math.ceil(n / 65535)];
}

/**
 * Records a segmented reduction: `out[s]` = op over `input[offsets[s] .. offsets[s+1])`.
 * Two passes (chunks, then segments) keep every workgroup busy on long segments, and the
 * fixed reduction order makes the result bitwise reproducible.
 *
 * @param offsets segment boundaries, length = segments + 1
 * @param out a tensor of at least `offsets.length - 1` elements
 * @example
 * ```ts
 * import { getDevice, recordSegmentedReduce, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [5], [1, 2, 3, 4, 5]), out = new Tensor(gpu, [2]);
 * const program = await recordSegmentedReduce(gpu, x, [0, 2, 5], "sumsq", out);
 * program.run();
 * console.log(await out.read()); // Float32Array [5, 50]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordSegmentedReduce(
  gpu: Gpu,
  input: Tensor,
  offsets: readonly number[],
  op: ReduceOp,
  out: Tensor,
): Promise<Program> {
  checkOffsets(offsets, input.size);
  const nSegments = offsets.length - 1;
  if (out.size < nSegments) throw new RangeError(`gradscope: reduce output holds ${out.size} < ${nSegments}`);
  const { chunkOffsets, segmentChunks } = chunkSegments(offsets);
  const nChunks = chunkOffsets.length - 1;
  const program = new Program(gpu);
  const chunkTable = program.own(
    Tensor.from(gpu, [chunkOffsets.length], chunkOffsets, "u32", "reduce.chunks"),
  );
  const segmentTable = program.own(
    Tensor.from(gpu, [segmentChunks.length], segmentChunks, "u32", "reduce.segments"),
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
 * console.log(await segmentedReduce(gpu, x, [0, 4], "max")); // Float32Array [3]
 * gpu.destroy();
 * ```
 */
export async function segmentedReduce(
  gpu: Gpu,
  input: Tensor,
  offsets: readonly number[],
  op: ReduceOp,
): Promise<Float32Array> {
  const out = new Tensor(gpu, [offsets.length - 1], "f32", "reduce.out");
  const program = await recordSegmentedReduce(gpu, input, offsets, op, out);
  try {
    program.run();
    return await out.read();
  } finally {
    program.destroy();
    out.destroy();
  }
}
