/**
 * Tensors: a GPU buffer with a shape and a dtype, uploaded and downloaded explicitly.
 *
 * @module
 */

import type { Gpu } from "./device.ts";
import { readBack } from "./readback.ts";

/** Element types a tensor can hold; all are 4 bytes wide. */
export type DType = "f32" | "u32" | "i32";

/** A typed array matching a {@linkcode DType}. */
export type TypedArrayOf<D extends DType> = D extends "f32" ? Float32Array
  : D extends "u32" ? Uint32Array
  : Int32Array;

const ARRAY_OF = { f32: Float32Array, u32: Uint32Array, i32: Int32Array } as const;

/** Usage flags of every tensor buffer: a storage buffer that can be copied in and out. */
export const TENSOR_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * A dense row-major tensor on the GPU. Free it with {@linkcode Tensor.destroy}: WebGPU
 * releases buffers only when they are destroyed.
 *
 * @example
 * ```ts
 * import { getDevice, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const t = Tensor.from(gpu, [2, 2], new Float32Array([1, 2, 3, 4]));
 * console.log(await t.read()); // Float32Array [1, 2, 3, 4]
 * t.destroy();
 * gpu.destroy();
 * ```
 */
export class Tensor<D extends DType = "f32"> {
  /** The device the tensor lives on. */
  readonly gpu: Gpu;
  /** The storage buffer. */
  readonly buffer: GPUBuffer;
  /** Row-major shape. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: D;
  /** Number of elements. */
  readonly size: number;
  #destroyed = false;

  /**
   * Allocates an uninitialised (zero-filled) tensor.
   *
   * @param gpu the device
   * @param shape row-major shape
   * @param dtype element type
   * @param label a name for error messages
   */
  constructor(gpu: Gpu, shape: readonly number[], dtype: D = "f32" as D, label = "tensor") {
    if (shape.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new RangeError(`gradscope: bad tensor shape [${shape}] for '${label}'`);
    }
    this.gpu = gpu;
    this.shape = [...shape];
    this.dtype = dtype;
    this.size = numel(shape);
    this.buffer = gpu.createBuffer(this.size * 4, TENSOR_USAGE, label);
  }

  /** A tensor holding a copy of `data`, which must have `numel(shape)` elements. */
  static from<D extends DType = "f32">(
    gpu: Gpu,
    shape: readonly number[],
    data: TypedArrayOf<D> | ArrayLike<number>,
    dtype: D = "f32" as D,
    label = "tensor",
  ): Tensor<D> {
    const tensor = new Tensor(gpu, shape, dtype, label);
    tensor.write(data);
    return tensor;
  }

  /** Size in bytes. */
  get byteLength(): number {
    return this.size * 4;
  }

  /** Copies `data` into the tensor (queued; visible to the next submitted work). */
  write(data: TypedArrayOf<D> | ArrayLike<number>, elementOffset = 0): void {
    const typed = ArrayBuffer.isView(data) ? data as TypedArrayOf<D> : new ARRAY_OF[this.dtype](data);
    if (typed.length + elementOffset > this.size) {
      throw new RangeError(`gradscope: writing ${typed.length} elements into a tensor of ${this.size}`);
    }
    this.gpu.device.queue.writeBuffer(
      this.buffer,
      elementOffset * 4,
      typed.buffer as ArrayBuffer,
      typed.byteOffset,
      typed.byteLength,
    );
  }

  /** Downloads the tensor. Each call costs one `mapAsync`; batch reads with `readBack`. */
  async read(): Promise<TypedArrayOf<D>> {
    const [bytes] = await readBack(this.gpu, [{ buffer: this.buffer, size: this.byteLength }]);
    return new ARRAY_OF[this.dtype](bytes) as TypedArrayOf<D>;
  }

  /** Frees the GPU buffer. Safe to call twice. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.gpu.destroyBuffer(this.buffer);
  }
}
