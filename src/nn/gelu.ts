/**
 * GELU activation in its tanh form (GPT-2's): forward y = gelu(x), backward dx = dy·gelu′(x).
 *
 * @module
 */

import geluCode from "../../kernels/gelu.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { type Binding, grid1d, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { requireElements, requirePositive } from "../gpu/check.ts";

const GELU: KernelSource = { name: "gelu", code: geluCode };

/** Bindings of {@linkcode recordGeluForward}; `x` and `y` must be different buffers. */
export interface GeluForwardArgs {
  /** Input, `n` elements. */
  x: Binding;
  /** Output, `n` elements. */
  y: Binding;
  /** Number of elements (rows·d). */
  n: number;
}

/** Bindings of {@linkcode recordGeluBackward}; `dx` must not share a buffer with `dy` or `x`. */
export interface GeluBackwardArgs {
  /** Gradient of the output, `n` elements. */
  dy: Binding;
  /** The forward input, `n` elements. */
  x: Binding;
  /** Gradient of the input (overwritten), `n` elements. */
  dx: Binding;
  /** Number of elements. */
  n: number;
}

function checkSizes(op: string, n: number, bindings: Record<string, Binding>): void {
  requirePositive(op, { n });
  for (const [name, b] of Object.entries(bindings)) requireElements(op, name, b, n);
}

/**
 * Records y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) elementwise.
 *
 * @example
 * ```ts
 * import { getDevice, recordGeluForward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [3], [-1, 0, 1]), y = new Tensor(gpu, [3]);
 * const program = await recordGeluForward(gpu, { x, y, n: 3 });
 * program.run();
 * console.log(await y.read()); // Float32Array [-0.1588, 0, 0.8412] (rounded)
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordGeluForward(gpu: Gpu, args: GeluForwardArgs): Promise<Program> {
  const { x, y, n } = args;
  checkSizes("geluForward", n, { x, y });
  return await new Program(gpu).add({
    source: GELU,
    entryPoint: "forward",
    params: new Uint32Array([n]),
    buffers: [x, y],
    workgroups: grid1d(n),
  });
}

/**
 * Records dx = dy·gelu′(x), the backward of {@linkcode recordGeluForward}.
 *
 * @example
 * ```ts
 * import { getDevice, recordGeluBackward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const dy = Tensor.from(gpu, [2], [1, 1]), x = Tensor.from(gpu, [2], [0, 1]), dx = new Tensor(gpu, [2]);
 * const program = await recordGeluBackward(gpu, { dy, x, dx, n: 2 });
 * program.run();
 * console.log(await dx.read()); // Float32Array [0.5, 1.0830] (rounded)
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordGeluBackward(gpu: Gpu, args: GeluBackwardArgs): Promise<Program> {
  const { dy, x, dx, n } = args;
  checkSizes("geluBackward", n, { dy, x, dx });
  return await new Program(gpu).add({
    source: GELU,
    entryPoint: "backward",
    params: new Uint32Array([n]),
    buffers: [dy, x, dx],
    workgroups: grid1d(n),
  });
}
