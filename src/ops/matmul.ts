/**
 * Batched matrix multiply C = α·op(A)·op(B) + β·C (+ bias) with a register-tiled WGSL kernel:
 * transposes, row strides, element offsets, two-level batch strides (attention heads) and a
 * fused bias, recorded once as a {@linkcode Program} and replayed every step.
 *
 * @module
 */

import matmulCode from "../../kernels/matmul.wgsl" with { type: "text" };
import { requireElements, requirePositive } from "../gpu/check.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, packParams, Program, type TensorSlice } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";

const MATMUL: KernelSource = { name: "matmul", code: matmulCode };

/** Rows and columns of C one invocation computes (the kernel's `TM`, `TN` constants). */
export const MATMUL_REGISTER_TILE = { rows: 12, cols: 16 } as const;

/** What to multiply. Shapes are row-major; offsets and strides count floats. */
export interface MatmulSpec {
  /** The stored A: M×K, or K×M with `transA`. */
  a: Tensor;
  /** The stored B: K×N, or N×K with `transB`. */
  b: Tensor;
  /** The output, M×N; must be a different buffer from `a`, `b` and `bias`. */
  c: Tensor;
  /** Added to every row of C after the product (N elements). */
  bias?: Tensor | TensorSlice;
  /** Rows of C and of op(A). */
  M: number;
  /** Columns of C and of op(B). */
  N: number;
  /** Columns of op(A), rows of op(B). */
  K: number;
  /** Use Aᵀ: A is stored K×M. */
  transA?: boolean;
  /** Use Bᵀ: B is stored N×K. */
  transB?: boolean;
  /** Element offset of A's first matrix (default 0). */
  aOffset?: number;
  /** Element offset of B's first matrix (default 0). */
  bOffset?: number;
  /** Element offset of C's first matrix (default 0). */
  cOffset?: number;
  /** Row stride of the stored A (default: its row length, dense). */
  lda?: number;
  /** Row stride of the stored B (default: dense). */
  ldb?: number;
  /** Row stride of C (default N). */
  ldc?: number;
  /** Outer × inner batch count (default [1, 1]). */
  batch?: [number, number];
  /** Offset of batch (o, i) is o·s[0] + i·s[1]; 0 broadcasts. Default: matrices stacked densely. */
  aBatchStride?: [number, number];
  /** As {@linkcode MatmulSpec.aBatchStride}, for B. */
  bBatchStride?: [number, number];
  /** As {@linkcode MatmulSpec.aBatchStride}, for C. */
  cBatchStride?: [number, number];
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of the old C (default 0: C is never read). */
  beta?: number;
}

/**
 * How the kernel is launched. `direct` reads operands straight from storage buffers (fastest
 * on CPU adapters such as lavapipe); `staged` copies tiles through workgroup memory (the usual
 * choice on discrete GPUs). Workgroups hold `wgM`×`wgN` invocations.
 */
export interface MatmulTuning {
  /** Which entry point. */
  path: "direct" | "staged";
  /** Invocations per workgroup along M. */
  wgM: number;
  /** Invocations per workgroup along N. */
  wgN: number;
  /** k-depth of the workgroup-memory tiles (staged only), a multiple of 4. */
  bk: number;
}

/** The spec with every default filled in, as the kernel sees it. */
interface Resolved {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  outer: number;
  inner: number;
  a: Operand;
  b: Operand;
  c: Operand;
  alpha: number;
  beta: number;
}

/** Where one operand's matrices live: offset, row stride, batch strides, stored rows × columns. */
interface Operand {
  offset: number;
  ld: number;
  strides: [number, number];
  rows: number;
  cols: number;
}

const OP = "matmul";

function requireCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`gradscope: ${OP} needs a non-negative integer ${name}, got ${n}`);
  }
}

/** Checks and completes one operand's layout; `name` is "a", "b" or "c" as in the spec fields. */
function operand(
  name: string,
  rows: number,
  cols: number,
  offset = 0,
  ld = cols,
  batch: [number, number],
  strides?: [number, number],
): Operand {
  requireCount(`${name}Offset`, offset);
  requireCount(`ld${name}`, ld);
  if (ld < cols) {
    throw new RangeError(
      `gradscope: ${OP}: ld${name} = ${ld} is shorter than a stored row of ${name.toUpperCase()} (${cols})`,
    );
  }
  const matrix = rows * ld;
  const s: [number, number] = strides ?? [batch[1] * matrix, matrix];
  s.forEach((v, i) => requireCount(`${name}BatchStride[${i}]`, v));
  return { offset, ld, strides: s, rows, cols };
}

/** One past the last element an operand touches. */
function extent(o: Operand, batch: [number, number]): number {
  return o.offset + (batch[0] - 1) * o.strides[0] + (batch[1] - 1) * o.strides[1] + (o.rows - 1) * o.ld +
    o.cols;
}

function resolve(spec: MatmulSpec): Resolved {
  const { M, N, K } = spec;
  requirePositive(OP, { M, N, K });
  const batch = spec.batch ?? [1, 1];
  requirePositive(OP, { "batch[0]": batch[0], "batch[1]": batch[1] });
  const transA = spec.transA ?? false, transB = spec.transB ?? false;
  const alpha = spec.alpha ?? 1, beta = spec.beta ?? 0;
  for (const [name, v] of [["alpha", alpha], ["beta", beta]] as const) {
    if (!Number.isFinite(v)) throw new RangeError(`gradscope: ${OP} needs a finite ${name}, got ${v}`);
  }
  const a = operand("a", transA ? K : M, transA ? M : K, spec.aOffset, spec.lda, batch, spec.aBatchStride);
  const b = operand("b", transB ? N : K, transB ? K : N, spec.bOffset, spec.ldb, batch, spec.bBatchStride);
  const c = operand("c", M, N, spec.cOffset, spec.ldc, batch, spec.cBatchStride);
  return { M, N, K, transA, transB, outer: batch[0], inner: batch[1], a, b, c, alpha, beta };
}

function sameBuffer(x: Binding, y: Binding): boolean {
  const buffer = (t: Binding) => "tensor" in t ? t.tensor.buffer : "buffer" in t ? t.buffer : t;
  return buffer(x) === buffer(y);
}

/** Checks sizes, dtypes and aliasing; throws a RangeError naming the problem. */
function validate(spec: MatmulSpec, r: Resolved): void {
  const batch: [number, number] = [r.outer, r.inner];
  for (const [name, t, o] of [["a", spec.a, r.a], ["b", spec.b, r.b], ["c", spec.c, r.c]] as const) {
    if (t.dtype !== "f32") throw new RangeError(`gradscope: ${OP}: '${name}' must be f32, got ${t.dtype}`);
    requireElements(OP, name, t, extent(o, batch));
  }
  if (spec.bias) requireElements(OP, "bias", spec.bias, r.N);
  for (const [name, t] of [["a", spec.a], ["b", spec.b], ["bias", spec.bias]] as const) {
    if (t && sameBuffer(t, spec.c)) {
      throw new RangeError(
        `gradscope: ${OP}: 'c' must not share a buffer with '${name}' (WebGPU forbids it)`,
      );
    }
  }
  if (r.outer * r.inner > 65535) {
    throw new RangeError(`gradscope: ${OP}: ${r.outer}×${r.inner} batches exceed the 65535 workgroup limit`);
  }
}

/** Whether quads along the operand's stored rows are 16-byte aligned for every batch. */
function aligned(
  o: Operand,
  batch: [number, number],
  size: number,
  quadsAlongFree: boolean,
  free: number,
): boolean {
  const words = [o.offset, o.ld, batch[0] > 1 ? o.strides[0] : 0, batch[1] > 1 ? o.strides[1] : 0];
  return size >= 4 && words.every((w) => w % 4 === 0) && (!quadsAlongFree || free % 4 === 0);
}

/** The smallest power of two ≥ min(n, cap): few distinct pipelines, little waste. */
function pow2Cover(n: number, cap: number): number {
  let p = 1;
  while (p < Math.min(n, cap)) p *= 2;
  return p;
}

/**
 * The launch shape used when none is given: `direct` on CPU (fallback) adapters, `staged`
 * elsewhere. Workgroups shrink (in powers of two) to small matrices so little work is thrown
 * away at the edges; on lavapipe 8 invocations along N fill one 256-bit SIMD row.
 *
 * @example
 * ```ts ignore
 * defaultMatmulTuning(gpu, 512, 512); // on lavapipe: { path: "direct", wgM: 2, wgN: 8, bk: 16 }
 * ```
 */
export function defaultMatmulTuning(gpu: Gpu, M: number, N: number): MatmulTuning {
  const cpu = gpu.adapter.info.isFallbackAdapter;
  const { rows, cols } = MATMUL_REGISTER_TILE;
  return {
    path: cpu ? "direct" : "staged",
    wgM: pow2Cover(Math.ceil(M / rows), cpu ? 2 : 8),
    wgN: pow2Cover(Math.ceil(N / cols), 8),
    bk: 16,
  };
}

function checkTuning(gpu: Gpu, t: MatmulTuning): void {
  requirePositive(OP, { wgM: t.wgM, wgN: t.wgN, bk: t.bk });
  if (t.bk % 4 !== 0) throw new RangeError(`gradscope: ${OP}: tuning bk = ${t.bk} is not a multiple of 4`);
  const limits = gpu.device.limits;
  if (t.wgM * t.wgN > limits.maxComputeInvocationsPerWorkgroup) {
    throw new RangeError(`gradscope: ${OP}: ${t.wgM}×${t.wgN} invocations exceed the workgroup limit`);
  }
  const { rows, cols } = MATMUL_REGISTER_TILE;
  const bytes = t.path === "staged" ? 4 * t.bk * (t.wgM * rows + t.wgN * cols) : 0;
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(
      `gradscope: ${OP}: staged tiles need ${bytes} bytes of workgroup memory, the device has ` +
        `${limits.maxComputeWorkgroupStorageSize}`,
    );
  }
}

function packMatmulParams(r: Resolved): ArrayBuffer {
  const words = [
    [r.M, r.N, r.K, r.inner],
    [r.a.ld, r.b.ld, r.c.ld, 0],
    [r.a.offset, ...r.a.strides, 0],
    [r.b.offset, ...r.b.strides, 0],
    [r.c.offset, ...r.c.strides, 0],
    [r.alpha, r.beta, 0, 0],
  ].flat();
  return packParams(words, words.map((_, i) => i === 20 || i === 21));
}

/**
 * Records C = α·op(A)·op(B) + β·C (+ bias) as a one-dispatch {@linkcode Program}.
 * With β = 0 (the default) C is only written, never read.
 *
 * @param tuning launch shape; defaults to {@linkcode defaultMatmulTuning}
 * @example
 * ```ts
 * import { getDevice, recordMatmul, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const a = Tensor.from(gpu, [2, 3], [1, 2, 3, 4, 5, 6]);
 * const b = Tensor.from(gpu, [3, 1], [1, 1, 1]);
 * const c = new Tensor(gpu, [2, 1]);
 * const program = await recordMatmul(gpu, { a, b, c, M: 2, N: 1, K: 3 });
 * program.run();
 * console.log(await c.read()); // Float32Array [6, 15]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordMatmul(gpu: Gpu, spec: MatmulSpec, tuning?: MatmulTuning): Promise<Program> {
  const r = resolve(spec);
  validate(spec, r);
  const t = tuning ?? defaultMatmulTuning(gpu, r.M, r.N);
  checkTuning(gpu, t);
  const batch: [number, number] = [r.outer, r.inner];
  const vec4A = aligned(r.a, batch, spec.a.size, r.transA, r.M);
  const vec4B = aligned(r.b, batch, spec.b.size, !r.transB, r.N);
  const program = new Program(gpu);
  // Bindings the kernel always declares but this product may not need (no bias, or a tensor
  // too small for a vec4 view) point at a small scratch tensor.
  let scratch: Tensor | null = null;
  const spare = () => scratch ??= program.own(new Tensor(gpu, [4], "f32", "matmul.spare"));
  const { rows, cols } = MATMUL_REGISTER_TILE;
  try {
    return await program.add({
      source: MATMUL,
      entryPoint: t.path,
      constants: {
        TRANS_A: Number(r.transA),
        TRANS_B: Number(r.transB),
        VEC4_A: Number(vec4A),
        VEC4_B: Number(vec4B),
        USE_BETA: Number(r.beta !== 0),
        HAS_BIAS: Number(spec.bias !== undefined),
        WG_M: t.wgM,
        WG_N: t.wgN,
        BK: t.bk,
      },
      params: packMatmulParams(r),
      buffers: [
        spec.a,
        spec.b,
        spec.c,
        spec.bias ?? spare(),
        spec.a.size >= 4 ? spec.a : spare(),
        spec.b.size >= 4 ? spec.b : spare(),
      ],
      workgroups: [Math.ceil(r.N / (t.wgN * cols)), Math.ceil(r.M / (t.wgM * rows)), r.outer * r.inner],
    });
  } catch (error) {
    program.destroy();
    throw error;
  }
}

/**
 * Computes C = α·op(A)·op(B) + β·C (+ bias) now: records, submits and frees the program.
 *
 * @example
 * ```ts
 * import { getDevice, matmul, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const a = Tensor.from(gpu, [2, 2], [1, 2, 3, 4]);
 * const c = new Tensor(gpu, [2, 2]);
 * await matmul(gpu, { a, b: a, c, M: 2, N: 2, K: 2, transB: true }); // A·Aᵀ
 * console.log(await c.read()); // Float32Array [5, 11, 11, 25]
 * gpu.destroy();
 * ```
 */
export async function matmul(gpu: Gpu, spec: MatmulSpec, tuning?: MatmulTuning): Promise<void> {
  const program = await recordMatmul(gpu, spec, tuning);
  try {
    await gpu.scoped(OP, () => program.run());
  } finally {
    program.destroy();
  }
}
