/**
 * Batched readback: many buffer regions copied into one staging buffer and mapped once.
 *
 * @module
 */

import type { Gpu } from "./device.ts";

/** A region of a GPU buffer to read. */
export interface Region {
  /** The source buffer (needs COPY_SRC usage). */
  buffer: GPUBuffer;
  /** Byte offset into it, a multiple of 4. */
  offset?: number;
  /** Bytes to read, a multiple of 4. */
  size: number;
}

/**
 * Reads several buffer regions with a single `mapAsync`. Each `mapAsync` costs about 10 ms
 * in Deno, so metrics should be read in batches through this function.
 *
 * @returns one `ArrayBuffer` per region, in order
 * @example
 * ```ts
 * import { getDevice, readBack, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const a = Tensor.from(gpu, [2], [1, 2]), b = Tensor.from(gpu, [1], [3]);
 * const [ra, rb] = await readBack(gpu, [{ buffer: a.buffer, size: 8 }, { buffer: b.buffer, size: 4 }]);
 * console.log(new Float32Array(ra), new Float32Array(rb));
 * gpu.destroy();
 * ```
 */
export async function readBack(gpu: Gpu, regions: readonly Region[]): Promise<ArrayBuffer[]> {
  gpu.checkAlive();
  const starts: number[] = [];
  let total = 0;
  for (const region of regions) {
    starts.push(total);
    total += Math.ceil(region.size / 4) * 4;
  }
  const staging = gpu.createBuffer(total, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, "readback");
  try {
    const encoder = gpu.device.createCommandEncoder({ label: "readback" });
    regions.forEach((region, i) => {
      if (region.size > 0) {
        encoder.copyBufferToBuffer(region.buffer, region.offset ?? 0, staging, starts[i], region.size);
      }
    });
    gpu.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const mapped = staging.getMappedRange();
    const out = regions.map((region, i) => mapped.slice(starts[i], starts[i] + region.size));
    staging.unmap();
    return out;
  } finally {
    gpu.destroyBuffer(staging);
  }
}
