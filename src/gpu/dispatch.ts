/**
 * Dispatch helpers: a compute dispatch is recorded once (pipeline, bind group, uniform
 * parameters, workgroup count) and replayed every step, so a training step allocates nothing.
 *
 * @module
 */

import type { Gpu } from "./device.ts";
import type { KernelSource, Overrides } from "./kernel.ts";
import type { Tensor } from "./tensor.ts";
import type { GpuTimer } from "./timing.ts";

/**
 * A sub-range of a tensor bound as its own storage buffer, e.g. one parameter block of the
 * flat buffer. WebGPU needs the byte offset to be a multiple of 256 (64 floats).
 */
export interface TensorSlice {
  /** The tensor. */
  readonly tensor: Tensor<"f32" | "u32" | "i32">;
  /** Offset in elements, a multiple of 64. */
  readonly offset: number;
  /** Length in elements. */
  readonly size: number;
}

/** A buffer binding: a whole tensor, a raw buffer, or a {@linkcode TensorSlice}. */
export type Binding = Tensor<"f32" | "u32" | "i32"> | GPUBuffer | TensorSlice;

/**
 * The slice `[offset, offset + size)` of a tensor, for binding one parameter block.
 *
 * @example
 * ```ts ignore
 * const gamma = slice(params, layout.get("ln_f.weight").offset, layout.get("ln_f.weight").size);
 * ```
 */
export function slice(tensor: Tensor<"f32" | "u32" | "i32">, offset: number, size: number): TensorSlice {
  if (offset % 64 !== 0) {
    throw new RangeError(`gradscope: slice offset ${offset} is not a multiple of 64 elements`);
  }
  if (offset < 0 || size < 1 || offset + size > tensor.size) {
    throw new RangeError(`gradscope: slice [${offset}, ${offset + size}) outside a tensor of ${tensor.size}`);
  }
  return { tensor, offset, size };
}

function bindingResource(b: Binding): GPUBufferBinding {
  if ("tensor" in b) return { buffer: b.tensor.buffer, offset: b.offset * 4, size: b.size * 4 };
  return { buffer: "buffer" in b ? b.buffer : b };
}

/** A recorded compute dispatch. Free its uniform buffer with {@linkcode destroyDispatch}. */
export interface Dispatch {
  /** Kernel name, used in error messages. */
  readonly label: string;
  /** The compiled pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Bind group 0. */
  readonly bindGroup: GPUBindGroup;
  /** Workgroup counts in x, y, z. */
  readonly workgroups: readonly [number, number, number];
  /** The uniform buffer holding the parameters, owned by this dispatch. */
  readonly params: GPUBuffer | null;
}

/** What {@linkcode record} needs to build a {@linkcode Dispatch}. */
export interface DispatchSpec {
  /** The WGSL module. */
  source: KernelSource;
  /** Entry point in it. */
  entryPoint: string;
  /** Override constants (tile sizes, flags). */
  constants?: Overrides;
  /**
   * Uniform parameters bound at `@binding(0)`, as 32-bit words. Integers are written as
   * u32; use a `Float32Array` or {@linkcode packParams} for mixed fields.
   */
  params?: Uint32Array | Float32Array | ArrayBuffer;
  /** Storage buffers bound at `@binding(1)`, `@binding(2)`, … in order. */
  buffers: readonly Binding[];
  /** Workgroup counts; y and z default to 1. */
  workgroups: readonly number[];
}

/** Packs mixed uniform fields: integers as u32 by default, floats where `floats` says. */
export function packParams(values: readonly number[], floats: readonly boolean[] = []): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(values.length / 4) * 16));
  const u32 = new Uint32Array(bytes), f32 = new Float32Array(bytes);
  values.forEach((v, i) => floats[i] ? (f32[i] = v) : (u32[i] = v));
  return bytes;
}

const MAX_WORKGROUPS = 65535;

/**
 * Records a dispatch: compiles (or fetches) the pipeline, uploads the parameters and builds
 * the bind group. Raises a `KernelError` naming the kernel when validation fails.
 *
 * @example
 * ```ts ignore
 * const d = await record(gpu, { source, entryPoint: "main", buffers: [x], workgroups: [4] });
 * await run(gpu, [d]);
 * destroyDispatch(gpu, d);
 * ```
 */
export function record(gpu: Gpu, spec: DispatchSpec): Promise<Dispatch> {
  const label = `${spec.source.name}.${spec.entryPoint}`;
  const [x, y = 1, z = 1] = spec.workgroups;
  for (const n of [x, y, z]) {
    if (!Number.isInteger(n) || n < 0 || n > MAX_WORKGROUPS) {
      throw new RangeError(`gradscope: kernel '${label}' asks for ${n} workgroups (limit ${MAX_WORKGROUPS})`);
    }
  }
  return gpu.scoped(label, () => {
    const pipeline = gpu.kernels.pipeline(spec.source, spec.entryPoint, spec.constants);
    const entries: GPUBindGroupEntry[] = [];
    let params: GPUBuffer | null = null;
    if (spec.params) {
      const bytes = spec.params instanceof ArrayBuffer ? spec.params : spec.params.buffer as ArrayBuffer;
      const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
      params = gpu.createBuffer(size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${label}.params`);
      gpu.device.queue.writeBuffer(params, 0, bytes);
      entries.push({ binding: 0, resource: { buffer: params } });
    }
    spec.buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: bindingResource(b) }));
    const bindGroup = gpu.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
    return { label, pipeline, bindGroup, workgroups: [x, y, z] as const, params };
  });
}

/** Frees the uniform buffer a dispatch owns. */
export function destroyDispatch(gpu: Gpu, dispatch: Dispatch): void {
  if (dispatch.params) gpu.destroyBuffer(dispatch.params);
}

/**
 * Encodes `dispatches` in order into one compute pass and submits it. WebGPU orders storage
 * writes between dispatches, so each sees the previous one's results.
 *
 * @param timer when given, the pass writes start and end timestamps into it
 */
export function submit(gpu: Gpu, dispatches: readonly Dispatch[], timer?: GpuTimer): void {
  gpu.checkAlive();
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass(timer?.passTimestamps());
  for (const d of dispatches) {
    if (d.workgroups[0] * d.workgroups[1] * d.workgroups[2] === 0) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
  pass.end();
  timer?.resolve(encoder);
  gpu.device.queue.submit([encoder.finish()]);
}

/**
 * Records, submits and frees dispatches in one go: the convenient path for one-off ops.
 * Training loops should {@linkcode record} once and {@linkcode submit} every step.
 */
export async function runOnce(gpu: Gpu, specs: readonly DispatchSpec[]): Promise<void> {
  const dispatches: Dispatch[] = [];
  try {
    for (const spec of specs) dispatches.push(await record(gpu, spec));
    await gpu.scoped(dispatches.map((d) => d.label).join(" + "), () => submit(gpu, dispatches));
  } finally {
    for (const d of dispatches) destroyDispatch(gpu, d);
  }
}

/**
 * A list of recorded dispatches plus the scratch tensors they own: what an op records once
 * and a training step replays with {@linkcode submit}.
 */
export class Program {
  /** The dispatches, in execution order. */
  readonly dispatches: Dispatch[] = [];
  readonly #gpu: Gpu;
  readonly #owned: { destroy(): void }[] = [];

  /**
   * Creates an empty program.
   * @param gpu the device
   */
  constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }

  /** Records a dispatch and appends it. */
  async add(spec: DispatchSpec): Promise<this> {
    this.dispatches.push(await record(this.#gpu, spec));
    return this;
  }

  /** Appends the dispatches of another program and takes ownership of its resources. */
  append(other: Program): this {
    this.dispatches.push(...other.dispatches);
    this.#owned.push(other);
    other.dispatches.length = 0;
    return this;
  }

  /** Takes ownership of a scratch tensor, destroyed with the program. */
  own<T extends { destroy(): void }>(resource: T): T {
    this.#owned.push(resource);
    return resource;
  }

  /** Submits the program once. */
  run(timer?: GpuTimer): void {
    submit(this.#gpu, this.dispatches, timer);
  }

  /** Frees the uniform buffers and owned tensors. */
  destroy(): void {
    for (const d of this.dispatches) destroyDispatch(this.#gpu, d);
    this.dispatches.length = 0;
    for (const r of this.#owned) r.destroy();
    this.#owned.length = 0;
  }
}

/** Workgroups for `n` invocations of a 1-D kernel of `size` threads, folded into 2-D past 65535. */
export function grid1d(n: number, size = 256): [number, number] {
  const groups = Math.ceil(n / size);
  if (groups <= MAX_WORKGROUPS) return [groups, 1];
  return [MAX_WORKGROUPS, Math.ceil(groups / MAX_WORKGROUPS)];
}
