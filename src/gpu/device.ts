/**
 * WebGPU device acquisition: the adapter, the limits the kernels need, and clear errors.
 *
 * @module
 */

import { KernelCache } from "./kernel.ts";

/** Options for {@linkcode getDevice}. */
export interface GetDeviceOptions {
  /**
   * How to ask for an adapter. Defaults to `navigator.gpu.requestAdapter`. Tests inject a
   * function that returns `null` to exercise the no-adapter path.
   */
  requestAdapter?: () => Promise<GPUAdapter | null>;
  /** Called when the device is lost for any reason other than `destroy()`. Defaults to logging. */
  onLost?: (info: GPUDeviceLostInfo) => void;
}

/** Raised when no WebGPU adapter is available; the message names the fix. */
export class NoAdapterError extends Error {
  /**
   * Builds the error.
   * @param detail what the adapter request said, if anything
   */
  constructor(detail = "") {
    super(
      "gradscope: no WebGPU adapter found" + (detail ? ` (${detail})` : "") + ".\n" +
        "  Fix: install Mesa's Vulkan driver (`apt-get install mesa-vulkan-drivers`) for a CPU adapter,\n" +
        "  or force a backend with DENO_WEBGPU_BACKEND=vulkan or DENO_WEBGPU_BACKEND=gl.",
    );
    this.name = "NoAdapterError";
  }
}

/** Raised when the GPU device is lost while gradscope still uses it. */
export class DeviceLostError extends Error {
  /**
   * Builds the error.
   * @param info the loss information from `device.lost`
   */
  constructor(info: GPUDeviceLostInfo) {
    super(`gradscope: the GPU device was lost (${info.reason}): ${info.message}`);
    this.name = "DeviceLostError";
  }
}

/** Raised when a kernel fails validation or runs out of memory; names the kernel. */
export class KernelError extends Error {
  /**
   * Builds the error.
   * @param kernel the kernel (or buffer) label
   * @param kind "validation", "out-of-memory" or "internal"
   * @param message the WebGPU error message
   */
  constructor(kernel: string, kind: string, message: string) {
    super(`gradscope: ${kind} error in kernel '${kernel}': ${message}`);
    this.name = "KernelError";
  }
}

/** Workgroup memory the register-tiled kernels use; fallback adapters give at least this. */
const WANTED_WORKGROUP_BYTES = 32768;

/**
 * A WebGPU device with gradscope's kernel cache and a count of live buffers.
 *
 * All buffers should be created through {@linkcode Gpu.createBuffer} and freed with
 * {@linkcode Gpu.destroyBuffer}, so leaks show up in {@linkcode Gpu.liveBuffers}.
 */
export class Gpu {
  /** The adapter the device came from. */
  readonly adapter: GPUAdapter;
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Compiled pipelines, one per (kernel source, entry point, override constants). */
  readonly kernels: KernelCache;
  /** Whether `timestamp-query` is enabled, so {@linkcode GpuTimer} measures GPU time. */
  readonly hasTimestamps: boolean;
  #live = 0;
  #liveBytes = 0;
  #peakBytes = 0;
  #lost: DeviceLostError | null = null;

  /**
   * Wraps a device; use {@linkcode getDevice} rather than calling this directly.
   * @param adapter the adapter
   * @param device a device requested from it
   */
  constructor(adapter: GPUAdapter, device: GPUDevice) {
    this.adapter = adapter;
    this.device = device;
    this.kernels = new KernelCache(device);
    this.hasTimestamps = device.features.has("timestamp-query");
  }

  /** A one-line description of the adapter, for logs and benchmarks. */
  get description(): string {
    const info = this.adapter.info;
    const name = info.description || info.device || "unknown adapter";
    return `${name}${info.isFallbackAdapter ? " (fallback/CPU)" : ""}`;
  }

  /** Number of buffers created through this object and not yet destroyed. */
  get liveBuffers(): number {
    return this.#live;
  }

  /** Bytes in buffers created through this object and not yet destroyed. */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** The most {@linkcode Gpu.liveBytes} has been since creation or the last {@linkcode Gpu.resetPeak}. */
  get peakBytes(): number {
    return this.#peakBytes;
  }

  /** Starts a new peak measurement from the current live bytes. */
  resetPeak(): void {
    this.#peakBytes = this.#liveBytes;
  }

  /** Throws if the device was lost. Called before each submission. */
  checkAlive(): void {
    if (this.#lost) throw this.#lost;
  }

  /** @internal records a device loss */
  markLost(error: DeviceLostError): void {
    this.#lost = error;
  }

  /**
   * Creates a buffer, counted in {@linkcode Gpu.liveBuffers}.
   *
   * @param size bytes (rounded up to a multiple of 4)
   * @param usage WebGPU usage flags
   * @param label a name for error messages
   */
  createBuffer(size: number, usage: GPUBufferUsageFlags, label = "buffer"): GPUBuffer {
    const buffer = this.device.createBuffer({ size: Math.max(4, Math.ceil(size / 4) * 4), usage, label });
    this.#live++;
    this.#liveBytes += buffer.size;
    this.#peakBytes = Math.max(this.#peakBytes, this.#liveBytes);
    return buffer;
  }

  /** Destroys a buffer made by {@linkcode Gpu.createBuffer}. */
  destroyBuffer(buffer: GPUBuffer): void {
    this.#liveBytes -= buffer.size;
    buffer.destroy();
    this.#live--;
  }

  /**
   * Runs `body` inside validation and out-of-memory error scopes and raises a
   * {@linkcode KernelError} naming `label` if either caught an error.
   */
  async scoped<T>(label: string, body: () => T): Promise<T> {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let result: T | undefined;
    let failure: unknown = null;
    try {
      result = body();
    } catch (error) {
      failure = error;
    }
    // Pop both scopes even when `body` threw, so the scope stack stays balanced.
    const validation = await this.device.popErrorScope();
    const memory = await this.device.popErrorScope();
    if (validation) throw new KernelError(label, "validation", validation.message);
    if (memory) throw new KernelError(label, "out-of-memory", memory.message);
    if (failure) throw failure;
    return result as T;
  }

  /** Waits until all submitted work is done. */
  async sync(): Promise<void> {
    this.checkAlive();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Destroys the device. Buffers still alive are freed with it. */
  destroy(): void {
    this.device.destroy();
  }
}

/**
 * Requests an adapter and a device with the limits gradscope's kernels need (the adapter's
 * maximum storage-buffer sizes, 32 KiB of workgroup memory when available) and
 * `timestamp-query` when the adapter has it.
 *
 * @example
 * ```ts
 * import { getDevice } from "./mod.ts";
 * const gpu = await getDevice();
 * console.log(gpu.description);
 * gpu.destroy();
 * ```
 */
export async function getDevice(options: GetDeviceOptions = {}): Promise<Gpu> {
  const request = options.requestAdapter ??
    (() => globalThis.navigator?.gpu?.requestAdapter() ?? Promise.resolve(null));
  let adapter: GPUAdapter | null;
  try {
    adapter = await request();
  } catch (error) {
    throw new NoAdapterError(error instanceof Error ? error.message : String(error));
  }
  if (!adapter) throw new NoAdapterError();
  const limits = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
    maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: Math.min(WANTED_WORKGROUP_BYTES, limits.maxComputeWorkgroupStorageSize),
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
  };
  const requiredFeatures: GPUFeatureName[] = adapter.features.has("timestamp-query")
    ? ["timestamp-query"]
    : [];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const gpu = new Gpu(adapter, device);
  device.lost.then((info) => {
    if (info.reason === "destroyed") return;
    const error = new DeviceLostError(info);
    gpu.markLost(error);
    (options.onLost ?? ((i) => console.error(new DeviceLostError(i).message)))(info);
  });
  return gpu;
}
