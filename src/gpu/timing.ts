/**
 * GPU timing with `timestamp-query` when the adapter has it, and wall-clock time around
 * `onSubmittedWorkDone` otherwise.
 *
 * @module
 */

import type { Gpu } from "./device.ts";
import { readBack } from "./readback.ts";

/**
 * Measures the GPU time of compute passes submitted with it.
 *
 * @example
 * ```ts ignore
 * const timer = new GpuTimer(gpu);
 * submit(gpu, dispatches, timer);
 * console.log(await timer.readMs(), timer.source);
 * timer.destroy();
 * ```
 */
export class GpuTimer {
  readonly #gpu: Gpu;
  readonly #querySet: GPUQuerySet | null = null;
  readonly #resolveBuffer: GPUBuffer | null = null;
  #wallStart = 0;

  /**
   * Creates the query set when the device has `timestamp-query`.
   * @param gpu the device
   */
  constructor(gpu: Gpu) {
    this.#gpu = gpu;
    if (gpu.hasTimestamps) {
      this.#querySet = gpu.device.createQuerySet({ type: "timestamp", count: 2 });
      this.#resolveBuffer = gpu.createBuffer(
        16,
        GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        "timer.resolve",
      );
    }
  }

  /** `"timestamp-query"` or `"wall-clock"`: what {@linkcode GpuTimer.readMs} measures. */
  get source(): string {
    return this.#querySet ? "timestamp-query" : "wall-clock";
  }

  /** @internal the timestampWrites descriptor for a compute pass */
  passTimestamps(): GPUComputePassDescriptor {
    this.#wallStart = performance.now();
    if (!this.#querySet) return {};
    return {
      timestampWrites: { querySet: this.#querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    };
  }

  /** @internal resolves the queries into the readable buffer */
  resolve(encoder: GPUCommandEncoder): void {
    if (this.#querySet && this.#resolveBuffer) {
      encoder.resolveQuerySet(this.#querySet, 0, 2, this.#resolveBuffer, 0);
    }
  }

  /** Milliseconds the last timed pass took on the GPU. */
  async readMs(): Promise<number> {
    if (!this.#resolveBuffer) {
      await this.#gpu.sync();
      return performance.now() - this.#wallStart;
    }
    const [bytes] = await readBack(this.#gpu, [{ buffer: this.#resolveBuffer, size: 16 }]);
    const [start, end] = new BigUint64Array(bytes);
    return Number(end - start) / 1e6;
  }

  /** Frees the query set and buffer. */
  destroy(): void {
    this.#querySet?.destroy();
    if (this.#resolveBuffer) this.#gpu.destroyBuffer(this.#resolveBuffer);
  }
}
