/**
 * Elementwise ops over flat f32 tensors: out = α·a + β·out, with add and scale as cases.
 *
 * @module
 */

import elementwiseCode from "../../kernels/elementwise.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { grid1d, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import type { Tensor } from "../gpu/tensor.ts";

const ELEMENTWISE: KernelSource = { name: "elementwise", code: elementwiseCode };

function checkSameSize(a: Tensor, out: Tensor, op: string): void {
  if (a.size !== out.size) {
    throw new RangeError(`gradscope: ${op} needs equal sizes, got ${a.size} and ${out.size}`);
  }
}

/**
 * Records out ← α·a + β·out. With β = 0 the old contents of `out` are never read. When `a`
 * and `out` are the same tensor, it records the in-place out ← (α + β)·out.
 *
 * @example
 * ```ts
 * import { getDevice, recordAxpby, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const a = Tensor.from(gpu, [3], [1, 2, 3]), out = Tensor.from(gpu, [3], [1, 1, 1]);
 * const program = await recordAxpby(gpu, a, out, 2, 1);
 * program.run();
 * console.log(await out.read()); // Float32Array [3, 5, 7]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordAxpby(
  gpu: Gpu,
  a: Tensor,
  out: Tensor,
  alpha: number,
  beta: number,
): Promise<Program> {
  checkSameSize(a, out, "axpby");
  const inPlace = a.buffer === out.buffer;
  if (inPlace) alpha += beta;
  const params = new ArrayBuffer(16);
  new Uint32Array(params)[0] = a.size;
  new Float32Array(params).set([alpha, beta], 1);
  const program = new Program(gpu);
  return await program.add({
    source: ELEMENTWISE,
    entryPoint: inPlace ? "scale_in_place" : "axpby",
    params,
    buffers: inPlace ? [out] : [a, out],
    workgroups: grid1d(a.size),
  });
}

async function runProgram(gpu: Gpu, program: Promise<Program>): Promise<void> {
  const p = await program;
  try {
    await gpu.scoped(p.dispatches.map((d) => d.label).join(" + "), () => p.run());
  } finally {
    p.destroy();
  }
}

/** out ← out + a, submitted now. */
export function add(gpu: Gpu, a: Tensor, out: Tensor): Promise<void> {
  return runProgram(gpu, recordAxpby(gpu, a, out, 1, 1));
}

/** out ← α·a, submitted now (`out` may be `a`). */
export function scale(gpu: Gpu, a: Tensor, out: Tensor, alpha: number): Promise<void> {
  return runProgram(gpu, recordAxpby(gpu, a, out, alpha, 0));
}
