/**
 * Top Hessian eigenvalue of each parameter block (Tomihari & Sato 2025: the per-block
 * curvature λ_max against the per-block gradient norm). Power iteration on the block's
 * Hessian H_bb, with Hessian-vector products from central differences of gradients,
 * H_bb·v ≈ [g_b(θ + εv) − g_b(θ − εv)] / (2ε), where v is non-zero only on block b and only
 * block b's gradient is read. No second-order kernels are needed: the GPU model's ordinary
 * forward-backward pass is the oracle, and a CPU gradient function can stand in for it.
 *
 * @module
 */

import { readBack } from "../gpu/readback.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { ParamBlock, ParamLayout } from "../nn/layout.ts";
import { Rng } from "../nn/rng.ts";
import type { Transformer } from "../nn/transformer.ts";

/** A symmetric matrix–vector product v ↦ A·v, e.g. a Hessian-vector product. */
export type MatrixVectorProduct = (v: Float64Array) => Float64Array | Promise<Float64Array>;

/** Options of {@linkcode powerIteration}. */
export interface PowerIterationOptions {
  /** Most matrix-vector products to take (default 20). */
  iterations?: number;
  /**
   * Stop early once the Rayleigh quotient changes by at most `tolerance·|λ|` between two
   * iterations (default 1e-4; 0 runs every iteration).
   */
  tolerance?: number;
  /** Seed of the random normal start vector (default 0). */
  seed?: number;
}

/** What {@linkcode powerIteration} found. */
export interface PowerIterationResult {
  /** The Rayleigh quotient vᵀAv of the last unit iterate: the largest-|λ| eigenvalue, sign kept. */
  eigenvalue: number;
  /** Matrix-vector products used. */
  iterations: number;
  /** Whether the tolerance was met (or A·v vanished) before the iteration budget ran out. */
  converged: boolean;
}

function norm2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function withDefaults(options: PowerIterationOptions): Required<PowerIterationOptions> {
  const { iterations = 20, tolerance = 1e-4, seed = 0 } = options;
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new RangeError(`gradscope: iterations must be an integer ≥ 1, got ${iterations}`);
  }
  if (!(tolerance >= 0)) throw new RangeError(`gradscope: tolerance must be ≥ 0, got ${tolerance}`);
  return { iterations, tolerance, seed };
}

/**
 * Power iteration for the eigenvalue of largest magnitude of a symmetric n×n matrix given
 * only as a product v ↦ A·v: v₀ is a seeded normal vector, normalised; each step takes
 * w = A·v_k, λ_k = v_kᵀw and v_{k+1} = w/‖w‖. The result keeps λ's sign, so a block whose
 * dominant curvature is negative reports a negative value. Convergence goes as
 * (λ₂/λ₁)^(2k); when ±λ have nearly equal magnitude it is slow and `converged` stays false.
 *
 * @param product the matrix-vector product
 * @param n the dimension
 * @param options iteration budget, tolerance, seed
 * @example
 * ```ts
 * import { powerIteration } from "./mod.ts";
 * // diag(1, −3, 2): the dominant eigenvalue is −3.
 * const d = [1, -3, 2];
 * const { eigenvalue } = await powerIteration((v) => v.map((x, i) => d[i] * x), 3, { iterations: 100 });
 * console.log(eigenvalue); // ≈ −3
 * ```
 */
export async function powerIteration(
  product: MatrixVectorProduct,
  n: number,
  options: PowerIterationOptions = {},
): Promise<PowerIterationResult> {
  const { iterations, tolerance, seed } = withDefaults(options);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`gradscope: dimension must be ≥ 1, got ${n}`);
  const rng = new Rng(seed);
  const start = Float64Array.from({ length: n }, () => rng.normal());
  const startNorm = norm2(start);
  let v = start.map((x) => x / startNorm);
  let previous = NaN;
  for (let k = 1; k <= iterations; k++) {
    const w = await product(v);
    const eigenvalue = dot(v, w), size = norm2(w);
    if (size === 0) return { eigenvalue: 0, iterations: k, converged: true };
    if (Math.abs(eigenvalue - previous) <= tolerance * Math.abs(eigenvalue)) {
      return { eigenvalue, iterations: k, converged: true };
    }
    previous = eigenvalue;
    v = w.map((x) => x / size);
  }
  return { eigenvalue: previous, iterations, converged: false };
}

/** Options of {@linkcode blockTopEigenvalues} and {@linkcode blockTopEigenvaluesCpu}. */
export interface BlockEigenOptions extends PowerIterationOptions {
  /** Names of the blocks to examine, in the order wanted (default every block, layout order). */
  blocks?: readonly string[];
  /**
   * Finite-difference step ε relative to the block's scale: ε = relativeEpsilon·max(1, ‖θ_b‖₂).
   * As v has unit norm, each coordinate then moves by about relativeEpsilon times its own
   * typical size, whatever the block's dimension. The default suits each oracle's precision:
   * 1e-5 for a float64 CPU gradient; 3e-3 for the float32 GPU model: on the tiny test model,
   * steps from 1e-3 to 1e-2 gave ≤ 3e-4 relative error in λ_max, while 1e-4 (rounding noise)
   * and 1e-1 (O(ε²) truncation) gave up to 8e-4 and 4e-3.
   */
  relativeEpsilon?: number;
  /** An absolute ε for every block, overriding `relativeEpsilon`. */
  epsilon?: number;
}

/** The top Hessian eigenvalue of one block. */
export interface BlockEigenvalue extends PowerIterationResult {
  /** The block's name. */
  name: string;
  /** The finite-difference step used. */
  epsilon: number;
}

/**
 * Block gradients at two values of the block's parameters: the oracle behind the central
 * difference, given the perturbed block `plus` = θ_b + εv and `minus` = θ_b − εv.
 */
type GradientPair = (
  plus: Float64Array,
  minus: Float64Array,
) => Promise<[ArrayLike<number>, ArrayLike<number>]>;

/** Power iteration on one block with central-difference Hessian-vector products. */
async function blockEigenvalue(
  block: ParamBlock,
  theta: Float64Array,
  gradientPair: GradientPair,
  options: BlockEigenOptions,
  defaultRelativeEpsilon: number,
): Promise<BlockEigenvalue> {
  const epsilon = options.epsilon ?? (options.relativeEpsilon ?? defaultRelativeEpsilon) *
      Math.max(1, norm2(theta));
  if (!(epsilon > 0)) throw new RangeError(`gradscope: finite-difference step must be > 0, got ${epsilon}`);
  const hvp = async (v: Float64Array) => {
    const [gPlus, gMinus] = await gradientPair(
      theta.map((t, i) => t + epsilon * v[i]),
      theta.map((t, i) => t - epsilon * v[i]),
    );
    return Float64Array.from({ length: v.length }, (_, i) => (gPlus[i] - gMinus[i]) / (2 * epsilon));
  };
  const result = await powerIteration(hvp, block.size, options);
  return { name: block.name, epsilon, ...result };
}

function selectedBlocks(layout: ParamLayout, names?: readonly string[]): ParamBlock[] {
  return names ? names.map((name) => layout.get(name)) : [...layout.blocks];
}

/**
 * {@linkcode blockTopEigenvalues} on a CPU gradient function: `gradAt(θ)` returns the full
 * flat gradient at flat parameters θ (it may not keep θ). Deterministic, and exact up to
 * float64 finite differences, which is how the GPU version is tested.
 *
 * @param gradAt the gradient oracle
 * @param params the point θ, flat in `layout` (not modified)
 * @param layout the parameter layout
 * @param options blocks, ε, iteration budget, tolerance, seed
 * @example
 * ```ts
 * import { blockTopEigenvaluesCpu, ParamLayout } from "./mod.ts";
 * // loss = Σ_i c_i θ_i² / 2 on one block of 3: H = diag(c).
 * const layout = new ParamLayout([{ name: "w", shape: [3], kind: "weight" }]);
 * const c = [1, 5, 2];
 * const [top] = await blockTopEigenvaluesCpu((t) => t.map((x, i) => c[i] * x), new Float64Array(3), layout);
 * console.log(top.eigenvalue); // ≈ 5
 * ```
 */
export async function blockTopEigenvaluesCpu(
  gradAt: (params: Float64Array) => ArrayLike<number>,
  params: Float64Array,
  layout: ParamLayout,
  options: BlockEigenOptions = {},
): Promise<BlockEigenvalue[]> {
  const out: BlockEigenvalue[] = [];
  for (const block of selectedBlocks(layout, options.blocks)) {
    const at = (values: Float64Array) => {
      const point = params.slice();
      point.set(values, block.offset);
      return gradAt(point);
    };
    const gradientPair: GradientPair = (plus, minus) => {
      const slice = (g: ArrayLike<number>) =>
        Array.prototype.slice.call(g, block.offset, block.offset + block.size);
      return Promise.resolve([slice(at(plus)), slice(at(minus))]);
    };
    out.push(await blockEigenvalue(block, layout.view(params, block.name), gradientPair, options, 1e-5));
  }
  return out;
}

/** The parts of a {@linkcode Transformer} the GPU oracle uses. */
export type GradientModel = Pick<Transformer, "params" | "grads" | "layout" | "forwardBackward">;

/**
 * Gradient pairs from the GPU model: write θ_b + εv into the block's slice of `params`, run
 * forward-backward, copy the block's gradient aside, repeat with θ_b − εv, and read both
 * slices back with a single `mapAsync`.
 */
function gpuGradientPair(model: GradientModel, block: ParamBlock, aside: Tensor): GradientPair {
  const gpu = model.params.gpu;
  const bytes = block.size * 4;
  return async (plus, minus) => {
    model.params.write(Float32Array.from(plus), block.offset);
    await model.forwardBackward();
    const encoder = gpu.device.createCommandEncoder({ label: "hessian.aside" });
    encoder.copyBufferToBuffer(model.grads.buffer, block.offset * 4, aside.buffer, 0, bytes);
    gpu.device.queue.submit([encoder.finish()]);
    model.params.write(Float32Array.from(minus), block.offset);
    await model.forwardBackward();
    const [gPlus, gMinus] = await readBack(gpu, [
      { buffer: aside.buffer, size: bytes },
      { buffer: model.grads.buffer, offset: block.offset * 4, size: bytes },
    ]);
    return [new Float32Array(gPlus), new Float32Array(gMinus)];
  };
}

/**
 * Top Hessian eigenvalue (largest magnitude, sign kept) of each parameter block of a GPU
 * model, at its current parameters on the batch last given to `setBatch`, for the batch loss
 * that `forwardBackward` differentiates. Each Hessian-vector product costs two
 * forward-backward passes and one readback. Afterwards `params` are restored bit for bit and
 * one more pass recomputes `grads` (and the loss) at them.
 *
 * @param model the model, with a batch set
 * @param options blocks, ε (default 3e-3·max(1, ‖θ_b‖)), iteration budget, tolerance, seed
 * @example
 * ```ts
 * import { blockTopEigenvalues, getDevice, Transformer } from "./mod.ts";
 * const gpu = await getDevice();
 * const model = await Transformer.create(gpu, {
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: false },
 * }, { batchSize: 1, seed: 0 });
 * model.setBatch({ B: 1, tokens: new Int32Array([1, 2, 3, 4]), targets: new Int32Array([2, 3, 4, 5]) });
 * const [head] = await blockTopEigenvalues(model, { blocks: ["head.weight"] });
 * console.log(head.eigenvalue, head.iterations);
 * model.destroy();
 * gpu.destroy();
 * ```
 */
export async function blockTopEigenvalues(
  model: GradientModel,
  options: BlockEigenOptions = {},
): Promise<BlockEigenvalue[]> {
  const blocks = selectedBlocks(model.layout, options.blocks);
  const original = await model.params.read();
  const out: BlockEigenvalue[] = [];
  try {
    for (const block of blocks) {
      const aside = new Tensor(model.params.gpu, [block.size], "f32", "hessian.aside");
      try {
        const theta = Float64Array.from(model.layout.view(original, block.name));
        out.push(await blockEigenvalue(block, theta, gpuGradientPair(model, block, aside), options, 3e-3));
      } finally {
        model.params.write(model.layout.view(original, block.name), block.offset);
        aside.destroy();
      }
    }
  } finally {
    model.params.write(original);
  }
  await model.forwardBackward();
  return out;
}
