/**
 * Kernel loading and the pipeline cache: WGSL text modules compiled once per
 * (source, entry point, override constants).
 *
 * @module
 */

/** Override constants of a WGSL module, by name. */
export type Overrides = Record<string, number>;

/** A WGSL source with a stable name, as imported with `with { type: "text" }`. */
export interface KernelSource {
  /** Name used in error messages and cache keys, e.g. `"matmul"`. */
  name: string;
  /** The WGSL text. */
  code: string;
}

/**
 * Compiles shader modules and compute pipelines once and hands out the cached ones.
 *
 * Pipelines use `layout: "auto"`, so bind group 0's layout comes from the shader.
 */
export class KernelCache {
  #device: GPUDevice;
  #modules = new Map<string, GPUShaderModule>();
  #pipelines = new Map<string, GPUComputePipeline>();

  /**
   * Creates an empty cache.
   * @param device the device that owns the pipelines
   */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Number of distinct pipelines compiled so far. */
  get size(): number {
    return this.#pipelines.size;
  }

  /**
   * The pipeline for `entryPoint` of `source` with the given override constants.
   * Compiles it on first use.
   */
  pipeline(source: KernelSource, entryPoint: string, constants: Overrides = {}): GPUComputePipeline {
    const names = Object.keys(constants).sort();
    const key = `${source.name}:${entryPoint}:${names.map((n) => `${n}=${constants[n]}`).join(",")}`;
    let pipeline = this.#pipelines.get(key);
    if (!pipeline) {
      pipeline = this.#device.createComputePipeline({
        label: key,
        layout: "auto",
        compute: { module: this.#module(source), entryPoint, constants },
      });
      this.#pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  #module(source: KernelSource): GPUShaderModule {
    let module = this.#modules.get(source.name);
    if (!module) {
      module = this.#device.createShaderModule({ label: source.name, code: source.code });
      this.#modules.set(source.name, module);
    }
    return module;
  }
}
