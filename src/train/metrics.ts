/**
 * Training metrics kept on the GPU and read back every N steps in one batched readback:
 * the loss of every step (a window of N slots, so no step's loss is missed), the learning
 * rate and clipping scale from the optimizer's control scalars, per-block gradient norms,
 * and summaries of the requested per-example statistics. Every reduction is recorded once
 * and replayed.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Program } from "../gpu/dispatch.ts";
import { readBack, type Region } from "../gpu/readback.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { ParamLayout } from "../nn/layout.ts";
import type { StatsRequest, Transformer } from "../nn/transformer.ts";
import { recordSegmentedReduce } from "../ops/reduce.ts";
import { CONTROL, type OptState } from "../optim/state.ts";
import type { LogStat } from "./config.ts";
import { recordAbsValues } from "./metric_kernels.ts";

/**
 * The model statistics each loggable summary needs.
 *
 * @example
 * ```ts
 * import { statsRequestFor } from "./mod.ts";
 * console.log(statsRequestFor(["sign_agreement", "example_norms"])); // { sumSign: true, norms: true }
 * ```
 */
export function statsRequestFor(stats: readonly LogStat[]): StatsRequest {
  const request: StatsRequest = {};
  if (stats.includes("sum_sq")) request.sumSq = true;
  if (stats.includes("sign_agreement")) request.sumSign = true;
  if (stats.includes("example_norms")) request.norms = true;
  return request;
}

/** One metrics reading, decoded. Per-block values are keyed by block name, in layout order. */
export interface MetricsReading {
  /** The step read at. */
  step: number;
  /** The loss of each step since the previous reading, oldest first; the last is `step`'s. */
  losses: number[];
  /** The learning rate of the last update. */
  lr: number;
  /** The global-norm clipping scale of the last update (1 without clipping). */
  clipScale: number;
  /** ‖g‖ per block of the last mean gradient. */
  gradNorm: Record<string, number>;
  /** ‖g‖ over all blocks. */
  gradNormTotal: number;
  /** Per block, the mean over its coordinates of Σ_b g_b² (with `sum_sq`). */
  sumSqMean?: Record<string, number>;
  /** Per block, the mean over its coordinates of |Σ_b sign(g_b)|/B (with `sign_agreement`). */
  signAgreement?: Record<string, number>;
  /** ‖g_b‖ of each example over all blocks (with `example_norms`). */
  exampleNorms?: number[];
}

/** A tensor read at each reading and how to decode it. */
interface Source {
  tensor: Tensor;
  decode(values: Float32Array, reading: MetricsReading): void;
}

/**
 * The metrics of one training run, bound to its model and optimizer state. Each step the
 * loop calls {@linkcode TrainMetrics.recordLoss}; at a reading it runs the summaries, then
 * {@linkcode TrainMetrics.read}.
 *
 * @example
 * ```ts ignore
 * const metrics = await TrainMetrics.create(model, optState, { window: 10, stats: ["sum_sq"] });
 * // each step, after forwardBackward:
 * metrics.recordLoss(step);
 * // every 10 steps:
 * metrics.runGradNorms();
 * const reading = await metrics.read(step);
 * ```
 */
export class TrainMetrics {
  /** Steps between readings; the loss window holds this many steps. */
  readonly window: number;
  /** The loss of step s sits at slot (s − 1) mod window. */
  readonly losses: Tensor;
  readonly #gpu: Gpu;
  readonly #model: Transformer;
  readonly #state: OptState;
  readonly #gradSq: Tensor;
  readonly #gradProgram: Program;
  readonly #statsProgram: Program[];
  readonly #sources: Source[];
  readonly #owned: Tensor[];

  private constructor(parts: {
    model: Transformer;
    state: OptState;
    window: number;
    losses: Tensor;
    gradSq: Tensor;
    gradProgram: Program;
    statsProgram: Program[];
    sources: Source[];
    owned: Tensor[];
  }) {
    this.#gpu = parts.model.params.gpu;
    this.#model = parts.model;
    this.#state = parts.state;
    this.window = parts.window;
    this.losses = parts.losses;
    this.#gradSq = parts.gradSq;
    this.#gradProgram = parts.gradProgram;
    this.#statsProgram = parts.statsProgram;
    this.#sources = parts.sources;
    this.#owned = parts.owned;
  }

  /**
   * Allocates the window and outputs and records the reductions. The model's statistics for
   * `stats` must exist, i.e. `model.backwardProgram(statsRequestFor(stats))` has been called.
   */
  static async create(
    model: Transformer,
    state: OptState,
    options: { window: number; stats: readonly LogStat[] },
  ): Promise<TrainMetrics> {
    const gpu = model.params.gpu, layout = model.layout, n = Math.max(1, layout.blocks.length);
    const owned: Tensor[] = [];
    const programs: Program[] = [];
    const own = (shape: number[], label: string) => {
      const t = new Tensor(gpu, shape, "f32", label);
      owned.push(t);
      return t;
    };
    try {
      const losses = own([options.window], "metrics.losses");
      const gradSq = own([n], "metrics.grad_sq");
      const ranges = layout.ranges();
      const gradProgram = await recordSegmentedReduce(gpu, model.grads, ranges, "sumsq", gradSq);
      programs.push(gradProgram);
      const sources: Source[] = [];
      const st = model.statistics;
      if (options.stats.includes("sum_sq")) {
        const out = own([n], "metrics.sum_sq");
        programs.push(await recordSegmentedReduce(gpu, required(st.sumSq, "sumSq"), ranges, "sum", out));
        sources.push({ tensor: out, decode: (v, r) => r.sumSqMean = perBlockMean(layout, v, 1) });
      }
      if (options.stats.includes("sign_agreement")) {
        const sumSign = required(st.sumSign, "sumSign");
        const abs = own([sumSign.size], "metrics.abs_sign"), out = own([n], "metrics.sign_agreement");
        programs.push(await recordAbsValues(gpu, sumSign, abs));
        programs.push(await recordSegmentedReduce(gpu, abs, ranges, "sum", out));
        sources.push({
          tensor: out,
          decode: (v, r) => r.signAgreement = perBlockMean(layout, v, model.batchSize),
        });
      }
      if (options.stats.includes("example_norms")) {
        const norms = required(st.norms, "norms");
        sources.push({ tensor: norms, decode: (v, r) => r.exampleNorms = exampleTotals(v, model.batchSize) });
      }
      return new TrainMetrics({
        model,
        state,
        window: options.window,
        losses,
        gradSq,
        gradProgram,
        statsProgram: programs.slice(1),
        sources,
        owned,
      });
    } catch (error) {
      for (const p of programs) p.destroy();
      for (const t of owned) t.destroy();
      throw error;
    }
  }

  /** Copies step `step`'s loss (1-based) into its window slot, on the GPU. */
  recordLoss(step: number): void {
    this.#gpu.checkAlive();
    const encoder = this.#gpu.device.createCommandEncoder({ label: "metrics.loss" });
    encoder.copyBufferToBuffer(
      this.#model.loss.buffer,
      0,
      this.losses.buffer,
      ((step - 1) % this.window) * 4,
      4,
    );
    this.#gpu.device.queue.submit([encoder.finish()]);
  }

  /** Summarises the per-example statistics the model holds now. */
  runStatSummaries(): void {
    for (const p of this.#statsProgram) p.run();
  }

  /** Reduces the model's current gradient into per-block squared norms. */
  runGradNorms(): void {
    this.#gradProgram.run();
  }

  /**
   * Reads everything back with one `readBack`: the losses of the steps after the previous
   * reading (the last multiple of `window` before `step`), the control scalars, the gradient
   * norms and the summaries.
   */
  async read(step: number): Promise<MetricsReading> {
    const sources: Tensor[] = [
      this.losses,
      this.#state.control,
      this.#gradSq,
      ...this.#sources.map((s) => s.tensor),
    ];
    const regions: Region[] = sources.map((t) => ({ buffer: t.buffer, size: t.byteLength }));
    const bytes = await readBack(this.#gpu, regions);
    const [losses, control, gradSq] = bytes.slice(0, 3).map((b) => new Float32Array(b));
    const from = Math.floor((step - 1) / this.window) * this.window; // the previous reading
    const window = Array.from({ length: step - from }, (_, i) => losses[(from + i) % this.window]);
    const layout = this.#model.layout;
    const reading: MetricsReading = {
      step,
      losses: window,
      lr: control[CONTROL.lr],
      clipScale: control[CONTROL.gradScale],
      gradNorm: perBlock(layout, gradSq, Math.sqrt),
      gradNormTotal: Math.sqrt(sum(gradSq, layout.blocks.length)),
    };
    this.#sources.forEach((s, i) => s.decode(new Float32Array(bytes[i + 3]), reading));
    return reading;
  }

  /** Frees the window, outputs and programs (not the model or state). */
  destroy(): void {
    this.#gradProgram.destroy();
    for (const p of this.#statsProgram) p.destroy();
    for (const t of this.#owned) t.destroy();
  }
}

function required(t: Tensor | null, name: string): Tensor {
  if (!t) throw new Error(`gradscope: metrics need the model's ${name} statistics; request them first`);
  return t;
}

function sum(values: Float32Array, n: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += values[i];
  return total;
}

function perBlock(
  layout: ParamLayout,
  values: Float32Array,
  f: (x: number) => number,
): Record<string, number> {
  return Object.fromEntries(layout.blocks.map((b, k) => [b.name, f(values[k])]));
}

/** Per-block sums divided by the block size and by `divisor`. */
function perBlockMean(layout: ParamLayout, sums: Float32Array, divisor: number): Record<string, number> {
  return Object.fromEntries(layout.blocks.map((b, k) => [b.name, sums[k] / (b.size * divisor)]));
}

/** √(Σ_k norms[b, k]) for each row b of the [B, nBlocks] squared-norm table. */
function exampleTotals(norms: Float32Array, B: number): number[] {
  const nBlocks = norms.length / B;
  return Array.from({ length: B }, (_, b) => Math.sqrt(sum(norms.subarray(b * nBlocks), nBlocks)));
}
